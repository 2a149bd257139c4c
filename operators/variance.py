"""ERP/WMS variance: in-flight accounting, tolerance, persistence and alerts.

Pure logic with no Bytewax and no I/O. ``SkuState`` contains one
:class:`VarianceState` per SKU and feeds it the postings it emits, the WMS
counts it applies, transfer legs and ERP records; ``evaluate`` compares each new
ERP balance with the balance the ERP should show and returns alert records.
``docs/variance.md`` is the specification these functions implement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from invsync.config import ToleranceRule, VarianceConfig
from invsync.events import (
    AckStatus,
    AlertState,
    ErpBalanceSnapshot,
    ErpPosting,
    ErpPostingAck,
    InventoryMovement,
    MovementType,
    StockStatus,
    VarianceAlert,
    VarianceCause,
)
from invsync.logs import event_fields
from operators.pickling import TupleState
from sources.base import stable_id

logger = logging.getLogger(__name__)

# ERP stock types. A WMS status counts toward the ERP stock type it maps to.
UNRESTRICTED = "unrestricted"
QUALITY = "quality"
BLOCKED = "blocked"
ERP_STOCK_TYPE = {
    StockStatus.AVAILABLE: UNRESTRICTED,
    StockStatus.QC: QUALITY,
    StockStatus.DAMAGED: BLOCKED,
    StockStatus.RECALLED: BLOCKED,
    StockStatus.HOLD: BLOCKED,
}
# The status an alert names for an ERP stock type.
_TYPE_STATUS = {
    UNRESTRICTED: StockStatus.AVAILABLE,
    QUALITY: StockStatus.QC,
    BLOCKED: StockStatus.HOLD,
}

Effects = dict[str, int]


@dataclass(frozen=True)
class VarianceSettings:
    """Tolerances, persistence and history windows of variance detection."""

    retention: timedelta = timedelta(days=7)
    posting_grace: timedelta = timedelta(hours=1)
    transfer_grace: timedelta = timedelta(hours=24)
    consecutive_snapshots: int = 1
    persistence: timedelta = timedelta(0)
    tolerances: tuple[ToleranceRule, ...] = ()
    sku_classes: Mapping[str, str] = field(default_factory=dict)
    unit_costs: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: VarianceConfig) -> VarianceSettings:
        """Build the settings from the ``variance`` configuration section."""
        return cls(
            retention=config.retention,
            posting_grace=config.posting_grace,
            transfer_grace=config.transfer_grace,
            consecutive_snapshots=config.consecutive_snapshots,
            persistence=config.persistence,
            tolerances=tuple(config.tolerances),
            sku_classes=dict(config.sku_classes),
            unit_costs=dict(config.unit_costs),
        )

    def tolerance(self, sku: str, warehouse: str) -> ToleranceRule:
        """Return the most specific tolerance rule of a SKU in a warehouse."""
        sku_class = self.sku_classes.get(sku)
        best: ToleranceRule | None = None
        best_rank = -1
        for rule in self.tolerances:
            if rule.warehouse is not None and rule.warehouse != warehouse:
                continue
            if rule.sku_class is not None and rule.sku_class != sku_class:
                continue
            # Class and warehouse, then class, then warehouse, then neither.
            rank = 2 * (rule.sku_class is not None) + (rule.warehouse is not None)
            if rank > best_rank:
                best, best_rank = rule, rank
        return best or ToleranceRule()

    def breaks(self, sku: str, warehouse: str, variance: int, *sides: int) -> bool:
        """Return whether a variance exceeds every limit of its tolerance rule."""
        if variance == 0:
            return False
        rule = self.tolerance(sku, warehouse)
        size = abs(variance)
        if size <= rule.units:
            return False
        larger = max((abs(side) for side in sides), default=0)
        if size * 100 <= rule.percent * larger:
            return False
        cost = self.unit_costs.get(sku)
        return rule.value is None or cost is None or size * cost > rule.value


@dataclass
class PostingEntry(TupleState):
    """One emitted posting, its effect per ERP stock type and its acknowledgment."""

    posting_id: str
    sequence: int
    event_time: datetime
    effects: Effects
    ack: AckStatus | None = None
    reason: str | None = None

    @property
    def total(self) -> int:
        """Effect on the ERP total over every stock type."""
        return sum(self.effects.values())


@dataclass
class CountEntry(TupleState):
    """A WMS count that changed on hand without a posting."""

    as_of: datetime
    effects: Effects


@dataclass
class OpenAlert(TupleState):
    """The alert of one key while it is open."""

    alert_id: str
    first_seen: datetime
    cause: VarianceCause
    variance: int
    stock_status: StockStatus | None


@dataclass
class ErpView(TupleState):
    """The latest ERP balances of one warehouse, all with one as-of time."""

    as_of: datetime | None = None
    quantities: dict[str | None, int] = field(default_factory=dict)
    last_applied_sequence: int | None = None
    pending: bool = False
    streak: int = 0
    streak_start: datetime | None = None
    last_breaking_as_of: datetime | None = None
    alert: OpenAlert | None = None


@dataclass
class WarehouseHistory(TupleState):
    """Postings, counts and the ERP view of one SKU in one warehouse."""

    postings: list[PostingEntry] = field(default_factory=list)
    counts: list[CountEntry] = field(default_factory=list)
    erp: ErpView = field(default_factory=ErpView)
    pending_acks: dict[str, ErpPostingAck] = field(default_factory=dict)


@dataclass
class TransferEntry(TupleState):
    """Both legs of one transfer, as far as variance detection needs them."""

    origin: str | None = None
    destination: str | None = None
    shipped: int = 0
    received: int = 0
    shipment_document_id: str | None = None
    receipt_document_id: str | None = None
    last_time: datetime | None = None
    last_receipt_time: datetime | None = None
    final: bool = False
    alert: OpenAlert | None = None


@dataclass
class Figures:
    """The numbers of one evaluation, as an alert reports them."""

    erp: int
    wms: int
    expected: int
    variance: int
    stock_status: StockStatus | None = None


@dataclass
class _Breakdown:
    """Postings and counts sorted by their role in one evaluation."""

    fresh: list[PostingEntry]
    stuck: list[PostingEntry]
    rejected: list[PostingEntry]
    counts_before: Effects
    counts_after: Effects


def posting_effects(posting: ErpPosting) -> Effects:
    """Return a posting's signed effect on each ERP stock type."""
    effects: Effects = {}
    source = ERP_STOCK_TYPE[posting.stock_status]
    effects[source] = effects.get(source, 0) + posting.quantity
    if posting.to_status is not None:
        target = ERP_STOCK_TYPE[posting.to_status]
        effects[target] = effects.get(target, 0) - posting.quantity
    return {key: value for key, value in effects.items() if value != 0}


def by_stock_type(quantities: Mapping[StockStatus, int]) -> Effects:
    """Sum WMS quantities per ERP stock type."""
    totals: Effects = {UNRESTRICTED: 0, QUALITY: 0, BLOCKED: 0}
    for status, quantity in quantities.items():
        totals[ERP_STOCK_TYPE[status]] += quantity
    return totals


def _add(target: Effects, effects: Mapping[str, int], sign: int = 1) -> None:
    for key, value in effects.items():
        target[key] = target.get(key, 0) + sign * value


@dataclass
class VarianceState(TupleState):
    """Variance history and open alerts of one SKU across its warehouses."""

    warehouses: dict[str, WarehouseHistory] = field(default_factory=dict)
    transfers: dict[str, TransferEntry] = field(default_factory=dict)

    def _history(self, warehouse: str) -> WarehouseHistory:
        found = self.warehouses.get(warehouse)
        if found is None:
            found = self.warehouses[warehouse] = WarehouseHistory()
        return found

    def has_pending(self) -> bool:
        """Return whether ``evaluate`` could raise an alert now."""
        return bool(self.transfers) or any(
            history.erp.pending for history in self.warehouses.values()
        )

    # Recording.

    def record_posting(self, posting: ErpPosting) -> None:
        """Record an emitted posting, with an acknowledgment that came first."""
        history = self._history(posting.warehouse)
        entry = PostingEntry(
            posting_id=posting.posting_id,
            sequence=posting.sequence,
            event_time=posting.event_time,
            effects=posting_effects(posting),
        )
        early = history.pending_acks.pop(posting.posting_id, None)
        if early is not None:
            entry.ack, entry.reason = early.status, early.reason
        history.postings.append(entry)

    def record_count(
        self,
        warehouse: str,
        as_of: datetime,
        before: Mapping[StockStatus, int],
        after: Mapping[StockStatus, int],
    ) -> None:
        """Record how a WMS count changed on hand, which the ERP never receives.

        A count of a warehouse with no balance yet is its opening balance, not
        a correction, so it is not recorded.
        """
        if not before:
            return
        effects = by_stock_type(after)
        _add(effects, by_stock_type(before), -1)
        effects = {key: value for key, value in effects.items() if value != 0}
        if effects:
            self._history(warehouse).counts.append(CountEntry(as_of, effects))

    def record_transfer(self, movement: InventoryMovement) -> None:
        """Add one leg of a transfer."""
        assert movement.transfer_id is not None
        entry = self.transfers.get(movement.transfer_id)
        if entry is None:
            entry = self.transfers[movement.transfer_id] = TransferEntry()
        document = movement.document_id or movement.event_id
        if movement.movement_type is MovementType.TRANSFER_OUT:
            entry.origin = movement.warehouse
            entry.destination = movement.other_warehouse or entry.destination
            entry.shipped += movement.quantity
            entry.shipment_document_id = document
        else:
            entry.destination = movement.warehouse
            entry.origin = movement.other_warehouse or entry.origin
            entry.received += movement.quantity
            entry.receipt_document_id = document
            entry.final = entry.final or movement.final_receipt
            if (
                entry.last_receipt_time is None
                or movement.event_time > entry.last_receipt_time
            ):
                entry.last_receipt_time = movement.event_time
        if entry.last_time is None or movement.event_time > entry.last_time:
            entry.last_time = movement.event_time

    def apply_snapshot(self, snapshot: ErpBalanceSnapshot) -> bool:
        """Store an ERP balance, or return False when an evaluated one is newer."""
        view = self._history(snapshot.warehouse).erp
        if view.as_of is not None and snapshot.as_of < view.as_of:
            logger.info(
                "ERP snapshot older than the one evaluated, ignored: sku=%s "
                "warehouse=%s as_of=%s evaluated_as_of=%s event_id=%s",
                snapshot.sku,
                snapshot.warehouse,
                snapshot.as_of.isoformat(),
                view.as_of.isoformat(),
                snapshot.event_id,
                extra=event_fields(snapshot),
            )
            return False
        if view.as_of is None or snapshot.as_of > view.as_of:
            view.as_of = snapshot.as_of
            view.quantities = {}
            view.last_applied_sequence = None
        status = snapshot.stock_status
        stock_type = None if status is None else ERP_STOCK_TYPE[status]
        view.quantities[stock_type] = snapshot.quantity
        if snapshot.last_applied_sequence is not None:
            view.last_applied_sequence = max(
                view.last_applied_sequence or 0, snapshot.last_applied_sequence
            )
        view.pending = True
        return True

    def apply_ack(self, ack: ErpPostingAck) -> None:
        """Record the ERP's acknowledgment of a posting."""
        history = self._history(ack.warehouse)
        for entry in history.postings:
            if entry.posting_id == ack.posting_id:
                entry.ack, entry.reason = ack.status, ack.reason
                return
        # The acknowledgment arrived before its posting, so keep it until then.
        history.pending_acks[ack.posting_id] = ack

    def prune(self, watermark: datetime, settings: VarianceSettings) -> None:
        """Drop history older than the retention window."""
        horizon = watermark - settings.retention
        for history in self.warehouses.values():
            history.postings = [p for p in history.postings if p.event_time >= horizon]
            history.counts = [c for c in history.counts if c.as_of >= horizon]
            history.pending_acks = {
                key: ack
                for key, ack in history.pending_acks.items()
                if ack.event_time >= horizon
            }
        self.transfers = {
            key: entry
            for key, entry in self.transfers.items()
            if entry.last_time is None or entry.last_time >= horizon
        }

    # Evaluation.

    def evaluate(
        self,
        sku: str,
        on_hand: Mapping[str, Mapping[StockStatus, int]],
        watermark: datetime | None,
        settings: VarianceSettings,
    ) -> list[VarianceAlert]:
        """Evaluate new ERP balances and complete transfers, and return alerts."""
        alerts: list[VarianceAlert] = []
        for code in sorted(self.warehouses):
            alerts.extend(
                self.evaluate_pending(sku, code, on_hand.get(code, {}), settings)
            )
        if watermark is not None:
            for transfer_id in sorted(self.transfers):
                alerts.extend(
                    self._evaluate_transfer(sku, transfer_id, watermark, settings)
                )
        return alerts

    def evaluate_pending(
        self,
        sku: str,
        code: str,
        on_hand: Mapping[StockStatus, int],
        settings: VarianceSettings,
    ) -> list[VarianceAlert]:
        """Evaluate one warehouse's ERP balance if it has not been yet."""
        history = self.warehouses.get(code)
        if history is None or not history.erp.pending:
            return []
        history.erp.pending = False
        return self._evaluate_balance(sku, code, by_stock_type(on_hand), settings)

    def _breakdown(
        self, history: WarehouseHistory, settings: VarianceSettings
    ) -> _Breakdown:
        view = history.erp
        assert view.as_of is not None
        as_of = view.as_of
        last = view.last_applied_sequence
        result = _Breakdown([], [], [], {}, {})
        for posting in history.postings:
            # Without a sequence, the ERP is taken to hold every posting up to
            # its as-of time, and a later one counts as in flight.
            future = last is None and posting.event_time > as_of
            rejected = posting.ack is AckStatus.REJECTED
            if rejected and not future:
                result.rejected.append(posting)
                continue
            in_flight = future if last is None else posting.sequence > last
            if not in_flight:
                continue
            if as_of - posting.event_time > settings.posting_grace:
                result.stuck.append(posting)
            else:
                result.fresh.append(posting)
        for count in history.counts:
            after = count.as_of > as_of
            _add(result.counts_after if after else result.counts_before, count.effects)
        return result

    def _evaluate_balance(
        self,
        sku: str,
        code: str,
        wms: Effects,
        settings: VarianceSettings,
    ) -> list[VarianceAlert]:
        history = self.warehouses[code]
        view = history.erp
        assert view.as_of is not None
        parts = self._breakdown(history, settings)

        expected = dict(wms)
        for posting in parts.fresh:
            _add(expected, posting.effects, -1)
        _add(expected, parts.counts_after, -1)

        compared: list[str] = [UNRESTRICTED, QUALITY, BLOCKED]
        if None in view.quantities:
            erp_total = view.quantities[None]
            expected_total = sum(expected.values())
            wms_total = sum(wms.values())
        else:
            compared = [key for key in view.quantities if key is not None]
            erp_total = sum(view.quantities[key] for key in compared)
            expected_total = sum(expected.get(key, 0) for key in compared)
            wms_total = sum(wms.get(key, 0) for key in compared)
        # A comparison of one stock type names it; a total names none.
        single = [key for key in view.quantities if key is not None]
        named = (
            _TYPE_STATUS[single[0]] if len(view.quantities) == 1 and single else None
        )
        total = Figures(
            erp_total, wms_total, expected_total, erp_total - expected_total, named
        )

        cause: VarianceCause | None = None
        figures = total
        explaining: list[PostingEntry] = []
        if settings.breaks(sku, code, total.variance, erp_total, expected_total):
            cause, explaining = _classify(total.variance, parts, compared)
        else:
            mismatch = _status_mismatch(sku, code, view, wms, expected, settings)
            if mismatch is not None:
                cause, figures = VarianceCause.STATUS_MISMATCH, mismatch

        in_flight = sorted(parts.fresh + parts.stuck, key=lambda p: p.sequence)
        record = VarianceAlert(
            alert_id="",
            state=AlertState.OPENED,
            cause=cause or VarianceCause.UNEXPLAINED,
            sku=sku,
            warehouse=code,
            stock_status=figures.stock_status,
            erp_quantity=figures.erp,
            wms_quantity=figures.wms,
            expected_quantity=figures.expected,
            in_flight_quantity=sum(
                p.effects.get(key, 0) for p in in_flight for key in compared
            ),
            in_flight_posting_ids=[p.posting_id for p in in_flight],
            explaining_posting_ids=[p.posting_id for p in explaining],
            variance=figures.variance,
            percent=_percent(figures.variance, figures.erp, figures.expected),
            value=_value(figures.variance, settings.unit_costs.get(sku)),
            first_seen=view.as_of,
            last_seen=view.as_of,
            snapshot_as_of=view.as_of,
        )
        return _advance(view, record, cause is not None, settings)

    def _evaluate_transfer(
        self,
        sku: str,
        transfer_id: str,
        watermark: datetime,
        settings: VarianceSettings,
    ) -> list[VarianceAlert]:
        entry = self.transfers[transfer_id]
        if entry.received == 0 or entry.destination is None or entry.shipped == 0:
            return []
        assert entry.last_receipt_time is not None
        complete = entry.final or (
            watermark - entry.last_receipt_time >= settings.transfer_grace
        )
        if not complete:
            return []
        variance = entry.received - entry.shipped
        breaking = settings.breaks(
            sku, entry.destination, variance, entry.shipped, entry.received
        )
        alert = entry.alert
        if not breaking and alert is None:
            return []
        if breaking and alert is not None and alert.variance == variance:
            return []

        if alert is None:
            alert = entry.alert = OpenAlert(
                alert_id=stable_id("transfer-variance", sku, transfer_id),
                first_seen=watermark,
                cause=VarianceCause.TRANSFER_DISCREPANCY,
                variance=variance,
                stock_status=None,
            )
            state = AlertState.OPENED
        elif breaking:
            alert.variance = variance
            state = AlertState.UPDATED
        else:
            entry.alert = None
            state = AlertState.RESOLVED
        logger.info(
            "transfer variance %s: sku=%s transfer_id=%s shipped=%d received=%d",
            state.value,
            sku,
            transfer_id,
            entry.shipped,
            entry.received,
            extra={
                "sku": sku,
                "warehouse": entry.destination,
                "alert_id": alert.alert_id,
            },
        )
        return [
            VarianceAlert(
                alert_id=alert.alert_id,
                state=state,
                cause=VarianceCause.TRANSFER_DISCREPANCY,
                sku=sku,
                warehouse=entry.destination,
                erp_quantity=entry.shipped,
                wms_quantity=entry.received,
                expected_quantity=entry.shipped,
                in_flight_quantity=0,
                variance=variance,
                percent=_percent(variance, entry.shipped, entry.received),
                value=_value(variance, settings.unit_costs.get(sku)),
                first_seen=alert.first_seen,
                last_seen=watermark,
                snapshot_as_of=entry.last_receipt_time,
                transfer_id=transfer_id,
                shipment_document_id=entry.shipment_document_id,
                receipt_document_id=entry.receipt_document_id,
            )
        ]


def _classify(
    variance: int, parts: _Breakdown, compared: list[str]
) -> tuple[VarianceCause, list[PostingEntry]]:
    """Name the cause whose amount explains a total variance.

    The ERP lacks the effect of stuck and rejected postings and of WMS counts,
    so each explains ``-effect``. An exact match wins, in the order below.
    Otherwise, when the amounts together match, the largest one names the cause.
    Only the effects on the compared stock types count.
    """

    def lacking(effects: Iterable[Mapping[str, int]]) -> int:
        return -sum(e.get(key, 0) for e in effects for key in compared)

    rejected = [p for p in parts.rejected if lacking([p.effects]) != 0]
    stuck = [p for p in parts.stuck if lacking([p.effects]) != 0]
    candidates: list[tuple[VarianceCause, int, list[PostingEntry]]] = [
        (
            VarianceCause.POSTING_REJECTED,
            lacking(p.effects for p in rejected),
            rejected,
        ),
        (VarianceCause.IN_FLIGHT_STUCK, lacking(p.effects for p in stuck), stuck),
        (VarianceCause.UNPOSTED_ADJUSTMENT, lacking([parts.counts_before]), []),
    ]
    for cause, amount, postings in candidates:
        if amount == variance:
            return cause, postings
    present = [c for c in candidates if c[1] != 0]
    if present and sum(c[1] for c in present) == variance:
        cause, _, postings = max(present, key=lambda c: abs(c[1]))
        return cause, postings
    return VarianceCause.UNEXPLAINED, []


def _status_mismatch(
    sku: str,
    code: str,
    view: ErpView,
    wms: Effects,
    expected: Effects,
    settings: VarianceSettings,
) -> Figures | None:
    """Return the largest breaking per-type variance, when totals agree."""
    worst: Figures | None = None
    for stock_type in (UNRESTRICTED, QUALITY, BLOCKED):
        if stock_type not in view.quantities:
            continue
        erp = view.quantities[stock_type]
        variance = erp - expected.get(stock_type, 0)
        if not settings.breaks(sku, code, variance, erp, expected.get(stock_type, 0)):
            continue
        if worst is None or abs(variance) > abs(worst.variance):
            worst = Figures(
                erp,
                wms.get(stock_type, 0),
                expected.get(stock_type, 0),
                variance,
                _TYPE_STATUS[stock_type],
            )
    return worst


def _advance(
    view: ErpView,
    record: VarianceAlert,
    breaking: bool,
    settings: VarianceSettings,
) -> list[VarianceAlert]:
    """Move a key's alert through its lifecycle for one evaluated snapshot."""
    as_of = record.snapshot_as_of
    alert = view.alert
    if not breaking:
        view.streak, view.streak_start, view.last_breaking_as_of = 0, None, None
        if alert is None:
            return []
        view.alert = None
        return [_emit(record, alert, AlertState.RESOLVED)]

    # Another stock type of an evaluated snapshot does not count as a new one.
    if view.last_breaking_as_of != as_of:
        view.streak += 1
        view.last_breaking_as_of = as_of
    if view.streak_start is None:
        view.streak_start = as_of

    if alert is not None:
        changed = (
            alert.cause != record.cause
            or alert.variance != record.variance
            or alert.stock_status != record.stock_status
        )
        if not changed:
            return []
        alert.cause = record.cause
        alert.variance = record.variance
        alert.stock_status = record.stock_status
        return [_emit(record, alert, AlertState.UPDATED)]

    lasted = as_of - view.streak_start
    if view.streak < settings.consecutive_snapshots or lasted < settings.persistence:
        return []
    alert = view.alert = OpenAlert(
        alert_id=stable_id(
            "variance", record.sku, record.warehouse, view.streak_start.isoformat()
        ),
        first_seen=view.streak_start,
        cause=record.cause,
        variance=record.variance,
        stock_status=record.stock_status,
    )
    return [_emit(record, alert, AlertState.OPENED)]


def _emit(record: VarianceAlert, alert: OpenAlert, state: AlertState) -> VarianceAlert:
    logger.info(
        "variance %s: sku=%s warehouse=%s cause=%s variance=%d alert_id=%s",
        state.value,
        record.sku,
        record.warehouse,
        record.cause.value,
        record.variance,
        alert.alert_id,
        extra={
            "sku": record.sku,
            "warehouse": record.warehouse,
            "alert_id": alert.alert_id,
            "posting_ids": record.explaining_posting_ids or None,
        },
    )
    return record.model_copy(
        update={
            "alert_id": alert.alert_id,
            "state": state,
            "first_seen": alert.first_seen,
            "cause": record.cause if state is not AlertState.RESOLVED else alert.cause,
        }
    )


def _percent(variance: int, *sides: int) -> float:
    larger = max((abs(side) for side in sides), default=0)
    if larger == 0:
        return 0.0
    return abs(variance) * 100 / larger


def _value(variance: int, unit_cost: float | None) -> float | None:
    return None if unit_cost is None else variance * unit_cost


def alert_key(alert: VarianceAlert) -> str:
    """Return the Kafka and Redis key of an alert: ``<sku>|<warehouse>``.

    A transfer alert adds ``|<transfer_id>``, so it does not replace the balance
    alert of the receiving warehouse on a compacted topic.
    """
    key = f"{alert.sku}|{alert.warehouse}"
    if alert.transfer_id is not None:
        key = f"{key}|{alert.transfer_id}"
    return key


def sorted_alerts(alerts: Iterable[VarianceAlert]) -> list[VarianceAlert]:
    """Return alerts ordered by key, then snapshot time."""
    return sorted(alerts, key=lambda a: (alert_key(a), a.snapshot_as_of))
