"""Reference model: ATP, ERP postings and variance alerts computed from a whole log.

This is the executable form of ``docs/semantics.md`` and ``docs/variance.md``.
It shares no logic with the streaming operator (``operators/sku_state.py``,
``operators/variance.py``): each rule reads the whole log at once, so a
property test can compare the two. It favours plain code over speed.

The operator applies events in arrival order, and a few rules depend on that
order. The model fixes it with these assumptions, which the property test's
logs satisfy:

- every event arrives within ``state.dedup_retention``,
  ``state.max_snapshot_lateness`` and ``variance.retention`` of every other
  event of its SKU, so nothing is ``too_late`` and no history is dropped
  (``reference`` raises ValueError for a log that spans more);
- each warehouse sends its movements and counts in (event time, event id)
  order, which fixes posting sequences and how much each count corrected;
- ERP balances and acknowledgments arrive after every other event, in
  (event time, event id) order, and rows of one balance with the same
  ``as_of`` arrive together, as ``make demo`` feeds them;
- a transfer's legs do not change after the transfer is complete, so its
  alert, if any, is OPENED once and never updated or resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from invsync.config import InvsyncConfig, ToleranceRule
from invsync.events import (
    AckStatus,
    AdviceAction,
    AlertState,
    CanonicalEvent,
    ErpBalanceSnapshot,
    ErpPostingAck,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderAllocation,
    OrderFulfillment,
    OrderLine,
    SafetyStockSetting,
    StockStatus,
    SupplyAdvice,
    VarianceCause,
)
from sources.base import stable_id

logger = logging.getLogger(__name__)

Effects = dict[str, int]

# Signed on-hand change per movement type, on the movement's stock_status.
_ON_HAND_SIGN = {
    MovementType.RECEIPT: 1,
    MovementType.RETURN: 1,
    MovementType.TRANSFER_IN: 1,
    MovementType.ADJUSTMENT: 1,
    MovementType.SHIP: -1,
    MovementType.TRANSFER_OUT: -1,
    MovementType.STATUS_CHANGE: -1,
    MovementType.PICK: 0,
}

# ERP stock type of each WMS status. A status change inside one type posts nothing.
_STOCK_TYPE = {
    StockStatus.AVAILABLE: "unrestricted",
    StockStatus.QC: "quality",
    StockStatus.DAMAGED: "blocked",
    StockStatus.RECALLED: "blocked",
    StockStatus.HOLD: "blocked",
}
_STOCK_TYPES = ("unrestricted", "quality", "blocked")
_TYPE_STATUS = {
    "unrestricted": StockStatus.AVAILABLE,
    "quality": StockStatus.QC,
    "blocked": StockStatus.HOLD,
}


@dataclass(frozen=True)
class AtpRow:
    """Final figures of one SKU in one warehouse, as the ATP record carries them."""

    on_hand: int
    held: int
    reserved: int
    inbound: int
    safety_stock: int
    atp: int
    backordered: int


@dataclass(frozen=True)
class AlertOutcome:
    """The last record of one variance alert."""

    state: AlertState
    cause: VarianceCause
    variance: int


@dataclass
class ReferenceResult:
    """Everything the model derives from a log."""

    atp: dict[tuple[str, str], AtpRow] = field(default_factory=dict)
    unallocated_demand: dict[str, int] = field(default_factory=dict)
    unallocated_backordered: dict[str, int] = field(default_factory=dict)
    postings: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, AlertOutcome] = field(default_factory=dict)


def reference(
    config: InvsyncConfig, events: Iterable[CanonicalEvent]
) -> ReferenceResult:
    """Compute the final ATP table, postings and alerts of a log in any order."""
    accepted = _accepted(config, events)
    result = ReferenceResult()
    by_sku: dict[str, list[CanonicalEvent]] = {}
    for event in accepted:
        sku = getattr(event, "sku", None)
        if isinstance(sku, str):
            by_sku.setdefault(sku, []).append(event)

    for sku, sku_events in sorted(by_sku.items()):
        _derive_sku(config, sku, sku_events, result)
    return result


def _order(event: CanonicalEvent) -> tuple[datetime, str]:
    return (event.event_time, event.event_id)


def _accepted(
    config: InvsyncConfig, events: Iterable[CanonicalEvent]
) -> list[CanonicalEvent]:
    """Drop repeated ids and future event times, then add zeros for removed lines."""
    unique: dict[str, CanonicalEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    skew = config.state.max_future_skew
    on_time = [e for e in unique.values() if e.event_time <= e.ingest_time + skew]
    on_time.sort(key=_order)

    window = min(
        config.state.dedup_retention,
        config.state.max_snapshot_lateness,
        config.variance.retention,
    )
    span = on_time[-1].event_time - on_time[0].event_time if on_time else None
    if span is not None and span >= window:
        msg = (
            f"log spans {span}, not less than the shortest retention window "
            f"{window}; the outcome would depend on arrival order, which the "
            "reference model does not know"
        )
        raise ValueError(msg)
    return sorted([*on_time, *_removed_lines(on_time)], key=_order)


def _removed_lines(events: Sequence[CanonicalEvent]) -> list[OrderLine]:
    """Return the explicit zeros the order step emits for removed order lines.

    Per order, each line listed by any whole-order version but not by the
    newest one gets a zero at the newest version.
    """
    orders: dict[str, list[OrderLine]] = {}
    for event in events:
        if isinstance(event, OrderLine) and event.order_line_ids:
            key = f"{event.channel or event.partner or ''}\x1f{event.order_id}"
            orders.setdefault(key, []).append(event)

    zeros: list[OrderLine] = []
    for versions in orders.values():
        newest = max(versions, key=lambda v: (v.version_time, v.version_rank))
        line_skus: dict[str, str] = {}
        for version in versions:
            line_skus.setdefault(version.line_id, version.sku)
        for line_id, sku in line_skus.items():
            if line_id in newest.order_line_ids:
                continue
            event_id = stable_id(
                "removed-line",
                newest.channel or newest.partner or "",
                newest.order_id,
                line_id,
                newest.version_time,
                newest.version_rank,
            )
            zeros.append(
                newest.model_copy(
                    update={
                        "event_id": event_id,
                        "sku": sku,
                        "line_id": line_id,
                        "action": OrderAction.CHANGED,
                        "ordered_quantity": 0,
                        "cancelled_quantity": 0,
                        "shipped_quantity": 0,
                    }
                )
            )
    return zeros


# On hand.


def _deltas(movement: InventoryMovement) -> list[tuple[StockStatus, int]]:
    """Return the on-hand change of a movement per stock status."""
    if movement.movement_type is MovementType.PICK:
        return []
    delta = _ON_HAND_SIGN[movement.movement_type] * movement.quantity
    changes = [(movement.stock_status, delta)]
    if movement.movement_type is MovementType.STATUS_CHANGE:
        assert movement.to_status is not None
        changes.append((movement.to_status, movement.quantity))
    return changes


def _status_on_hand(
    events: Sequence[CanonicalEvent], warehouse: str
) -> dict[StockStatus, int]:
    """Return on hand per status: the newest count by as_of plus later movements.

    Of counts with the same as_of, the first one in the log wins. The result
    lists every status that a movement or count of the warehouse names.
    """
    movements = [
        e
        for e in events
        if isinstance(e, InventoryMovement) and e.warehouse == warehouse
    ]
    counts = [
        e
        for e in events
        if isinstance(e, InventorySnapshot) and e.warehouse == warehouse
    ]
    statuses = {s for m in movements for s, _ in _deltas(m)}
    statuses |= {b.stock_status for c in counts for b in c.balances}

    result: dict[StockStatus, int] = {}
    for status in statuses:
        bases = [
            (c.as_of, b.quantity)
            for c in counts
            for b in c.balances
            if b.stock_status is status
        ]
        base_as_of, base = max(bases, key=lambda b: b[0]) if bases else (None, 0)
        result[status] = base + sum(
            delta
            for m in movements
            for s, delta in _deltas(m)
            if s is status and (base_as_of is None or m.event_time > base_as_of)
        )
    return result


def _by_stock_type(quantities: dict[StockStatus, int]) -> Effects:
    totals = dict.fromkeys(_STOCK_TYPES, 0)
    for status, quantity in quantities.items():
        totals[_STOCK_TYPE[status]] += quantity
    return totals


# Order lines.


@dataclass
class _Line:
    """The figures of one order line that reservations need."""

    order_id: str
    line_id: str
    ordered: int = 0
    cancelled: int = 0
    source_shipped: int = 0
    warehouse_shipped: int = 0
    spread_shipped: int = 0
    channel_shipped: int = 0
    location: str | None = None

    @property
    def reserved(self) -> int:
        shipped = max(
            self.source_shipped,
            self.warehouse_shipped + self.spread_shipped,
            self.channel_shipped,
        )
        return max(0, self.ordered - self.cancelled - shipped)


def _line_id_key(line_id: str) -> tuple[int, int, str]:
    return (0, int(line_id), line_id) if line_id.isdigit() else (1, 0, line_id)


def _lines(events: Sequence[CanonicalEvent]) -> list[_Line]:
    """Return every order line of a SKU with its newest version and shipments."""
    lines: dict[tuple[str, str], _Line] = {}

    def line(order_id: str, line_id: str) -> _Line:
        return lines.setdefault((order_id, line_id), _Line(order_id, line_id))

    versions: dict[tuple[str, str], list[OrderLine]] = {}
    allocations: dict[tuple[str, str], str] = {}
    fulfilled: dict[tuple[str, str], dict[str, int]] = {}
    unattributed: dict[str, int] = {}
    for event in events:
        if isinstance(event, OrderLine):
            versions.setdefault((event.order_id, event.line_id), []).append(event)
            line(event.order_id, event.line_id)
        elif isinstance(event, OrderAllocation):
            # The latest allocation of a line wins.
            allocations[(event.order_id, event.line_id)] = event.warehouse
            line(event.order_id, event.line_id)
        elif isinstance(event, OrderFulfillment):
            shipped = fulfilled.setdefault((event.order_id, event.line_id), {})
            shipped[event.fulfillment_id] = event.quantity
            line(event.order_id, event.line_id)
        elif (
            isinstance(event, InventoryMovement)
            and event.movement_type is MovementType.SHIP
            and event.order_id
        ):
            if event.line_id:
                line(event.order_id, event.line_id).warehouse_shipped += event.quantity
            else:
                unattributed[event.order_id] = (
                    unattributed.get(event.order_id, 0) + event.quantity
                )

    for key, found in lines.items():
        # Of equal versions the first in the log wins, as ``max`` keeps the first.
        newest = max(
            versions.get(key, []),
            key=lambda v: (v.version_time, v.version_rank),
            default=None,
        )
        if newest is not None:
            found.ordered = newest.ordered_quantity
            found.cancelled = min(newest.cancelled_quantity, newest.ordered_quantity)
            found.source_shipped = newest.shipped_quantity
        warehouse = newest.warehouse if newest is not None else None
        found.location = warehouse or allocations.get(key)
        found.channel_shipped = sum(fulfilled.get(key, {}).values())

    # A shipment naming only the order fills its lines in line-id order, each up
    # to what the warehouse has not yet shipped against it by line.
    for order_id, quantity in unattributed.items():
        remaining = quantity
        order_lines = [x for x in lines.values() if x.order_id == order_id]
        for found in sorted(order_lines, key=lambda x: _line_id_key(x.line_id)):
            room = max(0, found.ordered - found.cancelled - found.warehouse_shipped)
            found.spread_shipped = min(remaining, room)
            remaining -= found.spread_shipped
    return list(lines.values())


def _backorders(
    lines: Sequence[_Line], capacity: dict[str, int]
) -> dict[str | None, int]:
    """Return the backordered quantity per warehouse and for unallocated demand.

    Each warehouse serves its lines from its capacity, and the unallocated
    lines are served from the capacity the warehouses have left. Priority
    decides which line is short, but not by how much the lines of a location
    are short together, so no priority is needed here.
    """
    backordered: dict[str | None, int] = {}
    left = 0
    for code, available in capacity.items():
        reserved = sum(x.reserved for x in lines if x.location == code)
        backordered[code] = max(0, reserved - available)
        left += max(0, available - reserved)
    unallocated = sum(x.reserved for x in lines if x.location is None)
    backordered[None] = max(0, unallocated - left)
    return backordered


# Inbound and settings.


def _inbound(events: Sequence[CanonicalEvent], warehouse: str) -> int:
    """Return advised supply not yet received plus transfers in transit to here."""
    newest_advice: dict[str, SupplyAdvice] = {}
    received: dict[str, int] = {}
    shipped: dict[str, int] = {}
    arrived: dict[str, int] = {}
    destination: dict[str, str] = {}
    for event in events:
        if isinstance(event, SupplyAdvice) and event.warehouse == warehouse:
            newest_advice[event.document_id] = event
        if not isinstance(event, InventoryMovement):
            continue
        kind = event.movement_type
        receipt = kind in (MovementType.RECEIPT, MovementType.RETURN)
        if receipt and event.warehouse == warehouse and event.document_id:
            received[event.document_id] = (
                received.get(event.document_id, 0) + event.quantity
            )
        if kind is MovementType.TRANSFER_OUT and event.transfer_id:
            shipped[event.transfer_id] = (
                shipped.get(event.transfer_id, 0) + event.quantity
            )
            if event.other_warehouse:
                destination.setdefault(event.transfer_id, event.other_warehouse)
        if kind is MovementType.TRANSFER_IN and event.transfer_id:
            arrived[event.transfer_id] = (
                arrived.get(event.transfer_id, 0) + event.quantity
            )
            # The TRANSFER_IN's warehouse is the destination, whatever the origin named.
            destination[event.transfer_id] = event.warehouse

    advised = sum(
        max(
            0,
            (0 if advice.action is AdviceAction.CANCELLED else advice.quantity)
            - received.get(document, 0),
        )
        for document, advice in newest_advice.items()
    )
    in_transit = sum(
        max(0, shipped.get(transfer, 0) - arrived.get(transfer, 0))
        for transfer, code in destination.items()
        if code == warehouse
    )
    return advised + in_transit


def _safety_stock(events: Sequence[CanonicalEvent], warehouse: str) -> int:
    settings = [
        e
        for e in events
        if isinstance(e, SafetyStockSetting) and e.warehouse == warehouse
    ]
    return max(settings, key=_order).quantity if settings else 0


def _warehouses(events: Sequence[CanonicalEvent]) -> set[str]:
    """Return the warehouses the SKU's ATP record lists."""
    codes: set[str] = set()
    for event in events:
        if isinstance(event, ErpBalanceSnapshot | ErpPostingAck | OrderFulfillment):
            continue
        code = getattr(event, "warehouse", None)
        if isinstance(code, str):
            codes.add(code)
        if (
            isinstance(event, InventoryMovement)
            and event.movement_type is MovementType.TRANSFER_OUT
            and event.other_warehouse
        ):
            codes.add(event.other_warehouse)
    return codes


# Postings.


def _posting_quantity(movement: InventoryMovement) -> int | None:
    """Return a movement's signed posting quantity, or None when it posts nothing."""
    kind = movement.movement_type
    if kind is MovementType.PICK:
        return None
    if kind is MovementType.STATUS_CHANGE:
        assert movement.to_status is not None
        crosses = _STOCK_TYPE[movement.stock_status] != _STOCK_TYPE[movement.to_status]
        return -movement.quantity if crosses else None
    return _ON_HAND_SIGN[kind] * movement.quantity


def _posting_effects(movement: InventoryMovement, quantity: int) -> Effects:
    """Return a posting's signed effect per ERP stock type, zeros left out."""
    effects = {_STOCK_TYPE[movement.stock_status]: quantity}
    if movement.movement_type is MovementType.STATUS_CHANGE:
        assert movement.to_status is not None
        target = _STOCK_TYPE[movement.to_status]
        effects[target] = effects.get(target, 0) - quantity
    return {key: value for key, value in effects.items() if value != 0}


@dataclass(frozen=True)
class _Posting:
    posting_id: str
    sequence: int
    event_time: datetime
    effects: Effects


def _postings(events: Sequence[CanonicalEvent], warehouse: str) -> list[_Posting]:
    """Return the warehouse's postings, numbered from 1 in log order."""
    postings: list[_Posting] = []
    for event in events:
        if not isinstance(event, InventoryMovement) or event.warehouse != warehouse:
            continue
        quantity = _posting_quantity(event)
        if quantity is None:
            continue
        postings.append(
            _Posting(
                posting_id=stable_id("posting", event.event_id),
                sequence=len(postings) + 1,
                event_time=event.event_time,
                effects=_posting_effects(event, quantity),
            )
        )
    return postings


# The SKU.


def _derive_sku(
    config: InvsyncConfig,
    sku: str,
    events: list[CanonicalEvent],
    result: ReferenceResult,
) -> None:
    """Add one SKU's ATP rows, postings and alerts to the result."""
    for event in events:
        if isinstance(event, InventoryMovement):
            quantity = _posting_quantity(event)
            if quantity is not None:
                result.postings[stable_id("posting", event.event_id)] = quantity

    wms_events = [
        e for e in events if not isinstance(e, ErpBalanceSnapshot | ErpPostingAck)
    ]
    lines = _lines(wms_events)
    # (on hand, held, safety stock) per warehouse.
    figures: dict[str, tuple[int, int, int]] = {}
    for code in sorted(_warehouses(wms_events)):
        on_hand = _status_on_hand(wms_events, code)
        held = sum(q for s, q in on_hand.items() if s is not StockStatus.AVAILABLE)
        figures[code] = (sum(on_hand.values()), held, _safety_stock(wms_events, code))
    capacity = {
        code: max(0, total - held - safety)
        for code, (total, held, safety) in figures.items()
    }
    backordered = _backorders(lines, capacity)

    for code, (total, held, safety) in figures.items():
        reserved = sum(x.reserved for x in lines if x.location == code)
        result.atp[(sku, code)] = AtpRow(
            on_hand=total,
            held=held,
            reserved=reserved,
            inbound=_inbound(wms_events, code),
            safety_stock=safety,
            atp=total - held - reserved - safety,
            backordered=backordered[code],
        )
    if wms_events:
        # An ATP record is published once the SKU has applied a non-ERP event.
        result.unallocated_demand[sku] = sum(
            x.reserved for x in lines if x.location is None
        )
        result.unallocated_backordered[sku] = backordered[None]

    balances = [e for e in events if isinstance(e, ErpBalanceSnapshot)]
    for code in sorted({b.warehouse for b in balances}):
        result.alerts.update(_balance_alerts(config, sku, code, events))
    result.alerts.update(_transfer_alerts(config, sku, events))


# Variance: tolerance and causes.


def _tolerance(config: InvsyncConfig, sku: str, warehouse: str) -> ToleranceRule:
    """Return the most specific rule: warehouse and class, class, warehouse, none."""
    sku_class = config.variance.sku_classes.get(sku)
    ranked = [
        (2 * (rule.sku_class is not None) + (rule.warehouse is not None), index)
        for index, rule in enumerate(config.variance.tolerances)
        if rule.warehouse in (None, warehouse) and rule.sku_class in (None, sku_class)
    ]
    if not ranked:
        return ToleranceRule()
    # Of equally specific rules the first one listed wins.
    _, index = max(ranked, key=lambda r: (r[0], -r[1]))
    return config.variance.tolerances[index]


def _breaks(
    config: InvsyncConfig, sku: str, warehouse: str, variance: int, *sides: int
) -> bool:
    """Return whether a variance exceeds every limit of its tolerance rule."""
    rule = _tolerance(config, sku, warehouse)
    size = abs(variance)
    cost = config.variance.unit_costs.get(sku)
    return (
        size > rule.units
        and size * 100 > rule.percent * max(abs(s) for s in sides)
        and (rule.value is None or cost is None or size * cost > rule.value)
    )


def _classify(
    variance: int,
    candidates: list[tuple[VarianceCause, int]],
) -> VarianceCause:
    """Name the first cause whose amount equals the variance, else the largest.

    The largest non-zero amount names the cause only when the non-zero amounts
    add up to the variance. Otherwise the variance is unexplained.
    """
    for cause, amount in candidates:
        if amount == variance:
            return cause
    present = [(cause, amount) for cause, amount in candidates if amount != 0]
    if present and sum(amount for _, amount in present) == variance:
        return max(present, key=lambda c: abs(c[1]))[0]
    return VarianceCause.UNEXPLAINED


@dataclass(frozen=True)
class _Count:
    as_of: datetime
    effects: Effects


def _counts(events: Sequence[CanonicalEvent], warehouse: str) -> list[_Count]:
    """Return how much each count changed on hand, in log order.

    A count of a warehouse that has no balance yet is its opening balance and
    is left out.
    """
    mine = [
        e
        for e in events
        if isinstance(e, InventoryMovement | InventorySnapshot)
        and e.warehouse == warehouse
    ]
    counts: list[_Count] = []
    for index, event in enumerate(mine):
        if not isinstance(event, InventorySnapshot):
            continue
        before = _status_on_hand(mine[:index], warehouse)
        if not before:
            continue
        after = _by_stock_type(_status_on_hand(mine[: index + 1], warehouse))
        effects = {
            key: after[key] - quantity
            for key, quantity in _by_stock_type(before).items()
            if after[key] != quantity
        }
        if effects:
            counts.append(_Count(event.as_of, effects))
    return counts


def _effect(effects: Iterable[Effects], compared: Sequence[str]) -> int:
    return sum(e.get(key, 0) for e in effects for key in compared)


# Variance: ERP balances.


@dataclass
class _AlertKey:
    """Persistence and the open alert of one (SKU, warehouse)."""

    streak: int = 0
    streak_start: datetime | None = None
    last_breaking_as_of: datetime | None = None
    open_id: str | None = None
    first_seen: datetime | None = None
    cause: VarianceCause | None = None
    variance: int = 0
    stock_status: StockStatus | None = None


@dataclass
class _ErpView:
    """The ERP rows of one as_of, as far as they have arrived."""

    as_of: datetime
    quantities: dict[str | None, int] = field(default_factory=dict)
    last_applied: int | None = None


def _balance_alerts(
    config: InvsyncConfig, sku: str, warehouse: str, events: Sequence[CanonicalEvent]
) -> dict[str, AlertOutcome]:
    """Evaluate each ERP balance of a warehouse against final WMS on hand."""
    wms_events = [
        e for e in events if not isinstance(e, ErpBalanceSnapshot | ErpPostingAck)
    ]
    wms = _by_stock_type(_status_on_hand(wms_events, warehouse))
    postings = _postings(wms_events, warehouse)
    counts = _counts(wms_events, warehouse)
    erp_events = [
        e
        for e in events
        if isinstance(e, ErpBalanceSnapshot | ErpPostingAck)
        and e.warehouse == warehouse
    ]

    outcomes: dict[str, AlertOutcome] = {}
    key = _AlertKey()
    view: _ErpView | None = None
    acks: dict[str, AckStatus] = {}
    for index, event in enumerate(erp_events):
        if isinstance(event, ErpPostingAck):
            acks[event.posting_id] = event.status
            continue
        if view is not None and event.as_of < view.as_of:
            continue
        if view is None or event.as_of > view.as_of:
            view = _ErpView(event.as_of)
        status = event.stock_status
        view.quantities[None if status is None else _STOCK_TYPE[status]] = (
            event.quantity
        )
        if event.last_applied_sequence is not None:
            view.last_applied = max(view.last_applied or 0, event.last_applied_sequence)

        # Rows of one as_of that arrive together are evaluated once.
        following = erp_events[index + 1] if index + 1 < len(erp_events) else None
        if isinstance(following, ErpBalanceSnapshot) and following.as_of == view.as_of:
            continue
        rejected = {
            p.posting_id
            for p in postings
            if acks.get(p.posting_id) is AckStatus.REJECTED
        }
        cause, variance, named = _evaluate(
            config, sku, warehouse, view, rejected, wms, postings, counts
        )
        _advance(
            config, sku, warehouse, key, view.as_of, cause, variance, named, outcomes
        )
    return outcomes


def _evaluate(
    config: InvsyncConfig,
    sku: str,
    warehouse: str,
    view: _ErpView,
    rejected_ids: set[str],
    wms: Effects,
    postings: Sequence[_Posting],
    counts: Sequence[_Count],
) -> tuple[VarianceCause | None, int, StockStatus | None]:
    """Compare one ERP view with the balance the ERP should show.

    Return the cause, the variance and the stock status the comparison names.
    The cause is None when nothing breaks tolerance.
    """
    as_of, last = view.as_of, view.last_applied
    # Without a sequence, the ERP contains every posting up to as_of.
    rejected = [
        p
        for p in postings
        if p.posting_id in rejected_ids and (last is not None or p.event_time <= as_of)
    ]
    in_flight = [
        p
        for p in postings
        if p not in rejected
        and (p.sequence > last if last is not None else p.event_time > as_of)
    ]
    grace = config.variance.posting_grace
    stuck = [p for p in in_flight if as_of - p.event_time > grace]
    fresh = [p for p in in_flight if p not in stuck]
    counts_before = [c for c in counts if c.as_of <= as_of]
    counts_after = [c for c in counts if c.as_of > as_of]
    expected = {
        t: wms[t]
        - _effect((p.effects for p in fresh), [t])
        - _effect((c.effects for c in counts_after), [t])
        for t in _STOCK_TYPES
    }

    quantities = view.quantities
    if None in quantities:
        compared = list(_STOCK_TYPES)
        erp = quantities[None]
        named = None
    else:
        compared = [t for t in quantities if t is not None]
        erp = sum(quantities[t] for t in compared)
        named = _TYPE_STATUS[compared[0]] if len(compared) == 1 else None
    expected_total = sum(expected[t] for t in compared)
    variance = erp - expected_total
    if _breaks(config, sku, warehouse, variance, erp, expected_total):
        # The ERP lacks the effect of each candidate, so each explains -effect.
        candidates = [
            (VarianceCause.POSTING_REJECTED, [p.effects for p in rejected]),
            (VarianceCause.IN_FLIGHT_STUCK, [p.effects for p in stuck]),
            (VarianceCause.UNPOSTED_ADJUSTMENT, [c.effects for c in counts_before]),
        ]
        amounts = [(cause, -_effect(e, compared)) for cause, e in candidates]
        return _classify(variance, amounts), variance, named

    # With the sum within tolerance, the largest breaking type is a status mismatch.
    worst: tuple[int, str] | None = None
    for stock_type in _STOCK_TYPES:
        if stock_type not in quantities:
            continue
        erp_type, expected_type = quantities[stock_type], expected[stock_type]
        difference = erp_type - expected_type
        breaking = _breaks(config, sku, warehouse, difference, erp_type, expected_type)
        if breaking and (worst is None or abs(difference) > abs(worst[0])):
            worst = (difference, stock_type)
    if worst is None:
        return None, variance, named
    return VarianceCause.STATUS_MISMATCH, worst[0], _TYPE_STATUS[worst[1]]


def _advance(
    config: InvsyncConfig,
    sku: str,
    warehouse: str,
    key: _AlertKey,
    as_of: datetime,
    cause: VarianceCause | None,
    variance: int,
    stock_status: StockStatus | None,
    outcomes: dict[str, AlertOutcome],
) -> None:
    """Move one key's alert through OPENED, UPDATED and RESOLVED."""
    if cause is None:
        key.streak, key.streak_start, key.last_breaking_as_of = 0, None, None
        if key.open_id is not None:
            assert key.cause is not None
            outcomes[key.open_id] = AlertOutcome(
                AlertState.RESOLVED, key.cause, variance
            )
            key.open_id = None
        return

    # Another row of an evaluated as_of does not count as a new snapshot.
    if key.last_breaking_as_of != as_of:
        key.streak += 1
        key.last_breaking_as_of = as_of
    if key.streak_start is None:
        key.streak_start = as_of

    if key.open_id is not None:
        current = (key.cause, key.variance, key.stock_status)
        if current != (cause, variance, stock_status):
            key.cause, key.variance, key.stock_status = cause, variance, stock_status
            outcomes[key.open_id] = AlertOutcome(AlertState.UPDATED, cause, variance)
        return

    settings = config.variance
    lasted = as_of - key.streak_start
    if key.streak < settings.consecutive_snapshots or lasted < settings.persistence:
        return
    key.open_id = stable_id("variance", sku, warehouse, key.streak_start.isoformat())
    key.cause, key.variance, key.stock_status = cause, variance, stock_status
    outcomes[key.open_id] = AlertOutcome(AlertState.OPENED, cause, variance)


# Variance: transfers.


def _transfer_alerts(
    config: InvsyncConfig, sku: str, events: Sequence[CanonicalEvent]
) -> dict[str, AlertOutcome]:
    """Return an OPENED alert per complete transfer whose legs disagree."""
    legs: dict[str, list[InventoryMovement]] = {}
    for event in events:
        transfer_types = (MovementType.TRANSFER_OUT, MovementType.TRANSFER_IN)
        if (
            isinstance(event, InventoryMovement)
            and event.movement_type in transfer_types
        ):
            assert event.transfer_id is not None
            legs.setdefault(event.transfer_id, []).append(event)
    watermark = max((e.event_time for e in events), default=None)

    outcomes: dict[str, AlertOutcome] = {}
    for transfer_id, movements in legs.items():
        outs = [m for m in movements if m.movement_type is MovementType.TRANSFER_OUT]
        ins = [m for m in movements if m.movement_type is MovementType.TRANSFER_IN]
        shipped = sum(m.quantity for m in outs)
        received = sum(m.quantity for m in ins)
        destination = ins[-1].warehouse if ins else None
        if destination is None and outs:
            destination = outs[-1].other_warehouse
        if shipped == 0 or received == 0 or destination is None:
            continue
        assert watermark is not None
        last_receipt = max(m.event_time for m in ins)
        complete = any(m.final_receipt for m in ins) or (
            watermark - last_receipt >= config.variance.transfer_grace
        )
        variance = received - shipped
        if complete and _breaks(config, sku, destination, variance, shipped, received):
            alert_id = stable_id("transfer-variance", sku, transfer_id)
            outcomes[alert_id] = AlertOutcome(
                AlertState.OPENED, VarianceCause.TRANSFER_DISCREPANCY, variance
            )
    return outcomes
