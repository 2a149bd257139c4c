"""Typed readers for fields of a Shopify webhook body.

Each reader raises :class:`PayloadError` naming the field by its path in the
body (``line_items[2].quantity``), so the dead-letter message names the field
to fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from invsync.catalog import Catalog, MappingError

JsonObject = dict[str, Any]


class PayloadError(MappingError):
    """Raised when a body field is missing or has the wrong type or value."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_payload", message)


def child(path: str, key: str | int) -> str:
    """Return the path of a member or array element below ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def as_object(value: Any, path: str) -> JsonObject:
    """Return ``value`` when it is a JSON object, or raise PayloadError."""
    if not isinstance(value, dict):
        msg = f"{path} must be a JSON object, got {_describe(value)}"
        raise PayloadError(msg)
    return value


def as_array(value: Any, path: str) -> list[Any]:
    """Return ``value`` when it is a JSON array, or raise PayloadError."""
    if not isinstance(value, list):
        msg = f"{path} must be a JSON array, got {_describe(value)}"
        raise PayloadError(msg)
    return value


def require_key(obj: JsonObject, key: str, path: str) -> Any:
    """Return ``obj[key]``, or raise PayloadError when the key is absent or null."""
    value = obj.get(key)
    if value is None:
        state = "null" if key in obj else "missing"
        msg = f"{child(path, key)} is {state}"
        raise PayloadError(msg)
    return value


def require_str(obj: JsonObject, key: str, path: str) -> str:
    """Return a non-empty string field, or raise PayloadError."""
    value = require_key(obj, key, path)
    if not isinstance(value, str) or not value.strip():
        msg = f"{child(path, key)} must be a non-empty string, got {_describe(value)}"
        raise PayloadError(msg)
    return value.strip()


def optional_str(obj: JsonObject, key: str, path: str) -> str | None:
    """Return a string field, or None when it is absent, null or blank."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"{child(path, key)} must be a string or null, got {_describe(value)}"
        raise PayloadError(msg)
    return value.strip() or None


def require_count(obj: JsonObject, key: str, path: str) -> int:
    """Return an integer count field, or raise PayloadError.

    A JSON number with a fraction or exponent is rejected, because a quantity
    written that way is not a count. The magnitude is not checked here:
    :func:`to_base_units` rejects more than MAX_QUANTITY base units.
    """
    value = require_key(obj, key, path)
    return _check_int(value, child(path, key))


def optional_count(obj: JsonObject, key: str, path: str) -> int | None:
    """Return an integer count field, or None when it is absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    return _check_int(value, child(path, key))


def to_base_units(catalog: Catalog, sku: str, count: int, path: str) -> int:
    """Convert a count in EA of ``sku`` to base units, naming the field in errors.

    Raises MappingError ``invalid_quantity`` above MAX_QUANTITY base units in
    magnitude, the limit the X12 and ERP CSV adapters apply. That limit is
    below 2**53, so no count that a float64 parser may have rounded passes.
    """
    try:
        return catalog.to_base_units(sku, count, "EA")
    except MappingError as exc:
        raise MappingError(exc.error_class, f"{path}: {exc}") from exc


def optional_numeric_id(obj: JsonObject, key: str, path: str) -> str | None:
    """Return a numeric Shopify id as a decimal string, or None when absent or null.

    Accepts a JSON integer or a string of digits. A JSON float is rejected
    because its digits past the 53-bit mantissa are already lost.
    """
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    msg = f"{child(path, key)} must be a numeric id, got {_describe(value)}"
    raise PayloadError(msg)


def require_time(obj: JsonObject, key: str, path: str) -> datetime:
    """Return an ISO 8601 timestamp field with a UTC offset, converted to UTC."""
    text = require_str(obj, key, path)
    return _parse_time(text, child(path, key))


def optional_time(obj: JsonObject, key: str, path: str) -> datetime | None:
    """Return a timestamp field in UTC, or None when it is absent or null."""
    text = optional_str(obj, key, path)
    if text is None:
        return None
    return _parse_time(text, child(path, key))


def gid_id(gid: str, resource: str, path: str) -> str:
    """Return the numeric id of a Shopify GID such as ``gid://shopify/Order/42``.

    Raises PayloadError when ``gid`` is not a GID of ``resource`` or its id is
    not a decimal number.
    """
    try:
        parts = urlsplit(gid)
    except ValueError as exc:
        msg = f"{path} must be a gid://shopify/{resource}/<number> GID, got {gid!r}"
        raise PayloadError(msg) from exc
    segments = parts.path.strip("/").split("/")
    if (
        parts.scheme != "gid"
        or parts.netloc != "shopify"
        or len(segments) != 2
        or segments[0] != resource
        or not segments[1].isdigit()
    ):
        msg = f"{path} must be a gid://shopify/{resource}/<number> GID, got {gid!r}"
        raise PayloadError(msg)
    return segments[1]


def gid_query_id(gid: str, resource: str, parameter: str, path: str) -> str:
    """Return a numeric query parameter of a GID, such as an InventoryLevel's item."""
    gid_id(gid, resource, path)
    values = parse_qs(urlsplit(gid).query).get(parameter, [])
    if len(values) != 1 or not values[0].isdigit():
        msg = f"{path} must carry one numeric {parameter} parameter, got {gid!r}"
        raise PayloadError(msg)
    return values[0]


def _check_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{path} must be an integer, got {_describe(value)}"
        raise PayloadError(msg)
    return value


def _parse_time(text: str, path: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"{path} is not an ISO 8601 timestamp: {text!r}"
        raise PayloadError(msg) from exc
    if value.tzinfo is None:
        msg = f"{path} has no UTC offset: {text!r}"
        raise PayloadError(msg)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        msg = f"{path} is out of range in UTC: {text!r}"
        raise PayloadError(msg) from exc


_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = _JSON_TYPES.get(type(value), "number")
    if isinstance(value, dict | list):
        return kind
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}"
