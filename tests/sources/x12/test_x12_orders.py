"""Unit tests of the 850 and 940 mappings, with exact canonical events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from invsync.events import OrderAction, OrderAllocation, OrderLine, Source
from sources.base import AdapterOutput

Parse = Callable[[bytes], AdapterOutput]

PO_BODY = [
    "BEG*00*SA*PO-7001**20240501",
    "N1*ST*Customer DC*92*CDC1",
    "PO1*1*48*EA***BP*CUST-TRM*VN*TR-M",
    "PO1*2*2*CA***VN*TB-M",
    "PO1**6*EA***VN*MW-11",
    "CTT*3",
]


def only_events(output: AdapterOutput) -> list[Any]:
    """Return the events of an output that must have no dead letters."""
    assert output.dead_letters == []
    return list(output.events)


def only_dead_letter(output: AdapterOutput) -> Any:
    """Return the one dead letter of an output that must have no events."""
    assert output.events == []
    assert len(output.dead_letters) == 1
    return output.dead_letters[0]


def test_850_original_lines(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(doc.interchange("850", PO_BODY)))

    assert len(events) == 3
    first = events[0]
    assert isinstance(first, OrderLine)
    assert first.source is Source.X12
    assert first.partner == "CUST1"
    assert first.channel == "CUST1"
    assert first.sku == "TEE-RED-M"
    assert first.order_id == "PO-7001"
    assert first.line_id == "1"
    assert first.action is OrderAction.PLACED
    assert first.version_rank == 0
    assert first.ordered_quantity == 48
    assert first.cancelled_quantity == 0
    assert first.shipped_quantity == 0
    assert first.warehouse is None
    assert first.ingest_time == doc.INGEST
    # BEG05 in the partner's zone (America/New_York, EDT in May).
    assert first.event_time == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    # GS04/GS05 20240501 0930 EDT.
    assert first.version_time == datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    assert first.order_line_ids == ["1", "2", "3"]


def test_850_case_quantity_and_index_line_id(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(doc.interchange("850", PO_BODY)))

    assert events[1].sku == "TEE-BLUE-M"
    assert events[1].ordered_quantity == 48
    assert events[2].sku == "MUG-WHITE"
    assert events[2].line_id == "3"
    assert events[2].ordered_quantity == 6


@pytest.mark.parametrize(
    ("purpose", "action", "rank", "cancelled"),
    [
        ("00", OrderAction.PLACED, 0, 0),
        ("07", OrderAction.PLACED, 0, 0),
        ("05", OrderAction.CHANGED, 1, 0),
        ("01", OrderAction.CANCELLED, 2, 48),
    ],
)
def test_850_purpose_codes(
    doc: Any,
    parse_x12: Parse,
    purpose: str,
    action: OrderAction,
    rank: int,
    cancelled: int,
) -> None:
    body = [f"BEG*{purpose}*SA*PO-7001**20240501", "PO1*1*48*EA***VN*TR-M"]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.action is action
    assert line.version_rank == rank
    assert line.ordered_quantity == 48
    assert line.cancelled_quantity == cancelled


def test_850_replacement_lists_remaining_lines(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*05*SA*PO-7001**20240501", "PO1*2*3*CA***VN*TB-M"]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.line_id == "2"
    assert line.order_line_ids == ["2"]
    assert line.ordered_quantity == 72


def test_850_ship_from_party_sets_warehouse(doc: Any, parse_x12: Parse) -> None:
    body = [
        "BEG*00*SA*PO-7001**20240501",
        "N1*SF*Our East DC*92*SF-EAST",
        "PO1*1*1*EA***VN*TR-M",
    ]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.warehouse == "WH-EAST"


def test_850_unknown_ship_from_leaves_demand_unallocated(
    doc: Any, parse_x12: Parse
) -> None:
    body = [
        "BEG*00*SA*PO-1**20240501",
        "N1*SF*Other*92*ELSEWHERE",
        "PO1*1*1*EA***VN*TR-M",
    ]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.warehouse is None


def test_850_without_beg05_uses_transmission_time(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA*PO-1", "PO1*1*1*EA***VN*TR-M"]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.event_time == datetime(2024, 5, 1, 13, 30, tzinfo=UTC)


def test_850_unsupported_purpose(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*04*SA*PO-1**20240501", "PO1*1*1*EA***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "unsupported_document"
    assert letter.message == (
        "850 set ST02 0001 in interchange ISA13 000000001 (GS06 1) rejected. "
        "850 set ST02 0001 has BEG01 purpose code '04'. Supported are 00 original, "
        "01 cancellation, 05 replace and 07 duplicate."
    )


def test_850_without_beg(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(
        parse_x12(doc.interchange("850", ["PO1*1*1*EA***VN*TR-M"]))
    )

    assert letter.error_class == "invalid_document"
    assert letter.message.endswith("850 set ST02 0001 has no BEG segment.")


def test_850_without_po_number(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA***20240501", "PO1*1*1*EA***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "invalid_document"
    assert "has no purchase order number in BEG03" in letter.message


def test_850_without_lines(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(
        parse_x12(doc.interchange("850", ["BEG*00*SA*PO-1**20240501"]))
    )

    assert letter.error_class == "invalid_document"
    assert letter.message.endswith("850 set ST02 0001 has no PO1 line.")


def test_850_duplicate_line_ids(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA*PO-1**20240501", "PO1*1*1*EA***VN*TR-M", "PO1*1*2*EA***VN*TB-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "invalid_document"
    assert "repeats PO101 '1', but line ids must be unique" in letter.message


def test_850_invalid_date_rejects_set(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA*PO-1**CCYYMMDD", "PO1*1*1*EA***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "invalid_date"
    assert letter.message.endswith(
        "BEG05 'CCYYMMDD' is not a date in CCYYMMDD or YYMMDD form."
    )


def test_850_unmapped_items_all_named(doc: Any, parse_x12: Parse) -> None:
    body = [
        "BEG*00*SA*PO-1**20240501",
        "PO1*1*1*EA***VN*NOPE-1",
        "PO1*2*1*EA***VN*TR-M",
        "PO1*3*1*EA***UP*000000000000*VN*NOPE-3",
    ]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "unmapped_item"
    assert letter.sku is None
    assert letter.message == (
        "850 set ST02 0001 in interchange ISA13 000000001 (GS06 1) rejected. "
        "PO1 line 1: no SKU is mapped for VN:NOPE-1; add an alias under items in "
        "the config. PO1 line 3: no SKU is mapped for UP:000000000000, VN:NOPE-3; "
        "add an alias under items in the config."
    )


def test_850_unknown_unit_names_sku(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA*PO-1**20240501", "PO1*1*1*PL***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "unknown_unit"
    assert letter.sku == "TEE-RED-M"
    assert "PO102: unit 'PL' of TEE-RED-M has no conversion" in letter.message


@pytest.mark.parametrize(
    ("quantity", "fragment"),
    [
        ("", "PO102 is empty for TEE-RED-M"),
        ("abc", "PO102: quantity 'abc' of TEE-RED-M is not a plain decimal number"),
        ("1E30", "PO102: quantity '1E30' of TEE-RED-M is not a plain decimal number"),
        ("1_000", "PO102: quantity '1_000' of TEE-RED-M is not a plain decimal"),
        (
            "99999999999999999999",
            "more than the limit of 1000000000000",
        ),
        ("-2", "PO102 -2 EA of TEE-RED-M is negative"),
        ("1.5", "PO102: 1.5 EA of TEE-RED-M is 1.5 base units, not a whole number"),
    ],
)
def test_850_invalid_quantities(
    doc: Any, parse_x12: Parse, quantity: str, fragment: str
) -> None:
    body = ["BEG*00*SA*PO-1**20240501", f"PO1*1*{quantity}*EA***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body)))

    assert letter.error_class == "invalid_quantity"
    assert fragment in letter.message


def test_850_zero_padded_quantity(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*DS*PO-1**20240501", "PO1*item-1*0008*EA*400**VN*TR-M"]

    (line,) = only_events(parse_x12(doc.interchange("850", body)))

    assert line.ordered_quantity == 8
    assert line.line_id == "item-1"


def test_850_from_supplier_is_unexpected(doc: Any, parse_x12: Parse) -> None:
    body = ["BEG*00*SA*PO-1**20240501", "PO1*1*1*EA***VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("850", body, sender=doc.SUPP1)))

    assert letter.error_class == "unexpected_document"
    assert letter.partner == "SUPP1"
    assert (
        "Partner SUPP1 has role supplier for 850, but 850 is a purchase order "
        "(demand) and comes from a customer or sales_channel partner. Set "
        "partners.*.roles_by_transaction if this partner sends it in another role."
    ) in letter.message


def test_850_event_ids_are_distinct_and_stable(doc: Any, parse_x12: Parse) -> None:
    first = only_events(parse_x12(doc.interchange("850", PO_BODY)))
    again = only_events(parse_x12(doc.interchange("850", PO_BODY)))

    ids = [event.event_id for event in first]
    assert len(set(ids)) == 3
    assert [event.event_id for event in again] == ids


def test_850_new_content_with_reused_controls_changes_ids(
    doc: Any, parse_x12: Parse
) -> None:
    changed = [*PO_BODY[:2], "PO1*1*49*EA***BP*CUST-TRM*VN*TR-M", *PO_BODY[3:]]

    first = only_events(parse_x12(doc.interchange("850", PO_BODY)))
    second = only_events(parse_x12(doc.interchange("850", changed)))

    assert first[0].event_id != second[0].event_id
    assert first[1].event_id != second[1].event_id


def test_850_resend_new_control_number_same_ids(doc: Any, parse_x12: Parse) -> None:
    # A partner's translator resends with a fresh ISA13: the same document, so
    # the same event ids, which the dataflow then drops as repeats.
    first = only_events(parse_x12(doc.interchange("850", PO_BODY)))
    second = only_events(parse_x12(doc.interchange("850", PO_BODY, isa13="000000002")))

    assert [e.event_id for e in first] == [e.event_id for e in second]


def test_850_reused_control_number_new_content(doc: Any, parse_x12: Parse) -> None:
    changed = [segment.replace("PO-7001", "PO-7002") for segment in PO_BODY]
    first = only_events(parse_x12(doc.interchange("850", PO_BODY)))
    second = only_events(parse_x12(doc.interchange("850", changed)))

    assert first[0].event_id != second[0].event_id


SHIP_ORDER = [
    "W05*N*DO-3001*PO-7001",
    "N1*WH*TPL1 DC1*91*DC1",
    "LX*1",
    "W01*48*EA**VN*TR-M",
    "N9*LI*10",
    "LX*2",
    "W01*2*CA**VN*TB-M",
    "W76*50",
]


def ship_order(doc: Any, body: list[str], receiver: Any = None) -> bytes:
    """Return a 940 that we send to a 3PL (TPL1 by default)."""
    return doc.interchange("940", body, sender=doc.OURS, receiver=receiver or doc.TPL1)


def test_940_allocations(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(ship_order(doc, SHIP_ORDER)))

    assert len(events) == 2
    first, second = events
    assert isinstance(first, OrderAllocation)
    assert first.partner == "TPL1"
    assert first.sku == "TEE-RED-M"
    assert first.warehouse == "WH-3PL"
    assert first.order_id == "PO-7001"
    assert first.line_id == "10"
    assert first.quantity == 48
    assert first.document_id == "DO-3001"
    assert first.event_time == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert second.sku == "TEE-BLUE-M"
    assert second.line_id == "2"
    assert second.quantity == 48


def test_940_without_po_uses_depositor_order(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-3001", "W01*1*EA**VN*TR-M"]

    (allocation,) = only_events(parse_x12(ship_order(doc, body)))

    assert allocation.order_id == "DO-3001"
    assert allocation.document_id == "DO-3001"
    assert allocation.line_id == "1"
    # Without N1*WH the 3PL's only warehouse applies.
    assert allocation.warehouse == "WH-3PL"


def test_940_cancel_allocates_nothing(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*F*DO-3001*PO-7001", "W01*5*EA**VN*TR-M"]

    (allocation,) = only_events(parse_x12(ship_order(doc, body)))

    assert allocation.quantity == 0


def test_940_unsupported_status(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*X*DO-3001", "W01*5*EA**VN*TR-M"]

    letter = only_dead_letter(parse_x12(ship_order(doc, body)))

    assert letter.error_class == "unsupported_document"
    assert "W05-01 order status 'X'" in letter.message


def test_940_two_warehouses_need_n1(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "W01*5*EA**VN*TR-M"]

    letter = only_dead_letter(parse_x12(ship_order(doc, body, receiver=doc.TPL2)))

    assert letter.error_class == "unmapped_party"
    assert letter.message.endswith(
        "940 set ST02 0001 names no N1*WH party that maps to a warehouse, and "
        "partner TPL2 runs WH-A, WH-B. Add the N1*WH id under "
        "warehouses.*.locations in the config."
    )


def test_940_n1_picks_one_of_two_warehouses(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "N1*WH*B site*91*B", "W01*5*EA**VN*TR-M"]

    (allocation,) = only_events(parse_x12(ship_order(doc, body, receiver=doc.TPL2)))

    assert allocation.warehouse == "WH-B"


def test_940_case_code_lookup(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "W01*1*EA*001234567890"]

    (allocation,) = only_events(parse_x12(ship_order(doc, body)))

    assert allocation.sku == "TEE-RED-M"


def test_940_duplicate_line_ids(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "LX*1", "W01*1*EA**VN*TR-M", "LX*1", "W01*1*EA**VN*TB-M"]

    letter = only_dead_letter(parse_x12(ship_order(doc, body)))

    assert letter.error_class == "invalid_document"
    assert "repeats line id '1'" in letter.message


def test_940_from_customer_is_unexpected(doc: Any, parse_x12: Parse) -> None:
    body = ["W05*N*DO-1", "W01*1*EA**VN*TR-M"]

    letter = only_dead_letter(parse_x12(doc.interchange("940", body)))

    assert letter.error_class == "unexpected_document"
    assert letter.partner == "CUST1"
