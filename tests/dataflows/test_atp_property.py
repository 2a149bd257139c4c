"""Property: duplicates and cross-source reordering never change ATP or postings.

Hypothesis generates an event log from three sources (WMS movements and counts,
channel orders, safety-stock settings). The dataflow replays it with resent
events and the sources interleaved at random, each source keeping its own
order. The final ATP of warehouse W1 per SKU and the posting id to quantity map
must equal a plain computation over the log:

- on hand is the quantity of the count with the latest as-of time plus every
  movement after that time, or the sum of all movements without a count;
- an order's reservation is ordered minus cancelled of its latest version;
- safety stock is the latest setting;
- ATP is on hand minus reservations minus safety stock;
- each movement posts its signed quantity once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflows.replay import replay_events
from invsync.config import InvsyncConfig
from invsync.events import (
    CanonicalEvent,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderLine,
    SafetyStockSetting,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
)
from operators.sku_state import SkuState
from sources.base import stable_id

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SKUS = ("A", "B")
WAREHOUSE = "W1"
EXAMPLES = 25

Summary = dict[str, tuple[int, int, int, int]]


@dataclass
class Log:
    """Events per source, each list in the order its source sent them."""

    wms: list[CanonicalEvent] = field(default_factory=list)
    orders: list[CanonicalEvent] = field(default_factory=list)
    settings: list[CanonicalEvent] = field(default_factory=list)

    def sources(self) -> list[list[CanonicalEvent]]:
        return [self.wms, self.orders, self.settings]

    def events(self) -> list[CanonicalEvent]:
        return [e for source in self.sources() for e in source]


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["receipt", "adjust", "count", "place", "cancel", "safety"]),
        st.sampled_from(SKUS),
        st.integers(min_value=1, max_value=20),
    ),
    min_size=1,
    max_size=30,
)


def build_log(actions: list[tuple[str, str, int]]) -> Log:
    """Turn drawn actions into events, one minute of event time apart."""
    log = Log()
    open_orders: dict[str, list[OrderLine]] = {sku: [] for sku in SKUS}
    for index, (kind, sku, quantity) in enumerate(actions):
        when = T0 + timedelta(minutes=index)
        header: dict[str, Any] = {
            "event_id": f"{kind}-{index}",
            "event_time": when,
            "ingest_time": when,
            "sku": sku,
            "warehouse": WAREHOUSE,
        }
        if kind in ("receipt", "adjust"):
            signed = quantity if kind == "receipt" or index % 2 else -quantity
            log.wms.append(
                InventoryMovement(
                    **header,
                    source=Source.WMS,
                    movement_type=(
                        MovementType.RECEIPT
                        if kind == "receipt"
                        else MovementType.ADJUSTMENT
                    ),
                    quantity=signed,
                )
            )
        elif kind == "count":
            log.wms.append(
                InventorySnapshot(
                    **header,
                    source=Source.WMS,
                    snapshot_kind=SnapshotKind.CYCLE_COUNT,
                    # Half a minute before the event, so no movement shares it.
                    as_of=when - timedelta(seconds=30),
                    balances=[
                        StatusQuantity(
                            stock_status=StockStatus.AVAILABLE, quantity=quantity
                        )
                    ],
                )
            )
        elif kind == "cancel" and open_orders[sku]:
            placed = open_orders[sku].pop(0)
            log.orders.append(
                placed.model_copy(
                    update={
                        "event_id": header["event_id"],
                        "event_time": when,
                        "ingest_time": when,
                        "action": OrderAction.CANCELLED,
                        "cancelled_quantity": placed.ordered_quantity,
                        "version_time": when,
                        "version_rank": 2,
                    }
                )
            )
        elif kind in ("place", "cancel"):
            line = OrderLine(
                **header,
                source=Source.SHOPIFY,
                channel="shop",
                order_id=f"SO-{index}",
                line_id="1",
                action=OrderAction.PLACED,
                ordered_quantity=quantity % 6,
                version_time=when,
                version_rank=0,
            )
            open_orders[sku].append(line)
            log.orders.append(line)
        else:
            log.settings.append(
                SafetyStockSetting(
                    **header, source=Source.CONFIG, quantity=quantity % 4
                )
            )
    return log


def reference(log: Log) -> tuple[Summary, dict[str, int]]:
    """Compute the final ATP and postings of a log by the rules in the docstring."""
    unique = {event.event_id: event for event in log.events()}.values()
    summary: Summary = {}
    postings: dict[str, int] = {}
    for sku in SKUS:
        events = [e for e in unique if getattr(e, "sku", None) == sku]
        if not events:
            continue
        counts = [e for e in events if isinstance(e, InventorySnapshot)]
        movements = [e for e in events if isinstance(e, InventoryMovement)]
        on_hand = sum(m.quantity for m in movements)
        if counts:
            latest = max(counts, key=lambda c: c.as_of)
            after = [m for m in movements if m.event_time > latest.as_of]
            on_hand = latest.balances[0].quantity + sum(m.quantity for m in after)
        versions: dict[str, OrderLine] = {}
        for line in (e for e in events if isinstance(e, OrderLine)):
            known = versions.get(line.order_id)
            newer = (line.version_time, line.version_rank)
            if known is None or newer > (known.version_time, known.version_rank):
                versions[line.order_id] = line
        reserved = sum(
            max(0, v.ordered_quantity - v.cancelled_quantity) for v in versions.values()
        )
        settings_seen = [e for e in events if isinstance(e, SafetyStockSetting)]
        safety = 0
        if settings_seen:
            newest = max(settings_seen, key=lambda s: (s.event_time, s.event_id))
            safety = newest.quantity
        summary[sku] = (on_hand, reserved, safety, on_hand - reserved - safety)
        for movement in movements:
            postings[stable_id("posting", movement.event_id)] = movement.quantity
    return summary, postings


def interleave(
    log: Log, picks: list[int], resends: list[tuple[int, int]]
) -> list[CanonicalEvent]:
    """Merge the sources in the order ``picks`` names, with resent events.

    A resend ``(source, position)`` repeats an event of that source at the end
    of the source, as a partner that sends again later would.
    """
    queues = [list(source) for source in log.sources()]
    for source_index, position in resends:
        queue = queues[source_index % len(queues)]
        if queue:
            queue.append(queue[position % len(queue)])
    merged: list[CanonicalEvent] = []
    for pick in picks:
        candidates = [q for q in queues if q]
        if not candidates:
            break
        merged.append(candidates[pick % len(candidates)].pop(0))
    for queue in queues:
        merged.extend(queue)
    return merged


def observed(events: list[CanonicalEvent]) -> tuple[Summary, dict[str, set[int]]]:
    """Replay events through the dataflow and summarise W1 and the postings."""
    result = replay_events(InvsyncConfig(), events)
    summary: Summary = {}
    for sku, record in result.atp.items():
        for entry in record.warehouses:
            if entry.warehouse == WAREHOUSE:
                summary[sku] = (
                    entry.on_hand,
                    entry.reserved,
                    entry.safety_stock,
                    entry.atp,
                )
    postings: dict[str, set[int]] = {}
    for posting in result.postings:
        postings.setdefault(posting.posting_id, set()).add(posting.quantity)
    return summary, postings


def check_log(
    actions: list[tuple[str, str, int]],
    picks: list[int],
    resends: list[tuple[int, int]],
) -> None:
    log = build_log(actions)
    expected_atp, expected_postings = reference(log)
    atp, postings = observed(interleave(log, picks, resends))
    for sku, figures in expected_atp.items():
        assert atp.get(sku, (0, 0, 0, 0)) == figures, sku
    assert postings == {pid: {q} for pid, q in expected_postings.items()}


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PICKS = st.lists(st.integers(min_value=0, max_value=2), max_size=60)
RESENDS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 30)), min_size=1, max_size=6
)


@PROPERTY
@given(actions=ACTIONS, picks=PICKS, resends=RESENDS)
def test_replay_matches_reference(
    actions: list[tuple[str, str, int]],
    picks: list[int],
    resends: list[tuple[int, int]],
) -> None:
    check_log(actions, picks, resends)


def dedup_off(original: Callable[..., Any]) -> Callable[..., Any]:
    def apply(self: SkuState, event: CanonicalEvent) -> Any:
        self.seen.pop(event.event_id, None)
        return original(self, event)

    return apply


def test_property_catches_dedup_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SkuState, "apply", dedup_off(SkuState.apply))

    @PROPERTY
    @given(actions=ACTIONS, picks=PICKS, resends=RESENDS)
    def broken(
        actions: list[tuple[str, str, int]],
        picks: list[int],
        resends: list[tuple[int, int]],
    ) -> None:
        check_log(actions, picks, resends)

    with pytest.raises(AssertionError):
        broken()
