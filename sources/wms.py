"""WMS adapter: JSON lines, one canonical event per line.

Each line is a JSON object whose ``type`` names an input record of
``invsync.events`` (``InventoryMovement``, ``InventorySnapshot``, ...). Its other
members are that record's fields, which ``docs/wms.md`` lists. A bad line
becomes a dead letter holding that line's bytes, and the other lines still go
through.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from invsync.catalog import Catalog, MappingError, check_quantity_limit
from invsync.config import WMS_SOURCE
from invsync.events import (
    INPUT_EVENT_TYPES,
    CanonicalEvent,
    InventoryMovement,
    InventorySnapshot,
    Source,
)
from invsync.logs import origin_fields
from sources.base import AdapterInput, AdapterOutput, dead_letter

logger = logging.getLogger(__name__)

SOURCE_FORMAT = "wms-jsonl"
RECORD_TYPES: dict[str, type[CanonicalEvent]] = {
    model.__name__: model for model in INPUT_EVENT_TYPES
}
# Records that set on hand, so only a warehouse's on-hand source may send them.
ON_HAND_TYPES = (InventoryMovement, InventorySnapshot)
_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {list: "array", str: "string", bool: "boolean", type(None): "null"}
_MIN_LONG = -(2**63)
_MAX_LONG = 2**63 - 1
# Pydantic errors listed in one dead-letter message.
_MAX_ERRORS = 5
# Members of input records, at any depth, that carry base-unit quantities.
QUANTITY_FIELDS = frozenset(
    {
        "quantity",
        "ordered_quantity",
        "cancelled_quantity",
        "shipped_quantity",
        "available",
    }
)


class _LineError(ValueError):
    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def parse(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
    """Parse WMS JSON lines into canonical events, one dead letter per bad line.

    Blank lines are skipped. A dead letter's origin is ``<origin>:<line number>``.
    """
    output = AdapterOutput()
    data = item.data.removeprefix(_BOM)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.removesuffix(b"\r")
        if not line.strip():
            continue
        line_item = replace(item, data=line, origin=f"{item.origin}:{number}")
        try:
            output.events.append(_parse_line(line_item, catalog))
        except _LineError as exc:
            logger.warning(
                "dead letter %s for %s: %s",
                exc.error_class,
                line_item.origin,
                exc,
                extra={
                    **origin_fields(line_item.origin),
                    "error_class": exc.error_class,
                },
            )
            output.dead_letters.append(
                dead_letter(
                    line_item,
                    error_class=exc.error_class,
                    message=str(exc),
                    source_format=SOURCE_FORMAT,
                )
            )
    logger.info(
        "%s: %d events, %d dead letters",
        item.origin,
        len(output.events),
        len(output.dead_letters),
        extra=origin_fields(item.origin),
    )
    return output


def _parse_line(item: AdapterInput, catalog: Catalog) -> CanonicalEvent:
    record = _decode(item.data)

    type_name = record.pop("type", None)
    if type_name is None:
        msg = f"the record has no type; expected one of {', '.join(RECORD_TYPES)}"
        raise _LineError("unknown_type", msg)
    model = RECORD_TYPES.get(type_name) if isinstance(type_name, str) else None
    if model is None:
        msg = f"unknown type {type_name!r}; expected one of {', '.join(RECORD_TYPES)}"
        raise _LineError("unknown_type", msg)

    unknown = sorted(set(record) - set(model.model_fields))
    if unknown:
        msg = f"unknown field {', '.join(unknown)} for {type_name}"
        raise _LineError("invalid_record", msg)
    _check_quantities(record, type_name, record.get("sku"))
    _check_integers(record, type_name)
    if record.get("ingest_time") is None:
        record["ingest_time"] = item.ingest_time.isoformat()
    if record.get("source") is None:
        record["source"] = Source.WMS.value

    try:
        # Strict JSON validation: "5" is no quantity and 5.0 no count.
        event = model.model_validate_json(json.dumps(record), strict=True)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or type_name}: "
            f"{error['msg']}"
            for error in exc.errors()[:_MAX_ERRORS]
        ]
        msg = f"invalid {type_name}: {'; '.join(problems)}"
        raise _LineError("invalid_record", msg) from exc

    _check_movement_quantity(event)
    _check_warehouse(event, catalog)
    return event


def _decode(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        msg = f"the line is not UTF-8: byte {exc.start} is invalid"
        raise _LineError("invalid_json", msg) from exc
    except ValueError as exc:
        msg = f"the line is not valid JSON: {exc}"
        raise _LineError("invalid_json", msg) from exc
    except RecursionError as exc:
        msg = "the line nests arrays or objects too deeply to decode"
        raise _LineError("invalid_json", msg) from exc
    if not isinstance(record, dict):
        kind = _JSON_TYPES.get(type(record), "number")
        msg = f"the line must be a JSON object, got a JSON {kind}"
        raise _LineError("invalid_record", msg)
    return record


def _check_integers(value: Any, path: str) -> None:
    """Reject integers that an Avro long (64-bit signed) cannot hold."""
    if isinstance(value, dict):
        for key, member in value.items():
            _check_integers(member, f"{path}.{key}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            _check_integers(element, f"{path}[{index}]")
    elif isinstance(value, int) and not _MIN_LONG <= value <= _MAX_LONG:
        msg = f"{path} is {value}, outside the 64-bit range of an Avro long"
        raise _LineError("invalid_record", msg)


def _check_quantities(value: Any, path: str, sku: Any) -> None:
    """Reject quantities beyond MAX_QUANTITY base units as ``invalid_quantity``.

    It runs before the Avro long check, so every oversized quantity gets this
    class, whether or not it fits 64 bits.
    """
    if isinstance(value, dict):
        for key, member in value.items():
            member_path = f"{path}.{key}"
            if key in QUANTITY_FIELDS and _is_integer(member):
                described = f"{member_path} of {sku}" if sku else member_path
                try:
                    check_quantity_limit(member, described)
                except MappingError as exc:
                    raise _LineError(exc.error_class, str(exc)) from exc
            else:
                _check_quantities(member, member_path, sku)
    elif isinstance(value, list):
        for index, element in enumerate(value):
            _check_quantities(element, f"{path}[{index}]", sku)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_movement_quantity(event: CanonicalEvent) -> None:
    """Reject a movement of 0 units, whatever its type.

    InventoryMovement itself rejects 0 only for ADJUSTMENT. The rule for the
    other types stays here, not in the model: the X12 adapter maps a 945 line
    of 0 units shipped to a SHIP of 0. A model validation error there would
    dead-letter the whole transaction set.
    """
    if not isinstance(event, InventoryMovement) or event.quantity != 0:
        return
    msg = (
        f"invalid InventoryMovement: {event.movement_type.value} quantity of "
        f"{event.sku} must be positive, got 0"
    )
    raise _LineError("invalid_record", msg)


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _check_warehouse(event: CanonicalEvent, catalog: Catalog) -> None:
    warehouse: str | None = getattr(event, "warehouse", None)
    if warehouse is None:
        return
    if warehouse not in catalog.config.warehouses:
        msg = (
            f"warehouse {warehouse!r} is not configured; use an internal code "
            f"from the warehouses section ({', '.join(catalog.config.warehouses)})"
        )
        raise _LineError("unmapped_party", msg)
    if isinstance(event, ON_HAND_TYPES) and not catalog.is_on_hand_source(
        warehouse, WMS_SOURCE
    ):
        source = catalog.config.warehouses[warehouse].on_hand_source
        msg = (
            f"{type(event).__name__} {event.event_id} is for warehouse {warehouse}, "
            f"whose on-hand source is partner {source}, not the WMS; send its "
            "stock through that partner's documents"
        )
        raise _LineError("not_on_hand_source", msg)
