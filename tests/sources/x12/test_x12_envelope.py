"""Unit tests of the envelope policy: structure, counts and control numbers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sources.x12.envelope import EnvelopeError, build_interchange
from sources.x12.tokenizer import split_interchanges

BODY = ["BEG*00*SA*PO-1**20240501", "PO1*1*2*EA***VN*TR-M"]


def build(data: bytes) -> Any:
    """Tokenize one interchange and build it."""
    (raw,) = split_interchanges(data)
    return build_interchange(raw)


def problems_of(data: bytes) -> list[str]:
    """Return the envelope problems of one interchange, or fail if it passes."""
    with pytest.raises(EnvelopeError) as caught:
        build(data)
    return caught.value.problems


def replace(segments: list[str], old: str, new: str) -> list[str]:
    """Return the segments with one whole segment replaced; fail if it is absent."""
    assert old in segments
    return [new if segment == old else segment for segment in segments]


def test_valid_interchange_structure(doc: Any) -> None:
    interchange = build(doc.interchange("850", BODY))

    assert interchange.control_number == "000000001"
    assert interchange.sender == ("ZZ", "CUST1EDI")
    assert interchange.receiver == ("ZZ", "INVSYNCDIST")
    assert len(interchange.groups) == 1
    assert interchange.groups[0].control_number == "1"
    (tx,) = interchange.groups[0].sets
    assert tx.code == "850"
    assert tx.control_number == "0001"
    assert [s.tag for s in tx.body] == ["BEG", "PO1"]


def test_se01_count_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "SE*4*0001", "SE*5*0001")

    assert problems_of(doc.render(segments)) == [
        "SE01 expected 4, found '5' (segments ST..SE of set 850 ST02 0001)"
    ]


def test_se02_control_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "SE*4*0001", "SE*4*0002")

    assert problems_of(doc.render(segments)) == [
        "SE02 expected '0001' (ST02), found '0002'"
    ]


def test_ge01_count_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "GE*1*1", "GE*2*1")

    assert problems_of(doc.render(segments)) == [
        "GE01 expected 1, found '2' (transaction sets (ST) in group GS06 1)"
    ]


def test_ge02_control_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "GE*1*1", "GE*1*7")

    assert problems_of(doc.render(segments)) == ["GE02 expected '1' (GS06), found '7'"]


def test_iea01_count_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "IEA*1*000000001", "IEA*3*000000001")

    assert problems_of(doc.render(segments)) == [
        "IEA01 expected 1, found '3' (functional groups (GS))"
    ]


def test_iea02_control_mismatch(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "IEA*1*000000001", "IEA*1*000000009")

    assert problems_of(doc.render(segments)) == [
        "IEA02 expected '000000001' (ISA13), found '000000009'"
    ]


def test_every_mismatch_is_listed(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    segments = replace(segments, "GE*1*1", "GE*2*5")
    segments = replace(segments, "IEA*1*000000001", "IEA*1*000000002")

    assert problems_of(doc.render(segments)) == [
        "GE01 expected 1, found '2' (transaction sets (ST) in group GS06 1)",
        "GE02 expected '1' (GS06), found '5'",
        "IEA02 expected '000000001' (ISA13), found '000000002'",
    ]


def test_non_numeric_count_is_rejected(doc: Any) -> None:
    segments = replace(doc.segments("850", BODY), "SE*4*0001", "SE*four*0001")

    assert problems_of(doc.render(segments)) == [
        "SE01 expected 4, found 'four' (segments ST..SE of set 850 ST02 0001)"
    ]


def test_numerically_equal_control_accepted(
    doc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    segments = replace(doc.segments("850", BODY), "IEA*1*000000001", "IEA*1*1")
    caplog.set_level(logging.WARNING, logger="sources.x12.envelope")

    interchange = build(doc.render(segments))

    assert interchange.control_number == "000000001"
    assert "IEA02 1 equals ISA13 000000001 only as a number, accepted" in caplog.text


def test_non_numeric_controls_compare_as_text(doc: Any) -> None:
    segments = doc.segments("850", BODY, st02="A001")
    segments = replace(segments, "SE*4*A001", "SE*4*a001")

    assert problems_of(doc.render(segments)) == [
        "SE02 expected 'A001' (ST02), found 'a001'"
    ]


def test_missing_se_is_truncation(doc: Any) -> None:
    segments = [s for s in doc.segments("850", BODY) if not s.startswith("SE*")]

    assert problems_of(doc.render(segments)) == [
        "transaction set 850 ST02 0001 has no SE trailer, so the input is truncated"
    ]


def test_missing_ge_is_truncation(doc: Any) -> None:
    segments = [s for s in doc.segments("850", BODY) if not s.startswith("GE*")]

    assert problems_of(doc.render(segments)) == [
        "functional group GS06 1 has no GE trailer, so the input is truncated"
    ]


def test_missing_iea_is_truncation(doc: Any) -> None:
    segments = doc.segments("850", BODY)[:-1]

    assert problems_of(doc.render(segments)) == [
        "interchange ISA13 000000001 has no IEA trailer, so the input is truncated"
    ]


def test_input_cut_inside_set(doc: Any) -> None:
    segments = doc.segments("850", BODY)[:4]

    assert problems_of(doc.render(segments)) == [
        "transaction set 850 ST02 0001 has no SE trailer, so the input is truncated",
        "functional group GS06 1 has no GE trailer, so the input is truncated",
        "interchange ISA13 000000001 has no IEA trailer, so the input is truncated",
    ]


def test_segment_outside_set_is_rejected(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    segments.insert(2, "REF*ZZ*stray")

    assert problems_of(doc.render(segments)) == [
        "segment REF at position 2 is outside a transaction set"
    ]


def test_segment_outside_group_is_rejected(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    segments.insert(1, "REF*ZZ*stray")

    assert problems_of(doc.render(segments)) == [
        "segment REF at position 1 is outside a functional group"
    ]


def test_mixed_terminators_are_rejected(doc: Any) -> None:
    text = doc.render(doc.segments("850", BODY), terminator="$\n").decode()
    text = text.replace("PO1*1*2*EA***VN*TR-M$", "PO1*1*2*EA***VN*TR-M~\n")

    problems = problems_of(text.encode())

    assert problems[0] == (
        "segment PO1 at position 4 contains a line break, so it does not end "
        "with the ISA terminator '$' (mixed segment terminators)"
    )
    assert problems[1] == (
        "transaction set 850 ST02 0001 has no SE trailer, so the input is truncated"
    )
    assert len(problems) == 2


def test_several_groups_and_sets(doc: Any) -> None:
    first = doc.transaction_set("850", BODY, "0001")
    second = doc.transaction_set("850", BODY, "0002")
    third = doc.transaction_set("850", BODY, "0001")
    segments = [
        doc.isa(doc.CUST1, doc.OURS),
        *doc.group("850", [first, second], doc.CUST1, doc.OURS, control="7"),
        *doc.group("850", [third], doc.CUST1, doc.OURS, control="8"),
        "IEA*2*000000001",
    ]

    interchange = build(doc.render(segments))

    assert [g.control_number for g in interchange.groups] == ["7", "8"]
    assert [len(g.sets) for g in interchange.groups] == [2, 1]
    assert interchange.groups[0].sets[1].control_number == "0002"


def test_empty_interchange_is_valid(doc: Any) -> None:
    segments = [doc.isa(doc.CUST1, doc.OURS), "IEA*0*000000001"]

    interchange = build(doc.render(segments))

    assert interchange.groups == ()


def test_version_disagreement_is_logged(
    doc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    segments = doc.segments("850", BODY)
    segments[1] = segments[1].replace("*X*004010", "*X*004010VICS")
    segments[0] = doc.isa(doc.CUST1, doc.OURS, version="00400")
    caplog.set_level(logging.WARNING, logger="sources.x12.envelope")

    build(doc.render(segments))

    assert (
        "interchange ISA13 000000001 declares version ISA12 00400 but group GS06 1 "
        "declares GS08 004010VICS, accepted"
    ) in caplog.text


def test_functional_code_mismatch_is_logged(
    doc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    segments = doc.segments("850", BODY)
    segments[1] = segments[1].replace("GS*PO*", "GS*OW*")
    caplog.set_level(logging.WARNING, logger="sources.x12.envelope")

    build(doc.render(segments))

    assert (
        "group GS06 1 has functional code GS01 OW around a 850 set (ST02 0001), "
        "which belongs in PO, accepted"
    ) in caplog.text


def test_matching_versions_log_nothing(
    doc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sources.x12.envelope")

    build(doc.interchange("850", BODY))

    assert caplog.records == []


def test_envelope_error_message_is_sentences() -> None:
    error = EnvelopeError(["GE02 expected '1' (GS06), found '7'", "second one"])

    assert str(error) == "GE02 expected '1' (GS06), found '7'. Second one."
