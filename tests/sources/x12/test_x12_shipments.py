"""Unit tests of the 856, 943, 944 and 945 mappings, with exact canonical events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from invsync.events import (
    AdviceAction,
    InventoryMovement,
    MovementType,
    StockStatus,
    SupplyAdvice,
)
from sources.base import AdapterOutput

Parse = Callable[[bytes], AdapterOutput]

ASN = [
    "BSN*00*ASN-5001*20240502*1400",
    "HL*1**S",
    "DTM*011*20240502*1400",
    "DTM*017*20240506",
    "N1*SF*Supplier One*92*SUPP1",
    "N1*ST*Invsync East*92*EAST",
    "HL*2*1*O",
    "PRF*PO-9001",
    "HL*3*2*P",
    "HL*4*3*I",
    "LIN**UP*012345678905*VN*TR-M",
    "SN1**2*CA",
    "HL*5*2*P",
    "HL*6*5*I",
    "LIN**UP*012345678905",
    "SN1**12*EA",
    "HL*7*5*I",
    "LIN**VN*MW-11",
    "SN1**1*CA",
    "HL*8*1*O",
    "HL*9*8*I",
    "LIN**VN*TR-M",
    "SN1**3*EA",
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


def asn(doc: Any, body: list[str]) -> bytes:
    """Return an 856 from the supplier SUPP1."""
    return doc.interchange("856", body, sender=doc.SUPP1)


def test_856_sums_per_sku_over_packs_and_orders(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(asn(doc, ASN)))

    assert [type(event) for event in events] == [SupplyAdvice, SupplyAdvice]
    red, mug = events
    assert red.sku == "TEE-RED-M"
    assert red.quantity == 63
    assert mug.sku == "MUG-WHITE"
    assert mug.quantity == 12
    assert red.partner == "SUPP1"
    assert red.warehouse == "WH-EAST"
    assert red.document_id == "ASN-5001"
    assert red.action is AdviceAction.ADVISED
    # BSN03/BSN04 and DTM*017 in America/Chicago (CDT in May).
    assert red.event_time == datetime(2024, 5, 2, 19, 0, tzinfo=UTC)
    assert red.expected_date == datetime(2024, 5, 6, 5, 0, tzinfo=UTC)
    assert red.event_id != mug.event_id


def test_856_expected_date_fallback_to_shipped(doc: Any, parse_x12: Parse) -> None:
    body = [segment for segment in ASN if not segment.startswith("DTM*017")]

    events = only_events(parse_x12(asn(doc, body)))

    assert events[0].expected_date == datetime(2024, 5, 2, 19, 0, tzinfo=UTC)


def test_856_expected_date_prefers_067(doc: Any, parse_x12: Parse) -> None:
    body = [s for s in ASN if not s.startswith("DTM*017")]
    body.insert(3, "DTM*067*20240507")

    events = only_events(parse_x12(asn(doc, body)))

    assert events[0].expected_date == datetime(2024, 5, 7, 5, 0, tzinfo=UTC)


def test_856_without_dates_has_no_expected_date(doc: Any, parse_x12: Parse) -> None:
    body = [s for s in ASN if not s.startswith("DTM*")]

    events = only_events(parse_x12(asn(doc, body)))

    assert events[0].expected_date is None


def test_856_cancellation_withdraws(doc: Any, parse_x12: Parse) -> None:
    body = ["BSN*01*ASN-5001*20240502*1400", *ASN[1:]]

    events = only_events(parse_x12(asn(doc, body)))

    assert [event.action for event in events] == [
        AdviceAction.CANCELLED,
        AdviceAction.CANCELLED,
    ]


def test_856_without_ship_to(doc: Any, parse_x12: Parse) -> None:
    body = [s for s in ASN if not s.startswith("N1*ST")]

    letter = only_dead_letter(parse_x12(asn(doc, body)))

    assert letter.error_class == "unmapped_party"
    assert letter.message.endswith("856 set ST02 0001 names no ship-to party (N1*ST).")


def test_856_unknown_ship_to(doc: Any, parse_x12: Parse) -> None:
    body = [s.replace("92*EAST", "92*NORTH") for s in ASN]

    letter = only_dead_letter(parse_x12(asn(doc, body)))

    assert letter.error_class == "unmapped_party"
    assert "No warehouse is configured for 92:NORTH" in letter.message


def test_856_sn1_without_lin(doc: Any, parse_x12: Parse) -> None:
    body = ["BSN*00*A*20240502*1400", "HL*1**S", "N1*ST*E*92*EAST", "SN1**1*EA"]

    letter = only_dead_letter(parse_x12(asn(doc, body)))

    assert letter.error_class == "invalid_document"
    assert letter.message.endswith(
        "856 set ST02 0001 has SN1 (segment 5 of the set) without a LIN item in "
        "its HL level."
    )


def test_856_unmapped_item_rejects_whole_set(doc: Any, parse_x12: Parse) -> None:
    body = [s.replace("LIN**VN*MW-11", "LIN**VN*NOPE") for s in ASN]

    letter = only_dead_letter(parse_x12(asn(doc, body)))

    assert letter.error_class == "unmapped_item"
    assert "LIN (segment 19 of the set): no SKU is mapped for VN:NOPE" in letter.message


def test_856_invalid_bsn_date(doc: Any, parse_x12: Parse) -> None:
    body = ["BSN*00*ASN-5001*20240230*1400", *ASN[1:]]

    letter = only_dead_letter(parse_x12(asn(doc, body)))

    assert letter.error_class == "invalid_date"


def test_856_from_customer_is_unexpected(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(doc.interchange("856", ASN)))

    assert letter.error_class == "unexpected_document"
    assert "Partner CUST1 has role customer for 856" in letter.message


TRANSFER = [
    "W06*N*TR-4001*20240503",
    "N1*WH*TPL1 DC1*91*DC1",
    "G62*02*20240509",
    "G62*17*20240508",
    "W04*5*CA**VN*MW-11",
    "W04*6*EA**VN*MW-11",
    "W04*1*CA**VN*TR-M",
    "W03*12",
]


def transfer(doc: Any, body: list[str]) -> bytes:
    """Return a 943 that we send to TPL1."""
    return doc.interchange("943", body, sender=doc.OURS, receiver=doc.TPL1)


def test_943_supply_per_sku(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(transfer(doc, TRANSFER)))

    assert [(e.sku, e.quantity) for e in events] == [
        ("MUG-WHITE", 66),
        ("TEE-RED-M", 24),
    ]
    mug = events[0]
    assert isinstance(mug, SupplyAdvice)
    assert mug.partner == "TPL1"
    assert mug.warehouse == "WH-3PL"
    assert mug.document_id == "TR-4001"
    assert mug.event_time == datetime(2024, 5, 3, 0, 0, tzinfo=UTC)
    assert mug.expected_date == datetime(2024, 5, 8, 0, 0, tzinfo=UTC)


def test_943_expected_date_requested_delivery(doc: Any, parse_x12: Parse) -> None:
    body = [s for s in TRANSFER if not s.startswith("G62*17")]

    events = only_events(parse_x12(transfer(doc, body)))

    assert events[0].expected_date == datetime(2024, 5, 9, 0, 0, tzinfo=UTC)


def test_943_without_depositor_order(doc: Any, parse_x12: Parse) -> None:
    body = ["W06*N**20240503", *TRANSFER[1:]]

    letter = only_dead_letter(parse_x12(transfer(doc, body)))

    assert letter.error_class == "invalid_document"
    assert "has no depositor order number in W06-02" in letter.message


RECEIPT = [
    "W17*F*20240508*WR-1*TR-4001",
    "N1*WH*TPL1 DC1*91*DC1",
    "W07*60*EA**VN*MW-11***LOT-A",
    "W07*2*CA**VN*MW-11",
    "W14*62",
]


def receipt(doc: Any, body: list[str], sender: Any = None) -> bytes:
    """Return a 944 from a 3PL (TPL1 by default)."""
    return doc.interchange("944", body, sender=sender or doc.TPL1, receiver=doc.OURS)


def test_944_receipts(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(receipt(doc, RECEIPT)))

    assert len(events) == 2
    first, second = events
    assert isinstance(first, InventoryMovement)
    assert first.movement_type is MovementType.RECEIPT
    assert first.stock_status is StockStatus.AVAILABLE
    assert first.sku == "MUG-WHITE"
    assert first.warehouse == "WH-3PL"
    assert first.quantity == 60
    assert first.document_id == "TR-4001"
    assert first.lot == "LOT-A"
    assert first.event_time == datetime(2024, 5, 8, 0, 0, tzinfo=UTC)
    assert second.quantity == 24
    assert second.lot is None
    assert first.event_id != second.event_id


def test_944_receipt_number_when_no_depositor_order(doc: Any, parse_x12: Parse) -> None:
    body = ["W17*F*20240508*WR-1", *RECEIPT[1:]]

    events = only_events(parse_x12(receipt(doc, body)))

    assert events[0].document_id == "WR-1"


def test_944_not_on_hand_source(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(receipt(doc, RECEIPT, sender=doc.TPL3)))

    assert letter.error_class == "not_on_hand_source"
    assert letter.partner == "TPL3"
    assert letter.message.endswith(
        "944 set ST02 0001 reports stock of warehouse WH-3PL, whose on-hand "
        "source is TPL1, not partner TPL3."
    )


def test_944_from_supplier_is_unexpected(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(receipt(doc, RECEIPT, sender=doc.SUPP1)))

    assert letter.error_class == "unexpected_document"


SHIP_ADVICE = [
    "W06*F*DO-3001*20240504*SHP-1**PO-7001",
    "N1*WH*TPL1 DC1*91*DC1",
    "LX*1",
    "W12*CC*72*36**CA*001234567890*UK*00012345678905*L1",
    "N9*LI*1",
    "LX*2",
    "W12*CC*72*36**CA*001234567890*UK*00012345678905*L2",
    "N9*LI*1",
    "LX*3",
    "W12*DS*5***EA**VN*MW-11",
    "W03*72",
]


def ship_advice(doc: Any, body: list[str]) -> bytes:
    """Return a 945 from TPL1."""
    return doc.interchange("945", body, sender=doc.TPL1, receiver=doc.OURS)


def test_945_one_movement_per_lot(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(ship_advice(doc, SHIP_ADVICE)))

    assert len(events) == 2
    first, second = events
    assert first.movement_type is MovementType.SHIP
    assert first.sku == "TEE-RED-M"
    assert first.quantity == 864
    assert first.lot == "L1"
    assert second.lot == "L2"
    assert first.order_id == "PO-7001"
    assert first.line_id == "1"
    assert first.document_id == "SHP-1"
    assert first.warehouse == "WH-3PL"
    assert first.event_time == datetime(2024, 5, 4, 0, 0, tzinfo=UTC)
    assert first.event_id != second.event_id


def test_945_without_po_uses_depositor_order(doc: Any, parse_x12: Parse) -> None:
    body = ["W06*F*DO-3001*20240504", "LX*1", "W12*CC*1*1**EA**VN*MW-11"]

    (movement,) = only_events(parse_x12(ship_advice(doc, body)))

    assert movement.order_id == "DO-3001"
    assert movement.document_id == "DO-3001"
    assert movement.line_id == "1"


def test_945_without_line_reference(doc: Any, parse_x12: Parse) -> None:
    body = ["W06*F*DO-3001*20240504", "W12*CC*1*1**EA**VN*MW-11"]

    (movement,) = only_events(parse_x12(ship_advice(doc, body)))

    assert movement.line_id is None


def test_945_literal_date_placeholder(doc: Any, parse_x12: Parse) -> None:
    body = ["W06*X*12345*CCYYMMDD*123456", *SHIP_ADVICE[1:]]

    letter = only_dead_letter(parse_x12(ship_advice(doc, body)))

    assert letter.error_class == "invalid_date"
    assert letter.message == (
        "945 set ST02 0001 in interchange ISA13 000000001 (GS06 1) rejected. "
        "W06-03 'CCYYMMDD' is not a date in CCYYMMDD or YYMMDD form."
    )


@pytest.mark.parametrize("code", ["944", "945"])
def test_movement_sets_need_a_detail_line(
    doc: Any, parse_x12: Parse, code: str
) -> None:
    header = "W17*F*20240508*WR-1" if code == "944" else "W06*F*DO-1*20240504"

    letter = only_dead_letter(
        parse_x12(doc.interchange(code, [header], sender=doc.TPL1))
    )

    assert letter.error_class == "invalid_document"
    assert "has no W" in letter.message


def test_945_shipped_g62_sets_event_time(doc: Any, parse_x12: Parse) -> None:
    body = [
        "W06*F*DO-1*20240504*SHP-1",
        "G62*11*20240504*8*1500",
        "LX*1",
        "W12*CC*1*1**EA**VN*MW-11",
    ]

    (movement,) = only_events(parse_x12(ship_advice(doc, body)))

    assert movement.event_time == datetime(2024, 5, 4, 15, 0, tzinfo=UTC)


def test_944_receipt_time_from_w17(doc: Any, parse_x12: Parse) -> None:
    body = ["W17*F*20240508*WR-1*TR-4001**X*0945", *RECEIPT[1:]]

    events = only_events(parse_x12(receipt(doc, body)))

    assert events[0].event_time == datetime(2024, 5, 8, 9, 45, tzinfo=UTC)
