"""Unit tests of the 846 and 947 mappings, with exact canonical events."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from invsync.events import (
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    SnapshotKind,
    StatusQuantity,
    StockStatus,
)
from sources.base import AdapterOutput

Parse = Callable[[bytes], AdapterOutput]

ADVICE = [
    "BIA*00*SI*INV-1*20240506*0600",
    "N1*WH*TPL1 DC1*91*DC1",
    "LIN*1*UP*012345678905",
    "QTY*17*40*EA",
    "QTY*QH*5*EA",
    "QTY*74*2*EA",
    "QTY*33*35*EA",
    "QTY*QB*9*EA",
    "LIN*2*VN*MW-11",
    "QTY*17*3",
    "UIT*CA",
    "LIN*3*VN*TB-M",
    "QTY*34*7*EA",
    "LIN*4*VN*MW-11",
    "QTY*17*1*CA",
    "QTY*QH*4*EA",
    "CTT*4",
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


def advice(doc: Any, body: list[str], sender: Any = None) -> bytes:
    """Return an 846 from a partner (TPL1 by default)."""
    return doc.interchange("846", body, sender=sender or doc.TPL1, receiver=doc.OURS)


def test_846_snapshot_per_sku(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(advice(doc, ADVICE)))

    assert [event.sku for event in events] == ["TEE-RED-M", "MUG-WHITE"]
    red = events[0]
    assert isinstance(red, InventorySnapshot)
    assert red.snapshot_kind is SnapshotKind.STOCK_ADVICE
    assert red.partner == "TPL1"
    assert red.warehouse == "WH-3PL"
    assert red.document_id == "INV-1"
    assert red.as_of == datetime(2024, 5, 6, 6, 0, tzinfo=UTC)
    assert red.event_time == red.as_of
    assert red.balances == [
        StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=40),
        StatusQuantity(stock_status=StockStatus.HOLD, quantity=5),
        StatusQuantity(stock_status=StockStatus.DAMAGED, quantity=2),
    ]


def test_846_lins_of_one_sku_are_summed(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(advice(doc, ADVICE)))

    mug = events[1]
    # LIN 2: 3 CA from the UIT unit; LIN 4: 1 CA and 4 EA on hold.
    assert mug.balances == [
        StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=48),
        StatusQuantity(stock_status=StockStatus.HOLD, quantity=4),
    ]


def test_846_lin_without_on_hand_is_logged(
    doc: Any, parse_x12: Parse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sources.x12.inventory")

    events = only_events(parse_x12(advice(doc, ADVICE)))

    assert "TEE-BLUE-M" not in [event.sku for event in events]
    assert (
        "846 set ST02 0001 LIN (segment 13 of the set) (TEE-BLUE-M) has no "
        "on-hand quantity, so no snapshot"
    ) in caplog.text
    assert (
        "846 set ST02 0001 LIN (segment 4 of the set) (TEE-RED-M): QTY "
        "qualifiers 33, QB do not set on hand, skipped"
    ) in caplog.text


def test_846_as_of_from_effective_dtm(doc: Any, parse_x12: Parse) -> None:
    body = [
        "BIA*00*SI*INV-1*20040811",
        "DTM*007*20040811*2300*GM",
        "LIN*1*VN*TR-M",
        "QTY*17*1*EA",
    ]

    (snapshot,) = only_events(parse_x12(advice(doc, body)))

    assert snapshot.as_of == datetime(2004, 8, 11, 23, 0, tzinfo=UTC)


def test_846_as_of_bia_date_only(doc: Any, parse_x12: Parse) -> None:
    body = ["BIA*00*SI*INV-1*20240506", "LIN*1*VN*TR-M", "QTY*17*1*EA"]

    (snapshot,) = only_events(parse_x12(advice(doc, body)))

    assert snapshot.as_of == datetime(2024, 5, 6, 0, 0, tzinfo=UTC)


def test_846_as_of_falls_back_to_transmission(doc: Any, parse_x12: Parse) -> None:
    body = ["BIA*00*SI*INV-1", "LIN*1*VN*TR-M", "QTY*17*1*EA"]

    (snapshot,) = only_events(parse_x12(advice(doc, body)))

    assert snapshot.as_of == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert snapshot.document_id == "INV-1"


def test_846_from_supplier_is_information_only(
    doc: Any, parse_x12: Parse, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sources.x12.inventory")

    output = parse_x12(advice(doc, ADVICE, sender=doc.SUPP1))

    assert output.events == []
    assert output.dead_letters == []
    assert (
        "846 set ST02 0001 from supplier SUPP1 is information about the "
        "supplier's stock, no event"
    ) in caplog.text


def test_846_not_on_hand_source(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(advice(doc, ADVICE, sender=doc.TPL3)))

    assert letter.error_class == "not_on_hand_source"


def test_846_from_customer_is_unexpected(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(advice(doc, ADVICE, sender=doc.CUST1)))

    assert letter.error_class == "unexpected_document"


def test_846_negative_balance_is_invalid(doc: Any, parse_x12: Parse) -> None:
    body = ["BIA*00*SI*INV-1*20240506", "LIN*1*VN*TR-M", "QTY*17*-1*EA"]

    letter = only_dead_letter(parse_x12(advice(doc, body)))

    assert letter.error_class == "invalid_quantity"
    assert letter.sku == "TEE-RED-M"


ADJUSTMENT = [
    "W15*20240505*ADJ-1",
    "N1*WH*TPL1 DC1*91*DC1",
    "LX*1",
    "W19*AU*2*EA**VN*TR-M",
    "LX*2",
    "W19*07*1*EA**VN*TB-M",
    "LX*3",
    "W19*AA*-3*EA**VN*MW-11",
    "LX*4",
    "W19*55*1*CA**VN*TR-M*****************",
    "LX*5",
    "W19*56*-2*EA**VN*MW-11***LOT9",
]


def adjustment(doc: Any, body: list[str], sender: Any = None) -> bytes:
    """Return a 947 from a partner (TPL1 by default)."""
    return doc.interchange("947", body, sender=sender or doc.TPL1, receiver=doc.OURS)


def test_947_movements(doc: Any, parse_x12: Parse) -> None:
    events = only_events(parse_x12(adjustment(doc, ADJUSTMENT)))

    assert len(events) == 5
    assert all(isinstance(event, InventoryMovement) for event in events)
    damaged, destroyed, counted, off_hold, increase = events

    assert damaged.movement_type is MovementType.STATUS_CHANGE
    assert damaged.stock_status is StockStatus.AVAILABLE
    assert damaged.to_status is StockStatus.DAMAGED
    assert damaged.quantity == 2
    assert damaged.reason_code == "AU"

    assert destroyed.movement_type is MovementType.ADJUSTMENT
    assert destroyed.quantity == -1
    assert destroyed.reason_code == "07"

    assert counted.movement_type is MovementType.ADJUSTMENT
    assert counted.quantity == -3
    assert counted.reason_code == "AA"

    assert off_hold.movement_type is MovementType.STATUS_CHANGE
    assert off_hold.stock_status is StockStatus.HOLD
    assert off_hold.to_status is StockStatus.AVAILABLE
    assert off_hold.quantity == 24

    assert increase.movement_type is MovementType.ADJUSTMENT
    assert increase.quantity == 2
    assert increase.lot == "LOT9"

    assert damaged.document_id == "ADJ-1"
    assert damaged.warehouse == "WH-3PL"
    assert damaged.event_time == datetime(2024, 5, 5, 0, 0, tzinfo=UTC)
    assert len({event.event_id for event in events}) == 5


@pytest.mark.parametrize(
    ("code", "sent", "expected"),
    [
        ("AH", "1", 1),
        ("AH", "-1", -1),
        ("06", "4", -4),
        ("03", "-4", -4),
        ("54", "4", 4),
        ("CR", "-4", 4),
        ("AV", "-1", -1),
        ("AV", "2", 2),
    ],
)
def test_947_direction_by_reason_code(
    doc: Any, parse_x12: Parse, code: str, sent: str, expected: int
) -> None:
    body = ["W15*20240505*ADJ-1", f"W19*{code}*{sent}*EA**VN*TR-M"]

    (movement,) = only_events(parse_x12(adjustment(doc, body)))

    assert movement.movement_type is MovementType.ADJUSTMENT
    assert movement.quantity == expected


@pytest.mark.parametrize(
    ("code", "leaves", "enters"),
    [
        ("05", StockStatus.AVAILABLE, StockStatus.HOLD),
        ("08", StockStatus.AVAILABLE, StockStatus.QC),
        ("88", StockStatus.QC, StockStatus.AVAILABLE),
        ("52", StockStatus.DAMAGED, StockStatus.AVAILABLE),
        ("AW", StockStatus.AVAILABLE, StockStatus.RECALLED),
    ],
)
def test_947_status_codes(
    doc: Any,
    parse_x12: Parse,
    code: str,
    leaves: StockStatus,
    enters: StockStatus,
) -> None:
    body = ["W15*20240505*ADJ-1", f"W19*{code}*-3*EA**VN*TR-M"]

    (movement,) = only_events(parse_x12(adjustment(doc, body)))

    assert movement.movement_type is MovementType.STATUS_CHANGE
    assert movement.stock_status is leaves
    assert movement.to_status is enters
    assert movement.quantity == 3


def test_947_zero_quantity_is_invalid(doc: Any, parse_x12: Parse) -> None:
    body = ["W15*20240505*ADJ-1", "W19*AA*0*EA**VN*TR-M"]

    letter = only_dead_letter(parse_x12(adjustment(doc, body)))

    assert letter.error_class == "invalid_quantity"
    assert "W19-02 of TEE-RED-M is zero, so the line adjusts nothing" in (
        letter.message
    )


def test_947_not_on_hand_source(doc: Any, parse_x12: Parse) -> None:
    body = ["W15*20240505*ADJ-1", "N1*WH*DC1*91*DC1", "W19*AA*1*EA**VN*TR-M"]

    letter = only_dead_letter(parse_x12(adjustment(doc, body, sender=doc.TPL3)))

    assert letter.error_class == "not_on_hand_source"


def test_947_without_w19(doc: Any, parse_x12: Parse) -> None:
    letter = only_dead_letter(parse_x12(adjustment(doc, ["W15*20240505*ADJ-1"])))

    assert letter.error_class == "invalid_document"
    assert letter.message.endswith("947 set ST02 0001 has no W19 line.")


def test_947_effective_g62_sets_event_time(doc: Any, parse_x12: Parse) -> None:
    body = [
        "W15*20240505*ADJ-1",
        "G62*07*20240505*8*1630",
        "LX*1",
        "W19*AA*1*EA**VN*TR-M",
    ]

    (movement,) = only_events(parse_x12(adjustment(doc, body)))

    assert movement.event_time == datetime(2024, 5, 5, 16, 30, tzinfo=UTC)
