"""inventory_levels/update: the channel's own available figure, for comparison.

It never changes on hand.
"""

from __future__ import annotations

import logging
from datetime import datetime

from invsync.catalog import Catalog, MappingError
from invsync.events import CanonicalEvent, ChannelInventoryLevel, Source
from invsync.logs import event_fields
from sources.base import stable_id
from sources.shopify.envelope import Delivery
from sources.shopify.fields import (
    PayloadError,
    gid_query_id,
    optional_count,
    optional_numeric_id,
    require_str,
    require_time,
    to_base_units,
)
from sources.shopify.items import INVENTORY_ITEM, location_warehouse

logger = logging.getLogger(__name__)


def parse_inventory_level(
    delivery: Delivery, catalog: Catalog, partner: str, ingest_time: datetime
) -> list[CanonicalEvent]:
    """Build one ChannelInventoryLevel from an inventory level update.

    The inventory item id is read from the GID's ``inventory_item_id``
    parameter, because the numeric ``inventory_item_id`` field may have passed
    through a float64 and lost its last digits. Raises MappingError when a
    field is invalid or the item is unmapped.
    """
    body = delivery.body
    level_gid = require_str(body, "admin_graphql_api_id", "")
    item_id = gid_query_id(
        level_gid, "InventoryLevel", "inventory_item_id", "admin_graphql_api_id"
    )
    location_id = optional_numeric_id(body, "location_id", "")
    if location_id is None:
        msg = "location_id is missing or null"
        raise PayloadError(msg)
    if "available" not in body:
        msg = "available is missing; Shopify sends null for an untracked item"
        raise PayloadError(msg)
    available = optional_count(body, "available", "")
    updated_at = require_time(body, "updated_at", "")

    try:
        sku = catalog.require_item([(INVENTORY_ITEM, item_id)])
    except MappingError as exc:
        msg = f"inventory item {item_id} at location {location_id}: {exc}"
        raise MappingError("unmapped_item", msg) from exc
    if available is not None:
        available = to_base_units(catalog, sku, available, "available")
    warehouse = location_warehouse(catalog, location_id)

    event = ChannelInventoryLevel(
        event_id=stable_id("shopify", level_gid, updated_at.isoformat(), available),
        source=Source.SHOPIFY,
        partner=partner,
        event_time=updated_at,
        ingest_time=ingest_time,
        sku=sku,
        warehouse=warehouse,
        available=available,
        location_id=location_id,
    )
    logger.info(
        "inventory level of %s at location %s (warehouse %s) from %s: available %s",
        sku,
        location_id,
        warehouse,
        partner,
        available,
        extra=event_fields(event),
    )
    return [event]
