"""orders/create, orders/updated and orders/cancelled: one OrderLine per line item.

Each delivery carries the whole order, so every line becomes an absolute
``OrderLine`` at the order version (``updated_at``, rank). Quantities come from
``quantity``, ``current_quantity`` and ``fulfillable_quantity`` so that the open
reservation the dataflow derives, ordered - cancelled - shipped, equals the
line's ``fulfillable_quantity``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from invsync.catalog import Catalog
from invsync.events import CanonicalEvent, OrderAction, OrderLine, Source
from sources.base import stable_id
from sources.shopify.envelope import Delivery
from sources.shopify.fields import (
    JsonObject,
    PayloadError,
    as_array,
    as_object,
    child,
    gid_id,
    optional_count,
    optional_numeric_id,
    optional_str,
    optional_time,
    require_count,
    require_key,
    require_str,
    require_time,
    to_base_units,
)
from sources.shopify.items import line_item_sku, location_warehouse

logger = logging.getLogger(__name__)

# Second part of the order version. A create and a cancel can carry the same
# updated_at, so the rank alone orders them.
RANK_OPEN = 0
RANK_UPDATED = 1
RANK_CANCELLED = 2

# Fulfillments in these states shipped nothing, so their location does not
# show where a line ships from.
VOID_FULFILLMENT_STATUSES = frozenset({"cancelled", "error", "failure"})


@dataclass(frozen=True)
class _Line:
    gid: str
    line_id: str
    sku: str
    ordered: int
    cancelled: int
    shipped: int
    warehouse: str | None


def parse_order(
    delivery: Delivery, catalog: Catalog, partner: str, ingest_time: datetime
) -> list[CanonicalEvent]:
    """Build one OrderLine per line item of an order delivery.

    Raises MappingError when a field is invalid or a line item is unmapped, so
    the whole delivery becomes one dead letter and no line is half-applied.
    """
    body = delivery.body
    order_gid = require_str(body, "admin_graphql_api_id", "")
    order_id = gid_id(order_gid, "Order", "admin_graphql_api_id")
    updated_at = require_time(body, "updated_at", "")
    cancelled_at = optional_time(body, "cancelled_at", "")

    order_cancelled = delivery.topic == "orders/cancelled" or cancelled_at is not None
    if order_cancelled:
        rank, action = RANK_CANCELLED, OrderAction.CANCELLED
    elif delivery.topic == "orders/updated":
        rank, action = RANK_UPDATED, OrderAction.CHANGED
    else:
        rank, action = RANK_OPEN, OrderAction.PLACED

    items = as_array(require_key(body, "line_items", ""), "line_items")
    if not items:
        msg = "line_items is empty; an order delivery lists at least one line item"
        raise PayloadError(msg)
    shipped_from = _fulfillment_locations(body)
    lines = [
        _read_line(
            raw, child("line_items", index), catalog, shipped_from, order_cancelled
        )
        for index, raw in enumerate(items)
    ]
    line_ids = [line.line_id for line in lines]
    duplicates = sorted({i for i in line_ids if line_ids.count(i) > 1})
    if duplicates:
        msg = f"line_items lists line {', '.join(duplicates)} more than once"
        raise PayloadError(msg)

    events: list[CanonicalEvent] = [
        OrderLine(
            event_id=stable_id(
                "shopify", order_gid, updated_at.isoformat(), rank, line.gid
            ),
            source=Source.SHOPIFY,
            partner=partner,
            event_time=updated_at,
            ingest_time=ingest_time,
            sku=line.sku,
            warehouse=line.warehouse,
            order_id=order_id,
            line_id=line.line_id,
            action=action,
            ordered_quantity=line.ordered,
            cancelled_quantity=line.cancelled,
            shipped_quantity=line.shipped,
            version_time=updated_at,
            version_rank=rank,
            channel=partner,
            order_line_ids=line_ids,
        )
        for line in lines
    ]
    logger.info(
        "%s order %s version (%s, %d) from %s: %d order lines",
        delivery.topic,
        order_id,
        updated_at.isoformat(),
        rank,
        partner,
        len(events),
        extra={"partner": partner, "order_id": order_id},
    )
    return events


def _read_line(
    raw: object,
    path: str,
    catalog: Catalog,
    shipped_from: dict[str, list[str]],
    order_cancelled: bool,
) -> _Line:
    line = as_object(raw, path)
    gid = require_str(line, "admin_graphql_api_id", path)
    line_id = gid_id(gid, "LineItem", child(path, "admin_graphql_api_id"))
    sku = line_item_sku(line, path, catalog, line_id)

    quantity = require_count(line, "quantity", path)
    current = optional_count(line, "current_quantity", path)
    fulfillable = optional_count(line, "fulfillable_quantity", path)
    _check_range(quantity, 0, None, child(path, "quantity"))
    if current is not None:
        _check_range(current, 0, quantity, child(path, "current_quantity"))
    if fulfillable is not None:
        _check_range(fulfillable, 0, quantity, child(path, "fulfillable_quantity"))

    # current_quantity is the quantity left after edits removed some. Lines
    # removed entirely stay listed with current_quantity 0.
    ordered = to_base_units(catalog, sku, quantity, child(path, "quantity"))
    current_units = ordered
    if current is not None:
        current_units = to_base_units(
            catalog, sku, current, child(path, "current_quantity")
        )

    # The open quantity is fulfillable_quantity, so shipped is the part of the
    # current quantity beyond it. A cancelled order cancels all not shipped.
    # NOTE: Shopify also subtracts pending and open fulfillments from
    # fulfillable_quantity, so their units count as shipped before the WMS
    # reports the shipment.
    shipped = 0
    if fulfillable is not None:
        fulfillable_units = to_base_units(
            catalog, sku, fulfillable, child(path, "fulfillable_quantity")
        )
        shipped = max(0, current_units - fulfillable_units)
    cancelled = ordered - shipped if order_cancelled else ordered - current_units

    candidates = list(shipped_from.get(gid, []))
    origin = line.get("origin_location")
    if origin is not None:
        origin_path = child(path, "origin_location")
        origin_id = optional_numeric_id(
            as_object(origin, origin_path), "id", origin_path
        )
        if origin_id is not None:
            candidates.append(origin_id)
    warehouse = None
    for location_id in candidates:
        warehouse = location_warehouse(catalog, location_id)
        if warehouse is not None:
            break

    return _Line(
        gid=gid,
        line_id=line_id,
        sku=sku,
        ordered=ordered,
        cancelled=cancelled,
        shipped=shipped,
        warehouse=warehouse,
    )


def _fulfillment_locations(body: JsonObject) -> dict[str, list[str]]:
    """Return the locations of the order's fulfillments, per line item GID."""
    locations: dict[str, list[str]] = {}
    value = body.get("fulfillments")
    if value is None:
        return locations
    for index, raw in enumerate(as_array(value, "fulfillments")):
        path = child("fulfillments", index)
        fulfillment = as_object(raw, path)
        status = optional_str(fulfillment, "status", path)
        location_id = optional_numeric_id(fulfillment, "location_id", path)
        if location_id is None or status in VOID_FULFILLMENT_STATUSES:
            continue
        items_path = child(path, "line_items")
        for item_index, item in enumerate(
            as_array(fulfillment.get("line_items") or [], items_path)
        ):
            item_path = child(items_path, item_index)
            gid = optional_str(
                as_object(item, item_path), "admin_graphql_api_id", item_path
            )
            if gid is not None:
                locations.setdefault(gid, []).append(location_id)
    return locations


def _check_range(value: int, low: int, high: int | None, path: str) -> None:
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        msg = f"{path} is {value}; it must be {bound}"
        raise PayloadError(msg)
