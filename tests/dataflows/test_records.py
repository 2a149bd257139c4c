"""The decode step's input records: Kafka messages and records read from files."""

from __future__ import annotations

from datetime import UTC, datetime

from bytewax.connectors.kafka import KafkaSourceMessage

from dataflows.records import RawRecord, decode_record
from invsync.avro import encode
from invsync.events import DeadLetter, InventoryMovement, MovementType, Source


def _receipt() -> InventoryMovement:
    when = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    return InventoryMovement(
        event_id="r-1",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku="SKU-1",
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=4,
    )


def test_kafka_message_decodes() -> None:
    event = _receipt()
    message = KafkaSourceMessage(
        key=b"SKU-1", value=encode(event), topic="t.wms", partition=1, offset=9
    )

    assert decode_record(message) == event


def test_kafka_message_dead_letter_origin() -> None:
    message = KafkaSourceMessage(
        key=None, value=b"RECEIPT,SKU-1", topic="t.wms", partition=2, offset=17
    )

    letter = decode_record(message)

    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "not_avro"
    assert letter.origin == "t.wms/2/17"
    assert letter.original == b"RECEIPT,SKU-1"


def test_kafka_message_without_value() -> None:
    message = KafkaSourceMessage(
        key=b"SKU-1", value=None, topic="t.orders", partition=0, offset=3
    )

    letter = decode_record(message)

    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "not_avro"
    assert letter.origin == "t.orders/0/3"
    assert letter.original == b""


def test_file_record_keeps_its_origin() -> None:
    letter = decode_record(RawRecord(value=b"{}", origin="events.jsonl:4"))

    assert isinstance(letter, DeadLetter)
    assert letter.origin == "events.jsonl:4"
