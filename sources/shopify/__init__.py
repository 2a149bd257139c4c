"""Shopify webhook adapter: one delivery file in, canonical events out.

Supported topics are orders/create, orders/updated, orders/cancelled,
fulfillments/create, refunds/create and inventory_levels/update; the rules for
each are in ``docs/shopify.md``. A delivery that cannot be read or mapped
becomes one dead letter holding the file's bytes, with the topic and shop
domain in its hints so that a re-drive can parse a bare body again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError

from invsync.catalog import Catalog, MappingError
from invsync.config import PartnerRole
from invsync.events import CanonicalEvent
from invsync.logs import dead_letter_fields
from sources.base import AdapterInput, AdapterOutput, dead_letter
from sources.shopify.envelope import (
    SUPPORTED_TOPICS,
    Delivery,
    normalize_topic,
    read_delivery,
    topic_from_filename,
)
from sources.shopify.fulfillments import parse_fulfillment
from sources.shopify.inventory_levels import parse_inventory_level
from sources.shopify.orders import parse_order
from sources.shopify.refunds import parse_refund

__all__ = [
    "SOURCE_FORMAT",
    "SUPPORTED_TOPICS",
    "normalize_topic",
    "parse",
    "topic_from_filename",
]

logger = logging.getLogger(__name__)

SOURCE_FORMAT = "shopify"
SHOP_QUALIFIER = "shopify_shop"

TopicParser = Callable[[Delivery, Catalog, str, datetime], list[CanonicalEvent]]

PARSERS: dict[str, TopicParser] = {
    "orders/create": parse_order,
    "orders/updated": parse_order,
    "orders/cancelled": parse_order,
    "fulfillments/create": parse_fulfillment,
    "refunds/create": parse_refund,
    "inventory_levels/update": parse_inventory_level,
}

EDITED_MESSAGE = (
    "orders/edited is not supported: it carries quantity deltas "
    "(order_edit.line_items.additions[].delta), which cannot be applied "
    "idempotently; orders/updated carries the absolute state of the edited order"
)


def parse(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
    """Parse one Shopify webhook delivery into canonical events or one dead letter."""
    try:
        delivery = read_delivery(item.data, item.hints)
    except MappingError as exc:
        return _reject(item, exc.error_class, str(exc))

    logger.debug(
        "read %s delivery of %s from %s (webhook id %s, triggered at %s)",
        delivery.layout,
        delivery.topic,
        item.origin,
        delivery.webhook_id,
        delivery.triggered_at,
    )
    hints = dict(item.hints)
    hints["topic"] = delivery.topic
    if delivery.shop_domain is not None:
        hints["shop_domain"] = delivery.shop_domain
    item = replace(item, hints=hints)

    parser = PARSERS.get(delivery.topic)
    if parser is None:
        message = EDITED_MESSAGE
        if delivery.topic != "orders/edited":
            message = (
                f"topic {delivery.topic} is not supported; supported topics are "
                f"{', '.join(SUPPORTED_TOPICS)}"
            )
        return _reject(item, "unsupported_topic", message)

    try:
        partner = _partner(delivery, catalog)
    except MappingError as exc:
        return _reject(item, exc.error_class, str(exc))

    try:
        events = parser(delivery, catalog, partner, item.ingest_time)
    except MappingError as exc:
        return _reject(item, exc.error_class, str(exc), partner=partner)
    except ValidationError as exc:
        # The field checks should leave nothing for the event models to reject.
        # Catching their errors keeps parse from raising if a check is missing.
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"])
        message = (
            f"{delivery.topic} yields an invalid event: {location}: {error['msg']}"
        )
        return _reject(item, "invalid_payload", message, partner=partner)
    return AdapterOutput(events=events)


def _partner(delivery: Delivery, catalog: Catalog) -> str:
    """Return the sales channel partner of the delivery's shop.

    Raises MappingError ``unmapped_party`` when no partner has the shop's
    domain, and ``wrong_role`` when that partner is no sales channel.
    """
    if delivery.shop_domain is None:
        msg = (
            "the delivery names no shop: add the X-Shopify-Shop-Domain header "
            "or pass the shop_domain hint"
        )
        raise MappingError("unmapped_party", msg)
    partner = catalog.require_partner([(SHOP_QUALIFIER, delivery.shop_domain)])
    role = catalog.role(partner)
    if role is not PartnerRole.SALES_CHANNEL:
        expected = PartnerRole.SALES_CHANNEL.value
        msg = (
            f"shop {delivery.shop_domain} maps to partner {partner}, whose role is "
            f"{role.value}; Shopify deliveries need role {expected}"
        )
        raise MappingError("wrong_role", msg)
    return partner


def _reject(
    item: AdapterInput, error_class: str, message: str, partner: str | None = None
) -> AdapterOutput:
    letter = dead_letter(
        item,
        error_class=error_class,
        message=message,
        source_format=SOURCE_FORMAT,
        partner=partner,
    )
    logger.warning(
        "dead letter %s for %s (topic %s): %s",
        error_class,
        item.origin,
        item.hints.get("topic", "unknown"),
        message,
        extra=dead_letter_fields(letter),
    )
    return AdapterOutput(dead_letters=[letter])
