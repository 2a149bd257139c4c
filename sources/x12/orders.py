"""Order sets: 850 purchase orders become order lines, 940 shipping orders allocations.

850 (from a customer): one :class:`OrderLine` per PO1. BEG01 sets the lifecycle
step and the version rank: 00 original and 07 duplicate are PLACED (rank 0),
05 replace is CHANGED (rank 1), 01 cancellation is CANCELLED (rank 2) with the
whole ordered quantity cancelled. ``version_time`` is GS04/GS05, the time the
partner transmitted the group. BEG05 is the purchase order's date and stays
the same on every replacement, so only the transmission time orders the
versions of one order. Each line lists every PO1 line id of its set in
``order_line_ids``, so a line missing from a replacement counts as removed.

940 (from us to a 3PL): one :class:`OrderAllocation` per W01. The order id is
the purchase order number W05-03 when present, else the depositor order number
W05-02: the customer's 850 is keyed by its PO number (BEG03), so only the PO
number links the allocation to that order. ``document_id`` is W05-02. The line
id is the N9*LI reference under the W01 (the original PO line), else the LX
number, else the W01's position.
"""

from __future__ import annotations

import logging

from invsync.catalog import MappingError
from invsync.events import (
    CanonicalEvent,
    OrderAction,
    OrderAllocation,
    OrderLine,
)
from sources.x12.context import SetContext, detail_lines, item_pairs, require_segment

logger = logging.getLogger(__name__)

# BEG01 transaction set purpose code: (action, version rank).
PURPOSES = {
    "00": (OrderAction.PLACED, 0),
    "07": (OrderAction.PLACED, 0),
    "05": (OrderAction.CHANGED, 1),
    "01": (OrderAction.CANCELLED, 2),
}

# W05-01 order status code: N original, R change, F cancel.
ORDER_STATUSES = ("N", "R", "F")

# Qualifier positions of the PO1 product id pairs PO106/PO107 .. PO124/PO125.
PO1_PAIRS = tuple(range(6, 25, 2))
# Qualifier positions of the W01 pairs W0104/05, W0106/07, W0115/16.
W01_PAIRS = (4, 6, 15)
W01_CASE_CODE = 3


def parse_850(ctx: SetContext) -> list[CanonicalEvent]:
    """Map an 850 purchase order to one OrderLine per PO1."""
    beg = require_segment(ctx, "BEG")
    purpose = beg.element(1)
    if purpose not in PURPOSES:
        msg = (
            f"{ctx.label} has BEG01 purpose code {purpose!r}. Supported are "
            "00 original, 01 cancellation, 05 replace and 07 duplicate"
        )
        raise MappingError("unsupported_document", msg)
    action, rank = PURPOSES[purpose]

    order_id = beg.element(3)
    if not order_id:
        msg = f"{ctx.label} has no purchase order number in BEG03"
        raise MappingError("invalid_document", msg)

    version_time = ctx.transmission_time()
    event_time = version_time
    if beg.element(5):
        event_time = ctx.date(beg.element(5), label="BEG05")

    lines = [segment for segment in ctx.tx.body if segment.tag == "PO1"]
    if not lines:
        msg = f"{ctx.label} has no PO1 line"
        raise MappingError("invalid_document", msg)
    line_ids = [line.element(1) or str(index) for index, line in enumerate(lines, 1)]
    _reject_duplicates(ctx, line_ids, "PO101")

    warehouse = ctx.party_warehouse(("SF", "WH"))
    events: list[CanonicalEvent] = []
    for index, (line, line_id) in enumerate(zip(lines, line_ids, strict=True), 1):
        with ctx.line(f"PO1 line {line_id}"):
            sku = ctx.require_item(item_pairs(line, PO1_PAIRS))
            ordered = ctx.quantity(sku, line.element(2), line.element(3), label="PO102")
            cancelled = ordered if action is OrderAction.CANCELLED else 0
            events.append(
                OrderLine(
                    **ctx.header(event_time, "PO1", index),
                    sku=sku,
                    warehouse=warehouse,
                    order_id=order_id,
                    line_id=line_id,
                    action=action,
                    ordered_quantity=ordered,
                    cancelled_quantity=cancelled,
                    version_time=version_time,
                    version_rank=rank,
                    channel=ctx.partner,
                    order_line_ids=line_ids,
                )
            )
    return events


def parse_940(ctx: SetContext) -> list[CanonicalEvent]:
    """Map a 940 shipping order to one OrderAllocation per W01."""
    w05 = require_segment(ctx, "W05")
    status = w05.element(1)
    if status not in ORDER_STATUSES:
        msg = (
            f"{ctx.label} has W05-01 order status {status!r}. Supported are "
            "N original, R change and F cancel"
        )
        raise MappingError("unsupported_document", msg)

    depositor_order = w05.element(2)
    order_id = w05.element(3) or depositor_order
    if not order_id:
        msg = f"{ctx.label} has neither W05-03 purchase order nor W05-02 order number"
        raise MappingError("invalid_document", msg)

    warehouse = ctx.third_party_warehouse()
    event_time = ctx.transmission_time()
    lines = detail_lines(ctx.tx.body, "W01")
    if not lines:
        msg = f"{ctx.label} has no W01 line"
        raise MappingError("invalid_document", msg)
    _reject_duplicates(ctx, [line.line_id() for line in lines], "line id")

    events: list[CanonicalEvent] = []
    for line in lines:
        w01 = line.segment
        line_id = line.line_id()
        with ctx.line(f"W01 line {line_id}"):
            sku = ctx.require_item(item_pairs(w01, W01_PAIRS, W01_CASE_CODE))
            quantity = ctx.quantity(sku, w01.element(1), w01.element(2), label="W01-01")
            # A cancelled shipping order requests no units from the warehouse.
            if status == "F":
                quantity = 0
            events.append(
                OrderAllocation(
                    **ctx.header(event_time, "W01", line.index),
                    sku=sku,
                    warehouse=warehouse,
                    order_id=order_id,
                    line_id=line_id,
                    quantity=quantity,
                    document_id=depositor_order or None,
                )
            )
    return events


def _reject_duplicates(ctx: SetContext, line_ids: list[str], element: str) -> None:
    seen: set[str] = set()
    for line_id in line_ids:
        if line_id in seen:
            msg = (
                f"{ctx.label} repeats {element} {line_id!r}, but line ids must be "
                "unique"
            )
            raise MappingError("invalid_document", msg)
        seen.add(line_id)
