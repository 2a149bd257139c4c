"""Canonical business events: the records that cross every boundary of invsync.

Adapters in ``sources/`` turn partner formats into the input records below, the
dataflow in ``dataflows/`` consumes them from Kafka, and the sinks in ``sinks/``
write the output records. The Avro schemas in ``schemas/avro/`` are generated
from these models (``invsync schemas --write``) and a test fails when the two
disagree.

Sign convention for quantities: every quantity is an integer count of the SKU's
base unit (each). Movement quantities are positive magnitudes whose direction
comes from the movement type (a receipt adds, a shipment subtracts), except
``ADJUSTMENT``, whose quantity is a signed delta (negative removes stock).
Snapshot, order and advice quantities are absolute and never negative.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

from pydantic import Field, field_validator, model_validator
from pydantic_avro import AvroBase

from invsync.model_pickle import CompactPickle

NAMESPACE = "invsync"


class StockStatus(str, Enum):
    """Stock status of a quantity in a warehouse.

    Only AVAILABLE is sellable; every other status counts as held.
    """

    AVAILABLE = "AVAILABLE"
    QC = "QC"
    DAMAGED = "DAMAGED"
    RECALLED = "RECALLED"
    HOLD = "HOLD"


SELLABLE_STATUSES = frozenset({StockStatus.AVAILABLE})


class Source(str, Enum):
    """System family an event came from."""

    WMS = "WMS"
    X12 = "X12"
    SHOPIFY = "SHOPIFY"
    ERP = "ERP"
    CONFIG = "CONFIG"


class MovementType(str, Enum):
    """Kind of physical inventory movement reported by a warehouse."""

    RECEIPT = "RECEIPT"
    RETURN = "RETURN"
    SHIP = "SHIP"
    ADJUSTMENT = "ADJUSTMENT"
    STATUS_CHANGE = "STATUS_CHANGE"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    PICK = "PICK"


class SnapshotKind(str, Enum):
    """Origin of an absolute inventory snapshot."""

    CYCLE_COUNT = "CYCLE_COUNT"
    STOCK_ADVICE = "STOCK_ADVICE"


class OrderAction(str, Enum):
    """Lifecycle step that an order line event reports."""

    PLACED = "PLACED"
    CHANGED = "CHANGED"
    CANCELLED = "CANCELLED"


class AdviceAction(str, Enum):
    """Whether a supply advice line announces supply or withdraws it."""

    ADVISED = "ADVISED"
    CANCELLED = "CANCELLED"


class PostingType(str, Enum):
    """ERP posting type derived from a financial inventory movement."""

    GOODS_RECEIPT = "GOODS_RECEIPT"
    GOODS_RETURN = "GOODS_RETURN"
    GOODS_ISSUE = "GOODS_ISSUE"
    ADJUSTMENT = "ADJUSTMENT"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    STATUS_CHANGE = "STATUS_CHANGE"


class ExceptionKind(str, Enum):
    """Kind of inventory exception raised by the stateful operator."""

    BACKORDER = "BACKORDER"
    OVERSELL = "OVERSELL"


class AckStatus(str, Enum):
    """Whether the ERP applied a posting."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class AlertState(str, Enum):
    """Lifecycle step of a variance alert."""

    OPENED = "OPENED"
    UPDATED = "UPDATED"
    RESOLVED = "RESOLVED"


class VarianceCause(str, Enum):
    """Most likely cause of an ERP/WMS variance (``docs/variance.md``)."""

    IN_FLIGHT_STUCK = "in_flight_stuck"
    POSTING_REJECTED = "posting_rejected"
    UNPOSTED_ADJUSTMENT = "unposted_adjustment"
    STATUS_MISMATCH = "status_mismatch"
    TRANSFER_DISCREPANCY = "transfer_discrepancy"
    UNEXPLAINED = "unexplained"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        msg = f"timestamp {value.isoformat()} has no timezone; use UTC"
        raise ValueError(msg)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        msg = f"timestamp {value.isoformat()} is out of range in UTC"
        raise ValueError(msg) from exc


class CanonicalEvent(CompactPickle, AvroBase):
    """Fields shared by every input event."""

    event_id: str = Field(
        min_length=1,
        description="Idempotency key. Two events with one event_id are the same "
        "event; the second changes nothing.",
    )
    source: Source = Field(description="System family the event came from.")
    partner: str | None = Field(
        default=None,
        description="Configured partner id (trading partner, channel or 3PL), "
        "or null for the distributor's own systems.",
    )
    event_time: datetime = Field(
        description="When the business fact happened, as the source reports it (UTC)."
    )
    ingest_time: datetime = Field(
        description="When an invsync adapter turned the input into this event (UTC)."
    )

    @field_validator("event_time", "ingest_time")
    @classmethod
    def _require_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class InventoryMovement(CanonicalEvent):
    """A physical inventory movement in one warehouse, from its on-hand source."""

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    stock_status: StockStatus = Field(
        default=StockStatus.AVAILABLE,
        description="Stock status the quantity is taken from or added to. For "
        "STATUS_CHANGE, the status the quantity leaves.",
    )
    movement_type: MovementType = Field(description="Kind of movement.")
    quantity: int = Field(
        description="Base units. A positive magnitude for every type except "
        "ADJUSTMENT, where it is a signed delta."
    )
    to_status: StockStatus | None = Field(
        default=None,
        description="For STATUS_CHANGE only: the status the quantity moves into.",
    )
    reason_code: str | None = Field(
        default=None, description="Adjustment reason code as the source sends it."
    )
    order_id: str | None = Field(
        default=None,
        description="For SHIP: the order the shipment fulfils, when the source "
        "reports it.",
    )
    line_id: str | None = Field(
        default=None,
        description="For SHIP: the order line the shipment fulfils, when known.",
    )
    transfer_id: str | None = Field(
        default=None,
        description="For TRANSFER_OUT and TRANSFER_IN: the transfer both legs share.",
    )
    other_warehouse: str | None = Field(
        default=None,
        description="For TRANSFER_OUT: the destination warehouse, whose inbound "
        "shows the quantity in transit. For TRANSFER_IN: the origin.",
    )
    document_id: str | None = Field(
        default=None,
        description="Source document: receipt number, shipment id, advice id. "
        "For RECEIPT, the supply advice it receives against, when known.",
    )
    lot: str | None = Field(default=None, description="Lot or batch number.")
    final_receipt: bool = Field(
        default=False,
        description="For TRANSFER_IN: the receiving document closes the transfer, "
        "so no further receipts follow.",
    )

    @model_validator(mode="after")
    def _check_quantity(self) -> InventoryMovement:
        if self.movement_type is MovementType.ADJUSTMENT:
            if self.quantity == 0:
                msg = "adjustment quantity must not be zero"
                raise ValueError(msg)
        elif self.quantity < 0:
            msg = (
                f"{self.movement_type.value} quantity must not be negative, "
                f"got {self.quantity}; only ADJUSTMENT carries a signed delta"
            )
            raise ValueError(msg)
        if self.movement_type is MovementType.STATUS_CHANGE and (
            self.to_status is None or self.to_status == self.stock_status
        ):
            msg = "STATUS_CHANGE needs a to_status different from stock_status"
            raise ValueError(msg)
        transfer_types = (MovementType.TRANSFER_OUT, MovementType.TRANSFER_IN)
        if self.movement_type in transfer_types and not self.transfer_id:
            msg = f"{self.movement_type.value} needs a transfer_id"
            raise ValueError(msg)
        return self


class StatusQuantity(CompactPickle, AvroBase):
    """Absolute quantity in one stock status."""

    stock_status: StockStatus = Field(description="Stock status.")
    quantity: int = Field(ge=0, description="Base units in that status.")


class InventorySnapshot(CanonicalEvent):
    """An absolute count of one SKU in one warehouse, per stock status, as of a time.

    It re-baselines on hand only for the statuses it lists.
    """

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    snapshot_kind: SnapshotKind = Field(description="Cycle count or stock advice.")
    as_of: datetime = Field(
        description="Point in time the counts describe (UTC). Movements after it "
        "apply on top; movements at or before it are inside the counts."
    )
    balances: list[StatusQuantity] = Field(
        min_length=1, description="Counted quantity per stock status."
    )
    document_id: str | None = Field(default=None, description="Count or advice id.")

    @field_validator("as_of")
    @classmethod
    def _as_of_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class OrderLine(CanonicalEvent):
    """The state of one order line at one order version (absolute quantities)."""

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str | None = Field(
        default=None,
        description="Warehouse the line is allocated to, or null for demand on the "
        "network not yet allocated.",
    )
    order_id: str = Field(min_length=1, description="Order id, unique per partner.")
    line_id: str = Field(min_length=1, description="Line id within the order.")
    action: OrderAction = Field(description="Lifecycle step this version reports.")
    ordered_quantity: int = Field(ge=0, description="Base units ordered.")
    cancelled_quantity: int = Field(
        default=0, ge=0, description="Base units cancelled, absolute."
    )
    shipped_quantity: int = Field(
        default=0, ge=0, description="Base units shipped as the order source reports."
    )
    version_time: datetime = Field(
        description="First part of the order version: the source's update time."
    )
    version_rank: int = Field(
        default=0,
        description="Second part of the order version, for equal version_time: "
        "0 placed, 1 changed, 2 cancelled.",
    )
    channel: str | None = Field(
        default=None, description="Sales channel or EDI partner."
    )
    order_line_ids: list[str] = Field(
        default_factory=list,
        description="Every line id present in this order version. A line of an "
        "earlier version that is not listed has been removed and counts as zero. "
        "Empty when the source does not send whole orders.",
    )

    @field_validator("version_time")
    @classmethod
    def _version_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class OrderAllocation(CanonicalEvent):
    """A link from an order line to the warehouse that will ship it (EDI 940).

    It carries no demand of its own: the order line's quantities still come
    from the order source.
    """

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Warehouse the line goes to.")
    order_id: str = Field(min_length=1, description="Order id.")
    line_id: str = Field(min_length=1, description="Line id within the order.")
    quantity: int = Field(
        ge=0, description="Base units the warehouse is asked to ship."
    )
    document_id: str | None = Field(default=None, description="Shipping order id.")


class OrderFulfillment(CanonicalEvent):
    """A shipment reported by a sales channel (Shopify fulfillments/create).

    It closes reservations of the line it names and never changes on hand: the
    warehouse reports the physical shipment itself.
    """

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str | None = Field(
        default=None, description="Warehouse mapped from the fulfillment location."
    )
    order_id: str = Field(min_length=1, description="Order id.")
    line_id: str = Field(min_length=1, description="Line id within the order.")
    fulfillment_id: str = Field(min_length=1, description="Channel fulfillment id.")
    quantity: int = Field(ge=0, description="Base units this fulfillment shipped.")


class SupplyAdvice(CanonicalEvent):
    """One line of inbound supply advice (ASN, transfer advice) for a warehouse."""

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Receiving warehouse.")
    document_id: str = Field(min_length=1, description="Advice document id.")
    action: AdviceAction = Field(
        default=AdviceAction.ADVISED, description="Advised or withdrawn."
    )
    quantity: int = Field(
        ge=0, description="Base units advised, absolute per document."
    )
    expected_date: datetime | None = Field(
        default=None, description="Expected arrival (UTC), when known."
    )
    transfer_id: str | None = Field(
        default=None, description="Transfer id when the supply is a stock transfer."
    )


class SafetyStockSetting(CanonicalEvent):
    """Safety stock for one SKU in one warehouse (absolute, latest event time wins)."""

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    quantity: int = Field(ge=0, description="Safety stock in base units.")


class WarehouseSetting(CanonicalEvent):
    """Whether a warehouse counts toward network ATP. Keyed by warehouse, not SKU."""

    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    active: bool = Field(description="False removes it from network ATP at once.")


class WarehouseHeartbeat(CanonicalEvent):
    """Proof of life from a warehouse system that has nothing else to send.

    Keyed by warehouse, not SKU. It changes no quantity; it only resets the
    warehouse's silence clock, as every event of the warehouse does.
    """

    warehouse: str = Field(min_length=1, description="Internal warehouse code.")


class ChannelInventoryLevel(CanonicalEvent):
    """A channel's own available figure (Shopify inventory_levels/update).

    Recorded for comparison only: it never changes on hand.
    """

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str | None = Field(
        default=None, description="Warehouse mapped from the channel location."
    )
    available: int | None = Field(
        default=None, description="Channel's available figure; null when untracked."
    )
    location_id: str | None = Field(default=None, description="Channel location id.")


class ErpBalanceSnapshot(CanonicalEvent):
    """The ERP's balance of one SKU in one warehouse as of a time.

    With a stock status it is the ERP stock type of that status: AVAILABLE for
    unrestricted, QC for quality inspection, DAMAGED, RECALLED or HOLD for
    blocked. Without one it is the total over every stock type.
    """

    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    stock_status: StockStatus | None = Field(
        default=None,
        description="Stock type the quantity is in, or null for the total.",
    )
    quantity: int = Field(description="ERP balance in base units.")
    as_of: datetime = Field(description="Point in time the balance describes (UTC).")
    last_applied_sequence: int | None = Field(
        default=None,
        ge=0,
        description="Highest ErpPosting.sequence of this SKU and warehouse that "
        "the ERP had applied at as_of, when the ERP reports it.",
    )
    document_id: str | None = Field(
        default=None, description="Export or report id the balance came from."
    )

    @field_validator("as_of")
    @classmethod
    def _as_of_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class ErpPostingAck(CanonicalEvent):
    """The ERP's acknowledgment of one ErpPosting: accepted or rejected."""

    posting_id: str = Field(min_length=1, description="ErpPosting.posting_id.")
    sku: str = Field(min_length=1, description="Internal SKU.")
    warehouse: str = Field(min_length=1, description="Internal warehouse code.")
    status: AckStatus = Field(description="ACCEPTED or REJECTED.")
    reason: str | None = Field(
        default=None, description="ERP message, for a rejection."
    )


INPUT_EVENT_TYPES: tuple[type[CanonicalEvent], ...] = (
    InventoryMovement,
    InventorySnapshot,
    OrderLine,
    OrderAllocation,
    OrderFulfillment,
    SupplyAdvice,
    SafetyStockSetting,
    WarehouseSetting,
    ChannelInventoryLevel,
    ErpBalanceSnapshot,
    ErpPostingAck,
    WarehouseHeartbeat,
)


# Outputs.


class RecordVersion(AvroBase):
    """Monotonic version of an output record, compared as (generation, counter)."""

    generation: int = Field(
        ge=0, description="Bumped by a deliberate state reset; newer generations win."
    )
    counter: int = Field(ge=0, description="Increases with every change of the key.")


class WarehouseAtp(AvroBase):
    """Balances and available-to-promise of one SKU in one warehouse."""

    warehouse: str = Field(description="Internal warehouse code.")
    on_hand: int = Field(description="All statuses, base units.")
    held: int = Field(description="On hand in non-sellable statuses.")
    reserved: int = Field(description="Open reservations of lines allocated here.")
    safety_stock: int = Field(description="Configured safety stock.")
    inbound: int = Field(description="Advised supply not yet received.")
    atp: int = Field(
        description="on_hand - held - reserved - safety_stock; negative is an oversell."
    )
    available: int = Field(description="max(0, atp).")
    backordered: int = Field(description="Reserved here beyond what can be served.")
    channel_available: int | None = Field(
        default=None,
        description="Latest available figure a sales channel reported for this "
        "warehouse, for comparison only.",
    )


class AtpRecord(AvroBase):
    """Live available-to-promise for one SKU across its warehouses."""

    sku: str = Field(description="Internal SKU.")
    version: RecordVersion = Field(description="Record version for guarded writes.")
    updated_at: datetime = Field(
        description="Latest event time applied to this SKU (UTC)."
    )
    warehouses: list[WarehouseAtp] = Field(description="One entry per known warehouse.")
    unallocated_demand: int = Field(
        description="Open reservations of lines with no warehouse."
    )
    unallocated_backordered: int = Field(
        description="Unallocated demand beyond the network's available."
    )


class ErpPosting(AvroBase):
    """One inventory posting for the ERP, derived from a financial movement."""

    posting_id: str = Field(
        description="Deterministic id: the same movement always yields the same id, "
        "so the ERP can discard duplicates."
    )
    sequence: int = Field(
        ge=1, description="Posting sequence per SKU and warehouse, starting at 1."
    )
    sku: str = Field(description="Internal SKU.")
    warehouse: str = Field(description="Internal warehouse code.")
    posting_type: PostingType = Field(description="ERP posting type.")
    quantity: int = Field(
        description="Signed base units: positive increases the ERP balance of "
        "stock_status, negative decreases it."
    )
    stock_status: StockStatus = Field(description="Stock status the posting changes.")
    to_status: StockStatus | None = Field(
        default=None, description="For STATUS_CHANGE: the status receiving the stock."
    )
    source_event_id: str = Field(description="event_id of the movement.")
    event_time: datetime = Field(description="Event time of the movement (UTC).")
    reason_code: str | None = Field(default=None, description="Adjustment reason.")
    document_id: str | None = Field(default=None, description="Source document id.")
    order_id: str | None = Field(default=None, description="Order fulfilled, if any.")
    transfer_id: str | None = Field(default=None, description="Transfer id, if any.")


class InventoryException(AvroBase):
    """A backorder or oversell raised while applying events to a SKU."""

    exception_id: str = Field(description="Deterministic id of this exception.")
    kind: ExceptionKind = Field(description="BACKORDER or OVERSELL.")
    sku: str = Field(description="Internal SKU.")
    warehouse: str | None = Field(
        default=None, description="Warehouse, or null for unallocated demand."
    )
    order_id: str | None = Field(default=None, description="Order, for BACKORDER.")
    line_id: str | None = Field(default=None, description="Line, for BACKORDER.")
    quantity: int = Field(
        description="Backordered units of the line, or the ATP shortfall for OVERSELL."
    )
    event_time: datetime = Field(description="Event time that raised it (UTC).")


class DeadLetter(AvroBase):
    """Input that could not be parsed, mapped or applied, kept whole for re-drive."""

    dead_letter_id: str = Field(description="Deterministic id of this dead letter.")
    error_class: str = Field(
        description="Machine-readable class, for example unmapped_item, "
        "unmapped_party, invalid_envelope, invalid_quantity, too_late."
    )
    message: str = Field(description="What failed, on which value.")
    source_format: str = Field(
        description="Adapter format of original: x12, shopify, wms-jsonl, avro."
    )
    partner: str | None = Field(default=None, description="Partner, when known.")
    original: bytes = Field(description="The input bytes, unchanged.")
    origin: str | None = Field(
        default=None,
        description="Where the input came from: file path or topic/partition/offset.",
    )
    event_id: str | None = Field(default=None, description="Event id, when known.")
    sku: str | None = Field(default=None, description="SKU, when known.")
    hints: dict[str, str] = Field(
        default_factory=dict,
        description="Adapter hints needed to parse original again (for example "
        "the Shopify topic of a bare body).",
    )
    failed_at: datetime = Field(description="When the failure was recorded (UTC).")


class FreshnessState(str, Enum):
    """Whether a warehouse's events arrive within its maximum silence."""

    STALE = "STALE"
    FRESH = "FRESH"


class WarehouseFreshness(AvroBase):
    """A warehouse went silent past its maximum silence (STALE), or resumed (FRESH).

    Keyed by warehouse code on the freshness topic.
    """

    alert_id: str = Field(
        description="Deterministic id of this change: warehouse, state and the "
        "processing time of the last event before it."
    )
    warehouse: str = Field(description="Internal warehouse code.")
    state: FreshnessState = Field(description="STALE or FRESH.")
    last_event_at: datetime = Field(
        description="When the dataflow processed the warehouse's last event before "
        "this change (UTC, processing time)."
    )
    detected_at: datetime = Field(description="When the change was detected (UTC).")
    max_silence_seconds: float = Field(
        description="Configured maximum silence of the warehouse, in seconds."
    )


class VarianceAlert(AvroBase):
    """A difference between the ERP balance and the balance the ERP should show.

    Keyed ``<sku>|<warehouse>`` on the variance-alert topic (transfer alerts add
    ``|<transfer_id>``), so a compacted topic keeps the latest state of each
    alert. ``docs/variance.md`` defines every figure.
    """

    alert_id: str = Field(
        description="Stays the same from OPENED through UPDATED to RESOLVED."
    )
    state: AlertState = Field(description="OPENED, UPDATED or RESOLVED.")
    cause: VarianceCause = Field(description="Most likely cause.")
    sku: str = Field(description="Internal SKU.")
    warehouse: str = Field(
        description="Internal warehouse code; for a transfer, the receiving one."
    )
    stock_status: StockStatus | None = Field(
        default=None,
        description="ERP stock type compared, or null when the total is compared.",
    )
    erp_quantity: int = Field(
        description="ERP balance; for a transfer, the quantity shipped."
    )
    wms_quantity: int = Field(
        description="WMS on hand when evaluated; for a transfer, the quantity received."
    )
    expected_quantity: int = Field(
        description="What the ERP should show at snapshot_as_of: wms_quantity "
        "minus in-flight postings and WMS counts after snapshot_as_of."
    )
    in_flight_quantity: int = Field(
        description="Signed effect of the postings in flight (not yet applied)."
    )
    in_flight_posting_ids: list[str] = Field(
        default_factory=list, description="Postings not yet applied by the ERP."
    )
    explaining_posting_ids: list[str] = Field(
        default_factory=list,
        description="Postings that explain the variance: the stuck postings for "
        "in_flight_stuck, the rejected ones for posting_rejected.",
    )
    variance: int = Field(
        description="erp_quantity - expected_quantity; for a transfer, received "
        "minus shipped."
    )
    percent: float = Field(
        description="abs(variance) as a percentage of the larger of the two sides."
    )
    value: float | None = Field(
        default=None, description="variance times the unit cost, when configured."
    )
    first_seen: datetime = Field(
        description="as_of of the first snapshot of this run of breaking ones (UTC)."
    )
    last_seen: datetime = Field(
        description="as_of of the latest snapshot evaluated (UTC)."
    )
    snapshot_as_of: datetime = Field(
        description="as_of of the ERP snapshot this record reports (UTC)."
    )
    transfer_id: str | None = Field(
        default=None, description="For transfer_discrepancy: the transfer."
    )
    shipment_document_id: str | None = Field(
        default=None,
        description="For transfer_discrepancy: the shipping document (or event id).",
    )
    receipt_document_id: str | None = Field(
        default=None,
        description="For transfer_discrepancy: the last receiving document "
        "(or event id).",
    )


OUTPUT_RECORD_TYPES: tuple[type[AvroBase], ...] = (
    AtpRecord,
    ErpPosting,
    InventoryException,
    DeadLetter,
    VarianceAlert,
    WarehouseFreshness,
)
