"""fulfillments/create: a channel-reported shipment that closes reservations.

It never changes on hand, because the warehouse reports the physical shipment
itself.
"""

from __future__ import annotations

import logging
from datetime import datetime

from invsync.catalog import Catalog
from invsync.events import CanonicalEvent, OrderFulfillment, Source
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

# Only a successful fulfillment has shipped. A pending or open one may still
# fail, and orders/updated reports its outcome as absolute quantities.
SHIPPED_STATUS = "success"


def parse_fulfillment(
    delivery: Delivery, catalog: Catalog, partner: str, ingest_time: datetime
) -> list[CanonicalEvent]:
    """Build one OrderFulfillment per line item of a successful fulfillment.

    Raises MappingError when a field is invalid or a line item is unmapped.
    """
    body = delivery.body
    fulfillment_gid = require_str(body, "admin_graphql_api_id", "")
    fulfillment_id = gid_id(fulfillment_gid, "Fulfillment", "admin_graphql_api_id")
    order_id = _order_id(require_key(body, "order_id", ""))
    status = require_str(body, "status", "")
    created_at = require_time(body, "created_at", "")
    if status != SHIPPED_STATUS:
        logger.info(
            "fulfillment %s of order %s has status %s, not %s; no events",
            fulfillment_id,
            order_id,
            status,
            SHIPPED_STATUS,
            extra={"partner": partner, "order_id": order_id},
        )
        return []

    warehouse = location_warehouse(
        catalog, optional_numeric_id(body, "location_id", "")
    )
    items = as_array(require_key(body, "line_items", ""), "line_items")
    if not items:
        msg = "line_items is empty; a fulfillment lists the line items it ships"
        raise PayloadError(msg)

    events: list[CanonicalEvent] = []
    for index, raw in enumerate(items):
        path = child("line_items", index)
        line = as_object(raw, path)
        line_gid = require_str(line, "admin_graphql_api_id", path)
        line_id = gid_id(line_gid, "LineItem", child(path, "admin_graphql_api_id"))
        sku = line_item_sku(line, path, catalog, line_id)
        quantity = require_count(line, "quantity", path)
        if quantity < 0:
            msg = f"{child(path, 'quantity')} is {quantity}; it must be at least 0"
            raise PayloadError(msg)
        events.append(
            OrderFulfillment(
                event_id=stable_id("shopify", fulfillment_gid, line_gid),
                source=Source.SHOPIFY,
                partner=partner,
                event_time=created_at,
                ingest_time=ingest_time,
                sku=sku,
                warehouse=warehouse,
                order_id=order_id,
                line_id=line_id,
                fulfillment_id=fulfillment_id,
                quantity=to_base_units(catalog, sku, quantity, child(path, "quantity")),
            )
        )
    logger.info(
        "fulfillment %s of order %s from %s: %d lines",
        fulfillment_id,
        order_id,
        partner,
        len(events),
        extra={"partner": partner, "order_id": order_id},
    )
    return events


def _order_id(value: object) -> str:
    """Return the order id from ``order_id``: a numeric id or an Order GID."""
    if isinstance(value, str) and value.startswith("gid://"):
        return gid_id(value, "Order", "order_id")
    order_id = optional_numeric_id({"order_id": value}, "order_id", "")
    assert order_id is not None  # require_key rejected null already
    return order_id
