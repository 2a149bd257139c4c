"""Avro schemas of the canonical events and the single-object wire encoding.

Every Kafka value that invsync writes is Avro single-object encoded, as the
Avro 1.12 specification defines it: the two marker bytes ``C3 01``, the 8-byte
little-endian CRC-64-AVRO fingerprint of the writer schema's parsing canonical
form, then the Avro binary body. A reader needs nothing but the schemas in
``schemas/avro/`` to decode it.

Schema evolution: ``schemas/avro/history/<Name>.<fingerprint>.avsc`` keeps every
earlier version of each schema (the fingerprint is the 16 hex digits of its
CRC-64-AVRO fingerprint). Records written with any of them, or with a writer
schema added at run time by ``register_writer_schema``, are read with Avro schema
resolution into the current schema. A record whose writer schema cannot be
resolved into the current one raises ``DecodeError("incompatible_schema")``.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import BaseModel, ValidationError
from pydantic_avro import AvroBase

from invsync.events import INPUT_EVENT_TYPES, NAMESPACE, OUTPUT_RECORD_TYPES

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "avro"
HISTORY_DIR = SCHEMA_DIR / "history"
MAGIC = b"\xc3\x01"
HEADER_SIZE = 10

ModelT = TypeVar("ModelT", bound=AvroBase)


class DecodeError(ValueError):
    """Raised when bytes are not a valid single-object encoded invsync record.

    ``error_class`` is the dead-letter class: ``not_avro``, ``unknown_schema``,
    ``incompatible_schema`` or ``invalid_record``.
    """

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def avro_schema(model: type[AvroBase]) -> dict[str, Any]:
    """Generate the Avro schema of a model, with its docstring as the record doc."""
    schema: dict[str, Any] = model.avro_schema(namespace=NAMESPACE)
    doc = " ".join((model.__doc__ or "").split())
    if doc:
        schema = {
            "type": "record",
            "name": schema["name"],
            "namespace": NAMESPACE,
            "doc": doc,
            "fields": schema["fields"],
        }
    return schema


def schema_path(model: type[AvroBase]) -> Path:
    """Return the committed ``.avsc`` file of a model."""
    return SCHEMA_DIR / f"{model.__name__}.avsc"


def render_schema(model: type[AvroBase]) -> str:
    """Render a model's Avro schema as the text committed in ``schemas/avro/``."""
    return json.dumps(avro_schema(model), indent=2) + "\n"


def history_path(name: str, schema_fingerprint_hex: str) -> Path:
    """Return the history file of one earlier version of a record schema."""
    return HISTORY_DIR / f"{name}.{schema_fingerprint_hex}.avsc"


def fingerprint_of(schema: dict[str, Any]) -> bytes:
    """Return the 8-byte CRC-64-AVRO fingerprint of a schema's canonical form."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def archive_schema(old_text: str, new_text: str) -> Path | None:
    """Keep the version of a schema that a new version replaces in the history.

    Called before a committed ``.avsc`` file is overwritten, so records written
    with the old version keep decoding. Returns the history file, or None when
    both versions have the same canonical form (only docs changed).
    """
    old = json.loads(old_text)
    old_fingerprint = fingerprint_of(old)
    if old_fingerprint == fingerprint_of(json.loads(new_text)):
        return None
    path = history_path(old["name"], old_fingerprint.hex())
    if not path.exists():
        HISTORY_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(old_text)
        logger.info("archived schema version %s", path.name)
    return path


@dataclass(frozen=True)
class _Registered:
    model: type[AvroBase]
    parsed: Any
    fingerprint: bytes
    # The current schema of the model when ``parsed`` is an older or newer
    # writer schema, so that reads go through Avro schema resolution.
    reader: Any = None
    # Whether no field contains a model. A flat record's own field dict is
    # what ``model_dump(mode="python")`` returns, so fastavro writes it as is.
    flat: bool = False


ALL_RECORD_TYPES: tuple[type[AvroBase], ...] = INPUT_EVENT_TYPES + OUTPUT_RECORD_TYPES


@cache
def _by_model() -> dict[type[AvroBase], _Registered]:
    registry: dict[type[AvroBase], _Registered] = {}
    for model in ALL_RECORD_TYPES:
        schema = json.loads(schema_path(model).read_text())
        parsed = parse_schema(schema)
        canonical = to_parsing_canonical_form(schema)
        raw = fingerprint(canonical, "CRC-64-AVRO")
        registry[model] = _Registered(
            model, parsed, bytes.fromhex(raw), flat=_is_flat(model)
        )
    return registry


def _is_flat(model: type[AvroBase]) -> bool:
    def contains_model(annotation: Any) -> bool:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return True
        return any(contains_model(arg) for arg in typing.get_args(annotation))

    return not any(
        contains_model(field.annotation) for field in model.model_fields.values()
    )


@cache
def _by_fingerprint() -> dict[bytes, _Registered]:
    registry = {entry.fingerprint: entry for entry in _by_model().values()}
    for path in sorted(HISTORY_DIR.glob("*.avsc")):
        entry = _writer_entry(json.loads(path.read_text()))
        registry.setdefault(entry.fingerprint, entry)
    return registry


def _writer_entry(schema: dict[str, Any]) -> _Registered:
    by_name = {model.__name__: model for model in ALL_RECORD_TYPES}
    model = by_name.get(schema.get("name", ""))
    if model is None:
        msg = f"writer schema {schema.get('name')!r} names no invsync record type"
        raise ValueError(msg)
    current = _by_model()[model]
    return _Registered(
        model=model,
        parsed=parse_schema(schema),
        fingerprint=fingerprint_of(schema),
        reader=current.parsed,
    )


def register_writer_schema(schema: dict[str, Any]) -> bytes:
    """Accept records written with another version of a record schema.

    The schema must name an invsync record type. Returns its fingerprint.
    Whether it resolves into the current schema is checked per record.
    """
    entry = _writer_entry(schema)
    _by_fingerprint().setdefault(entry.fingerprint, entry)
    return entry.fingerprint


def writer_fingerprints(model: type[AvroBase]) -> list[bytes]:
    """Return the fingerprints of every writer schema accepted for a model."""
    return [key for key, entry in _by_fingerprint().items() if entry.model is model]


def schema_fingerprint(model: type[AvroBase]) -> bytes:
    """Return the 8-byte CRC-64-AVRO fingerprint of a model's committed schema."""
    return _by_model()[model].fingerprint


def encode(record: AvroBase) -> bytes:
    """Encode a record with Avro single-object encoding."""
    entry = _by_model()[type(record)]
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(entry.fingerprint)
    data = record.__dict__ if entry.flat else record.model_dump(mode="python")
    schemaless_writer(buffer, entry.parsed, data)
    return buffer.getvalue()


def decode_header(data: bytes) -> type[AvroBase]:
    """Return the record type named by a single-object header, or raise DecodeError."""
    return _writer_of(data).model


def _writer_of(data: bytes) -> _Registered:
    """Return the writer schema named by a single-object header."""
    if len(data) < HEADER_SIZE or data[:2] != MAGIC:
        msg = "value is not Avro single-object encoded (missing C3 01 marker)"
        raise DecodeError("not_avro", msg)
    entry = _by_fingerprint().get(data[2:HEADER_SIZE])
    if entry is None:
        (value,) = struct.unpack("<Q", data[2:HEADER_SIZE])
        msg = f"unknown writer schema fingerprint {value:016x}"
        raise DecodeError("unknown_schema", msg)
    return entry


def decode(data: bytes) -> AvroBase:
    """Decode and validate a single-object encoded record of any invsync type."""
    entry = _writer_of(data)
    body = io.BytesIO(data)
    body.seek(HEADER_SIZE)
    model = entry.model
    try:
        raw = schemaless_reader(body, entry.parsed, entry.reader)
    except SchemaResolutionError as exc:
        msg = (
            f"{model.__name__} writer schema {entry.fingerprint.hex()} cannot be "
            f"read as the current schema: {exc}"
        )
        raise DecodeError("incompatible_schema", msg) from exc
    except Exception as exc:  # fastavro raises several types on truncated bodies
        msg = f"{model.__name__} body does not match its schema: {exc}"
        raise DecodeError("not_avro", msg) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        msg = (
            f"invalid {model.__name__}: {exc.errors()[0]['msg']} "
            f"at {'.'.join(str(p) for p in exc.errors()[0]['loc'])}"
        )
        raise DecodeError("invalid_record", msg) from exc


def decode_as(data: bytes, model: type[ModelT]) -> ModelT:
    """Decode a record and check that it has the expected type."""
    record = decode(data)
    if not isinstance(record, model):
        msg = f"expected {model.__name__}, got {type(record).__name__}"
        raise DecodeError("unexpected_type", msg)
    return record
