"""Dispatch each transaction set to its mapper after checking the partner's role.

A set is the unit of business meaning: a set that fails becomes one dead
letter and the other sets of the interchange still go through. The checks, in
order: the set is supported (else ``unsupported_document``), the partner's
role for it makes sense (else ``unexpected_document``), its stated control
totals agree with its lines (else ``invalid_control_total``, see
``sources.x12.totals``), then the mapper's own checks (dates, items, units,
quantities, warehouses, on-hand source). A set with problems on several lines
reports all of them in one dead letter whose class is the first problem's
class.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from invsync.catalog import MappingError
from invsync.config import PartnerRole
from invsync.events import CanonicalEvent, DeadLetter
from invsync.logs import dead_letter_fields
from sources.base import dead_letter, stable_id
from sources.x12 import inventory, orders, shipments
from sources.x12.context import ItemError, SetContext
from sources.x12.envelope import as_sentence
from sources.x12.totals import check_totals

logger = logging.getLogger(__name__)

SOURCE_FORMAT = "x12"

Mapper = Callable[[SetContext], list[CanonicalEvent]]


@dataclass(frozen=True)
class SetRule:
    """Mapper of one transaction set and the partner roles it is valid from."""

    mapper: Mapper
    roles: frozenset[PartnerRole]
    meaning: str


_CUSTOMER_ROLES = frozenset({PartnerRole.CUSTOMER, PartnerRole.SALES_CHANNEL})
_3PL = frozenset({PartnerRole.THIRD_PARTY_WAREHOUSE})

RULES: dict[str, SetRule] = {
    "850": SetRule(orders.parse_850, _CUSTOMER_ROLES, "a purchase order (demand)"),
    "940": SetRule(orders.parse_940, _3PL, "a shipping order to a 3PL"),
    "856": SetRule(
        shipments.parse_856,
        frozenset({PartnerRole.SUPPLIER}),
        "a ship notice of inbound supply",
    ),
    "943": SetRule(shipments.parse_943, _3PL, "a stock transfer advice to a 3PL"),
    "944": SetRule(shipments.parse_944, _3PL, "a 3PL's stock receipt"),
    "945": SetRule(shipments.parse_945, _3PL, "a 3PL's shipping advice"),
    "947": SetRule(inventory.parse_947, _3PL, "a 3PL's inventory adjustment"),
    "846": SetRule(
        inventory.parse_846,
        frozenset({PartnerRole.THIRD_PARTY_WAREHOUSE, PartnerRole.SUPPLIER}),
        "an inventory advice",
    ),
}


@dataclass
class SetResult:
    """Events of one set, or the dead letter that replaces them."""

    events: list[CanonicalEvent]
    dead_letter: DeadLetter | None = None


def map_set(ctx: SetContext) -> SetResult:
    """Map one transaction set. Every failure becomes the set's dead letter."""
    rule = RULES.get(ctx.tx.code)
    if rule is None:
        supported = ", ".join(sorted(RULES))
        msg = (
            f"transaction set {ctx.tx.code} is not supported and has no canonical "
            f"event. Supported sets are {supported}"
        )
        return _failed(ctx, MappingError("unsupported_document", msg))

    if ctx.role not in rule.roles:
        roles = " or ".join(sorted(role.value for role in rule.roles))
        msg = (
            f"partner {ctx.partner} has role {ctx.role.value} for {ctx.tx.code}, "
            f"but {ctx.tx.code} is {rule.meaning} and comes from a {roles} partner. "
            "Set partners.*.roles_by_transaction if this partner sends it in "
            "another role"
        )
        return _failed(ctx, MappingError("unexpected_document", msg))

    # Totals are checked before mapping, so a set with a wrong total reports
    # that first and any line problems after it.
    check_totals(ctx)
    try:
        events = rule.mapper(ctx)
    except MappingError as exc:
        return _failed(ctx, exc)
    except ValidationError as exc:
        # The canonical models reject values the mappers let through (for
        # example a timestamp out of range), so the set fails, not the input.
        msg = f"a canonical event failed validation: {exc.errors()[0]['msg']}"
        return _failed(ctx, MappingError("invalid_document", msg))

    if ctx.problems:
        first = ctx.problems[0].error
        return _failed(ctx, first)

    logger.debug("%s mapped to %d events", ctx.label, len(events))
    return SetResult(events=events)


def _failed(ctx: SetContext, error: MappingError) -> SetResult:
    """Build the set's dead letter from the error and any line problems."""
    details = [str(error)] if error not in [p.error for p in ctx.problems] else []
    details.extend(f"{problem.label}: {problem.error}" for problem in ctx.problems)
    message = (
        f"{ctx.label} in interchange ISA13 {ctx.interchange.control_number} "
        f"(GS06 {ctx.group.control_number}) rejected. "
        + " ".join(as_sentence(detail) for detail in details)
    )
    sku = error.sku if isinstance(error, ItemError) else None

    letter = dead_letter(
        ctx.item,
        error_class=error.error_class,
        message=message,
        source_format=SOURCE_FORMAT,
        original=ctx.interchange.original,
        partner=ctx.partner,
        sku=sku,
    )
    # One interchange can hold several failed sets with the same original
    # bytes, so the set's control numbers make each dead letter id distinct.
    letter = letter.model_copy(
        update={
            "dead_letter_id": stable_id(
                SOURCE_FORMAT,
                error.error_class,
                hashlib.sha256(ctx.interchange.original).hexdigest(),
                ctx.group.control_number,
                ctx.tx.control_number,
            )
        }
    )
    logger.warning(
        "dead letter %s: %s",
        error.error_class,
        message,
        extra=dead_letter_fields(letter),
    )
    return SetResult(events=[], dead_letter=letter)
