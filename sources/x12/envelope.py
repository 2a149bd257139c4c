"""Build the ISA/GS/ST structure of an interchange and check its control segments.

Policy, applied to every interchange before any of its content is mapped:

============================================  ===================================
Finding                                       Outcome
============================================  ===================================
SE01 differs from the segment count ST..SE    reject the interchange
SE02 differs from ST02                        reject the interchange
GE01 differs from the number of ST sets       reject the interchange
GE02 differs from GS06                        reject the interchange
IEA01 differs from the number of GS groups    reject the interchange
IEA02 differs from ISA13                      reject the interchange
control numbers equal only as numbers         accept, log a warning
(IEA02 ``3438`` for ISA13 ``000003438``)
SE, GE or IEA missing (truncated input)       reject the interchange
mixed segment terminators, invalid tags,      reject the interchange
segments outside a group or set
ISA12 version differs from GS08               accept, log a warning
GS01 functional code does not fit the set     accept, log a warning
============================================  ===================================

A rejected interchange becomes one dead letter of class ``invalid_envelope``
whose message names each failed check with the element, the expected and the
found value. Nothing of it is emitted, so an interchange is never half-applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sources.x12.tokenizer import RawInterchange, Segment, Separators

logger = logging.getLogger(__name__)

# GS01 functional identifier code of each transaction set (X12 element 479).
FUNCTIONAL_CODES = {
    "846": "IB",
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "940": "OW",
    "943": "AR",
    "944": "RE",
    "945": "SW",
    "947": "AW",
}


class EnvelopeError(ValueError):
    """Raised when an interchange fails the envelope policy, listing every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(as_sentence(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class TransactionSet:
    """One ST..SE transaction set."""

    segments: tuple[Segment, ...]

    @property
    def st(self) -> Segment:
        """The ST header."""
        return self.segments[0]

    @property
    def code(self) -> str:
        """Transaction set identifier (ST01), for example ``850``."""
        return self.st.element(1)

    @property
    def control_number(self) -> str:
        """Transaction set control number (ST02)."""
        return self.st.element(2)

    @property
    def body(self) -> tuple[Segment, ...]:
        """Segments between ST and SE."""
        return self.segments[1:-1]


@dataclass(frozen=True)
class FunctionalGroup:
    """One GS..GE functional group."""

    gs: Segment
    sets: tuple[TransactionSet, ...]

    @property
    def control_number(self) -> str:
        """Group control number (GS06)."""
        return self.gs.element(6)


@dataclass(frozen=True)
class Interchange:
    """One ISA..IEA interchange that passed the envelope checks."""

    isa: Segment
    groups: tuple[FunctionalGroup, ...]
    separators: Separators
    original: bytes

    @property
    def control_number(self) -> str:
        """Interchange control number (ISA13)."""
        return self.isa.element(13)

    @property
    def sender(self) -> tuple[str, str]:
        """Interchange sender as (ISA05 qualifier, ISA06 id)."""
        return self.isa.element(5), self.isa.element(6)

    @property
    def receiver(self) -> tuple[str, str]:
        """Interchange receiver as (ISA07 qualifier, ISA08 id)."""
        return self.isa.element(7), self.isa.element(8)


@dataclass
class _OpenGroup:
    gs: Segment
    sets: list[TransactionSet]
    ge: Segment | None = None
    st_count: int = 0


def build_interchange(raw: RawInterchange) -> Interchange:
    """Build the interchange structure and apply the envelope policy.

    Raises EnvelopeError listing every problem found, when there is any.
    """
    problems = list(raw.problems)
    if not raw.segments or raw.separators is None:
        raise EnvelopeError(problems or ["the ISA interchange header is missing"])

    isa = raw.segments[0]
    groups, iea = _walk(raw.segments, problems)
    isa13 = isa.element(13)

    for group in groups:
        _check_group(problems, group)

    if not isa13:
        problems.append("ISA13 interchange control number is empty")
    if iea is None:
        problems.append(
            f"interchange ISA13 {isa13} has no IEA trailer, so the input is truncated"
        )
    else:
        _check_count(problems, iea, 1, len(groups), "functional groups (GS)")
        _check_control(problems, iea, 2, isa13, "ISA13")

    if problems:
        raise EnvelopeError(problems)

    _warn_versions(isa, groups)
    return Interchange(
        isa=isa,
        groups=tuple(FunctionalGroup(gs=g.gs, sets=tuple(g.sets)) for g in groups),
        separators=raw.separators,
        original=raw.original,
    )


def _walk(
    segments: tuple[Segment, ...], problems: list[str]
) -> tuple[list[_OpenGroup], Segment | None]:
    """Group segments into GS groups and ST sets, and record misplaced segments."""
    groups: list[_OpenGroup] = []
    iea: Segment | None = None
    index = 1

    while index < len(segments):
        segment = segments[index]
        if segment.tag == "IEA":
            iea = segment
            break
        if segment.tag != "GS":
            problems.append(
                f"segment {segment.tag} at position {segment.position} is outside "
                "a functional group"
            )
            index += 1
            continue

        group = _OpenGroup(gs=segment, sets=[])
        groups.append(group)
        index += 1
        while index < len(segments):
            inner = segments[index]
            if inner.tag == "ST":
                index = _read_set(segments, index, group, problems)
                continue
            if inner.tag == "GE":
                group.ge = inner
                index += 1
                break
            if inner.tag in ("GS", "IEA"):
                break
            problems.append(
                f"segment {inner.tag} at position {inner.position} is outside a "
                "transaction set"
            )
            index += 1

    return groups, iea


def _read_set(
    segments: tuple[Segment, ...], start: int, group: _OpenGroup, problems: list[str]
) -> int:
    """Read one ST..SE set starting at ``start`` and return the index after it."""
    group.st_count += 1
    index = start + 1
    while index < len(segments):
        tag = segments[index].tag
        if tag == "SE":
            tx = TransactionSet(segments=segments[start : index + 1])
            group.sets.append(tx)
            _check_set(problems, tx)
            return index + 1
        if tag in ("ST", "GE", "GS", "IEA"):
            break
        index += 1

    st = segments[start]
    problems.append(
        f"transaction set {st.element(1)} ST02 {st.element(2)} has no SE trailer, "
        "so the input is truncated"
    )
    return index


def _check_set(problems: list[str], tx: TransactionSet) -> None:
    se = tx.segments[-1]
    context = f"segments ST..SE of set {tx.code} ST02 {tx.control_number}"
    _check_count(problems, se, 1, len(tx.segments), context)
    _check_control(problems, se, 2, tx.control_number, "ST02")


def _check_group(problems: list[str], group: _OpenGroup) -> None:
    gs06 = group.gs.element(6)
    if group.ge is None:
        problems.append(
            f"functional group GS06 {gs06} has no GE trailer, so the input is truncated"
        )
        return
    context = f"transaction sets (ST) in group GS06 {gs06}"
    _check_count(problems, group.ge, 1, group.st_count, context)
    _check_control(problems, group.ge, 2, gs06, "GS06")


def _check_count(
    problems: list[str], segment: Segment, index: int, expected: int, context: str
) -> None:
    """Record a problem unless element ``index`` states the count ``expected``."""
    name = f"{segment.tag}{index:02d}"
    found = segment.element(index)
    if not found.isdigit() or int(found) != expected:
        problems.append(f"{name} expected {expected}, found {found!r} ({context})")


def _check_control(
    problems: list[str], segment: Segment, index: int, expected: str, source: str
) -> None:
    """Record a problem unless element ``index`` repeats the control number."""
    name = f"{segment.tag}{index:02d}"
    found = segment.element(index)
    if found == expected:
        return
    if found.isdigit() and expected.isdigit() and int(found) == int(expected):
        logger.warning(
            "%s %s equals %s %s only as a number, accepted",
            name,
            found,
            source,
            expected,
        )
        return
    problems.append(f"{name} expected {expected!r} ({source}), found {found!r}")


def _warn_versions(isa: Segment, groups: list[_OpenGroup]) -> None:
    """Log version and functional-code disagreements, which the policy accepts."""
    isa12 = isa.element(12)
    for group in groups:
        gs08 = group.gs.element(8)
        if gs08[:5] != isa12:
            logger.warning(
                "interchange ISA13 %s declares version ISA12 %s but group GS06 %s "
                "declares GS08 %s, accepted",
                isa.element(13),
                isa12,
                group.gs.element(6),
                gs08,
            )
        gs01 = group.gs.element(1)
        for tx in group.sets:
            expected = FUNCTIONAL_CODES.get(tx.code)
            if expected is not None and gs01 != expected:
                logger.warning(
                    "group GS06 %s has functional code GS01 %s around a %s set "
                    "(ST02 %s), which belongs in %s, accepted",
                    group.gs.element(6),
                    gs01,
                    tx.code,
                    tx.control_number,
                    expected,
                )


def as_sentence(text: str) -> str:
    """Return text with a capital first letter and a final period, for messages."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."
