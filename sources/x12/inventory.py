"""Inventory sets: 846 stock advice becomes snapshots, 947 adjustments become movements.

846 from the 3PL that is the warehouse's on-hand source: one
:class:`InventorySnapshot` (STOCK_ADVICE) per SKU, with a balance for each QTY
qualifier of the table below. Other qualifiers never re-baseline on hand and
are skipped: 33 and 34 are net of commitments, 26 and 27 are totals and
commitments, QB and 87 are backordered and on-order figures. A LIN with none of
the table's qualifiers yields no snapshot, and LINs of one SKU are summed.
``as_of`` is BIA04 with its time BIA05. When BIA05 is empty, a header DTM*007
(effective date) with a time wins because it is more precise. Otherwise
``as_of`` is BIA04 at midnight, or GS04/GS05 when the BIA has no date. An
846 from a supplier is information about the supplier's stock, never ours, and
yields nothing.

======  =======================================  =============
QTY01   X12 element 673 meaning                  stock status
======  =======================================  =============
17      Quantity on Hand                         AVAILABLE
QH      Quantity on Hold                         HOLD
74      damaged goods                            DAMAGED
======  =======================================  =============

947 from the on-hand source: one :class:`InventoryMovement` per W19. W19-01 is
the X12 element 181 reason code. Codes that imply a direction take the
magnitude of W19-02 with that direction. Codes that move stock between
statuses become STATUS_CHANGE. Every other code is an ADJUSTMENT by W19-02 as
signed by the partner. That includes AV (damaged in transit), which concerns
goods on their way rather than stock in the facility. The tables are
``CREDIT_CODES``, ``DEBIT_CODES`` and ``STATUS_CODES`` below. The event time is
G62*07 (effective date, with its time) when present, else W15-01.
"""

from __future__ import annotations

import logging
from datetime import datetime

from invsync.config import PartnerRole
from invsync.events import (
    CanonicalEvent,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    SnapshotKind,
    StatusQuantity,
    StockStatus,
)
from invsync.logs import origin_fields
from sources.x12.context import (
    ItemError,
    Line,
    SetContext,
    item_pairs,
    map_lines,
    require_segment,
)
from sources.x12.tokenizer import Segment

logger = logging.getLogger(__name__)

# QTY01 qualifiers that set the balance of a stock status. Codes 17 and QH are
# named so in published X12 673 code lists, and 74 follows this project's
# reading of it as damaged goods.
# NOTE: the standard does not fix whether a partner's 17 includes held and
# damaged units. This table assumes it does not.
SNAPSHOT_QUALIFIERS = {
    "17": StockStatus.AVAILABLE,
    "QH": StockStatus.HOLD,
    "74": StockStatus.DAMAGED,
}

# Qualifier positions of the LIN pairs LIN02/03 .. LIN30/31.
LIN_PAIRS = tuple(range(2, 31, 2))

# W19-01 codes (X12 element 181) that add stock.
CREDIT_CODES = {
    "51": "Unable-to-Locate (UTL) Product Located",
    "53": "Shipment Less Than Previously Reported",
    "54": "Receipt Greater Than Previously Reported",
    "56": "Book Adjustment Increase",
    "CR": "Customer Returned Inventory",
}
# W19-01 codes that remove stock.
DEBIT_CODES = {
    "03": "Shipment Greater Than Previously Reported",
    "04": "Receipt Less Than Previously Reported",
    "06": "Book Adjustment Decrease",
    "07": "Product Dumped or Destroyed",
    "AI": "Disaster",
    "AX": "Shelf-life Obsolescence",
    "BD": "Nonrecoverable",
    "CD": "Product Donations",
    "CS": "Product Samples",
    "UD": "Unauthorized Destruction",
}
# W19-01 codes that move stock from one status to another.
STATUS_CODES = {
    "05": (StockStatus.AVAILABLE, StockStatus.HOLD),  # Product Put on Hold
    "55": (StockStatus.HOLD, StockStatus.AVAILABLE),  # Product Taken Off Hold
    "08": (StockStatus.AVAILABLE, StockStatus.QC),  # Put in Quality Inspection
    "88": (StockStatus.QC, StockStatus.AVAILABLE),  # Removed from Quality Inspection
    "AU": (StockStatus.AVAILABLE, StockStatus.DAMAGED),  # Damaged in Facility
    "52": (StockStatus.DAMAGED, StockStatus.AVAILABLE),  # Recoup/Rework of Damaged
    "AW": (StockStatus.AVAILABLE, StockStatus.RECALLED),  # Product Recall
}

# Qualifier positions of the W19 pairs W1905/06, W1907/08, W1917/18.
W19_PAIRS = (5, 7, 17)
W19_CASE_CODE = 4
W19_LOT = 9


def parse_846(ctx: SetContext) -> list[CanonicalEvent]:
    """Map an 846 from a 3PL to snapshots, and log and skip one from a supplier."""
    if ctx.role is PartnerRole.SUPPLIER:
        logger.info(
            "%s from supplier %s is information about the supplier's stock, no event",
            ctx.label,
            ctx.partner,
            extra={**origin_fields(ctx.item.origin), "partner": ctx.partner},
        )
        return []

    bia = require_segment(ctx, "BIA")
    as_of = _as_of(ctx, bia)
    warehouse = ctx.third_party_warehouse()
    ctx.require_on_hand_source(warehouse)

    balances: dict[str, dict[StockStatus, int]] = {}
    for lin, loop in _lin_loops(ctx.tx.body):
        with ctx.line(ctx.where(lin)):
            sku = ctx.require_item(item_pairs(lin, LIN_PAIRS))
            found = _lin_balances(ctx, sku, lin, loop)
            if not found:
                continue
            totals = balances.setdefault(sku, {})
            for status, quantity in found.items():
                totals[status] = totals.get(status, 0) + quantity

    return [
        InventorySnapshot(
            **ctx.header(as_of, "SKU", sku),
            sku=sku,
            warehouse=warehouse,
            snapshot_kind=SnapshotKind.STOCK_ADVICE,
            as_of=as_of,
            balances=[
                StatusQuantity(stock_status=status, quantity=quantity)
                for status, quantity in totals.items()
            ],
            document_id=bia.element(3) or None,
        )
        for sku, totals in balances.items()
    ]


def _as_of(ctx: SetContext, bia: Segment) -> datetime:
    if bia.element(4) and bia.element(5):
        return ctx.date(bia.element(4), bia.element(5), label="BIA04/BIA05")

    for segment in ctx.tx.body:
        if segment.tag == "LIN":
            break
        if segment.tag == "DTM" and segment.element(1) == "007" and segment.element(3):
            return ctx.dtm(segment)

    if bia.element(4):
        return ctx.date(bia.element(4), label="BIA04")
    return ctx.transmission_time()


def _lin_loops(body: tuple[Segment, ...]) -> list[tuple[Segment, list[Segment]]]:
    loops: list[tuple[Segment, list[Segment]]] = []
    for segment in body:
        if segment.tag == "LIN":
            loops.append((segment, []))
        elif loops:
            loops[-1][1].append(segment)
    return loops


def _lin_balances(
    ctx: SetContext, sku: str, lin: Segment, loop: list[Segment]
) -> dict[StockStatus, int]:
    """Return the balance per status of one LIN, in the unit QTY03 or the next UIT."""
    found: dict[StockStatus, int] = {}
    skipped: list[str] = []

    for index, segment in enumerate(loop):
        if segment.tag != "QTY":
            continue
        qualifier = segment.element(1)
        status = SNAPSHOT_QUALIFIERS.get(qualifier)
        if status is None:
            skipped.append(qualifier)
            continue
        unit = segment.component(3)
        following = loop[index + 1] if index + 1 < len(loop) else None
        if not unit and following is not None and following.tag == "UIT":
            unit = following.component(1)
        quantity = ctx.quantity(sku, segment.element(2), unit, label=f"QTY*{qualifier}")
        found[status] = found.get(status, 0) + quantity

    if skipped:
        logger.info(
            "%s %s (%s): QTY qualifiers %s do not set on hand, skipped",
            ctx.label,
            ctx.where(lin),
            sku,
            ", ".join(skipped),
            extra={
                **origin_fields(ctx.item.origin),
                "partner": ctx.partner,
                "sku": sku,
            },
        )
    if not found:
        logger.info(
            "%s %s (%s) has no on-hand quantity, so no snapshot",
            ctx.label,
            ctx.where(lin),
            sku,
            extra={
                **origin_fields(ctx.item.origin),
                "partner": ctx.partner,
                "sku": sku,
            },
        )
    return found


def parse_947(ctx: SetContext) -> list[CanonicalEvent]:
    """Map a 947 inventory adjustment advice to one movement per W19."""
    w15 = require_segment(ctx, "W15")
    event_time = ctx.header_g62("07", "W19")
    if event_time is None:
        event_time = ctx.date(w15.element(1), label="W15-01")
    document_id = w15.element(2) or None
    warehouse = ctx.third_party_warehouse()
    ctx.require_on_hand_source(warehouse)

    def adjustment(line: Line) -> CanonicalEvent:
        w19 = line.segment
        sku = ctx.require_item(item_pairs(w19, W19_PAIRS, W19_CASE_CODE))
        code = w19.element(1)
        signed = ctx.signed_quantity(
            sku, w19.element(2), w19.element(3), label="W19-02"
        )
        if signed == 0:
            msg = f"W19-02 of {sku} is zero, so the line adjusts nothing"
            raise ItemError("invalid_quantity", msg, sku)

        movement_type = MovementType.ADJUSTMENT
        quantity = _direct(code, signed)
        leaves = StockStatus.AVAILABLE
        enters: StockStatus | None = None
        if code in STATUS_CODES:
            movement_type = MovementType.STATUS_CHANGE
            quantity = abs(signed)
            leaves, enters = STATUS_CODES[code]

        return InventoryMovement(
            **ctx.header(event_time, "W19", line.index),
            sku=sku,
            warehouse=warehouse,
            stock_status=leaves,
            movement_type=movement_type,
            quantity=quantity,
            to_status=enters,
            reason_code=code or None,
            document_id=document_id,
            lot=w19.element(W19_LOT) or None,
        )

    return map_lines(ctx, "W19", adjustment)


def _direct(code: str, signed: int) -> int:
    """Apply the direction a reason code implies to a W19-02 quantity."""
    if code in CREDIT_CODES:
        return abs(signed)
    if code in DEBIT_CODES:
        return -abs(signed)
    return signed
