"""Unit tests of the X12 tokenizer: separators, layout quirks and raw bytes."""

from __future__ import annotations

from typing import Any

import pytest

from sources.x12.tokenizer import BOM, Segment, split_interchanges

BODY = ["BEG*00*SA*PO-1**20240501", "PO1*1*2*EA***VN*TR-M"]
TAGS = ["ISA", "GS", "ST", "BEG", "PO1", "SE", "GE", "IEA"]


def tags(data: bytes) -> list[str]:
    """Return the tags of the only interchange in data."""
    (raw,) = split_interchanges(data)
    return [segment.tag for segment in raw.segments]


def test_tilde_terminator_without_line_breaks(doc: Any) -> None:
    data = doc.render(doc.segments("850", BODY), terminator="~")

    (raw,) = split_interchanges(data)

    assert [s.tag for s in raw.segments] == TAGS
    assert raw.separators is not None
    assert raw.separators.element == b"*"
    assert raw.separators.component == b">"
    assert raw.separators.segment == b"~"
    assert raw.problems == ()


def test_tilde_newline_terminator(doc: Any) -> None:
    (raw,) = split_interchanges(doc.render(doc.segments("850", BODY)))

    assert raw.separators is not None
    assert raw.separators.segment == b"~"
    assert [s.tag for s in raw.segments] == TAGS


def test_crlf_only_terminator(doc: Any) -> None:
    (raw,) = split_interchanges(
        doc.render(doc.segments("850", BODY), terminator="\r\n")
    )

    assert raw.separators is not None
    assert raw.separators.segment == b"\n"
    assert [s.tag for s in raw.segments] == TAGS
    assert raw.segments[-1].elements == ("IEA", "1", "000000001")


def test_bare_newline_terminator_without_final_newline(doc: Any) -> None:
    data = doc.render(doc.segments("850", BODY), terminator="\n").rstrip(b"\n")

    (raw,) = split_interchanges(data)

    assert [s.tag for s in raw.segments] == TAGS
    assert raw.original == data
    assert raw.problems == ()


def test_multibyte_ellipsis_terminator_with_crlf(doc: Any) -> None:
    data = doc.render(doc.segments("850", BODY), terminator="\u2026\r\n")

    (raw,) = split_interchanges(data)

    assert raw.separators is not None
    assert raw.separators.segment == "\u2026".encode()
    assert [s.tag for s in raw.segments] == TAGS
    assert raw.segments[4].elements == ("PO1", "1", "2", "EA", "", "", "VN", "TR-M")


def test_tilde_element_separator_with_brace_terminator(doc: Any) -> None:
    segments = [s.replace("*", "~") for s in doc.segments("850", BODY)]

    (raw,) = split_interchanges(doc.render(segments, terminator="}\r\n"))

    assert raw.separators is not None
    assert raw.separators.element == b"~"
    assert raw.separators.segment == b"}"
    assert raw.segments[3].elements == ("BEG", "00", "SA", "PO-1", "", "20240501")


def test_byte_order_mark_and_indentation(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    indented = [("  " * min(i, 3)) + s for i, s in enumerate(segments)]
    data = BOM + doc.render(indented, terminator="~\r\n")

    (raw,) = split_interchanges(data)

    assert [s.tag for s in raw.segments] == TAGS
    assert raw.original.startswith(b"ISA*")
    assert raw.original.endswith(b"IEA*1*000000001~")


def test_leading_whitespace_before_isa(doc: Any) -> None:
    data = b"\r\n   \n" + doc.render(doc.segments("850", BODY))

    assert tags(data) == TAGS


def test_unpadded_isa_fields(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    segments[0] = (
        "ISA*00* *00* *ZZ*CUST1EDI*ZZ*INVSYNCDIST*240501*0930*U*00401*000000001*0*P*>"
    )

    (raw,) = split_interchanges(doc.render(segments, terminator="!\n"))

    assert raw.segments[0].element(6) == "CUST1EDI"
    assert raw.segments[0].element(13) == "000000001"
    assert raw.segments[0].element(16) == ">"
    assert raw.separators is not None
    assert raw.separators.segment == b"!"


def test_isa_broken_across_lines(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    isa = segments[0]
    cut = isa.index("*240501")
    segments[0] = isa[:cut] + "\n" + isa[cut:]

    (raw,) = split_interchanges(doc.render(segments, terminator="!\n"))

    assert raw.segments[0].element(8) == "INVSYNCDIST"
    assert raw.segments[0].element(9) == "240501"
    assert raw.problems == ()


def test_several_interchanges_in_one_input(doc: Any) -> None:
    first = doc.render(doc.segments("850", BODY, isa13="000000001"))
    second = doc.render(doc.segments("850", BODY, isa13="000000002"), "\n")

    raws = split_interchanges(first + second.rstrip(b"\n"))

    assert len(raws) == 2
    assert raws[0].segments[0].element(13) == "000000001"
    assert raws[1].segments[0].element(13) == "000000002"
    assert raws[0].separators is not None
    assert raws[1].separators is not None
    assert raws[0].separators.segment == b"~"
    assert raws[1].separators.segment == b"\n"
    assert raws[0].original == first.rstrip(b"\n")
    assert raws[1].original == second.rstrip(b"\n")


def test_hard_wrapped_at_80_columns(doc: Any) -> None:
    flat = doc.render(doc.segments("850", BODY), terminator="~").decode()
    lines = [flat[i : i + 80] for i in range(0, len(flat), 80)]
    lines[-1] = lines[-1].ljust(80)
    data = ("\r\n".join(lines) + "\r\n").encode()

    (raw,) = split_interchanges(data)

    assert [s.tag for s in raw.segments] == TAGS
    assert raw.problems == ()
    assert raw.segments[4].elements == ("PO1", "1", "2", "EA", "", "", "VN", "TR-M")
    # The original keeps the wrapping line breaks of the input.
    assert raw.original == data[: data.rindex(b"~") + 1]
    assert raw.original.count(b"\r\n") == len(lines) - 1


def test_wrapped_original_parses_again(doc: Any) -> None:
    flat = doc.render(doc.segments("850", BODY), terminator="~").decode()
    lines = [flat[i : i + 80] for i in range(0, len(flat), 80)]
    data = "\r\n".join(lines).encode()

    (raw,) = split_interchanges(data)
    (again,) = split_interchanges(raw.original)

    assert again.segments == raw.segments


def test_uniform_lines_with_newline_terminator_are_not_unwrapped(doc: Any) -> None:
    segments = [s.ljust(120) for s in doc.segments("850", BODY)]

    (raw,) = split_interchanges(doc.render(segments, terminator="\n"))

    assert [s.tag for s in raw.segments] == TAGS
    assert raw.separators is not None
    assert raw.separators.segment == b"\n"


@pytest.mark.parametrize(
    ("version", "isa11", "expected"),
    [
        ("00501", "^", b"^"),
        ("00402", "^", b"^"),
        ("00401", "^", None),
        ("00501", "U", None),
        ("00501", " ", None),
    ],
)
def test_repetition_separator_rules(
    version: str, isa11: str, expected: bytes | None, doc: Any
) -> None:
    segments = doc.segments("850", BODY)
    segments[0] = doc.isa(doc.CUST1, doc.OURS, version=version, repetition=isa11)

    (raw,) = split_interchanges(doc.render(segments))

    assert raw.separators is not None
    assert raw.separators.repetition == expected


def test_line_break_inside_segment_is_mixed_terminator(doc: Any) -> None:
    text = doc.render(doc.segments("850", BODY), terminator="$\n").decode()
    text = text.replace("BEG*00*SA*PO-1**20240501$", "BEG*00*SA*PO-1**20240501~\n")

    (raw,) = split_interchanges(text.encode())

    assert len(raw.problems) == 1
    assert "mixed segment terminators" in raw.problems[0]
    assert raw.problems[0].startswith("segment BEG at position 3")


def test_invalid_segment_tag_is_a_problem(doc: Any) -> None:
    segments = doc.segments("850", [*BODY, "po1*2*1*EA"])

    (raw,) = split_interchanges(doc.render(segments))

    assert raw.problems == ("segment at position 5 has an invalid tag 'po1'",)


def test_missing_iea_keeps_bytes_to_end(doc: Any) -> None:
    data = doc.render(doc.segments("850", BODY)[:-1])

    (raw,) = split_interchanges(data)

    assert [s.tag for s in raw.segments] == TAGS[:-1]
    assert raw.original == data.rstrip(b"\n")


def test_missing_iea_stops_at_next_isa(doc: Any) -> None:
    first = doc.render(doc.segments("850", BODY)[:-1])
    second = doc.render(doc.segments("850", BODY, isa13="000000002"))

    raws = split_interchanges(first + second)

    assert len(raws) == 2
    assert [s.tag for s in raws[0].segments] == TAGS[:-1]
    assert raws[0].original == first.rstrip(b"\n")
    assert raws[1].segments[0].element(13) == "000000002"


def test_text_before_isa_is_reported(doc: Any) -> None:
    data = b"hello\n" + doc.render(doc.segments("850", BODY))

    raws = split_interchanges(data)

    assert len(raws) == 2
    assert raws[0].segments == ()
    assert raws[0].original == b"hello"
    assert raws[0].problems == (
        "found 'hello' at byte 0 where an ISA interchange header was expected",
    )
    assert [s.tag for s in raws[1].segments] == TAGS


def test_short_isa_is_reported() -> None:
    (raw,) = split_interchanges(b"ISA*00*  *00*~GS*PO~")

    assert raw.segments == ()
    assert raw.problems == (
        "ISA header at byte 0 has 5 of 16 elements separated by '*'",
    )


def test_element_and_component_access() -> None:
    segment = Segment(
        elements=("QTY", "17", "40", "EA>1"), position=3, component_separator=">"
    )

    assert segment.element(1) == "17"
    assert segment.element(9) == ""
    assert segment.element(0) == ""
    assert segment.component(3) == "EA"
    assert segment.component(3, 2) == "1"
    assert segment.component(3, 3) == ""
    assert segment.normalized() == "QTY*17*40*EA>1"


def test_values_are_stripped_of_padding(doc: Any) -> None:
    segments = doc.segments("850", BODY)
    segments[1] = "GS*PO* CUST1 *INVSYNC*20240501*0930*1*X*004010"

    (raw,) = split_interchanges(doc.render(segments))

    assert raw.segments[1].element(2) == "CUST1"
