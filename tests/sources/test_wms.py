"""Unit tests of the WMS JSON-lines adapter."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.avro import decode, encode
from invsync.catalog import MAX_QUANTITY, Catalog
from invsync.config import InvsyncConfig, load_config
from invsync.events import (
    INPUT_EVENT_TYPES,
    ChannelInventoryLevel,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderLine,
    SafetyStockSetting,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    SupplyAdvice,
    WarehouseSetting,
)
from sources import wms
from sources.base import AdapterInput, AdapterOutput

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "wms"
SAMPLE_CONFIG = REPO / "samples" / "config.yaml"
INGEST = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
EVENT_TIME = "2024-05-01T14:00:00Z"

CONFIG = InvsyncConfig.model_validate(
    {
        "partners": {"TPL1": {"role": "3pl"}},
        "warehouses": {
            "WH-EAST": {},
            "WH-WEST": {},
            "WH-3PL": {"on_hand_source": "TPL1"},
        },
    }
)
CATALOG = Catalog(CONFIG)


def receipt(**changes: Any) -> dict[str, Any]:
    """Return a receipt record of 12 units of SKU-RED at WH-EAST."""
    record: dict[str, Any] = {
        "type": "InventoryMovement",
        "event_id": "wms-east-rcv-1",
        "event_time": EVENT_TIME,
        "sku": "SKU-RED",
        "warehouse": "WH-EAST",
        "movement_type": "RECEIPT",
        "quantity": 12,
        "document_id": "ASN-7001",
    }
    record.update(changes)
    return record


def lines(*records: dict[str, Any] | str) -> bytes:
    """Return JSON lines; a str record is written as it is."""
    rendered = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return "\n".join(rendered).encode() + b"\n"


def run(data: bytes, catalog: Catalog = CATALOG) -> AdapterOutput:
    """Parse bytes as one WMS file."""
    item = AdapterInput(
        data=data,
        origin="east.jsonl",
        hints={"format": "wms-jsonl"},
        ingest_time=INGEST,
    )
    return wms.parse(item, catalog)


def only_dead_letter(output: AdapterOutput) -> tuple[str, str]:
    """Return (error class, message) of an output that is one dead letter."""
    assert output.events == []
    assert len(output.dead_letters) == 1
    letter = output.dead_letters[0]
    return letter.error_class, letter.message


def test_receipt_fields() -> None:
    output = run(lines(receipt()))

    assert output.dead_letters == []
    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, InventoryMovement)
    assert event.event_id == "wms-east-rcv-1"
    assert event.source is Source.WMS
    assert event.partner is None
    assert event.event_time == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    assert event.ingest_time == INGEST
    assert event.sku == "SKU-RED"
    assert event.warehouse == "WH-EAST"
    assert event.stock_status is StockStatus.AVAILABLE
    assert event.movement_type is MovementType.RECEIPT
    assert event.quantity == 12
    assert event.document_id == "ASN-7001"


def test_explicit_ingest_time_and_source() -> None:
    record = receipt(ingest_time="2024-05-01T14:00:05+00:00", source="ERP")
    event = run(lines(record)).events[0]

    assert event.ingest_time == datetime(2024, 5, 1, 14, 0, 5, tzinfo=UTC)
    assert event.source is Source.ERP


def test_null_ingest_time_defaults() -> None:
    event = run(lines(receipt(ingest_time=None, source=None))).events[0]

    assert event.ingest_time == INGEST
    assert event.source is Source.WMS


def test_snapshot_fields() -> None:
    record = {
        "type": "InventorySnapshot",
        "event_id": "wms-west-cc-1",
        "event_time": "2024-05-01T18:00:00Z",
        "sku": "SKU-BLUE",
        "warehouse": "WH-WEST",
        "snapshot_kind": "CYCLE_COUNT",
        "as_of": "2024-05-01T17:45:00-00:00",
        "balances": [
            {"stock_status": "AVAILABLE", "quantity": 40},
            {"stock_status": "DAMAGED", "quantity": 2},
        ],
        "document_id": "CC-0501-W",
    }
    event = run(lines(record)).events[0]

    assert isinstance(event, InventorySnapshot)
    assert event.snapshot_kind is SnapshotKind.CYCLE_COUNT
    assert event.as_of == datetime(2024, 5, 1, 17, 45, tzinfo=UTC)
    assert event.balances == [
        StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=40),
        StatusQuantity(stock_status=StockStatus.DAMAGED, quantity=2),
    ]


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (
            {
                "type": "SafetyStockSetting",
                "source": "CONFIG",
                "sku": "SKU-RED",
                "warehouse": "WH-3PL",
                "quantity": 5,
            },
            SafetyStockSetting,
        ),
        (
            {"type": "WarehouseSetting", "warehouse": "WH-3PL", "active": False},
            WarehouseSetting,
        ),
        (
            {
                "type": "SupplyAdvice",
                "sku": "SKU-RED",
                "warehouse": "WH-WEST",
                "document_id": "PO-88",
                "quantity": 30,
            },
            SupplyAdvice,
        ),
        (
            {
                "type": "OrderLine",
                "sku": "SKU-RED",
                "order_id": "SO-1",
                "line_id": "1",
                "action": "PLACED",
                "ordered_quantity": 3,
                "version_time": EVENT_TIME,
            },
            OrderLine,
        ),
        (
            {"type": "ChannelInventoryLevel", "sku": "SKU-RED", "available": None},
            ChannelInventoryLevel,
        ),
    ],
)
def test_other_record_types(record: dict[str, Any], model: type[Any]) -> None:
    record = {"event_id": "e-1", "event_time": EVENT_TIME, **record}
    output = run(lines(record))

    assert output.dead_letters == []
    assert len(output.events) == 1
    assert type(output.events[0]) is model


def test_bad_line_does_not_stop_others() -> None:
    bad = '{"type": "InventoryMovement", "event_id": '
    data = lines(receipt(), bad, receipt(event_id="wms-east-rcv-2"))
    output = run(data)

    assert [event.event_id for event in output.events] == [
        "wms-east-rcv-1",
        "wms-east-rcv-2",
    ]
    assert len(output.dead_letters) == 1
    letter = output.dead_letters[0]
    assert letter.error_class == "invalid_json"
    assert letter.original == bad.encode()
    assert letter.origin == "east.jsonl:2"
    assert letter.source_format == "wms-jsonl"
    assert letter.hints == {"format": "wms-jsonl"}
    assert letter.failed_at == INGEST


def test_blank_lines_crlf_and_bom() -> None:
    data = (
        b"\xef\xbb\xbf"
        + json.dumps(receipt()).encode()
        + b"\r\n\r\n   \n"
        + json.dumps(receipt(event_id="wms-east-rcv-2")).encode()
    )
    output = run(data)

    assert output.dead_letters == []
    assert [event.event_id for event in output.events] == [
        "wms-east-rcv-1",
        "wms-east-rcv-2",
    ]


def test_invalid_utf8_line() -> None:
    error_class, message = only_dead_letter(run(b'{"type": "\xff"}\n'))

    assert error_class == "invalid_json"
    assert "not UTF-8" in message


def test_unknown_type() -> None:
    error_class, message = only_dead_letter(run(lines(receipt(type="Shipment"))))

    assert error_class == "unknown_type"
    assert message.startswith("unknown type 'Shipment'")


def test_output_type_is_unknown() -> None:
    error_class, _ = only_dead_letter(run(lines(receipt(type="AtpRecord"))))

    assert error_class == "unknown_type"


def test_missing_type() -> None:
    record = receipt()
    del record["type"]
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "unknown_type"
    assert message.startswith("the record has no type")


def test_non_object_line() -> None:
    error_class, message = only_dead_letter(run(b"[1, 2]\n"))

    assert error_class == "invalid_record"
    assert message == "the line must be a JSON object, got a JSON array"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"quantity": "12"}, "quantity: Input should be a valid integer"),
        ({"quantity": 12.5}, "quantity: Input should be a valid integer"),
        ({"event_time": "2024-05-01T14:00:00"}, "event_time: Value error"),
        ({"movement_type": "SHIP", "quantity": -3}, "quantity must not be negative"),
        ({"movement_type": "STATUS_CHANGE"}, "STATUS_CHANGE needs a to_status"),
        ({"movement_type": "TRANSFER_OUT"}, "TRANSFER_OUT needs a transfer_id"),
        ({"event_id": ""}, "event_id: String should have at least 1 character"),
        ({"stock_status": "LOST"}, "stock_status: Input should be"),
    ],
)
def test_invalid_record(change: dict[str, Any], fragment: str) -> None:
    error_class, message = only_dead_letter(run(lines(receipt(**change))))

    assert error_class == "invalid_record"
    assert message.startswith("invalid InventoryMovement: ")
    assert fragment in message


def test_missing_event_id() -> None:
    record = receipt()
    del record["event_id"]
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert message == "invalid InventoryMovement: event_id: Field required"


def test_unknown_field() -> None:
    error_class, message = only_dead_letter(run(lines(receipt(qty=3, lot_no="L1"))))

    assert error_class == "invalid_record"
    assert message == "unknown field lot_no, qty for InventoryMovement"


def test_movement_at_3pl_warehouse() -> None:
    error_class, message = only_dead_letter(run(lines(receipt(warehouse="WH-3PL"))))

    assert error_class == "not_on_hand_source"
    assert "WH-3PL" in message
    assert "TPL1" in message


def test_snapshot_at_3pl_warehouse() -> None:
    record = {
        "type": "InventorySnapshot",
        "event_id": "cc-3pl",
        "event_time": EVENT_TIME,
        "sku": "SKU-RED",
        "warehouse": "WH-3PL",
        "snapshot_kind": "CYCLE_COUNT",
        "as_of": EVENT_TIME,
        "balances": [{"stock_status": "AVAILABLE", "quantity": 1}],
    }
    error_class, _ = only_dead_letter(run(lines(record)))

    assert error_class == "not_on_hand_source"


def test_unknown_warehouse() -> None:
    error_class, message = only_dead_letter(run(lines(receipt(warehouse="WH-NORTH"))))

    assert error_class == "unmapped_party"
    assert "warehouse 'WH-NORTH' is not configured" in message


def test_dead_letter_ids_are_stable() -> None:
    data = lines(receipt(warehouse="WH-NORTH"))

    assert run(data).dead_letters[0].dead_letter_id == (
        run(data).dead_letters[0].dead_letter_id
    )


# Samples.

SAMPLE_FILES = sorted(SAMPLES.glob("*.jsonl"))


def test_samples_present() -> None:
    names = {path.name for path in SAMPLE_FILES}

    assert names >= {"movements.jsonl", "transfer.jsonl", "cycle-count.jsonl"}
    assert "settings.jsonl" in names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.name)
def test_sample_parses(path: Path) -> None:
    output = run(path.read_bytes())

    assert output.dead_letters == []
    assert len(output.events) >= 1


def test_samples_cover_every_kind() -> None:
    kinds: set[str] = set()
    for path in SAMPLE_FILES:
        for event in run(path.read_bytes()).events:
            if isinstance(event, InventoryMovement):
                kinds.add(event.movement_type.value)
            else:
                kinds.add(type(event).__name__)

    expected = {
        "RECEIPT",
        "RETURN",
        "SHIP",
        "ADJUSTMENT",
        "STATUS_CHANGE",
        "TRANSFER_OUT",
        "TRANSFER_IN",
        "InventorySnapshot",
        "SafetyStockSetting",
        "WarehouseSetting",
    }
    assert expected <= kinds


def test_samples_with_sample_config() -> None:
    config_path = REPO / "samples" / "config.yaml"
    if not config_path.is_file():
        pytest.skip(f"{config_path} is not present")
    catalog = Catalog(load_config(config_path))

    for path in SAMPLE_FILES:
        output = run(path.read_bytes(), catalog)
        assert output.dead_letters == [], path.name


# Input that must not make the adapter raise.


def test_deep_nesting_is_invalid_json() -> None:
    error_class, message = only_dead_letter(run(b"[" * 100_000 + b"\n"))

    assert error_class == "invalid_json"
    assert message == "the line nests arrays or objects too deeply to decode"


def test_timestamp_out_of_range() -> None:
    record = receipt(event_time="9999-12-31T23:59:59-23:59")
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert message == (
        "invalid InventoryMovement: event_time: Value error, "
        "timestamp 9999-12-31T23:59:59-23:59 is out of range in UTC"
    )


def test_integer_beyond_avro_long() -> None:
    record = {
        "type": "OrderLine",
        "event_id": "e-1",
        "event_time": EVENT_TIME,
        "sku": "SKU-RED",
        "order_id": "SO-1",
        "line_id": "1",
        "action": "PLACED",
        "ordered_quantity": 3,
        "version_time": EVENT_TIME,
        "version_rank": 2**63,
    }
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert message == (
        "OrderLine.version_rank is 9223372036854775808, outside the 64-bit "
        "range of an Avro long"
    )


# Quantity limits: MAX_QUANTITY base units per line, and no movement of 0 units.


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"quantity": 6 * 10**18},
            "InventoryMovement.quantity of SKU-RED is 6000000000000000000 base "
            "units, more than the limit of 1000000000000",
        ),
        (
            {"quantity": 2**63},
            "InventoryMovement.quantity of SKU-RED is 9223372036854775808 base "
            "units, more than the limit of 1000000000000",
        ),
        (
            {"movement_type": "ADJUSTMENT", "quantity": -99999999999999},
            "InventoryMovement.quantity of SKU-RED is -99999999999999 base "
            "units, more than the limit of 1000000000000 in magnitude",
        ),
    ],
)
def test_movement_quantity_above_limit(change: dict[str, Any], message: str) -> None:
    error_class, found = only_dead_letter(run(lines(receipt(**change))))

    assert error_class == "invalid_quantity"
    assert found == message


def test_movement_quantity_at_limit() -> None:
    output = run(lines(receipt(quantity=MAX_QUANTITY)))

    assert output.dead_letters == []
    assert isinstance(output.events[0], InventoryMovement)
    assert output.events[0].quantity == 1_000_000_000_000


def test_two_huge_receipts_are_rejected() -> None:
    first = receipt(event_id="rcv-1", quantity=6 * 10**18)
    second = receipt(event_id="rcv-2", quantity=6 * 10**18)

    output = run(lines(first, second))

    assert output.events == []
    classes = [letter.error_class for letter in output.dead_letters]
    assert classes == ["invalid_quantity", "invalid_quantity"]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {
                "type": "InventorySnapshot",
                "sku": "SKU-RED",
                "warehouse": "WH-EAST",
                "snapshot_kind": "CYCLE_COUNT",
                "as_of": EVENT_TIME,
                "balances": [
                    {"stock_status": "AVAILABLE", "quantity": 4},
                    {"stock_status": "QC", "quantity": MAX_QUANTITY + 1},
                ],
            },
            "InventorySnapshot.balances[1].quantity of SKU-RED is 1000000000001 "
            "base units, more than the limit of 1000000000000",
        ),
        (
            {
                "type": "OrderLine",
                "sku": "SKU-RED",
                "order_id": "SO-1",
                "line_id": "1",
                "action": "PLACED",
                "ordered_quantity": MAX_QUANTITY + 1,
                "version_time": EVENT_TIME,
            },
            "OrderLine.ordered_quantity of SKU-RED is 1000000000001 base units, "
            "more than the limit of 1000000000000",
        ),
        (
            {
                "type": "SupplyAdvice",
                "sku": "SKU-RED",
                "warehouse": "WH-WEST",
                "document_id": "PO-88",
                "quantity": MAX_QUANTITY + 1,
            },
            "SupplyAdvice.quantity of SKU-RED is 1000000000001 base units, more "
            "than the limit of 1000000000000",
        ),
        (
            {
                "type": "SafetyStockSetting",
                "source": "CONFIG",
                "sku": "SKU-RED",
                "warehouse": "WH-EAST",
                "quantity": MAX_QUANTITY + 1,
            },
            "SafetyStockSetting.quantity of SKU-RED is 1000000000001 base units, "
            "more than the limit of 1000000000000",
        ),
        (
            {
                "type": "ChannelInventoryLevel",
                "sku": "SKU-RED",
                "available": -MAX_QUANTITY - 1,
            },
            "ChannelInventoryLevel.available of SKU-RED is -1000000000001 base "
            "units, more than the limit of 1000000000000 in magnitude",
        ),
    ],
)
def test_other_quantity_above_limit(record: dict[str, Any], message: str) -> None:
    record = {"event_id": "e-1", "event_time": EVENT_TIME, **record}
    error_class, found = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_quantity"
    assert found == message


def test_quantity_fields_cover_every_record() -> None:
    for model in INPUT_EVENT_TYPES:
        for name, field in model.model_fields.items():
            counts = field.annotation in (int, int | None)
            if counts and ("quantity" in name or name == "available"):
                assert name in wms.QUANTITY_FIELDS, f"{model.__name__}.{name}"


@pytest.mark.parametrize(
    "movement_type", ["RECEIPT", "RETURN", "SHIP", "PICK", "TRANSFER_OUT"]
)
def test_zero_movement_quantity(movement_type: str) -> None:
    record = receipt(movement_type=movement_type, quantity=0, transfer_id="T-1")
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert message == (
        f"invalid InventoryMovement: {movement_type} quantity of SKU-RED must be "
        "positive, got 0"
    )


def test_zero_status_change_quantity() -> None:
    record = receipt(movement_type="STATUS_CHANGE", to_status="QC", quantity=0)
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert message == (
        "invalid InventoryMovement: STATUS_CHANGE quantity of SKU-RED must be "
        "positive, got 0"
    )


def test_cli_parse_reports_quantity_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / "east.jsonl"
    path.write_bytes(
        lines(
            receipt(event_id="rcv-1"),
            receipt(event_id="rcv-2", quantity=6 * 10**18),
            receipt(event_id="ship-1", movement_type="SHIP", quantity=0),
        )
    )

    command = [sys.executable, "-m", "invsync.cli", "--config", str(SAMPLE_CONFIG)]
    command.extend(["parse", "--format", "wms-jsonl", "--strict", str(path)])
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 1, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    events = [line for line in printed if "type" in line]
    letters = [line for line in printed if "dead_letter" in line]
    assert [event["event_id"] for event in events] == ["rcv-1"]
    assert [letter["dead_letter"] for letter in letters] == [
        "invalid_quantity",
        "invalid_record",
    ]
    assert "more than the limit of 1000000000000" in letters[0]["message"]
    assert "SHIP quantity of SKU-RED must be positive" in letters[1]["message"]


def test_zero_adjustment_quantity() -> None:
    record = receipt(movement_type="ADJUSTMENT", quantity=0)
    error_class, message = only_dead_letter(run(lines(record)))

    assert error_class == "invalid_record"
    assert "adjustment quantity must not be zero" in message


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.name)
def test_sample_events_encode(path: Path) -> None:
    for event in run(path.read_bytes()).events:
        assert decode(encode(event)) == event
