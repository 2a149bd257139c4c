"""The order step: lines that a newer whole-order version no longer lists become zeros.

Order SO-1 has line 1 of SKU-A and line 2 of SKU-B, and each version lists its
lines in ``order_line_ids``. The last tests run the whole dataflow to check that SKU-B's
state ends at zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dataflows.replay import replay_events
from invsync.config import InvsyncConfig
from invsync.events import (
    CanonicalEvent,
    InventoryMovement,
    MovementType,
    OrderAction,
    OrderLine,
    Source,
)
from operators.order_versions import (
    OrderRetention,
    OrderVersions,
    OrderVersionsLogic,
    apply_order_line,
    order_key,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_RANKS = {OrderAction.PLACED: 0, OrderAction.CHANGED: 1, OrderAction.CANCELLED: 2}
SKUS = {"1": "SKU-A", "2": "SKU-B", "3": "SKU-C"}


def at(minute: float) -> datetime:
    """Return T0 plus a number of minutes."""
    return T0 + timedelta(minutes=minute)


def version(
    event_id: str,
    line_id: str,
    ordered: int,
    version_minute: float,
    line_ids: list[str],
    *,
    action: OrderAction = OrderAction.PLACED,
    minute: float | None = None,
    channel: str = "shop",
) -> OrderLine:
    """Build one line of a whole-order version of SO-1, allocated to W1."""
    when = at(version_minute if minute is None else minute)
    return OrderLine(
        event_id=event_id,
        source=Source.SHOPIFY,
        event_time=when,
        ingest_time=when,
        sku=SKUS[line_id],
        warehouse="W1",
        order_id="SO-1",
        line_id=line_id,
        action=action,
        ordered_quantity=ordered,
        version_time=at(version_minute),
        version_rank=_RANKS[action],
        channel=channel,
        order_line_ids=line_ids,
    )


def feed(state: OrderVersions, *events: OrderLine) -> list[list[OrderLine]]:
    """Pass events through the order step and return the outputs of each."""
    return [apply_order_line(state, event) for event in events]


def receipt(event_id: str, sku: str, quantity: int) -> InventoryMovement:
    """Build a RECEIPT at T0 into W1."""
    return InventoryMovement(
        event_id=event_id,
        source=Source.WMS,
        event_time=T0,
        ingest_time=T0,
        sku=sku,
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=quantity,
    )


def test_line_passes_through() -> None:
    event = version("v1-1", "1", 2, 1, ["1", "2"])
    assert apply_order_line(OrderVersions(), event) == [event]


def test_removed_line_becomes_zero() -> None:
    newer = version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED)
    *_, outputs = feed(
        OrderVersions(),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v1-2", "2", 4, 1, ["1", "2"]),
        newer,
    )
    assert len(outputs) == 2
    assert outputs[0] == newer
    zero = outputs[1]
    assert zero.sku == "SKU-B"
    assert zero.order_id == "SO-1"
    assert zero.line_id == "2"
    assert zero.ordered_quantity == 0
    assert zero.cancelled_quantity == 0
    assert zero.shipped_quantity == 0
    assert zero.version_time == at(5)
    assert zero.version_rank == 1
    assert zero.event_id not in {"v1-1", "v1-2", "v2-1"}


def test_zero_emitted_once_per_version() -> None:
    outputs = feed(
        OrderVersions(),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v1-2", "2", 4, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1", "3"], action=OrderAction.CHANGED),
        version("v2-3", "3", 1, 5, ["1", "3"], action=OrderAction.CHANGED),
    )
    assert [len(batch) for batch in outputs] == [1, 1, 2, 1]
    assert outputs[2][1].line_id == "2"


def test_zero_event_id_is_deterministic() -> None:
    events = [
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v1-2", "2", 4, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
    ]
    first = feed(OrderVersions(), *events)[-1][1]
    second = feed(OrderVersions(), *events)[-1][1]
    assert first.event_id == second.event_id


def test_late_old_version_yields_zero() -> None:
    # Line 2 is first heard of after version 2 removed it.
    late = version("v1-2", "2", 4, 1, ["1", "2"])
    *_, outputs = feed(
        OrderVersions(),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
        late,
    )
    assert len(outputs) == 2
    assert outputs[0] == late
    assert outputs[1].line_id == "2"
    assert outputs[1].sku == "SKU-B"
    assert outputs[1].ordered_quantity == 0
    assert outputs[1].version_time == at(5)
    assert outputs[1].version_rank == 1


def test_readded_line_gets_no_zero() -> None:
    outputs = feed(
        OrderVersions(),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v1-2", "2", 4, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
        version("v3-1", "1", 2, 9, ["1", "2"], action=OrderAction.CHANGED),
        version("v3-2", "2", 6, 9, ["1", "2"], action=OrderAction.CHANGED),
    )
    assert [len(batch) for batch in outputs] == [1, 1, 2, 1, 1]


def test_order_key_separates_channels() -> None:
    shop = version("v1-1", "1", 2, 1, ["1"], channel="shop")
    shop_again = version("v2-1", "1", 3, 2, ["1"], channel="shop")
    edi = version("e1-1", "1", 2, 1, ["1"], channel="edi-acme")
    assert order_key(shop) == order_key(shop_again)
    assert order_key(shop) != order_key(edi)


# Retention.

RETENTION = timedelta(hours=1)
WALL = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def retention(check_minutes: float = 1) -> OrderRetention:
    """Return a retention of one hour whose wall clock is fixed at WALL."""
    return OrderRetention(
        RETENTION, check_interval=timedelta(minutes=check_minutes), clock=lambda: WALL
    )


def test_state_records_newest_event_time() -> None:
    state = OrderVersions()
    feed(
        state,
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
        version("v1-1", "1", 2, 1, ["1"]),
    )
    assert state.newest_event_time == at(5)


def test_retention_boundary_is_exclusive() -> None:
    clock = retention()
    state = OrderVersions(newest_event_time=at(0))
    clock.observe(at(60))
    assert not clock.is_expired(state)
    clock.observe(at(60) + timedelta(microseconds=1))
    assert clock.is_expired(state)


def test_retention_never_moves_back() -> None:
    clock = retention()
    clock.observe(at(90))
    clock.observe(at(10))
    assert clock.newest == at(90)


def test_notify_at_follows_check_interval() -> None:
    logic = OrderVersionsLogic(None, retention(check_minutes=5))
    assert logic.notify_at() == WALL + timedelta(minutes=5)
    assert OrderVersionsLogic(None).notify_at() is None


def test_finished_order_dropped_on_notify() -> None:
    clock = retention()
    finished = OrderVersionsLogic(None, clock)
    _, keep = finished.on_batch([version("v1-1", "1", 2, 0, ["1"])])
    assert keep == OrderVersionsLogic.RETAIN
    later = OrderVersionsLogic(None, clock)
    later.on_batch([version("w1-1", "1", 2, 61, ["1"])])
    assert finished.on_notify() == ([], OrderVersionsLogic.DISCARD)
    assert later.on_notify() == ([], OrderVersionsLogic.RETAIN)


def test_order_within_retention_kept() -> None:
    clock = retention()
    order = OrderVersionsLogic(None, clock)
    order.on_batch([version("v1-1", "1", 2, 0, ["1"])])
    other = OrderVersionsLogic(None, clock)
    other.on_batch([version("w1-1", "1", 2, 60, ["1"])])
    assert order.on_notify() == ([], OrderVersionsLogic.RETAIN)


def test_late_line_of_old_order_discarded_after_batch() -> None:
    clock = retention()
    clock.observe(at(200))
    logic = OrderVersionsLogic(None, clock)
    outputs, keep = logic.on_batch([version("v1-1", "1", 2, 0, ["1"])])
    assert [e.event_id for e in outputs] == ["v1-1"]
    assert keep == OrderVersionsLogic.DISCARD


def test_snapshot_without_event_time_resumes() -> None:
    # A state pickled before newest_event_time existed has no such attribute.
    old = OrderVersions()
    del old.__dict__["newest_event_time"]
    clock = retention()
    clock.observe(at(500))
    logic = OrderVersionsLogic(old, clock)
    assert logic.on_notify() == ([], OrderVersionsLogic.RETAIN)


# Through the whole dataflow.


def replay(*events: CanonicalEvent) -> dict[str, tuple[int, int, int]]:
    """Replay events and return (reserved, atp, version counter) of W1 per SKU."""
    result = replay_events(InvsyncConfig(), list(events))
    summary: dict[str, tuple[int, int, int]] = {}
    for sku, record in result.atp.items():
        (entry,) = [w for w in record.warehouses if w.warehouse == "W1"]
        summary[sku] = (entry.reserved, entry.atp, record.version.counter)
    return summary


def test_removed_line_ends_zero() -> None:
    summary = replay(
        receipt("r-b", "SKU-B", 10),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v1-2", "2", 4, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
    )
    assert summary["SKU-B"] == (0, 10, 3)
    assert summary["SKU-A"] == (2, -2, 2)


def test_late_older_version_ends_zero() -> None:
    summary = replay(
        receipt("r-b", "SKU-B", 10),
        version("v1-1", "1", 2, 1, ["1", "2"]),
        version("v2-1", "1", 2, 5, ["1"], action=OrderAction.CHANGED),
        version("v1-2", "2", 4, 1, ["1", "2"], minute=7),
    )
    assert summary["SKU-B"] == (0, 10, 3)
