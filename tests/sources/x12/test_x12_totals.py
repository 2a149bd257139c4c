"""Unit tests of the control totals (CTT, W03, W14, W76) against a set's lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sources.base import AdapterOutput
from sources.x12.totals import hash_total

Parse = Callable[[bytes], AdapterOutput]

ADVICE = [
    "BIA*00*SI*INV-1*20240506*0600",
    "N1*WH*TPL1 DC1*91*DC1",
    "LIN*1*UP*012345678905",
    "QTY*17*40*EA",
    "QTY*QH*5*EA",
    "LIN*2*VN*MW-11",
    "QTY*17*3",
    "UIT*CA",
]


def advice(doc: Any, total: str) -> bytes:
    """Return an 846 from TPL1 whose summary is the given CTT segment."""
    return doc.interchange("846", [*ADVICE, total], sender=doc.TPL1, receiver=doc.OURS)


def order(doc: Any, lines: list[str], total: str) -> bytes:
    """Return an 850 from CUST1 with the given PO1 lines and CTT segment."""
    body = ["BEG*00*SA*PO-1**20240501", *lines, total]
    return doc.interchange("850", body, sender=doc.CUST1, receiver=doc.OURS)


def test_hash_total_standard_example() -> None:
    assert hash_total(["-.0018", ".18", "1.8", "18.01"], 10) == 1855


def test_hash_total_keeps_rightmost_digits() -> None:
    assert hash_total(["-.0018", ".18", "1.8", "18.01"], 3) == 855


def test_846_correct_ctt_maps(doc: Any, parse_x12: Parse) -> None:
    # Two LIN segments; the QTY02 values 40, 5 and 3 hash to 48.
    output = parse_x12(advice(doc, "CTT*2*48"))

    assert output.dead_letters == []
    assert len(output.events) == 2


def test_846_ctt01_counts_lin(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(advice(doc, "CTT*3*48"))

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_control_total"
    assert letter.message.endswith(
        "CTT (segment 10 of the set): CTT01 states 3 line items, but the set has "
        "2 LIN segments."
    )


def test_846_ctt02_hashes_every_qty(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(advice(doc, "CTT*2*45"))

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_control_total"
    assert letter.message.endswith(
        "CTT (segment 10 of the set): CTT02 states the hash total 45, but the "
        "QTY02 values hash to 48."
    )


def test_ctt_without_hash_checks_count(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(advice(doc, "CTT*2"))

    assert output.dead_letters == []
    assert len(output.events) == 2


def test_set_without_totals_maps(doc: Any, parse_x12: Parse) -> None:
    body = ADVICE
    data = doc.interchange("846", body, sender=doc.TPL1, receiver=doc.OURS)

    output = parse_x12(data)

    assert output.dead_letters == []
    assert len(output.events) == 2


def test_hash_ignores_decimal_point(doc: Any, parse_x12: Parse) -> None:
    # 1.5 and 2 hash to 15 + 2 = 17; the arithmetic sum 3.5 is not the hash.
    lines = ["PO1*1*1.5*EA***VN*TR-M", "PO1*2*2*EA***VN*TR-M"]

    hashed = parse_x12(order(doc, lines, "CTT*2*17"))
    summed = parse_x12(order(doc, lines, "CTT*2*3.5"))

    assert [d.error_class for d in hashed.dead_letters] == ["invalid_quantity"]
    assert [d.error_class for d in summed.dead_letters] == ["invalid_control_total"]
    assert "CTT02 states the hash total 3.5, but the PO102 values hash to 17." in (
        summed.dead_letters[0].message
    )


def test_total_not_a_number(doc: Any, parse_x12: Parse) -> None:
    output = parse_x12(advice(doc, "CTT*two"))

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_control_total"
    assert letter.message.endswith(
        "CTT (segment 10 of the set): CTT01 'two' is not a number."
    )


def test_wrong_total_and_bad_line_both_reported(doc: Any, parse_x12: Parse) -> None:
    lines = ["PO1*1*4*EA***VN*TR-M", "PO1*2*1*EA***VN*NO-SUCH-ITEM"]

    output = parse_x12(order(doc, lines, "CTT*2*6"))

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_control_total"
    assert "CTT02 states the hash total 6, but the PO102 values hash to 5." in (
        letter.message
    )
    assert "PO1 line 2: " in letter.message
