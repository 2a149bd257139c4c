"""refunds/create: announce goods that customers send back to a warehouse.

A refund never changes on hand, because Shopify is no warehouse's on-hand
source. Only a refund line restocked as a return to a location that maps to a
warehouse becomes supply advice, which the WMS RETURN receipt closes.
"""

from __future__ import annotations

import logging
from datetime import datetime

from invsync.catalog import Catalog
from invsync.events import CanonicalEvent, Source, SupplyAdvice
from sources.base import stable_id
from sources.shopify.envelope import Delivery
from sources.shopify.fields import (
    PayloadError,
    as_array,
    as_object,
    child,
    gid_id,
    optional_numeric_id,
    require_count,
    require_key,
    require_str,
    require_time,
    to_base_units,
)
from sources.shopify.items import line_item_sku, location_warehouse

logger = logging.getLogger(__name__)

RETURN = "return"
# cancel: orders/updated carries the cancellation as absolute quantities.
# no_restock: the goods stay with the customer.
# legacy_restock: older refunds that do not say whether goods come back or
# were never shipped, so they announce nothing.
SILENT_RESTOCK_TYPES = frozenset({"cancel", "no_restock", "legacy_restock"})
DOCUMENT_PREFIX = "refund:"


def parse_refund(
    delivery: Delivery, catalog: Catalog, partner: str, ingest_time: datetime
) -> list[CanonicalEvent]:
    """Build one SupplyAdvice per (SKU, warehouse) that a refund returns goods to.

    Raises MappingError when a field is invalid or a returned item is unmapped.
    A refund without refund_line_items moved money only and yields nothing.
    """
    body = delivery.body
    items = as_array(require_key(body, "refund_line_items", ""), "refund_line_items")
    if not items:
        logger.info(
            "refund from %s has no refund_line_items; no events",
            partner,
            extra={"partner": partner},
        )
        return []

    refund_gid = require_str(body, "admin_graphql_api_id", "")
    refund_id = gid_id(refund_gid, "Refund", "admin_graphql_api_id")
    created_at = require_time(body, "created_at", "")

    returned: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(items):
        path = child("refund_line_items", index)
        refund_line = as_object(raw, path)
        restock_type = require_str(refund_line, "restock_type", path)
        if restock_type in SILENT_RESTOCK_TYPES:
            continue
        if restock_type != RETURN:
            msg = (
                f"{child(path, 'restock_type')} is {restock_type!r}; expected one "
                f"of {RETURN}, {', '.join(sorted(SILENT_RESTOCK_TYPES))}"
            )
            raise PayloadError(msg)

        location_id = optional_numeric_id(refund_line, "location_id", path)
        warehouse = location_warehouse(catalog, location_id)
        if warehouse is None:
            logger.info(
                "refund %s line %d returns to location %s, which is no "
                "warehouse; no advice",
                refund_id,
                index,
                location_id,
                extra={"partner": partner},
            )
            continue

        line_path = child(path, "line_item")
        line = as_object(require_key(refund_line, "line_item", path), line_path)
        line_gid = require_str(line, "admin_graphql_api_id", line_path)
        line_id = gid_id(line_gid, "LineItem", child(line_path, "admin_graphql_api_id"))
        sku = line_item_sku(line, line_path, catalog, line_id)
        quantity = require_count(refund_line, "quantity", path)
        if quantity < 0:
            msg = f"{child(path, 'quantity')} is {quantity}; it must be at least 0"
            raise PayloadError(msg)
        key = (sku, warehouse)
        units = to_base_units(catalog, sku, quantity, child(path, "quantity"))
        returned[key] = returned.get(key, 0) + units

    document_id = DOCUMENT_PREFIX + refund_id
    # Advice is absolute per (document, SKU, warehouse), so lines that return
    # one SKU to one warehouse are summed into one event.
    events: list[CanonicalEvent] = [
        SupplyAdvice(
            event_id=stable_id("shopify", refund_gid, sku, warehouse),
            source=Source.SHOPIFY,
            partner=partner,
            event_time=created_at,
            ingest_time=ingest_time,
            sku=sku,
            warehouse=warehouse,
            document_id=document_id,
            quantity=quantity,
        )
        for (sku, warehouse), quantity in sorted(returned.items())
        if quantity > 0
    ]
    logger.info(
        "refund %s from %s: %d supply advice events",
        refund_id,
        partner,
        len(events),
        extra={"partner": partner},
    )
    return events
