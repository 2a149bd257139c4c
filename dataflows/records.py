"""Records that move between the dataflow's steps, and the decode step."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NamedTuple

from invsync.avro import DecodeError, decode
from invsync.events import INPUT_EVENT_TYPES, CanonicalEvent, DeadLetter
from invsync.logs import dead_letter_fields
from sources.base import stable_id

logger = logging.getLogger(__name__)


class RawRecord(NamedTuple):
    """An encoded input record and its origin (topic/partition/offset, or file).

    A named tuple, because one is built per consumed message and a frozen
    dataclass takes several times as long to build.
    """

    value: bytes
    origin: str
    key: bytes | None = None


def decode_record(record: RawRecord) -> CanonicalEvent | DeadLetter:
    """Decode one input record, or turn it into a dead letter with the reason."""
    try:
        event = decode(record.value)
    except DecodeError as exc:
        return _dead_letter(record, exc.error_class, str(exc))
    if not isinstance(event, INPUT_EVENT_TYPES):
        msg = f"{type(event).__name__} is an output record, not an input event"
        return _dead_letter(record, "unexpected_type", msg)
    return event


def _dead_letter(record: RawRecord, error_class: str, message: str) -> DeadLetter:
    letter = DeadLetter(
        dead_letter_id=stable_id("decode", record.origin, error_class),
        error_class=error_class,
        message=message,
        source_format="avro",
        original=record.value,
        origin=record.origin,
        failed_at=datetime.now(UTC),
    )
    logger.warning(
        "dead letter %s at %s: %s",
        error_class,
        record.origin,
        message,
        extra=dead_letter_fields(letter),
    )
    return letter
