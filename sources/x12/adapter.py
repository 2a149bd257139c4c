"""The X12 adapter: input bytes to canonical events and dead letters.

Each interchange of the input is handled on its own. An interchange that fails
the envelope policy (see ``sources.x12.envelope``) or whose partner is not
configured becomes one dead letter and emits nothing. Otherwise each
transaction set is mapped on its own (see ``sources.x12.mapping``). Every dead
letter contains the bytes of its whole interchange, from ISA to the end of IEA,
so re-driving it re-parses the interchange: sets that were already applied
repeat their event ids and are dropped downstream.
"""

from __future__ import annotations

import hashlib
import logging

from invsync.catalog import Catalog, MappingError
from invsync.events import DeadLetter
from invsync.logs import origin_fields
from sources.base import AdapterInput, AdapterOutput, dead_letter, stable_id
from sources.x12.context import SetContext
from sources.x12.envelope import (
    EnvelopeError,
    FunctionalGroup,
    Interchange,
    as_sentence,
    build_interchange,
)
from sources.x12.mapping import SOURCE_FORMAT, map_set
from sources.x12.tokenizer import RawInterchange, split_interchanges

logger = logging.getLogger(__name__)


def parse(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
    """Parse X12 input into canonical events and dead letters.

    Never raises on bad input: what cannot be used becomes a dead letter.
    """
    output = AdapterOutput()
    try:
        raws = split_interchanges(item.data)
    except Exception as exc:
        logger.exception(
            "tokenizing %s failed unexpectedly",
            item.origin,
            extra={**origin_fields(item.origin), "error_class": "adapter_error"},
        )
        subject = f"{item.origin} could not be tokenized"
        output.dead_letters.append(_adapter_error(item, item.data, subject, exc))
        return output

    if not raws:
        message = f"{item.origin}: no X12 interchange found (no ISA header)"
        logger.warning(
            "dead letter invalid_envelope: %s",
            message,
            extra={**origin_fields(item.origin), "error_class": "invalid_envelope"},
        )
        output.dead_letters.append(
            dead_letter(
                item,
                error_class="invalid_envelope",
                message=message,
                source_format=SOURCE_FORMAT,
            )
        )
        return output

    seen: set[tuple[str, str, bytes]] = set()
    for raw in raws:
        try:
            output.extend(_parse_interchange(item, catalog, raw, seen))
        except Exception as exc:
            # The interchange's partial output is dropped, so it is not
            # half-applied.
            logger.exception(
                "parsing an interchange of %s failed",
                item.origin,
                extra={**origin_fields(item.origin), "error_class": "adapter_error"},
            )
            subject = "X12 interchange could not be parsed"
            output.dead_letters.append(_adapter_error(item, raw.original, subject, exc))
    return output


def _parse_interchange(
    item: AdapterInput,
    catalog: Catalog,
    raw: RawInterchange,
    seen: set[tuple[str, str, bytes]],
) -> AdapterOutput:
    output = AdapterOutput()
    try:
        interchange = build_interchange(raw)
    except EnvelopeError as exc:
        isa13 = raw.segments[0].element(13) if raw.segments else ""
        subject = f"interchange ISA13 {isa13}" if isa13 else "X12 interchange"
        message = f"{subject} rejected. {exc}"
        logger.warning(
            "dead letter invalid_envelope: %s",
            message,
            extra={**origin_fields(item.origin), "error_class": "invalid_envelope"},
        )
        output.dead_letters.append(
            dead_letter(
                item,
                error_class="invalid_envelope",
                message=message,
                source_format=SOURCE_FORMAT,
                original=raw.original,
                partner=_known_partner(catalog, raw),
            )
        )
        return output

    replay_key = (
        ":".join(interchange.sender),
        interchange.control_number,
        hashlib.sha256(interchange.original).digest(),
    )
    if replay_key in seen:
        logger.info(
            "interchange ISA13 %s from %s repeats an earlier interchange of %s, "
            "so its events repeat the same event ids",
            interchange.control_number,
            replay_key[0],
            item.origin,
        )
    seen.add(replay_key)

    partners: list[str] = []
    for group in interchange.groups:
        try:
            partners.append(_require_partner(catalog, interchange, group))
        except MappingError as exc:
            if exc.error_class == "misrouted":
                message = (
                    f"interchange ISA13 {interchange.control_number} rejected, "
                    f"group GS06 {group.control_number}: {as_sentence(str(exc))}"
                )
            else:
                message = (
                    f"interchange ISA13 {interchange.control_number} rejected. "
                    f"Neither the sender nor the receiver of group GS06 "
                    f"{group.control_number} is a configured partner. "
                    f"{as_sentence(str(exc))}"
                )
            logger.warning(
                "dead letter %s: %s",
                exc.error_class,
                message,
                extra={**origin_fields(item.origin), "error_class": exc.error_class},
            )
            output.dead_letters.append(
                dead_letter(
                    item,
                    error_class=exc.error_class,
                    message=message,
                    source_format=SOURCE_FORMAT,
                    original=interchange.original,
                )
            )
            return output

    for group, partner in zip(interchange.groups, partners, strict=True):
        for tx in group.sets:
            ctx = SetContext(
                item=item,
                catalog=catalog,
                interchange=interchange,
                group=group,
                tx=tx,
                partner=partner,
                role=catalog.role(partner, tx.code),
            )
            _map_guarded(ctx, output)

    if not interchange.groups:
        logger.info(
            "interchange ISA13 %s contains no functional group, so nothing is mapped",
            interchange.control_number,
        )
    return output


def _map_guarded(ctx: SetContext, output: AdapterOutput) -> None:
    """Map one set. An unexpected error fails that set only and is logged."""
    try:
        result = map_set(ctx)
    except Exception as exc:
        logger.exception(
            "mapping %s of %s failed unexpectedly",
            ctx.label,
            ctx.item.origin,
            extra={
                **origin_fields(ctx.item.origin),
                "partner": ctx.partner,
                "error_class": "adapter_error",
            },
        )
        subject = (
            f"{ctx.label} in interchange ISA13 {ctx.interchange.control_number} "
            "could not be mapped"
        )
        letter = _adapter_error(
            ctx.item,
            ctx.interchange.original,
            subject,
            exc,
            partner=ctx.partner,
            discriminators=(ctx.group.control_number, ctx.tx.control_number),
        )
        output.dead_letters.append(letter)
        return

    output.events.extend(result.events)
    if result.dead_letter is not None:
        output.dead_letters.append(result.dead_letter)


def _require_partner(
    catalog: Catalog, interchange: Interchange, group: FunctionalGroup
) -> str:
    """Return the sender's partner id, else the receiver's (a 940 goes to the 3PL)."""
    sender = [interchange.sender, ("GS", group.gs.element(2))]
    receiver = [interchange.receiver, ("GS", group.gs.element(3))]
    partner = catalog.resolve_partner(sender)
    if partner is not None:
        addressee = receiver
    else:
        partner = catalog.require_partner(sender + receiver)
        addressee = sender
    if catalog.is_self(addressee) is False:
        names = ", ".join(f"{q.strip()}:{v.strip()}" for q, v in addressee)
        msg = (
            f"the interchange with partner {partner} names {names} as our side, "
            "which is none of the configured self_ids; it was meant for someone "
            "else"
        )
        raise MappingError("misrouted", msg)
    return partner


def _known_partner(catalog: Catalog, raw: RawInterchange) -> str | None:
    """Return the partner of a rejected interchange when its ISA names one."""
    if not raw.segments:
        return None
    isa = raw.segments[0]
    return catalog.resolve_partner(
        [(isa.element(5), isa.element(6)), (isa.element(7), isa.element(8))]
    )


def _adapter_error(
    item: AdapterInput,
    original: bytes,
    subject: str,
    exc: Exception,
    *,
    partner: str | None = None,
    discriminators: tuple[str, ...] = (),
) -> DeadLetter:
    """Build the dead letter ``adapter_error`` for an unexpected exception."""
    letter = dead_letter(
        item,
        error_class="adapter_error",
        message=f"{subject}: {type(exc).__name__}: {exc}",
        source_format=SOURCE_FORMAT,
        original=original,
        partner=partner,
    )
    if not discriminators:
        return letter
    unique_id = stable_id(letter.dead_letter_id, *discriminators)
    return letter.model_copy(update={"dead_letter_id": unique_id})
