"""The sample X12 files parse with the sample configuration into known events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.catalog import Catalog
from invsync.config import load_config
from invsync.events import (
    AdviceAction,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderAllocation,
    OrderLine,
    StatusQuantity,
    StockStatus,
    SupplyAdvice,
)
from sources import x12
from sources.base import AdapterInput

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
INGEST = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample_catalog() -> Catalog:
    """Provide the catalog of samples/config.yaml."""
    return Catalog(load_config(SAMPLES / "config.yaml"))


def parse_sample(name: str, catalog: Catalog) -> list[Any]:
    """Parse one sample file, which must give no dead letter."""
    path = SAMPLES / "x12" / name
    output = x12.parse(
        AdapterInput(data=path.read_bytes(), origin=str(path), ingest_time=INGEST),
        catalog,
    )
    assert output.dead_letters == []
    return list(output.events)


def test_every_supported_set_has_a_sample() -> None:
    names = sorted(path.name[:3] for path in (SAMPLES / "x12").glob("*.x12"))

    assert names == ["846", "850", "856", "940", "943", "944", "945", "947"]


def test_850_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("850-purchase-order.x12", sample_catalog)

    assert all(isinstance(event, OrderLine) for event in events)
    assert [(e.sku, e.line_id, e.ordered_quantity) for e in events] == [
        ("TEE-RED-M", "1", 48),
        ("TEE-BLUE-M", "2", 48),
        ("MUG-WHITE", "3", 6),
    ]
    assert {e.order_id for e in events} == {"PO-7001"}
    assert {e.action for e in events} == {OrderAction.PLACED}
    assert {e.partner for e in events} == {"CUST1"}


def test_856_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("856-ship-notice.x12", sample_catalog)

    assert all(isinstance(event, SupplyAdvice) for event in events)
    assert [(e.sku, e.quantity) for e in events] == [
        ("TEE-RED-M", 60),
        ("MUG-WHITE", 12),
    ]
    assert {e.warehouse for e in events} == {"WH-EAST"}
    assert {e.document_id for e in events} == {"ASN-5001"}
    assert {e.action for e in events} == {AdviceAction.ADVISED}
    # The sample partners read EDI dates in UTC.
    assert events[0].expected_date == datetime(2024, 5, 6, 0, 0, tzinfo=UTC)


def test_940_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("940-shipping-order.x12", sample_catalog)

    assert all(isinstance(event, OrderAllocation) for event in events)
    assert [(e.sku, e.line_id, e.quantity) for e in events] == [
        ("TEE-RED-M", "1", 48),
        ("TEE-BLUE-M", "2", 48),
    ]
    assert {(e.order_id, e.document_id, e.warehouse) for e in events} == {
        ("PO-7001", "DO-3001", "WH-3PL")
    }


def test_943_sample(sample_catalog: Catalog) -> None:
    (advice,) = parse_sample("943-transfer-advice.x12", sample_catalog)

    assert isinstance(advice, SupplyAdvice)
    assert advice.sku == "MUG-WHITE"
    assert advice.quantity == 60
    assert advice.document_id == "TR-4001"
    assert advice.warehouse == "WH-3PL"


def test_944_sample(sample_catalog: Catalog) -> None:
    (receipt,) = parse_sample("944-receipt.x12", sample_catalog)

    assert isinstance(receipt, InventoryMovement)
    assert receipt.movement_type is MovementType.RECEIPT
    assert receipt.quantity == 60
    assert receipt.document_id == "TR-4001"
    assert receipt.lot == "LOT-A"


def test_945_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("945-shipping-advice.x12", sample_catalog)

    assert [(e.movement_type, e.sku, e.quantity, e.line_id) for e in events] == [
        (MovementType.SHIP, "TEE-RED-M", 48, "1"),
        (MovementType.SHIP, "TEE-BLUE-M", 24, "2"),
    ]
    assert {(e.order_id, e.document_id) for e in events} == {("PO-7001", "SHP-1")}


def test_947_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("947-adjustment.x12", sample_catalog)

    assert [
        (e.movement_type, e.sku, e.quantity, e.stock_status, e.to_status)
        for e in events
    ] == [
        (
            MovementType.STATUS_CHANGE,
            "TEE-RED-M",
            2,
            StockStatus.AVAILABLE,
            StockStatus.DAMAGED,
        ),
        (MovementType.ADJUSTMENT, "TEE-BLUE-M", -1, StockStatus.AVAILABLE, None),
        (MovementType.ADJUSTMENT, "MUG-WHITE", -3, StockStatus.AVAILABLE, None),
        (
            MovementType.STATUS_CHANGE,
            "TEE-RED-M",
            1,
            StockStatus.HOLD,
            StockStatus.AVAILABLE,
        ),
    ]


def test_846_sample(sample_catalog: Catalog) -> None:
    events = parse_sample("846-stock-advice.x12", sample_catalog)

    assert all(isinstance(event, InventorySnapshot) for event in events)
    assert [(e.sku, e.balances) for e in events] == [
        (
            "TEE-RED-M",
            [
                StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=40),
                StatusQuantity(stock_status=StockStatus.HOLD, quantity=5),
                StatusQuantity(stock_status=StockStatus.DAMAGED, quantity=2),
            ],
        ),
        (
            "MUG-WHITE",
            [StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=36)],
        ),
        (
            "TEE-BLUE-M",
            [StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=30)],
        ),
    ]
    # BIA04/BIA05 20240506 0600, read in UTC.
    assert events[0].as_of == datetime(2024, 5, 6, 6, 0, tzinfo=UTC)
