"""Shipment sets: 856 and 943 announce inbound supply, 944 and 945 move stock.

856 (ASN from a supplier): quantities are summed per SKU over the whole HL
hierarchy, because one SKU can be packed into several packs and orders, and a
:class:`SupplyAdvice` quantity is absolute per document. The receiving
warehouse is the N1*ST ship-to party. The expected date is DTM*017 (estimated
delivery), else DTM*067, else DTM*011 (shipped). BSN01 01 (cancellation)
withdraws the advice, and 00, 05 and 07 announce it.

943 (stock transfer shipment advice to a 3PL): W04 quantities are summed per
SKU for the same reason. ``document_id`` is the depositor order number W06-02
and the warehouse is the N1*WH party or the 3PL's only warehouse. The expected
date is G62*17 (estimated delivery), else G62*02 (requested delivery).

944 (receipt from a 3PL) and 945 (shipment from a 3PL) change on hand, so the
sending partner must be the warehouse's on-hand source. A 944 gives one RECEIPT
per W07 with ``document_id`` the depositor order number W17-04 that the 943
used, so the receipt closes that advice. Its time is W17-02 with the time
W17-07. A 945 gives one SHIP per W12 with the order id chosen as for the 940
(PO number W06-06, else depositor order number W06-02). Two W12 lines of one
item stay two movements. Its time is G62*11 (shipped, with its time) when
present, else the date W06-03.
"""

from __future__ import annotations

import logging
from datetime import datetime

from invsync.catalog import MappingError
from invsync.events import (
    AdviceAction,
    CanonicalEvent,
    InventoryMovement,
    MovementType,
    SupplyAdvice,
)
from invsync.logs import origin_fields
from sources.x12.context import (
    Line,
    SetContext,
    detail_lines,
    item_pairs,
    map_lines,
    require_segment,
)
from sources.x12.tokenizer import Segment

logger = logging.getLogger(__name__)

# BSN01 transaction set purpose code of an 856.
BSN_ACTIONS = {
    "00": AdviceAction.ADVISED,
    "05": AdviceAction.ADVISED,
    "07": AdviceAction.ADVISED,
    "01": AdviceAction.CANCELLED,
}
# DTM qualifiers of an 856 that give the expected arrival, best first.
ASN_EXPECTED_DATES = ("017", "067", "011")
# G62 qualifiers of a 943 that give the expected arrival, best first.
TRANSFER_EXPECTED_DATES = ("17", "02")

# Qualifier positions of the LIN pairs LIN02/03 .. LIN30/31.
LIN_PAIRS = tuple(range(2, 31, 2))
# Qualifier positions of the W04 pairs W0404/05, W0406/07, W0414/15.
W04_PAIRS = (4, 6, 14)
# Qualifier positions of the W07 pairs W0704/05, W0706/07, W0710/11.
W07_PAIRS = (4, 6, 10)
# Qualifier positions of the W12 pairs W1207/08, W1217/18, W1221/22.
W12_PAIRS = (7, 17, 21)
W07_LOT = 8
W12_LOT = 9


def parse_856(ctx: SetContext) -> list[CanonicalEvent]:
    """Map an 856 ship notice to one SupplyAdvice per SKU."""
    bsn = require_segment(ctx, "BSN")
    purpose = bsn.element(1)
    action = BSN_ACTIONS.get(purpose)
    if action is None:
        msg = (
            f"{ctx.label} has BSN01 purpose code {purpose!r}. Supported are "
            "00 original, 01 cancellation, 05 replace and 07 duplicate"
        )
        raise MappingError("unsupported_document", msg)
    document_id = bsn.element(2)
    if not document_id:
        msg = f"{ctx.label} has no shipment identification in BSN02"
        raise MappingError("invalid_document", msg)

    event_time = ctx.date(bsn.element(3), bsn.element(4), label="BSN03/BSN04")
    warehouse = _ship_to_warehouse(ctx)
    expected = _expected_from_dtm(ctx)
    totals = _asn_totals(ctx)

    return _supply_advices(
        ctx, totals, event_time, warehouse, document_id, expected, action
    )


def _ship_to_warehouse(ctx: SetContext) -> str:
    ship_to = next(
        (s for s in ctx.tx.body if s.tag == "N1" and s.element(1) == "ST"), None
    )
    if ship_to is None:
        msg = f"{ctx.label} names no ship-to party (N1*ST)"
        raise MappingError("unmapped_party", msg)
    if not ship_to.element(4):
        msg = f"{ctx.label} has an N1*ST ship-to party without an id in N104"
        raise MappingError("unmapped_party", msg)
    return ctx.catalog.require_warehouse([(ship_to.element(3), ship_to.element(4))])


def _expected_from_dtm(ctx: SetContext) -> datetime | None:
    for qualifier in ASN_EXPECTED_DATES:
        for segment in ctx.tx.body:
            if segment.tag == "DTM" and segment.element(1) == qualifier:
                return ctx.dtm(segment)
    return None


def _asn_totals(ctx: SetContext) -> dict[str, int]:
    """Sum SN1 quantities per SKU, each SN1 counting for the LIN of its HL level."""
    totals: dict[str, int] = {}
    current: str | None = None
    failed = False
    seen_lin = False

    for segment in ctx.tx.body:
        if segment.tag == "HL":
            current, failed, seen_lin = None, False, False
        elif segment.tag == "LIN":
            current, failed, seen_lin = None, True, True
            with ctx.line(ctx.where(segment)):
                current = ctx.require_item(item_pairs(segment, LIN_PAIRS))
                failed = False
        elif segment.tag == "SN1":
            if not seen_lin:
                msg = (
                    f"{ctx.label} has {ctx.where(segment)} without a LIN item "
                    "in its HL level"
                )
                raise MappingError("invalid_document", msg)
            if failed or current is None:
                continue
            sku = current
            with ctx.line(ctx.where(segment)):
                quantity = ctx.quantity(
                    sku, segment.element(2), segment.element(3), label="SN102"
                )
                totals[sku] = totals.get(sku, 0) + quantity

    if not totals and not ctx.problems:
        msg = f"{ctx.label} has no LIN item with an SN1 quantity"
        raise MappingError("invalid_document", msg)
    return totals


def parse_943(ctx: SetContext) -> list[CanonicalEvent]:
    """Map a 943 stock transfer shipment advice to one SupplyAdvice per SKU."""
    w06 = require_segment(ctx, "W06")
    document_id = w06.element(2)
    if not document_id:
        msg = f"{ctx.label} has no depositor order number in W06-02"
        raise MappingError("invalid_document", msg)

    event_time = ctx.transmission_time()
    if w06.element(3):
        event_time = ctx.date(w06.element(3), label="W06-03")
    warehouse = ctx.third_party_warehouse()
    expected = _expected_from_g62(ctx)

    totals: dict[str, int] = {}
    lines = detail_lines(ctx.tx.body, "W04")
    if not lines:
        msg = f"{ctx.label} has no W04 line"
        raise MappingError("invalid_document", msg)
    for line in lines:
        w04 = line.segment
        with ctx.line(f"W04 line {line.line_id()}"):
            sku = ctx.require_item(item_pairs(w04, W04_PAIRS, 3))
            quantity = ctx.quantity(sku, w04.element(1), w04.element(2), label="W04-01")
            totals[sku] = totals.get(sku, 0) + quantity

    return _supply_advices(
        ctx, totals, event_time, warehouse, document_id, expected, AdviceAction.ADVISED
    )


def _supply_advices(
    ctx: SetContext,
    totals: dict[str, int],
    event_time: datetime,
    warehouse: str,
    document_id: str,
    expected: datetime | None,
    action: AdviceAction,
) -> list[CanonicalEvent]:
    """Build one SupplyAdvice per SKU with the SKU's summed quantity."""
    return [
        SupplyAdvice(
            **ctx.header(event_time, "SKU", sku),
            sku=sku,
            warehouse=warehouse,
            document_id=document_id,
            action=action,
            quantity=quantity,
            expected_date=expected,
        )
        for sku, quantity in totals.items()
    ]


def _expected_from_g62(ctx: SetContext) -> datetime | None:
    for qualifier in TRANSFER_EXPECTED_DATES:
        for segment in ctx.tx.body:
            if segment.tag == "G62" and segment.element(1) == qualifier:
                return ctx.g62(segment)
    return None


def parse_944(ctx: SetContext) -> list[CanonicalEvent]:
    """Map a 944 stock receipt advice to one RECEIPT movement per W07."""
    w17 = require_segment(ctx, "W17")
    event_time = ctx.date(w17.element(2), w17.element(7), label="W17-02/W17-07")
    document_id = w17.element(4) or w17.element(3) or None
    warehouse = ctx.third_party_warehouse()
    ctx.require_on_hand_source(warehouse)

    def receipt(line: Line) -> CanonicalEvent:
        w07 = line.segment
        sku = ctx.require_item(item_pairs(w07, W07_PAIRS, 3))
        quantity = ctx.quantity(sku, w07.element(1), w07.element(2), label="W07-01")
        return _movement(
            ctx,
            line.index,
            w07,
            sku=sku,
            warehouse=warehouse,
            movement_type=MovementType.RECEIPT,
            quantity=quantity,
            event_time=event_time,
            document_id=document_id,
            lot=w07.element(W07_LOT) or None,
        )

    return map_lines(ctx, "W07", receipt)


def parse_945(ctx: SetContext) -> list[CanonicalEvent]:
    """Map a 945 warehouse shipping advice to one SHIP movement per W12."""
    w06 = require_segment(ctx, "W06")
    event_time = ctx.header_g62("11", "W12")
    if event_time is None:
        event_time = ctx.date(w06.element(3), label="W06-03")
    depositor_order = w06.element(2)
    order_id = w06.element(6) or depositor_order or None
    document_id = w06.element(4) or depositor_order or None
    warehouse = ctx.third_party_warehouse()
    ctx.require_on_hand_source(warehouse)

    def shipment(line: Line) -> CanonicalEvent | None:
        w12 = line.segment
        if not w12.element(3):
            logger.info(
                "%s W12 line %s ships nothing (W12-03 empty, status %s), "
                "so no movement",
                ctx.label,
                line.line_id(),
                w12.element(1),
                extra={**origin_fields(ctx.item.origin), "partner": ctx.partner},
            )
            return None
        sku = ctx.require_item(item_pairs(w12, W12_PAIRS, 6))
        quantity = ctx.quantity(sku, w12.element(3), w12.element(5), label="W12-03")
        return _movement(
            ctx,
            line.index,
            w12,
            sku=sku,
            warehouse=warehouse,
            movement_type=MovementType.SHIP,
            quantity=quantity,
            event_time=event_time,
            document_id=document_id,
            lot=w12.element(W12_LOT) or None,
            order_id=order_id,
            line_id=line.references.get("LI") or line.assigned or None,
        )

    return map_lines(ctx, "W12", shipment)


def _movement(
    ctx: SetContext,
    index: int,
    segment: Segment,
    *,
    sku: str,
    warehouse: str,
    movement_type: MovementType,
    quantity: int,
    event_time: datetime,
    document_id: str | None,
    lot: str | None,
    order_id: str | None = None,
    line_id: str | None = None,
) -> InventoryMovement:
    return InventoryMovement(
        **ctx.header(event_time, segment.tag, index),
        sku=sku,
        warehouse=warehouse,
        movement_type=movement_type,
        quantity=quantity,
        document_id=document_id,
        lot=lot,
        order_id=order_id,
        line_id=line_id,
    )
