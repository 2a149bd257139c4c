"""Context of one transaction set for its mapper: partner, ids, dates, items.

A :class:`SetContext` is built for each ST..SE set after the envelope and the
partner are known. The mappers in ``orders``, ``shipments`` and ``inventory``
call it instead of the catalog directly, so every set derives event ids, event
times and item lookups the same way.

Event ids are ``stable_id("x12", sender, set code, content hash,
*discriminators)``. The content hash is the SHA-256 of the set's segments
between ST and SE in a separator-free form. A resent interchange with the same
content therefore repeats its event ids whether its control numbers are the old
ones or fresh ones, while a reused control number with new content does not.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from invsync.catalog import Catalog, MappingError
from invsync.config import PartnerRole
from invsync.events import CanonicalEvent, Source
from sources.base import AdapterInput, stable_id
from sources.x12.dates import parse_datetime
from sources.x12.envelope import FunctionalGroup, Interchange, TransactionSet
from sources.x12.tokenizer import Segment

logger = logging.getLogger(__name__)

# Qualifier under which a U.P.C. case code element (W01-03, W04-03, W07-03,
# W12-06, W19-04) is looked up: UA is the U.P.C./EAN case code (2-5-5) in X12
# element 235. The explicit qualifier-id pairs of the segment are tried first.
CASE_CODE_QUALIFIER = "UA"


class ItemError(MappingError):
    """A MappingError about one known SKU, so the dead letter can name it."""

    def __init__(self, error_class: str, message: str, sku: str) -> None:
        super().__init__(error_class, message)
        self.sku = sku


@dataclass
class LineProblem:
    """A mapping failure of one line, kept so a set reports all of them at once."""

    label: str
    error: MappingError


@dataclass
class SetContext:
    """Partner, envelope and lookups for mapping one transaction set."""

    item: AdapterInput
    catalog: Catalog
    interchange: Interchange
    group: FunctionalGroup
    tx: TransactionSet
    partner: str
    role: PartnerRole
    problems: list[LineProblem] = field(default_factory=list)

    @cached_property
    def zone(self) -> tzinfo:
        """The partner's configured timezone, for dates without a zone."""
        return ZoneInfo(self.catalog.config.partners[self.partner].timezone)

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the segments between ST and SE, free of separators.

        ST and SE carry only the set's control number and segment count, so a
        resend with fresh control numbers hashes the same.
        """
        body = [s for s in self.tx.segments if s.tag not in ("ST", "SE")]
        text = "\n".join(segment.normalized() for segment in body)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def label(self) -> str:
        """The set as named in messages, for example ``850 set ST02 0001``."""
        return f"{self.tx.code} set ST02 {self.tx.control_number}"

    def where(self, segment: Segment) -> str:
        """Name a segment by its position in the set, counting ST as 1."""
        position = segment.position - self.tx.st.position + 1
        return f"{segment.tag} (segment {position} of the set)"

    def event_id(self, *discriminators: object) -> str:
        """Return the deterministic event id of one event of this set."""
        sender = ":".join(self.interchange.sender)
        return stable_id(
            "x12", sender, self.tx.code, self.content_hash, *discriminators
        )

    def header(self, event_time: datetime, *discriminators: object) -> dict[str, Any]:
        """Return the fields every canonical event of this set shares."""
        return {
            "event_id": self.event_id(*discriminators),
            "source": Source.X12,
            "partner": self.partner,
            "event_time": event_time,
            "ingest_time": self.item.ingest_time,
        }

    @contextmanager
    def line(self, label: str) -> Iterator[None]:
        """Record a MappingError raised inside the block as a problem of one line."""
        try:
            yield
        except MappingError as exc:
            self.problems.append(LineProblem(label=label, error=exc))

    def transmission_time(self) -> datetime:
        """Return GS04/GS05, the time the partner sent the group."""
        gs = self.group.gs
        return parse_datetime(
            gs.element(4), gs.element(5), zone=self.zone, label="GS04/GS05"
        )

    def date(
        self,
        date: str,
        time: str = "",
        *,
        label: str,
        time_code: str = "",
        century: str = "",
    ) -> datetime:
        """Parse a date of this set in the partner's timezone."""
        return parse_datetime(
            date,
            time,
            zone=self.zone,
            label=label,
            time_code=time_code,
            century=century,
        )

    def dtm(self, segment: Segment) -> datetime:
        """Parse a DTM segment: DTM02 date, DTM03 time, DTM04 code, DTM05 century."""
        return self.date(
            segment.element(2),
            segment.element(3),
            label=f"DTM*{segment.element(1)}",
            time_code=segment.element(4),
            century=segment.element(5),
        )

    def g62(self, segment: Segment) -> datetime:
        """Parse a G62 segment: G6202 date, G6204 time, G6205 time code."""
        return self.date(
            segment.element(2),
            segment.element(4),
            label=f"G62*{segment.element(1)}",
            time_code=segment.element(5),
        )

    def header_g62(self, qualifier: str, detail_tag: str) -> datetime | None:
        """Parse the first G62 with the qualifier before the detail lines, if any."""
        for segment in self.tx.body:
            if segment.tag in ("LX", detail_tag):
                break
            if segment.tag == "G62" and segment.element(1) == qualifier:
                return self.g62(segment)
        return None

    def require_item(self, pairs: list[tuple[str, str]]) -> str:
        """Return the SKU of the first mapped (qualifier, id) pair, or raise."""
        return self.catalog.require_item(pairs)

    def quantity(self, sku: str, amount: str, uom: str, *, label: str) -> int:
        """Convert a quantity to base units, rejecting empty or negative values."""
        text = amount.strip()
        if not text:
            msg = f"{label} is empty for {sku}"
            raise ItemError("invalid_quantity", msg, sku)
        try:
            base = self.catalog.to_base_units(sku, text, uom)
        except MappingError as exc:
            raise ItemError(exc.error_class, f"{label}: {exc}", sku) from exc
        if base < 0:
            msg = f"{label} {text} {uom} of {sku} is negative"
            raise ItemError("invalid_quantity", msg, sku)
        return base

    def signed_quantity(self, sku: str, amount: str, uom: str, *, label: str) -> int:
        """Convert a quantity that may carry a sign to signed base units."""
        text = amount.strip()
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            msg = f"{label} {text!r} of {sku} is not a number"
            raise ItemError("invalid_quantity", msg, sku) from exc
        magnitude = self.quantity(sku, str(abs(value)), uom, label=label)
        return -magnitude if value < 0 else magnitude

    def party_warehouse(self, codes: tuple[str, ...]) -> str | None:
        """Return the warehouse named by the first N1 party with one of the codes."""
        for segment in self.tx.body:
            if segment.tag != "N1" or segment.element(1) not in codes:
                continue
            qualifier, value = segment.element(3), segment.element(4)
            if not value:
                continue
            warehouse = self.catalog.resolve_warehouse([(qualifier, value)])
            if warehouse is not None:
                return warehouse
        return None

    def third_party_warehouse(self) -> str:
        """Return the warehouse of a 3PL document.

        That is the N1*WH party when it maps to a warehouse, else the only
        warehouse the 3PL runs. Raises MappingError ``unmapped_party`` otherwise.
        """
        named = self.party_warehouse(("WH",))
        if named is not None:
            return named

        run = self.catalog.warehouses_of_3pl(self.partner)
        if len(run) == 1:
            return run[0]

        parties = [
            f"{segment.element(3)}:{segment.element(4)}"
            for segment in self.tx.body
            if segment.tag == "N1" and segment.element(1) == "WH"
        ]
        named_text = ", ".join(parties) if parties else "no N1*WH party"
        runs_text = ", ".join(run) if run else "no warehouse"
        msg = (
            f"{self.label} names {named_text} that maps to a warehouse, and partner "
            f"{self.partner} runs {runs_text}. Add the N1*WH id under "
            "warehouses.*.locations in the config"
        )
        raise MappingError("unmapped_party", msg)

    def require_on_hand_source(self, warehouse: str) -> None:
        """Raise MappingError ``not_on_hand_source`` unless the partner sets on hand."""
        if self.catalog.is_on_hand_source(warehouse, self.partner):
            return
        config = self.catalog.config.warehouses.get(warehouse)
        source = config.on_hand_source if config is not None else "nobody"
        msg = (
            f"{self.label} reports stock of warehouse {warehouse}, whose on-hand "
            f"source is {source}, not partner {self.partner}"
        )
        raise MappingError("not_on_hand_source", msg)


def item_pairs(
    segment: Segment, pair_starts: tuple[int, ...], case_code: int | None = None
) -> list[tuple[str, str]]:
    """Collect the (qualifier, id) pairs of a segment, then its U.P.C. case code.

    ``pair_starts`` are the 1-based positions of the qualifiers (4 for W0104
    and W0105). Pairs with an empty id are skipped.
    """
    pairs: list[tuple[str, str]] = []
    for start in pair_starts:
        qualifier, value = segment.element(start), segment.element(start + 1)
        if value:
            pairs.append((qualifier, value))
    if case_code is not None and segment.element(case_code):
        pairs.append((CASE_CODE_QUALIFIER, segment.element(case_code)))
    return pairs


def first_segment(segments: tuple[Segment, ...], tag: str) -> Segment | None:
    """Return the first segment with the tag, or None."""
    for segment in segments:
        if segment.tag == tag:
            return segment
    return None


def require_segment(ctx: SetContext, tag: str) -> Segment:
    """Return the first segment with the tag, or raise ``invalid_document``."""
    segment = first_segment(ctx.tx.body, tag)
    if segment is None:
        msg = f"{ctx.label} has no {tag} segment"
        raise MappingError("invalid_document", msg)
    return segment


@dataclass(frozen=True)
class Line:
    """One detail line of a warehouse set: its item segment and the refs around it."""

    segment: Segment
    index: int
    assigned: str
    references: dict[str, str]

    def line_id(self) -> str:
        """Return N9*LI of the line, else its LX number, else its 1-based index."""
        return self.references.get("LI") or self.assigned or str(self.index)


def detail_lines(body: tuple[Segment, ...], tag: str) -> list[Line]:
    """Group the detail segments ``tag`` with the LX before and the N9s after them."""
    lines: list[Line] = []
    assigned = ""
    for segment in body:
        if segment.tag == "LX":
            assigned = segment.element(1)
        elif segment.tag == tag:
            lines.append(
                Line(
                    segment=segment,
                    index=len(lines) + 1,
                    assigned=assigned,
                    references={},
                )
            )
        elif segment.tag == "N9" and lines:
            lines[-1].references.setdefault(segment.element(1), segment.element(2))
    return lines


def map_lines(
    ctx: SetContext, tag: str, build: Callable[[Line], CanonicalEvent | None]
) -> list[CanonicalEvent]:
    """Build the event of each detail line ``tag`` of the set.

    A MappingError of one line is recorded as that line's problem, and the
    other lines are still built. ``build`` returns None for a line without an
    event. Raises MappingError ``invalid_document`` when the set has no line.
    """
    lines = detail_lines(ctx.tx.body, tag)
    if not lines:
        msg = f"{ctx.label} has no {tag} line"
        raise MappingError("invalid_document", msg)

    events: list[CanonicalEvent] = []
    for line in lines:
        with ctx.line(f"{tag} line {line.line_id()}"):
            event = build(line)
            if event is not None:
                events.append(event)
    return events
