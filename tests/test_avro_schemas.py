"""Committed Avro schemas, single-object encoding, round trips and decode errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import Field
from pydantic_avro import AvroBase

from invsync import events
from invsync.avro import (
    ALL_RECORD_TYPES,
    MAGIC,
    SCHEMA_DIR,
    DecodeError,
    decode,
    decode_as,
    decode_header,
    encode,
    render_schema,
    schema_fingerprint,
    schema_path,
)
from invsync.events import (
    AdviceAction,
    AtpRecord,
    ChannelInventoryLevel,
    DeadLetter,
    ErpPosting,
    ExceptionKind,
    InventoryException,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderAllocation,
    OrderFulfillment,
    OrderLine,
    PostingType,
    RecordVersion,
    SafetyStockSetting,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    SupplyAdvice,
    WarehouseAtp,
    WarehouseSetting,
)

T0 = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HEADER = {
    "event_id": "evt-1",
    "source": Source.X12,
    "partner": "acme",
    "event_time": T0,
    "ingest_time": T1,
}

SAMPLES: dict[type[AvroBase], AvroBase] = {
    InventoryMovement: InventoryMovement(
        **HEADER,
        sku="SKU-1",
        warehouse="W1",
        stock_status=StockStatus.QC,
        movement_type=MovementType.STATUS_CHANGE,
        quantity=3,
        to_status=StockStatus.AVAILABLE,
        reason_code="07",
        order_id="O1",
        line_id="2",
        transfer_id="T9",
        other_warehouse="W2",
        document_id="D1",
        lot="L-44",
    ),
    InventorySnapshot: InventorySnapshot(
        **HEADER,
        sku="SKU-1",
        warehouse="W1",
        snapshot_kind=SnapshotKind.STOCK_ADVICE,
        as_of=T0,
        balances=[
            StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=12),
            StatusQuantity(stock_status=StockStatus.HOLD, quantity=1),
        ],
        document_id="846-1",
    ),
    OrderLine: OrderLine(
        **HEADER,
        sku="SKU-1",
        warehouse=None,
        order_id="PO-1",
        line_id="1",
        action=OrderAction.CHANGED,
        ordered_quantity=10,
        cancelled_quantity=2,
        shipped_quantity=3,
        version_time=T1,
        version_rank=1,
        channel="edi",
        order_line_ids=["1", "2"],
    ),
    OrderAllocation: OrderAllocation(
        **HEADER,
        sku="SKU-1",
        warehouse="W2",
        order_id="PO-1",
        line_id="1",
        quantity=4,
        document_id="940-1",
    ),
    OrderFulfillment: OrderFulfillment(
        **HEADER,
        sku="SKU-1",
        warehouse="W1",
        order_id="1001",
        line_id="55",
        fulfillment_id="F-9",
        quantity=1,
    ),
    SupplyAdvice: SupplyAdvice(
        **HEADER,
        sku="SKU-1",
        warehouse="W1",
        document_id="ASN-1",
        action=AdviceAction.CANCELLED,
        quantity=50,
        expected_date=T1,
        transfer_id="T9",
    ),
    SafetyStockSetting: SafetyStockSetting(
        **HEADER, sku="SKU-1", warehouse="W1", quantity=5
    ),
    WarehouseSetting: WarehouseSetting(**HEADER, warehouse="W1", active=False),
    events.WarehouseHeartbeat: events.WarehouseHeartbeat(**HEADER, warehouse="W1"),
    events.WarehouseFreshness: events.WarehouseFreshness(
        alert_id="f-1",
        warehouse="W1",
        state=events.FreshnessState.STALE,
        last_event_at=T0,
        detected_at=T1,
        max_silence_seconds=900.0,
    ),
    ChannelInventoryLevel: ChannelInventoryLevel(
        **HEADER, sku="SKU-1", warehouse="W1", available=-2, location_id="loc-7"
    ),
    AtpRecord: AtpRecord(
        sku="SKU-1",
        version=RecordVersion(generation=2, counter=17),
        updated_at=T0,
        warehouses=[
            WarehouseAtp(
                warehouse="W1",
                on_hand=10,
                held=2,
                reserved=9,
                safety_stock=1,
                inbound=4,
                atp=-2,
                available=0,
                backordered=2,
                channel_available=3,
            )
        ],
        unallocated_demand=5,
        unallocated_backordered=5,
    ),
    ErpPosting: ErpPosting(
        posting_id="p-1",
        sequence=3,
        sku="SKU-1",
        warehouse="W1",
        posting_type=PostingType.STATUS_CHANGE,
        quantity=-3,
        stock_status=StockStatus.QC,
        to_status=StockStatus.AVAILABLE,
        source_event_id="evt-1",
        event_time=T0,
        reason_code="07",
        document_id="D1",
        order_id="O1",
        transfer_id="T9",
    ),
    InventoryException: InventoryException(
        exception_id="x-1",
        kind=ExceptionKind.BACKORDER,
        sku="SKU-1",
        warehouse=None,
        order_id="PO-1",
        line_id="1",
        quantity=2,
        event_time=T0,
    ),
    DeadLetter: DeadLetter(
        dead_letter_id="d-1",
        error_class="unmapped_item",
        message="item UP:0001 is not in the catalog",
        source_format="x12",
        partner="acme",
        original=b"ISA*00*\x00\xff",
        origin="in/acme.edi",
        event_id="evt-1",
        sku=None,
        hints={"topic": "orders/create"},
        failed_at=T1,
    ),
    events.ErpBalanceSnapshot: events.ErpBalanceSnapshot(
        **HEADER,
        sku="SKU-1",
        warehouse="W1",
        stock_status=events.StockStatus.QC,
        quantity=7,
        as_of=T1,
        last_applied_sequence=3,
    ),
    events.ErpPostingAck: events.ErpPostingAck(
        **HEADER,
        posting_id="p-1",
        sku="SKU-1",
        warehouse="W1",
        status=events.AckStatus.REJECTED,
        reason="period closed",
    ),
    events.VarianceAlert: events.VarianceAlert(
        alert_id="a-1",
        state=events.AlertState.UPDATED,
        cause=events.VarianceCause.TRANSFER_DISCREPANCY,
        sku="SKU-1",
        warehouse="W2",
        erp_quantity=50,
        wms_quantity=48,
        expected_quantity=50,
        in_flight_quantity=-2,
        in_flight_posting_ids=["p-1"],
        explaining_posting_ids=["p-1"],
        variance=-2,
        percent=4.0,
        value=-5.5,
        first_seen=T0,
        last_seen=T1,
        snapshot_as_of=T1,
        transfer_id="TR-1",
        shipment_document_id="S-1",
        receipt_document_id="R-1",
    ),
}

# CRC-64-AVRO as the Avro specification defines it, kept apart from fastavro.
_CRC_EMPTY = 0xC15D213AA4D7A795


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ (_CRC_EMPTY & -(value & 1))
        table.append(value)
    return table


_CRC_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """Return the CRC-64-AVRO fingerprint of bytes as an unsigned integer."""
    value = _CRC_EMPTY
    for byte in data:
        value = (value >> 8) ^ _CRC_TABLE[(value ^ byte) & 0xFF]
    return value


def committed_schema(model: type[AvroBase]) -> dict[str, object]:
    """Return a model's committed schema file, parsed."""
    loaded: dict[str, object] = json.loads(schema_path(model).read_text())
    return loaded


def model_id(model: type[AvroBase]) -> str:
    """Return a test id for a model."""
    return model.__name__


# Committed schemas.


@pytest.mark.parametrize("model", ALL_RECORD_TYPES, ids=model_id)
def test_committed_schema_matches_model(model: type[AvroBase]) -> None:
    assert schema_path(model).read_text() == render_schema(model)


def test_schema_files_belong_to_models() -> None:
    files = {path.name for path in SCHEMA_DIR.iterdir() if path.is_file()}
    expected = {f"{model.__name__}.avsc" for model in ALL_RECORD_TYPES}
    assert files == expected


def test_field_change_breaks_schema_match() -> None:
    # Of two subclasses under the committed name, only the one with a new field differs.
    class WarehouseSetting(events.WarehouseSetting):
        __doc__ = events.WarehouseSetting.__doc__

    unchanged = WarehouseSetting

    class WarehouseSetting(events.WarehouseSetting):  # type: ignore[no-redef]
        __doc__ = events.WarehouseSetting.__doc__
        region: str = Field(default="", description="Region code.")

    committed = schema_path(events.WarehouseSetting).read_text()
    assert render_schema(unchanged) == committed
    assert render_schema(WarehouseSetting) != committed


def test_every_model_has_a_sample() -> None:
    assert set(SAMPLES) == set(ALL_RECORD_TYPES)


# Single-object encoding.


def test_crc64_avro_known_value() -> None:
    # Value for the schema "int" from the Apache Avro Ruby fingerprint tests.
    assert crc64_avro(b'"int"') == 0x7275D51A3F395C8F


@pytest.mark.parametrize("model", ALL_RECORD_TYPES, ids=model_id)
def test_encoding_header(model: type[AvroBase]) -> None:
    canonical = to_parsing_canonical_form(committed_schema(model))
    expected = crc64_avro(canonical.encode()).to_bytes(8, "little")
    data = encode(SAMPLES[model])
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == expected
    assert data[2:10] == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    assert schema_fingerprint(model) == expected


def test_schema_fingerprints_are_distinct() -> None:
    found = {schema_fingerprint(model) for model in ALL_RECORD_TYPES}
    assert len(found) == len(ALL_RECORD_TYPES)


@pytest.mark.parametrize("model", ALL_RECORD_TYPES, ids=model_id)
def test_round_trip(model: type[AvroBase]) -> None:
    sample = SAMPLES[model]
    decoded = decode(encode(sample))
    assert type(decoded) is model
    assert decoded == sample


@pytest.mark.parametrize("model", ALL_RECORD_TYPES, ids=model_id)
def test_header_names_type(model: type[AvroBase]) -> None:
    assert decode_header(encode(SAMPLES[model])) is model


def test_round_trip_keeps_microseconds() -> None:
    decoded = decode_as(encode(SAMPLES[InventoryMovement]), InventoryMovement)
    assert decoded.event_time == T0
    assert decoded.event_time.microsecond == 123456


# Decode errors.


def error_of(data: bytes) -> DecodeError:
    """Return the DecodeError that decoding raises."""
    with pytest.raises(DecodeError) as caught:
        decode(data)
    return caught.value


def test_decode_without_marker_not_avro() -> None:
    assert error_of(b'{"sku": "SKU-1"}').error_class == "not_avro"


def test_decode_short_header_not_avro() -> None:
    assert error_of(MAGIC + b"\x01\x02").error_class == "not_avro"


def test_decode_truncated_body_not_avro() -> None:
    data = encode(SAMPLES[InventoryMovement])
    assert error_of(data[:20]).error_class == "not_avro"


def test_decode_unknown_fingerprint() -> None:
    body = encode(SAMPLES[InventoryMovement])[10:]
    error = error_of(MAGIC + b"\x00" * 8 + body)
    assert error.error_class == "unknown_schema"


def test_decode_invalid_record() -> None:
    # A valid Avro body whose quantity is negative for a SHIP.
    valid = SAMPLES[InventoryMovement].model_copy(
        update={"movement_type": MovementType.SHIP, "to_status": None}
    )
    data = encode(valid.model_copy(update={"quantity": -3}))
    assert error_of(data).error_class == "invalid_record"


def test_decode_as_wrong_type() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_as(encode(SAMPLES[OrderLine]), InventoryMovement)
    assert caught.value.error_class == "unexpected_type"
