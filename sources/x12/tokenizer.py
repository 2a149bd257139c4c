"""Split X12 bytes into interchanges and segments, reading the separators from each ISA.

An X12 interchange declares its own delimiters. The element separator is the
byte after ``ISA`` and the component separator is ISA16. The segment
terminator is what follows ISA16 up to the ``GS`` of the first group. That is
one byte (``~``), several bytes (``…`` is three bytes in UTF-8), or only a
line break. Line breaks and indentation after a terminator are white space
between segments. ISA11 is a repetition separator only from version 00402 on,
and a ``U`` or a blank there is not one.

This reader accepts the following quirks of real partner files:

- a UTF-8 byte-order mark, and white space before and between segments;
- several interchanges in one file, and no final newline;
- ISA fields without their fixed-width padding, or an ISA broken across lines;
- hard-wrapped files, with a line break after every fixed number of bytes
  (often 80) even inside a segment, and the last line padded with spaces.

The tokenizer never raises on bad input: each problem is recorded on the
:class:`RawInterchange` it belongs to, and the envelope check rejects it.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"
WHITESPACE = b" \t\r\n"

# Mainframe-style exports cut the byte stream into fixed-length records (80
# columns is common). Shorter uniform lines are not taken for wrapping.
MIN_WRAP_WIDTH = 40

ISA_ELEMENT_COUNT = 16
# A fixed-width ISA is 106 bytes, and this leaves room for line breaks in it.
MAX_ISA_LENGTH = 256
# ISA12 versions from this one on define ISA11 as the repetition separator.
REPETITION_SEPARATOR_VERSION = "00402"

_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")


@dataclass(frozen=True)
class Separators:
    """Delimiters of one interchange, as bytes."""

    element: bytes
    component: bytes
    segment: bytes
    repetition: bytes | None = None

    @property
    def segment_is_line_break(self) -> bool:
        """Tell whether segments end with a line break only."""
        return self.segment in (b"\n", b"\r")


@dataclass(frozen=True)
class Segment:
    """One segment: the tag and its elements, white space around values removed."""

    elements: tuple[str, ...]
    position: int
    component_separator: str = ">"

    @property
    def tag(self) -> str:
        """Segment id, for example ``ISA`` or ``PO1``."""
        return self.elements[0]

    def element(self, index: int) -> str:
        """Return element ``index`` (1-based, as in PO102), or "" when absent."""
        if 0 < index < len(self.elements):
            return self.elements[index]
        return ""

    def component(self, index: int, part: int = 1) -> str:
        """Return component ``part`` (1-based) of composite element ``index``."""
        parts = self.element(index).split(self.component_separator)
        if 0 < part <= len(parts):
            return parts[part - 1].strip()
        return ""

    def normalized(self) -> str:
        """Return the segment as text with ``*`` between elements, separators aside."""
        return "*".join(self.elements)


@dataclass(frozen=True)
class RawInterchange:
    """The segments of one interchange and the bytes they came from.

    ``original`` contains the input bytes from the start of ISA to the end of IEA
    (or to where the interchange breaks off), so a dead letter can carry them
    unchanged. ``problems`` lists what makes the interchange unusable.
    """

    original: bytes
    segments: tuple[Segment, ...]
    separators: Separators | None
    problems: tuple[str, ...] = ()


@dataclass
class _Buffer:
    """Input bytes with optional hard-wrap line breaks removed, and the way back."""

    data: bytes
    raw: bytes
    start: int
    # Positions in ``data`` before which a line break was removed, and the
    # running total of removed bytes up to and including each of them.
    removed_at: list[int] = field(default_factory=list)
    removed_total: list[int] = field(default_factory=list)

    def raw_start(self, index: int) -> int:
        """Map a start offset in ``data`` to the offset in the raw input."""
        count = bisect.bisect_right(self.removed_at, index)
        shift = self.removed_total[count - 1] if count else 0
        return self.start + index + shift

    def raw_end(self, index: int) -> int:
        """Map an end offset (exclusive) in ``data`` to the raw input."""
        if index <= 0:
            return self.start
        return self.raw_start(index - 1) + 1

    def raw_slice(self, start: int, end: int) -> bytes:
        """Return the raw input bytes of ``data[start:end]``."""
        return self.raw[self.raw_start(start) : self.raw_end(end)]


class _IsaError(ValueError):
    """The ISA header at a position cannot be read."""


@dataclass(frozen=True)
class _Isa:
    segment: Segment
    separators: Separators
    end: int


def split_interchanges(data: bytes) -> list[RawInterchange]:
    """Split input bytes into interchanges, each with its segments and problems.

    Bytes that are not part of any interchange (text before the first ISA or
    between an IEA and the next ISA) come back as a RawInterchange without
    segments whose problem describes them.
    """
    buffer = _prepare(data)
    found: list[RawInterchange] = []
    pos = _skip_whitespace(buffer.data, 0)

    while pos < len(buffer.data):
        if not _is_isa_at(buffer.data, pos):
            next_isa = _find_isa(buffer.data, pos + 1)
            end = next_isa if next_isa >= 0 else len(buffer.data)
            junk = buffer.data[pos:end].strip(WHITESPACE)
            preview = junk[:40].decode("utf-8", "replace")
            found.append(
                RawInterchange(
                    original=buffer.raw_slice(pos, pos + len(junk)),
                    segments=(),
                    separators=None,
                    problems=(
                        f"found {preview!r} at byte {buffer.raw_start(pos)} where "
                        "an ISA interchange header was expected",
                    ),
                )
            )
            pos = _skip_whitespace(buffer.data, end)
            continue

        interchange, pos = _read_interchange(buffer, pos)
        found.append(interchange)
        pos = _skip_whitespace(buffer.data, pos)

    return found


def _prepare(data: bytes) -> _Buffer:
    """Drop a byte-order mark and undo hard wrapping when the input has it."""
    start = len(BOM) if data.startswith(BOM) else 0
    body = data[start:]
    buffer = _Buffer(data=body, raw=data, start=start)

    unwrapped = _unwrap(body)
    if unwrapped is None:
        return buffer

    candidate = _Buffer(
        data=unwrapped[0],
        raw=data,
        start=start,
        removed_at=unwrapped[1],
        removed_total=unwrapped[2],
    )
    first = _skip_whitespace(candidate.data, 0)
    try:
        isa = _read_isa(candidate.data, first)
    except _IsaError:
        return buffer
    # A file whose segments end with a line break is not hard-wrapped: its line
    # breaks are the terminators and must stay.
    if isa.separators.segment_is_line_break:
        return buffer

    logger.info(
        "input is hard-wrapped at a fixed line length, removed %d line breaks "
        "before tokenizing",
        len(candidate.removed_at),
    )
    return candidate


def _unwrap(body: bytes) -> tuple[bytes, list[int], list[int]] | None:
    """Join the lines of a hard-wrapped file, or return None when it is not one.

    A hard-wrapped file has at least three lines, every line but the first and
    the last has one width of at least MIN_WRAP_WIDTH bytes, and the first and
    last lines are no longer. The first and last lines may be shorter because a
    re-driven interchange can start or end in the middle of a line.
    """
    line_break = b"\r\n" if b"\r\n" in body else b"\n"
    lines = body.split(line_break)
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 3:
        return None

    width = len(lines[1])
    if width < MIN_WRAP_WIDTH:
        return None
    if any(len(line) != width for line in lines[1:-1]):
        return None
    if len(lines[0]) > width or len(lines[-1]) > width:
        return None

    removed_at: list[int] = []
    removed_total: list[int] = []
    offset = 0
    for line in lines[:-1]:
        offset += len(line)
        removed_at.append(offset)
        removed_total.append(len(line_break) * len(removed_at))
    return b"".join(lines), removed_at, removed_total


def _skip_whitespace(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] in WHITESPACE:
        pos += 1
    return pos


def _is_isa_at(data: bytes, pos: int) -> bool:
    if data[pos : pos + 3] != b"ISA" or pos + 3 >= len(data):
        return False
    follower = data[pos + 3 : pos + 4]
    return not follower.isalnum() and follower not in (b" ", b"\t", b"\r", b"\n")


def _find_isa(data: bytes, pos: int) -> int:
    while True:
        pos = data.find(b"ISA", pos)
        if pos < 0:
            return -1
        at_segment_start = pos == 0 or not data[pos - 1 : pos].isalnum()
        if at_segment_start and _is_isa_at(data, pos):
            return pos
        pos += 1


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_isa(data: bytes, pos: int) -> _Isa:
    """Read the ISA at ``pos`` by counting separators, so unpadded fields work."""
    element = data[pos + 3 : pos + 4]
    limit = min(len(data), pos + MAX_ISA_LENGTH)

    bounds: list[int] = []
    cursor = pos + 3
    while len(bounds) < ISA_ELEMENT_COUNT:
        found = data.find(element, cursor, limit)
        if found < 0:
            msg = (
                f"ISA header at byte {pos} has {len(bounds)} of "
                f"{ISA_ELEMENT_COUNT} elements separated by {_show(element)}"
            )
            raise _IsaError(msg)
        bounds.append(found)
        cursor = found + 1

    component_at = bounds[-1] + 1
    component = data[component_at : component_at + 1]
    if not component or component.isalnum() or component in WHITESPACE:
        msg = f"ISA16 component separator {_show(component)} is missing or invalid"
        raise _IsaError(msg)

    # ISA01..ISA15 lie between consecutive separators. A line break inside the
    # header (an ISA broken across lines) is white space around a value.
    raw_values = [data[bounds[i] + 1 : bounds[i + 1]] for i in range(15)]
    values = [_decode(value.strip(WHITESPACE)) for value in raw_values]
    after = component_at + 1
    segment_terminator = _read_terminator(data, after, element, component)

    repetition: bytes | None = None
    isa11 = raw_values[10].strip(WHITESPACE)
    version = values[11]
    if (
        version.isdigit()
        and version >= REPETITION_SEPARATOR_VERSION
        and len(isa11) == 1
        and isa11 != b"U"
        and not isa11.isalnum()
    ):
        repetition = isa11

    separators = Separators(
        element=element,
        component=component,
        segment=segment_terminator,
        repetition=repetition,
    )
    segment = Segment(
        elements=("ISA", *values, _decode(component)),
        position=0,
        component_separator=_decode(component),
    )
    return _Isa(segment=segment, separators=separators, end=after)


def _read_terminator(
    data: bytes, after: int, element: bytes, component: bytes
) -> bytes:
    """Return the segment terminator that follows ISA16.

    It is the run of delimiter bytes (neither letters, digits, white space nor
    the other separators) before the first GS. When ISA16 is followed directly
    by white space, the terminator is the line break.
    """
    next_gs = data.find(b"GS" + element, after)
    next_iea = data.find(b"IEA" + element, after)
    candidates = [found for found in (next_gs, next_iea) if found >= 0]
    if not candidates:
        msg = "no GS or IEA segment follows the ISA header"
        raise _IsaError(msg)

    run = data[after : min(candidates)]
    length = 0
    while length < len(run) and _is_delimiter(
        run[length : length + 1], element, component
    ):
        length += 1
    if length:
        return run[:length]

    leading = run[: len(run) - len(run.lstrip(WHITESPACE))]
    if b"\n" in leading:
        return b"\n"
    if b"\r" in leading:
        return b"\r"
    msg = f"no segment terminator after ISA16 (found {_show(run[:20])})"
    raise _IsaError(msg)


def _is_delimiter(byte: bytes, element: bytes, component: bytes) -> bool:
    if byte.isalnum() or byte in WHITESPACE:
        return False
    return byte not in (element, component)


def _show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "replace"))


def _read_interchange(buffer: _Buffer, start: int) -> tuple[RawInterchange, int]:
    """Read one interchange from the ISA at ``start``, returning it and its end."""
    data = buffer.data
    try:
        isa = _read_isa(data, start)
    except _IsaError as exc:
        next_isa = _find_isa(data, start + 3)
        end = next_isa if next_isa >= 0 else len(data)
        return (
            RawInterchange(
                original=buffer.raw_slice(start, len(data[:end].rstrip(WHITESPACE))),
                segments=(),
                separators=None,
                problems=(str(exc),),
            ),
            end,
        )

    separators = isa.separators
    element = separators.element
    terminator = separators.segment
    segments: list[Segment] = [isa.segment]
    problems: list[str] = []
    cursor = isa.end
    end = len(data.rstrip(WHITESPACE))
    resume = len(data)

    while cursor < len(data):
        found = data.find(terminator, cursor)
        chunk_end = found if found >= 0 else len(data)
        after = found + len(terminator) if found >= 0 else len(data)
        text = data[cursor:chunk_end].strip(WHITESPACE)
        text_start = _skip_whitespace(data, cursor)

        if not text:
            cursor = after
            continue
        if _is_isa_at(text, 0):
            # A new interchange starts before this one's IEA.
            resume = text_start
            end = len(data[:text_start].rstrip(WHITESPACE))
            break

        if b"\r" in text or b"\n" in text:
            tag = _decode(text.split(element, 1)[0][:3])
            problems.append(
                f"segment {tag} at position {len(segments)} "
                f"contains a line break, so it does not end with the ISA "
                f"terminator {_show(terminator)} (mixed segment terminators)"
            )

        values = tuple(_decode(raw).strip() for raw in text.split(element))
        segment = Segment(
            elements=values,
            position=len(segments),
            component_separator=_decode(separators.component),
        )
        if not _TAG.fullmatch(segment.tag):
            problems.append(
                f"segment at position {segment.position} has an invalid tag "
                f"{segment.tag[:10]!r}"
            )
        segments.append(segment)
        cursor = after

        if segment.tag == "IEA":
            end = text_start + len(text)
            if found >= 0 and not separators.segment_is_line_break:
                end = after
            resume = end
            break

    raw = RawInterchange(
        original=buffer.raw_slice(start, end),
        segments=tuple(segments),
        separators=separators,
        problems=tuple(problems),
    )
    return raw, resume
