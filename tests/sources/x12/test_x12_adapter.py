"""Unit tests of the adapter as a whole: partners, isolation of sets, dead letters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invsync.catalog import Catalog
from invsync.config import InvsyncConfig
from invsync.events import OrderLine
from sources import x12
from sources.base import AdapterInput, AdapterOutput
from sources.x12 import adapter, mapping

Parse = Callable[[bytes], AdapterOutput]

GOOD = ["BEG*00*SA*PO-1**20240501", "PO1*1*1*EA***VN*TR-M"]

# Hypothesis tests cannot use function-scoped fixtures, so they build their own
# catalog and a 947 from TPL1 to damage.
FUZZ_CATALOG = Catalog(
    InvsyncConfig.model_validate(
        {
            "partners": {"TPL1": {"role": "3pl", "ids": [{"value": "TPL1EDI"}]}},
            "warehouses": {"WH-3PL": {"on_hand_source": "TPL1"}},
            "items": {"TEE-RED-M": {"aliases": [{"qualifier": "VN", "value": "TR-M"}]}},
        }
    )
)
FUZZ_DOCUMENT = (
    b"ISA*00*          *00*          *ZZ*TPL1EDI        *ZZ*INVSYNCDIST    "
    b"*240505*0700*U*00401*000000403*0*P*>~\n"
    b"GS*AW*TPL1*INVSYNC*20240505*0700*403*X*004010~\n"
    b"ST*947*0001~\nW15*20240505*ADJ-1~\nG62*07*20240505*8*1630~\nLX*1~\n"
    b"W19*AA*-3*EA**VN*TR-M~\nLX*2~\nW19*05*2*EA**VN*TR-M~\nSE*8*0001~\n"
    b"GE*1*403~\nIEA*1*000000403~\n"
)
BAD_ITEM = ["BEG*00*SA*PO-2**20240501", "PO1*1*1*EA***VN*NOPE"]


def two_set_interchange(doc: Any, first: list[str], second: list[str]) -> bytes:
    """Return one interchange from CUST1 with two 850 sets in one group."""
    segments = [
        doc.isa(doc.CUST1, doc.OURS),
        *doc.group(
            "850",
            [
                doc.transaction_set("850", first, "0001"),
                doc.transaction_set("850", second, "0002"),
            ],
            doc.CUST1,
            doc.OURS,
        ),
        "IEA*1*000000001",
    ]
    return doc.render(segments)


def test_failed_set_does_not_stop_others(doc: Any, parse_x12: Parse) -> None:
    data = two_set_interchange(doc, BAD_ITEM, GOOD)

    output = parse_x12(data)

    assert [type(event) for event in output.events] == [OrderLine]
    assert output.events[0].sku == "TEE-RED-M"
    (letter,) = output.dead_letters
    assert letter.error_class == "unmapped_item"
    assert "850 set ST02 0001" in letter.message
    # The dead letter contains the whole interchange, so re-drive re-parses it.
    assert letter.original == data.rstrip(b"\n")
    assert letter.source_format == "x12"
    assert letter.partner == "CUST1"
    assert letter.origin == "test.x12"
    assert letter.hints == {}
    assert letter.failed_at == doc.INGEST


def test_redrive_reproduces_outcome(doc: Any, parse_x12: Parse) -> None:
    first = parse_x12(two_set_interchange(doc, BAD_ITEM, GOOD))

    again = parse_x12(first.dead_letters[0].original)

    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert again.dead_letters == first.dead_letters


def test_failed_sets_get_distinct_dead_letter_ids(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(two_set_interchange(doc, BAD_ITEM, BAD_ITEM))

    assert len(output.dead_letters) == 2
    first, second = output.dead_letters
    assert first.dead_letter_id != second.dead_letter_id
    assert first.original == second.original


def test_unsupported_set_is_dead_letter(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(doc.interchange("855", ["BAK*00*AD*PO-1*20240501"]))

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "unsupported_document"
    assert letter.message == (
        "855 set ST02 0001 in interchange ISA13 000000001 (GS06 1) rejected. "
        "Transaction set 855 is not supported and has no canonical event. "
        "Supported sets are 846, 850, 856, 940, 943, 944, 945, 947."
    )


def test_envelope_failure_rejects_whole_interchange(doc: Any, parse_x12: Parse) -> None:
    segments = doc.segments("850", GOOD)
    segments = ["GE*2*1" if s == "GE*1*1" else s for s in segments]
    data = doc.render(segments)

    output = parse_x12(data)

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_envelope"
    assert letter.message == (
        "interchange ISA13 000000001 rejected. GE01 expected 1, found '2' "
        "(transaction sets (ST) in group GS06 1)."
    )
    assert letter.original == data.rstrip(b"\n")
    assert letter.partner == "CUST1"
    assert letter.hints == {}


def test_bad_interchange_does_not_stop_the_next(doc: Any, parse_x12: Parse) -> None:
    bad = [s for s in doc.segments("850", GOOD) if not s.startswith("SE*")]
    good = doc.segments("850", GOOD, isa13="000000002")

    output = parse_x12(doc.render(bad) + doc.render(good))

    assert len(output.events) == 1
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_envelope"
    assert b"000000002" not in letter.original


def test_receiver_names_partner_of_outbound_set(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "W01*1*EA**VN*TR-M"]
    data = doc.interchange("940", body, sender=doc.OURS, receiver=doc.TPL1)

    output = parse_x12(data)

    assert output.dead_letters == []
    assert output.events[0].partner == "TPL1"


def test_gs_id_names_partner(doc: Any, parse_x12: Parse) -> None:
    sender = doc.CUST1.__class__("ZZ", "UNKNOWNISA", "CUST1")
    data = doc.interchange("850", GOOD, sender=sender)

    output = parse_x12(data)

    assert output.dead_letters == []
    assert output.events[0].partner == "CUST1"


def test_unmapped_party_rejects_interchange(doc: Any, parse_x12: Parse) -> None:
    data = doc.interchange("850", GOOD, sender=doc.STRANGER, receiver=doc.STRANGER)

    output = parse_x12(data)

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "unmapped_party"
    assert letter.partner is None
    assert letter.message == (
        "interchange ISA13 000000001 rejected. Neither the sender nor the "
        "receiver of group GS06 1 is a configured partner. No partner is "
        "configured for ZZ:NOBODY, GS:NOBODY, ZZ:NOBODY, GS:NOBODY; add it "
        "under partners.*.ids."
    )


def test_resent_interchange_repeats_event_ids(
    doc: Any, parse_x12: Parse, caplog: pytest.LogCaptureFixture
) -> None:
    one = doc.interchange("850", GOOD)
    caplog.set_level(logging.INFO, logger="sources.x12.adapter")

    output = parse_x12(one + one)

    assert len(output.events) == 2
    assert output.events[0].event_id == output.events[1].event_id
    assert "repeats an earlier interchange of test.x12" in caplog.text


def test_empty_input_is_dead_letter(parse_x12: Parse) -> None:
    output = parse_x12(b"  \n")

    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_envelope"
    assert letter.message == ("test.x12: no X12 interchange found (no ISA header)")
    assert letter.original == b"  \n"


def test_garbage_input_is_dead_letter(parse_x12: Parse) -> None:
    output = parse_x12(b"not x12 at all")

    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_envelope"
    assert letter.original == b"not x12 at all"
    assert letter.message == (
        "X12 interchange rejected. Found 'not x12 at all' at byte 0 where an "
        "ISA interchange header was expected."
    )


def test_unexpected_error_fails_only_its_set(
    doc: Any, parse_x12: Parse, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Any) -> list[Any]:
        raise RuntimeError("boom")

    rule = mapping.RULES["856"]
    monkeypatch.setitem(
        mapping.RULES, "856", mapping.SetRule(broken, rule.roles, rule.meaning)
    )
    segments = [
        doc.isa(doc.SUPP1, doc.OURS),
        *doc.group(
            "856",
            [doc.transaction_set("856", ["BSN*00*A*20240501"])],
            doc.SUPP1,
            doc.OURS,
        ),
        "IEA*1*000000001",
    ]

    output = parse_x12(doc.render(segments))

    (letter,) = output.dead_letters
    assert letter.error_class == "adapter_error"
    assert letter.message == (
        "856 set ST02 0001 in interchange ISA13 000000001 could not be mapped: "
        "RuntimeError: boom"
    )


def test_tokenizer_error_fails_only_the_input(
    parse_x12: Parse, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: bytes) -> list[Any]:
        raise ValueError("bad state")

    monkeypatch.setattr(adapter, "split_interchanges", broken)

    output = parse_x12(b"ISA*whatever")

    (letter,) = output.dead_letters
    assert letter.error_class == "adapter_error"
    assert letter.original == b"ISA*whatever"
    assert letter.message == ("test.x12 could not be tokenized: ValueError: bad state")


def test_interchange_error_drops_its_output(
    doc: Any, parse_x12: Parse, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(raw: Any) -> Any:
        raise KeyError("gone")

    first = doc.interchange("850", GOOD)
    monkeypatch.setattr(adapter, "build_interchange", broken)

    output = parse_x12(first)

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "adapter_error"
    assert letter.original == first.rstrip(b"\n")
    assert letter.message == ("X12 interchange could not be parsed: KeyError: 'gone'")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes_never_hit_guard(data: bytes) -> None:
    output = x12.parse(AdapterInput(data=data, origin="fuzz"), FUZZ_CATALOG)

    assert [
        d.error_class for d in output.dead_letters if d.error_class == "adapter_error"
    ] == []


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=400),
    length=st.integers(min_value=0, max_value=8),
    insert=st.binary(max_size=6),
)
def test_damaged_documents_never_hit_guard(
    cut: int, length: int, insert: bytes
) -> None:
    data = FUZZ_DOCUMENT[:cut] + insert + FUZZ_DOCUMENT[cut + length :]

    output = x12.parse(AdapterInput(data=data, origin="fuzz"), FUZZ_CATALOG)

    assert [
        d.error_class for d in output.dead_letters if d.error_class == "adapter_error"
    ] == []
    for event in output.events:
        assert event.partner == "TPL1"


def test_fuzz_document_is_valid() -> None:
    output = x12.parse(AdapterInput(data=FUZZ_DOCUMENT, origin="fuzz"), FUZZ_CATALOG)

    assert output.dead_letters == []
    assert len(output.events) == 2
