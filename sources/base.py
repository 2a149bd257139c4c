"""The contract every adapter follows: bytes in, canonical events and dead letters out.

An adapter never raises on bad input. What it cannot parse or map becomes a
:class:`~invsync.events.DeadLetter` holding the original bytes, so
``invsync redrive`` can feed them through the adapter again after a fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from invsync.catalog import Catalog
from invsync.events import CanonicalEvent, DeadLetter


@dataclass
class AdapterOutput:
    """Events and dead letters produced from one input."""

    events: list[CanonicalEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def extend(self, other: AdapterOutput) -> None:
        """Append another output's events and dead letters."""
        self.events.extend(other.events)
        self.dead_letters.extend(other.dead_letters)


@dataclass(frozen=True)
class AdapterInput:
    """One unit of input: a file's bytes or a re-driven dead letter's original."""

    data: bytes
    origin: str
    hints: dict[str, str] = field(default_factory=dict)
    ingest_time: datetime = field(default_factory=lambda: datetime.now(UTC))


Adapter = Callable[[AdapterInput, Catalog], AdapterOutput]


def stable_id(*parts: object) -> str:
    """Return a short deterministic id (hex SHA-256 prefix) of the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return digest[:24]


def dead_letter(
    item: AdapterInput,
    *,
    error_class: str,
    message: str,
    source_format: str,
    original: bytes | None = None,
    partner: str | None = None,
    event_id: str | None = None,
    sku: str | None = None,
) -> DeadLetter:
    """Build a dead letter for input that failed, with a deterministic id."""
    payload = item.data if original is None else original
    return DeadLetter(
        dead_letter_id=stable_id(
            source_format, error_class, hashlib.sha256(payload).hexdigest(), event_id
        ),
        error_class=error_class,
        message=message,
        source_format=source_format,
        partner=partner,
        original=payload,
        origin=item.origin,
        event_id=event_id,
        sku=sku,
        hints=dict(item.hints),
        failed_at=item.ingest_time,
    )
