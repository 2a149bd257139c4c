"""Delivery formats: turn one file into a topic, a shop domain and a webhook body.

Three layouts are accepted (``docs/shopify.md`` describes them):

- the invsync wrapper ``{"topic", "headers", "body"}``, which keeps the HTTP
  headers of a delivery next to its body;
- the metadata wrapper of public webhook schema collections, with the topic in
  ``name`` (or ``topic``, ``webhook_topic``) and the body in ``response``;
- a bare body, whose topic comes from ``hints["topic"]``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

from invsync.catalog import MappingError
from sources.shopify.fields import JsonObject, PayloadError, as_object

logger = logging.getLogger(__name__)

SUPPORTED_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "fulfillments/create",
    "refunds/create",
    "inventory_levels/update",
)
# orders/edited is recognised so that its rejection message can point to
# orders/updated.
KNOWN_TOPICS = (*SUPPORTED_TOPICS, "orders/edited")

TOPIC_HEADER = "x-shopify-topic"
SHOP_HEADER = "x-shopify-shop-domain"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
TRIGGERED_AT_HEADER = "x-shopify-triggered-at"
METADATA_TOPIC_KEYS = ("topic", "webhook_topic", "name")

_FILENAME_TOPICS = {topic.replace("/", "_"): topic for topic in KNOWN_TOPICS}
_FILENAME_PATTERN = re.compile(
    r"(?<![a-z])(" + "|".join(sorted(_FILENAME_TOPICS, key=len, reverse=True)) + r")"
    r"(?![a-z])"
)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery read from a file."""

    topic: str
    body: JsonObject
    shop_domain: str | None
    layout: str
    webhook_id: str | None = None
    triggered_at: str | None = None


def normalize_topic(text: str) -> str:
    """Return a topic in REST form: ``ORDERS_CREATE`` becomes ``orders/create``.

    The GraphQL enum form puts an underscore where REST has the slash, always
    before the action word, so the last underscore is the separator.
    """
    topic = text.strip().lower()
    if "/" not in topic and "_" in topic:
        resource, action = topic.rsplit("_", 1)
        topic = f"{resource}/{action}"
    return topic


def topic_from_filename(name: str) -> str | None:
    """Return the webhook topic a file name spells, or None when it names none.

    ``orders-create.json``, ``orders_cancelled.json`` and
    ``2024-04_inventory_levels_update.json`` name a topic. A name that spells
    two different topics names none, because picking one would be a guess.
    """
    stem = PurePath(name).name.lower().replace("-", "_")
    found = {_FILENAME_TOPICS[m.group(1)] for m in _FILENAME_PATTERN.finditer(stem)}
    if len(found) != 1:
        return None
    return found.pop()


def read_delivery(data: bytes, hints: Mapping[str, str]) -> Delivery:
    """Decode a file and unwrap its delivery layout.

    Raises MappingError ``invalid_json`` when the bytes are not a JSON document
    and ``invalid_payload`` when the layout, topic or headers are wrong.
    """
    document = _decode(data)
    root = as_object(document, "document")

    if "body" in root and ("headers" in root or "topic" in root):
        delivery = _read_wrapper(root, hints)
    elif "response" in root and any(key in root for key in METADATA_TOPIC_KEYS):
        delivery = _read_metadata(root, hints)
    else:
        topic = _hint_topic(hints)
        if topic is None:
            msg = (
                "the document has no topic: it is a bare webhook body, so pass "
                "the topic as the 'topic' hint (for example orders/create)"
            )
            raise PayloadError(msg)
        delivery = Delivery(topic=topic, body=root, shop_domain=None, layout="bare")

    if delivery.shop_domain is None:
        domain = _body_domain(delivery.body) or _hint_value(hints, "shop_domain")
        delivery = replace(delivery, shop_domain=domain)
    return delivery


def _decode(data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"the document is not UTF-8: byte {exc.start} is invalid"
        raise MappingError("invalid_json", msg) from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        msg = f"the document is not valid JSON: {exc}"
        raise MappingError("invalid_json", msg) from exc
    except RecursionError as exc:
        msg = "the document nests arrays or objects too deeply to decode"
        raise MappingError("invalid_json", msg) from exc


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _read_wrapper(root: JsonObject, hints: Mapping[str, str]) -> Delivery:
    body = as_object(root["body"], "body")
    headers = _headers(root.get("headers"))
    topic_value = root.get("topic")
    if topic_value is None:
        topic_value = headers.get(TOPIC_HEADER)
    topic = _topic(topic_value, "topic", hints)
    return Delivery(
        topic=topic,
        body=body,
        shop_domain=headers.get(SHOP_HEADER) or None,
        layout="wrapper",
        webhook_id=headers.get(WEBHOOK_ID_HEADER),
        triggered_at=headers.get(TRIGGERED_AT_HEADER),
    )


def _read_metadata(root: JsonObject, hints: Mapping[str, str]) -> Delivery:
    body = as_object(root["response"], "response")
    key = next(key for key in METADATA_TOPIC_KEYS if key in root)
    topic = _topic(root[key], key, hints)
    return Delivery(topic=topic, body=body, shop_domain=None, layout="metadata")


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    raw = as_object(value, "headers")
    headers: dict[str, str] = {}
    for name, header in raw.items():
        if not isinstance(header, str):
            msg = f"headers.{name} must be a string"
            raise PayloadError(msg)
        # HTTP header names are case-insensitive.
        headers[name.lower()] = header.strip()
    return headers


def _topic(value: Any, field: str, hints: Mapping[str, str]) -> str:
    hinted = _hint_topic(hints)
    if value is None:
        if hinted is None:
            msg = f"{field} is missing and no 'topic' hint was given"
            raise PayloadError(msg)
        return hinted
    if not isinstance(value, str) or not value.strip():
        msg = f"{field} must be a non-empty string such as orders/create"
        raise PayloadError(msg)
    topic = normalize_topic(value)
    if hinted is not None and hinted != topic:
        logger.warning(
            "delivery names topic %s but the topic hint is %s; using %s",
            topic,
            hinted,
            topic,
        )
    return topic


def _hint_topic(hints: Mapping[str, str]) -> str | None:
    value = _hint_value(hints, "topic")
    return None if value is None else normalize_topic(value)


def _hint_value(hints: Mapping[str, str], name: str) -> str | None:
    value = hints.get(name, "").strip()
    return value or None


def _body_domain(body: JsonObject) -> str | None:
    # Shop payloads carry the shop's own domains; order payloads carry none.
    for key in ("myshopify_domain", "domain"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
