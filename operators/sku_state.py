"""Per-SKU inventory state and the ATP arithmetic, with no Bytewax and no I/O.

``SkuState.apply`` takes one canonical event and returns the output records it
causes (ERP postings, exceptions, dead letters); ``SkuState.atp_record`` returns
the SKU's current available-to-promise. ``docs/semantics.md`` is the
specification these functions implement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from invsync.avro import encode
from invsync.events import (
    SELLABLE_STATUSES,
    AtpRecord,
    CanonicalEvent,
    ChannelInventoryLevel,
    DeadLetter,
    ErpBalanceSnapshot,
    ErpPosting,
    ErpPostingAck,
    ExceptionKind,
    InventoryException,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAllocation,
    OrderFulfillment,
    OrderLine,
    PostingType,
    RecordVersion,
    SafetyStockSetting,
    StockStatus,
    SupplyAdvice,
    VarianceAlert,
    WarehouseAtp,
)
from invsync.logs import event_fields
from operators.backorders import LineKey, LocationQueue, Priority
from operators.balances import Balance
from operators.order_lines import LineState, line_id_key
from operators.pickling import TupleState
from operators.variance import VarianceSettings, VarianceState
from sources.base import stable_id

logger = logging.getLogger(__name__)

OutputRecord = ErpPosting | InventoryException | DeadLetter | VarianceAlert
Location = str | None
# Contribution of one line to its location's totals: (location, reserved,
# backordered).
Contribution = tuple[Location, int, int]

# ERP stock types: a status change posts only when it crosses between them.
_ERP_STOCK_TYPE = {
    StockStatus.AVAILABLE: "unrestricted",
    StockStatus.QC: "quality",
    StockStatus.DAMAGED: "blocked",
    StockStatus.RECALLED: "blocked",
    StockStatus.HOLD: "blocked",
}

_POSTING_TYPES = {
    MovementType.RECEIPT: (PostingType.GOODS_RECEIPT, 1),
    MovementType.RETURN: (PostingType.GOODS_RETURN, 1),
    MovementType.SHIP: (PostingType.GOODS_ISSUE, -1),
    MovementType.ADJUSTMENT: (PostingType.ADJUSTMENT, 1),
    MovementType.TRANSFER_OUT: (PostingType.TRANSFER_OUT, -1),
    MovementType.TRANSFER_IN: (PostingType.TRANSFER_IN, 1),
}


@dataclass(frozen=True)
class StateSettings:
    """Retention windows of the operator (from ``StateConfig``)."""

    dedup_retention: timedelta = timedelta(days=7)
    max_snapshot_lateness: timedelta = timedelta(days=2)
    max_future_skew: timedelta = timedelta(days=1)
    generation: int = 0
    variance: VarianceSettings = field(default_factory=VarianceSettings)


@dataclass
class Advice(TupleState):
    """Inbound supply advised by one document at one warehouse."""

    advised: int = 0
    received: int = 0
    as_of: tuple[datetime, str] | None = None
    last_event_time: datetime | None = None

    @property
    def inbound(self) -> int:
        """Advised quantity not yet received."""
        return max(0, self.advised - self.received)


@dataclass
class Transfer(TupleState):
    """Both legs of one stock transfer of this SKU."""

    origin: str | None = None
    destination: str | None = None
    shipped: int = 0
    received: int = 0
    last_event_time: datetime | None = None

    @property
    def in_transit(self) -> int:
        """Quantity shipped by the origin and not yet received at the destination."""
        return max(0, self.shipped - self.received)


@dataclass
class WarehouseState(TupleState):
    """Balances and settings of one SKU in one warehouse."""

    balances: dict[StockStatus, Balance] = field(default_factory=dict)
    safety_stock: int = 0
    safety_stock_as_of: tuple[datetime, str] | None = None
    posting_sequence: int = 0
    channel_available: int | None = None
    channel_as_of: tuple[datetime, str] | None = None
    oversold: int = 0
    watermark: datetime | None = None
    fold_due: datetime | None = None

    def __setstate__(self, state: tuple[object, ...] | dict[str, object]) -> None:
        """Restore a pickled warehouse state; an older one gets no fold time."""
        if isinstance(state, dict):
            state.setdefault("fold_due", None)
        super().__setstate__(state)

    def advance(self, event_time: datetime, lateness: timedelta) -> None:
        """Move the warehouse's clock forward and fold movements past the horizon.

        Folding walks the listed movements, so it runs once per sixteenth of
        the lateness window of event time. Folding later changes no quantity;
        it only keeps movements listed a little longer.
        """
        if self.watermark is not None and event_time <= self.watermark:
            return
        self.watermark = event_time
        horizon = event_time - lateness
        if self.fold_due is not None and horizon < self.fold_due:
            return
        for balance in self.balances.values():
            balance.fold_before(horizon)
        self.fold_due = horizon + lateness / 16

    def balance(self, status: StockStatus) -> Balance:
        """Return the balance of one status, creating it at zero."""
        found = self.balances.get(status)
        if found is None:
            found = self.balances[status] = Balance()
        return found

    def on_hand(self) -> int:
        """Return on hand over every status."""
        return self.totals()[0]

    def held(self) -> int:
        """Return on hand in non-sellable statuses."""
        return self.totals()[1]

    def totals(self) -> tuple[int, int]:
        """Return (on hand over every status, on hand in non-sellable statuses)."""
        on_hand = held = 0
        for status, balance in self.balances.items():
            quantity = balance.quantity()
            on_hand += quantity
            if status not in SELLABLE_STATUSES:
                held += quantity
        return on_hand, held


@dataclass
class SkuState(TupleState):
    """Everything the operator keeps for one SKU, across its warehouses."""

    sku: str
    settings: StateSettings = field(default_factory=StateSettings)
    warehouses: dict[str, WarehouseState] = field(default_factory=dict)
    lines: dict[tuple[str, str], LineState] = field(default_factory=dict)
    advices: dict[tuple[str, str], Advice] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    unattributed: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    watermark: datetime | None = None
    counter: int = 0
    unallocated_backordered: int = 0
    variance: VarianceState = field(default_factory=VarianceState)
    next_prune: datetime | None = None
    # Indexes derived from ``lines``, so that a batch costs time in proportion
    # to the lines it touches rather than to every line of the SKU. They are
    # the open lines of each location, the priority each open line is listed
    # under, the counted contribution of lines changed in this batch, and the
    # lines of orders with order-level shipments. They are rebuilt after
    # unpickling and never pickled.
    queues: dict[Location, LocationQueue] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    listed: dict[LineKey, Priority] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    dirty: dict[LineKey, Contribution] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    unattributed_lines: dict[str, list[LineKey]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # The settings come from the configuration of the run that restores the
    # state, so they are not pickled; neither are the derived indexes.
    not_pickled = ("settings",)

    def __getstate__(self) -> tuple[object, ...]:
        """Return the fields to pickle."""
        self._flush_lines()
        return super().__getstate__()

    def __setstate__(self, state: tuple[object, ...] | dict[str, object]) -> None:
        """Restore a pickled state with default settings; the caller sets its own.

        A state pickled as a dict before variance detection gets none.
        """
        if isinstance(state, dict):
            state.setdefault("variance", VarianceState())
            state.setdefault("next_prune", None)
            state.setdefault("settings", StateSettings())
        else:
            self.settings = StateSettings()
        super().__setstate__(state)
        self._rebuild_indexes()

    def _rebuild_indexes(self) -> None:
        self.queues = {}
        self.listed = {}
        self.dirty = {}
        self.unattributed_lines = {}
        for key, line in self.lines.items():
            self._count(key, line)
        for order_id in self.unattributed:
            self.unattributed_lines[order_id] = self._keys_of_order(order_id)

    def _keys_of_order(self, order_id: str) -> list[LineKey]:
        return [key for key in self.lines if key[0] == order_id]

    def _queue(self, location: Location) -> LocationQueue:
        found = self.queues.get(location)
        if found is None:
            found = self.queues[location] = LocationQueue()
        return found

    def _count(self, key: LineKey, line: LineState) -> None:
        """Add a line's current contribution to its location's queue."""
        reserved, backordered = line.reserved, line.backordered
        if reserved == 0 and backordered == 0:
            return
        queue = self._queue(line.location)
        queue.reserved += reserved
        queue.backordered += backordered
        priority = line_priority(line)
        queue.add(priority)
        self.listed[key] = priority

    def _mark(self, key: LineKey, line: LineState) -> None:
        """Remember a line's counted contribution before its first change."""
        if key not in self.dirty:
            self.dirty[key] = (line.location, line.reserved, line.backordered)

    def _flush_lines(self) -> None:
        """Move the contributions of changed lines from their old to new values."""
        for key, (location, reserved, backordered) in self.dirty.items():
            if reserved or backordered:
                queue = self.queues[location]
                queue.reserved -= reserved
                queue.backordered -= backordered
                queue.remove(self.listed.pop(key))
            line = self.lines.get(key)
            if line is not None:
                self._count(key, line)
        self.dirty.clear()

    # Applying events.

    def apply(self, event: CanonicalEvent) -> list[OutputRecord]:
        """Apply one event and return the records it causes.

        A repeated event_id changes nothing; an event older than the retention
        window becomes a ``too_late`` dead letter instead of being applied twice.
        """
        # Lateness is checked before the dedup memory, because that memory is
        # pruned lazily and the outcome must not depend on when it was.
        if self._is_too_late(event.event_time, self.settings.dedup_retention):
            return [self._too_late(event, "event time is older than the dedup window")]
        if event.event_id in self.seen:
            return []
        if event.event_time > event.ingest_time + self.settings.max_future_skew:
            return [self._future(event)]
        if isinstance(event, InventorySnapshot) and self._is_snapshot_too_late(event):
            return [self._too_late(event, "as_of is older than the snapshot lateness")]

        outputs: list[OutputRecord] = []
        if isinstance(event, InventoryMovement):
            outputs.extend(self._apply_movement(event))
        elif isinstance(event, InventorySnapshot):
            before = self._status_quantities(event.warehouse)
            self._apply_snapshot(event)
            after = self._status_quantities(event.warehouse)
            self.variance.record_count(event.warehouse, event.as_of, before, after)
        elif isinstance(event, ErpBalanceSnapshot):
            self.variance.apply_snapshot(event)
        elif isinstance(event, ErpPostingAck):
            self.variance.apply_ack(event)
        elif isinstance(event, OrderLine):
            if event.warehouse is not None:
                # Entries are created when an event names a warehouse, so the
                # ATP record's warehouse list does not depend on batching.
                self._warehouse(event.warehouse)
            self._line(event.order_id, event.line_id).apply_version(event)
            self._line(event.order_id, event.line_id).touch(event.event_time)
        elif isinstance(event, OrderAllocation):
            self._warehouse(event.warehouse)
            line = self._line(event.order_id, event.line_id)
            line.allocated_warehouse = event.warehouse
            line.touch(event.event_time)
        elif isinstance(event, OrderFulfillment):
            line = self._line(event.order_id, event.line_id)
            line.channel_fulfilled[event.fulfillment_id] = event.quantity
            line.touch(event.event_time)
        elif isinstance(event, SupplyAdvice):
            self._apply_advice(event)
        elif isinstance(event, SafetyStockSetting):
            self._apply_safety_stock(event)
        elif isinstance(event, ChannelInventoryLevel):
            self._apply_channel_level(event)
        else:
            msg = f"{type(event).__name__} does not belong to a SKU state"
            raise TypeError(msg)

        self.seen[event.event_id] = event.event_time
        # ERP records change no balance, so the ATP record keeps its version.
        if not isinstance(event, ErpBalanceSnapshot | ErpPostingAck):
            self.counter += 1
        if self.watermark is None or event.event_time > self.watermark:
            self.watermark = event.event_time
            # Pruning walks every retained entry, so it runs once per sixteenth
            # of the retention window of event time, not on every event.
            if self.next_prune is None or self.watermark >= self.next_prune:
                self._prune()
                self.next_prune = self.watermark + self.settings.dedup_retention / 16
        return outputs

    def apply_all(self, events: Iterable[CanonicalEvent]) -> list[OutputRecord]:
        """Apply events in order, then settle backorders once; return all outputs."""
        outputs: list[OutputRecord] = []
        batch = list(events)
        last: CanonicalEvent | None = None
        for index, event in enumerate(batch):
            outputs.extend(self.apply(event))
            last = event
            if isinstance(event, ErpBalanceSnapshot):
                following = batch[index + 1] if index + 1 < len(batch) else None
                outputs.extend(self._evaluate_balance(event, following))
        if last is not None:
            outputs.extend(self.settle(last))
            outputs.extend(self.evaluate_variances())
        return outputs

    def _evaluate_balance(
        self, balance: ErpBalanceSnapshot, following: CanonicalEvent | None
    ) -> list[VarianceAlert]:
        """Compare an ERP balance with the WMS on hand at the moment it arrives.

        Rows of one balance (one per stock type, same as_of) that arrive
        together are compared once, after the last of them.
        """
        if (
            isinstance(following, ErpBalanceSnapshot)
            and following.warehouse == balance.warehouse
            and following.as_of == balance.as_of
        ):
            return []
        return self.variance.evaluate_pending(
            self.sku,
            balance.warehouse,
            self._known_quantities(balance.warehouse),
            self.settings.variance,
        )

    def evaluate_variances(self) -> list[VarianceAlert]:
        """Compare new ERP balances with WMS on hand; return variance alerts."""
        if not self.variance.has_pending():
            return []
        on_hand = {
            code: self._status_quantities(code) for code in sorted(self.warehouses)
        }
        return self.variance.evaluate(
            self.sku, on_hand, self.watermark, self.settings.variance
        )

    def _known_quantities(self, code: str) -> dict[StockStatus, int]:
        """Return on hand by status, without adding the warehouse to the SKU."""
        if code not in self.warehouses:
            return {}
        return self._status_quantities(code)

    def _status_quantities(self, code: str) -> dict[StockStatus, int]:
        warehouse = self._warehouse(code)
        return {
            status: balance.quantity() for status, balance in warehouse.balances.items()
        }

    def _is_too_late(self, when: datetime, window: timedelta) -> bool:
        return self.watermark is not None and when < self.watermark - window

    def _is_snapshot_too_late(self, event: InventorySnapshot) -> bool:
        # The horizon is per warehouse: only that warehouse's movements are
        # needed to place the snapshot, so other warehouses' clocks do not count.
        warehouse = self.warehouses.get(event.warehouse)
        if warehouse is None or warehouse.watermark is None:
            return False
        horizon = warehouse.watermark - self.settings.max_snapshot_lateness
        return event.as_of < horizon

    def _future(self, event: CanonicalEvent) -> DeadLetter:
        reason = (
            f"event time {event.event_time.isoformat()} is more than "
            f"{self.settings.max_future_skew} after its ingest time "
            f"{event.ingest_time.isoformat()}"
        )
        logger.warning(
            "dead letter future_event_time: sku=%s event_id=%s %s",
            self.sku,
            event.event_id,
            reason,
            extra={**event_fields(event), "error_class": "future_event_time"},
        )
        return DeadLetter(
            dead_letter_id=stable_id("future_event_time", event.event_id),
            error_class="future_event_time",
            message=f"{type(event).__name__} {event.event_id}: {reason}; check the "
            "sender's clock and time zone",
            source_format="avro",
            partner=event.partner,
            original=encode(event),
            event_id=event.event_id,
            sku=self.sku,
            failed_at=event.ingest_time,
        )

    def _too_late(self, event: CanonicalEvent, reason: str) -> DeadLetter:
        logger.warning(
            "dead letter too_late: sku=%s event_id=%s %s",
            self.sku,
            event.event_id,
            reason,
            extra={**event_fields(event), "error_class": "too_late"},
        )
        return DeadLetter(
            dead_letter_id=stable_id("too_late", event.event_id),
            error_class="too_late",
            message=f"{type(event).__name__} {event.event_id}: {reason} "
            f"(latest event time of {self.sku} is {self.watermark})",
            source_format="avro",
            partner=event.partner,
            original=encode(event),
            event_id=event.event_id,
            sku=self.sku,
            failed_at=event.ingest_time,
        )

    def _warehouse(self, code: str) -> WarehouseState:
        found = self.warehouses.get(code)
        if found is None:
            found = self.warehouses[code] = WarehouseState()
        return found

    def _line(self, order_id: str, line_id: str) -> LineState:
        """Return a line to change, creating it; its old contribution is kept."""
        key = (order_id, line_id)
        found = self.lines.get(key)
        if found is None:
            found = self.lines[key] = LineState(order_id=order_id, line_id=line_id)
            self.dirty.setdefault(key, (None, 0, 0))
            waiting = self.unattributed_lines.get(order_id)
            if waiting is not None:
                waiting.append(key)
        else:
            self._mark(key, found)
        return found

    def _apply_movement(self, event: InventoryMovement) -> list[OutputRecord]:
        warehouse = self._warehouse(event.warehouse)
        warehouse.advance(event.event_time, self.settings.max_snapshot_lateness)
        kind = event.movement_type
        if kind is MovementType.PICK:
            return []
        if kind is MovementType.STATUS_CHANGE:
            assert event.to_status is not None
            warehouse.balance(event.stock_status).add(event.event_time, -event.quantity)
            warehouse.balance(event.to_status).add(event.event_time, event.quantity)
        else:
            sign = _POSTING_TYPES[kind][1]
            delta = event.quantity * sign
            warehouse.balance(event.stock_status).add(event.event_time, delta)

        if kind is MovementType.SHIP and event.order_id:
            self._attribute_shipment(event)
        if kind in (MovementType.RECEIPT, MovementType.RETURN) and event.document_id:
            advice = self.advices.get((event.warehouse, event.document_id))
            if advice is None:
                advice = self.advices[(event.warehouse, event.document_id)] = Advice()
            advice.received += event.quantity
            advice.last_event_time = event.event_time
        if kind in (MovementType.TRANSFER_OUT, MovementType.TRANSFER_IN):
            self._apply_transfer(event)
            self.variance.record_transfer(event)

        posting = self._posting(event, warehouse)
        return [] if posting is None else [posting]

    def _attribute_shipment(self, event: InventoryMovement) -> None:
        assert event.order_id is not None
        if event.line_id:
            line = self._line(event.order_id, event.line_id)
            line.warehouse_shipped += event.quantity
            line.touch(event.event_time)
            return
        # A shipment naming the order but no line is spread over the order's lines
        # by _spread_unattributed, so lines that arrive later still receive it.
        shipped, _ = self.unattributed.get(event.order_id, (0, event.event_time))
        self.unattributed[event.order_id] = (shipped + event.quantity, event.event_time)
        if event.order_id not in self.unattributed_lines:
            self.unattributed_lines[event.order_id] = self._keys_of_order(
                event.order_id
            )

    def _spread_unattributed(self) -> None:
        """Spread order-level shipments over the order's lines in line-id order."""
        for order_id, keys in self.unattributed_lines.items():
            remaining = self.unattributed[order_id][0]
            present = [key for key in keys if key in self.lines]
            if len(present) != len(keys):
                keys[:] = present
            for key in sorted(present, key=lambda k: line_id_key(k[1])):
                line = self.lines[key]
                # Room is what the warehouse has not yet shipped against the line;
                # channel fulfillments report the same parcels, so they do not
                # reduce it.
                room = max(0, line.ordered - line.cancelled - line.warehouse_shipped)
                take = min(remaining, room)
                if take != line.spread_shipped:
                    self._mark(key, line)
                    line.spread_shipped = take
                remaining -= take

    def _apply_transfer(self, event: InventoryMovement) -> None:
        assert event.transfer_id is not None
        transfer = self.transfers.get(event.transfer_id)
        if transfer is None:
            transfer = self.transfers[event.transfer_id] = Transfer()
        if event.movement_type is MovementType.TRANSFER_OUT:
            transfer.origin = event.warehouse
            transfer.destination = event.other_warehouse or transfer.destination
            transfer.shipped += event.quantity
        else:
            transfer.destination = event.warehouse
            transfer.origin = event.other_warehouse or transfer.origin
            transfer.received += event.quantity
        transfer.last_event_time = event.event_time

    def _posting(
        self, event: InventoryMovement, warehouse: WarehouseState
    ) -> ErpPosting | None:
        kind = event.movement_type
        if kind is MovementType.STATUS_CHANGE:
            assert event.to_status is not None
            if _ERP_STOCK_TYPE[event.stock_status] == _ERP_STOCK_TYPE[event.to_status]:
                return None
            posting_type, quantity = PostingType.STATUS_CHANGE, -event.quantity
        else:
            posting_type, sign = _POSTING_TYPES[kind]
            quantity = event.quantity * sign
        warehouse.posting_sequence += 1
        posting = ErpPosting(
            posting_id=stable_id("posting", event.event_id),
            sequence=warehouse.posting_sequence,
            sku=self.sku,
            warehouse=event.warehouse,
            posting_type=posting_type,
            quantity=quantity,
            stock_status=event.stock_status,
            to_status=event.to_status,
            source_event_id=event.event_id,
            event_time=event.event_time,
            reason_code=event.reason_code,
            document_id=event.document_id,
            order_id=event.order_id,
            transfer_id=event.transfer_id,
        )
        self.variance.record_posting(posting)
        return posting

    def _apply_snapshot(self, event: InventorySnapshot) -> None:
        warehouse = self._warehouse(event.warehouse)
        warehouse.advance(event.event_time, self.settings.max_snapshot_lateness)
        for entry in event.balances:
            applied = warehouse.balance(entry.stock_status).rebaseline(
                event.as_of, entry.quantity
            )
            if not applied:
                logger.info(
                    "snapshot not newer than the current baseline: sku=%s "
                    "warehouse=%s status=%s event_id=%s",
                    self.sku,
                    event.warehouse,
                    entry.stock_status.value,
                    event.event_id,
                    extra=event_fields(event),
                )

    def _apply_advice(self, event: SupplyAdvice) -> None:
        # The warehouse gets an ATP entry, so inbound shows before any stock does.
        self._warehouse(event.warehouse)
        key = (event.warehouse, event.document_id)
        advice = self.advices.get(key)
        if advice is None:
            advice = self.advices[key] = Advice()
        stamp = (event.event_time, event.event_id)
        if advice.as_of is not None and stamp <= advice.as_of:
            return
        advice.as_of = stamp
        advice.advised = 0 if event.action.value == "CANCELLED" else event.quantity
        advice.last_event_time = event.event_time

    def _apply_safety_stock(self, event: SafetyStockSetting) -> None:
        warehouse = self._warehouse(event.warehouse)
        stamp = (event.event_time, event.event_id)
        if warehouse.safety_stock_as_of is None or stamp > warehouse.safety_stock_as_of:
            warehouse.safety_stock = event.quantity
            warehouse.safety_stock_as_of = stamp

    def _apply_channel_level(self, event: ChannelInventoryLevel) -> None:
        if event.warehouse is None:
            return
        warehouse = self._warehouse(event.warehouse)
        stamp = (event.event_time, event.event_id)
        if warehouse.channel_as_of is None or stamp > warehouse.channel_as_of:
            warehouse.channel_available = event.available
            warehouse.channel_as_of = stamp

    # Retention.

    def _prune(self) -> None:
        assert self.watermark is not None
        dedup_horizon = self.watermark - self.settings.dedup_retention
        self.seen = {k: t for k, t in self.seen.items() if t >= dedup_horizon}
        kept: dict[LineKey, LineState] = {}
        for key, line in self.lines.items():
            if (
                line.reserved > 0
                or line.last_event_time is None
                or line.last_event_time >= dedup_horizon
            ):
                kept[key] = line
            else:
                self._mark(key, line)
        self.lines = kept
        self.advices = {
            key: advice
            for key, advice in self.advices.items()
            if advice.inbound > 0
            or advice.last_event_time is None
            or advice.last_event_time >= dedup_horizon
        }
        orders_with_lines = {order_id for order_id, _ in self.lines}
        self.unattributed = {
            order_id: entry
            for order_id, entry in self.unattributed.items()
            if entry[1] >= dedup_horizon or order_id in orders_with_lines
        }
        self.unattributed_lines = {
            order_id: keys
            for order_id, keys in self.unattributed_lines.items()
            if order_id in self.unattributed
        }
        self.transfers = {
            key: transfer
            for key, transfer in self.transfers.items()
            if transfer.in_transit > 0
            or transfer.last_event_time is None
            or transfer.last_event_time >= dedup_horizon
        }
        self.variance.prune(self.watermark, self.settings.variance)

    # ATP.

    def _capacity(self, code: str) -> int:
        warehouse = self.warehouses[code]
        on_hand, held = warehouse.totals()
        return max(0, on_hand - held - warehouse.safety_stock)

    def settle(self, trigger: CanonicalEvent) -> list[OutputRecord]:
        """Mark backorders per warehouse and for unallocated demand.

        Lines are served in (event time, event id) order of their first version,
        so the result does not depend on arrival order. Call it after a batch of
        ``apply`` calls; ``trigger`` is the batch's last event, whose time and id
        the exception records carry.
        """
        self._spread_unattributed()
        self._flush_lines()
        for code, queue in self.queues.items():
            if code is not None and queue.entries:
                self._warehouse(code)

        outputs: list[OutputRecord] = []
        free_total = 0
        for code in sorted(self.warehouses):
            capacity = self._capacity(code)
            outputs.extend(self._serve(code, capacity, trigger))
            free_total += max(0, capacity - self._reserved(code))
            outputs.extend(self._check_oversell(code, trigger))

        outputs.extend(self._serve(None, free_total, trigger))
        self.unallocated_backordered = self._backordered(None)
        return outputs

    def _serve(
        self, code: Location, capacity: int, trigger: CanonicalEvent
    ) -> list[OutputRecord]:
        queue = self.queues.get(code)
        if queue is None:
            return []
        outputs: list[OutputRecord] = []

        def record(line: LineState, backordered: int) -> None:
            outputs.append(
                InventoryException(
                    exception_id=stable_id(
                        "backorder",
                        self.sku,
                        line.order_id,
                        line.line_id,
                        backordered,
                        trigger.event_id,
                    ),
                    kind=ExceptionKind.BACKORDER,
                    sku=self.sku,
                    warehouse=code,
                    order_id=line.order_id,
                    line_id=line.line_id,
                    quantity=backordered,
                    event_time=trigger.event_time,
                )
            )

        for key in queue.settle(capacity, self.lines, record):
            queue.drop(self.listed.pop(key))
        return outputs

    def _check_oversell(self, code: str, trigger: CanonicalEvent) -> list[OutputRecord]:
        warehouse = self.warehouses[code]
        shortfall = max(0, -self._atp(code))
        if shortfall == warehouse.oversold:
            return []
        warehouse.oversold = shortfall
        return [
            InventoryException(
                exception_id=stable_id(
                    "oversell", self.sku, code, shortfall, trigger.event_id
                ),
                kind=ExceptionKind.OVERSELL,
                sku=self.sku,
                warehouse=code,
                quantity=shortfall,
                event_time=trigger.event_time,
            )
        ]

    def _reserved(self, code: Location) -> int:
        queue = self.queues.get(code)
        return 0 if queue is None else queue.reserved

    def _backordered(self, code: Location) -> int:
        queue = self.queues.get(code)
        return 0 if queue is None else queue.backordered

    def _inbound(self, code: str) -> int:
        if not self.advices and not self.transfers:
            return 0
        advised = sum(
            advice.inbound for (wh, _), advice in self.advices.items() if wh == code
        )
        in_transit = sum(
            transfer.in_transit
            for transfer in self.transfers.values()
            if transfer.destination == code
        )
        return advised + in_transit

    def _atp(self, code: str) -> int:
        warehouse = self.warehouses[code]
        on_hand, held = warehouse.totals()
        return on_hand - held - self._reserved(code) - warehouse.safety_stock

    def warehouse_atp(self, code: str) -> WarehouseAtp:
        """Return the balances and ATP of one warehouse."""
        warehouse = self.warehouses[code]
        on_hand, held = warehouse.totals()
        reserved = self._reserved(code)
        atp = on_hand - held - reserved - warehouse.safety_stock
        return WarehouseAtp(
            warehouse=code,
            on_hand=on_hand,
            held=held,
            reserved=reserved,
            safety_stock=warehouse.safety_stock,
            inbound=self._inbound(code),
            atp=atp,
            available=max(0, atp),
            backordered=self._backordered(code),
            channel_available=warehouse.channel_available,
        )

    def unallocated_demand(self) -> int:
        """Return open reservations of lines with no warehouse."""
        return self._reserved(None)

    def atp_record(self) -> AtpRecord:
        """Return the SKU's current ATP record with its version."""
        self._spread_unattributed()
        self._flush_lines()
        for transfer in self.transfers.values():
            if transfer.destination is not None:
                self._warehouse(transfer.destination)
        return AtpRecord(
            sku=self.sku,
            version=RecordVersion(
                generation=self.settings.generation, counter=self.counter
            ),
            updated_at=self.watermark or _EPOCH,
            warehouses=[self.warehouse_atp(code) for code in sorted(self.warehouses)],
            unallocated_demand=self.unallocated_demand(),
            unallocated_backordered=self.unallocated_backordered,
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = datetime.max.replace(tzinfo=UTC)


def line_priority(line: LineState) -> Priority:
    """Sort key of backorder priority; lines with no order version come last."""
    when, event_id = line.priority or (_NEVER, "")
    return (when, event_id, line.order_id, line.line_id)
