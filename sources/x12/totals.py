"""Control totals of a transaction set, checked against the set's own lines.

Partners state counts and totals in a summary segment so that a receiver can
catch a truncated or altered document. What each element counts follows the
X12 004010 transaction set notes:

====  =======  ==========================================================
set   element  computed from the lines
====  =======  ==========================================================
850   CTT01    number of PO1 segments
850   CTT02    hash total of PO102 (quantity ordered)
856   CTT01    number of HL segments
856   CTT02    hash total of SN102 (units shipped)
846   CTT01    number of LIN segments
846   CTT02    hash total of QTY02 over every QTY segment
940   W76-01   hash total of W01-01 (quantity ordered)
943   W03-01   sum of W04-01 (units shipped)
944   W14-01   sum of W07-01 (quantity received)
945   W03-01   sum of W12-03 (units shipped)
====  =======  ==========================================================

A hash total is X12 element 347, and the W76 note calls W76-01 one too. It
adds the values without regard to decimal points or signs, so ``1.5`` counts
as 15 and ``-2`` as 2, and it keeps only the rightmost digits that fit the
element. The W03-01 and W14-01 totals are plain sums. Quantities are compared
as written, before any unit conversion. An absent total segment or element is
not checked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from invsync.catalog import MappingError
from sources.x12.context import LineProblem, SetContext, first_segment
from sources.x12.tokenizer import Segment

logger = logging.getLogger(__name__)

ERROR_CLASS = "invalid_control_total"

# An X12 decimal number (type R): an optional sign, digits and at most one point.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


class Method(Enum):
    """Computation of a total from the detail segments."""

    COUNT = "count"
    HASH = "hash"
    SUM = "sum"


@dataclass(frozen=True)
class ControlTotal:
    """One total element and the detail element it must agree with."""

    segment: str
    position: int
    method: Method
    detail: str
    detail_position: int = 0
    # Maximum digits of a hash total element. Digits beyond it are cut on the left.
    width: int = 10

    @property
    def element(self) -> str:
        """The total element as named in messages, for example ``CTT01``."""
        if self.segment.startswith("W"):
            return f"{self.segment}-{self.position:02d}"
        return f"{self.segment}{self.position:02d}"

    @property
    def detail_element(self) -> str:
        """The detail element as named in messages, for example ``PO102``."""
        if self.detail.startswith("W"):
            return f"{self.detail}-{self.detail_position:02d}"
        return f"{self.detail}{self.detail_position:02d}"


_CTT_LINES = {"850": "PO1", "856": "HL", "846": "LIN"}
_CTT_HASHED = {"850": ("PO1", 2), "856": ("SN1", 2), "846": ("QTY", 2)}

TOTALS: dict[str, tuple[ControlTotal, ...]] = {
    code: (
        ControlTotal("CTT", 1, Method.COUNT, _CTT_LINES[code]),
        ControlTotal("CTT", 2, Method.HASH, *_CTT_HASHED[code]),
    )
    for code in _CTT_LINES
}
# NOTE: W76-01 is nine digits long in the 003070 and 15 in the 004020 segment
# dictionary. Nine is assumed for 004010, which only matters for a hash total
# above 999,999,999.
TOTALS["940"] = (ControlTotal("W76", 1, Method.HASH, "W01", 1, width=9),)
TOTALS["943"] = (ControlTotal("W03", 1, Method.SUM, "W04", 1),)
TOTALS["944"] = (ControlTotal("W14", 1, Method.SUM, "W07", 1),)
TOTALS["945"] = (ControlTotal("W03", 1, Method.SUM, "W12", 3),)


def check_totals(ctx: SetContext) -> None:
    """Record each stated total that disagrees with the lines as a set problem.

    The problems make the whole set a dead letter ``invalid_control_total``.
    A detail value that is not a number is left out of the computed total.
    Where the mapper reads that element, it reports the value as
    ``invalid_quantity`` in the same dead letter.
    """
    for total in TOTALS.get(ctx.tx.code, ()):
        segment = first_segment(ctx.tx.body, total.segment)
        if segment is None:
            continue
        stated = segment.element(total.position).strip()
        if not stated:
            continue

        message = _mismatch(ctx, total, stated)
        if message is not None:
            ctx.problems.append(
                LineProblem(
                    label=ctx.where(segment), error=MappingError(ERROR_CLASS, message)
                )
            )


def _mismatch(ctx: SetContext, total: ControlTotal, stated: str) -> str | None:
    """Return the message for a stated total that disagrees, else None."""
    if _NUMBER.fullmatch(stated) is None:
        return f"{total.element} {stated!r} is not a number"
    stated_value = Decimal(stated)

    details = [s for s in ctx.tx.body if s.tag == total.detail]
    if total.method is Method.COUNT:
        count = len(details)
        if stated_value == count:
            return None
        return (
            f"{total.element} states {stated} line items, but the set has "
            f"{count} {total.detail} segments"
        )

    values = _values(details, total.detail_position)
    if total.method is Method.HASH:
        hashed = hash_total(values, total.width)
        if stated_value == hashed:
            return None
        return (
            f"{total.element} states the hash total {stated}, but the "
            f"{total.detail_element} values hash to {hashed}"
        )

    summed = sum((Decimal(value) for value in values), Decimal(0))
    if stated_value == summed:
        return None
    return (
        f"{total.element} states {stated}, but the {total.detail_element} "
        f"quantities sum to {summed}"
    )


def _values(details: list[Segment], position: int) -> list[str]:
    """Return the numeric values of one element of the detail segments."""
    values: list[str] = []
    for segment in details:
        text = segment.element(position).strip()
        if _NUMBER.fullmatch(text) is not None:
            values.append(text)
    return values


def hash_total(values: list[str], width: int) -> int:
    """Add values without regard to decimal points or signs, keeping ``width`` digits.

    ``["-.0018", ".18", "1.8", "18.01"]`` hashes to 1855, the example of X12
    element 347.
    """
    total = 0
    for value in values:
        digits = "".join(char for char in value if char.isdigit())
        total += int(digits) if digits else 0
    modulus: int = 10**width
    return total % modulus
