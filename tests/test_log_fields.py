"""Log records about one record or event carry its ids as ``extra`` fields.

The JSON formatter of ``invsync.logs`` writes each of these fields as its own
key, so these tests read the attributes of the captured records.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from confluent_kafka import KafkaError as ConfluentKafkaError

from dataflows.kafka_flow import kafka_error_letter
from dataflows.records import RawRecord, decode_record
from invsync.avro import encode
from invsync.catalog import Catalog
from invsync.config import FreshnessConfig, InvsyncConfig
from invsync.events import (
    AckStatus,
    DeadLetter,
    ErpBalanceSnapshot,
    ErpPosting,
    ErpPostingAck,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    PostingType,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    VarianceAlert,
    WarehouseHeartbeat,
)
from operators.freshness import FreshnessLogic, FreshnessSettings
from operators.sku_state import SkuState, StateSettings
from operators.variance import VarianceSettings
from sinks.kafka_checked import (
    CheckedKafkaProducer,
    DeliveryError,
    _log_client_error,
)
from sources.base import AdapterInput
from sources.wms import parse as parse_wms

SKU = "SKU-LOG"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def _header(event_id: str, minute: float, source: Source = Source.WMS) -> dict:
    return {
        "event_id": event_id,
        "source": source,
        "event_time": _at(minute),
        "ingest_time": _at(minute),
    }


def _receipt(event_id: str, minute: float, quantity: int = 10) -> InventoryMovement:
    return InventoryMovement(
        **_header(event_id, minute),
        sku=SKU,
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=quantity,
    )


def _records(
    caplog: pytest.LogCaptureFixture, level: int = logging.INFO
) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= level]


def test_poison_record_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    letter = decode_record(RawRecord(b"RECEIPT,SKU-1,W1,10", "t.wms/2/17"))

    [record] = _records(caplog)
    assert isinstance(letter, DeadLetter)
    assert record.name == "dataflows.records"
    assert record.levelno == logging.WARNING
    assert record.topic == "t.wms"
    assert record.partition == 2
    assert record.offset == 17
    assert record.error_class == "not_avro"
    assert record.dead_letter_id == letter.dead_letter_id


def test_consumer_error_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    message = KafkaSourceMessage(
        key=None, value=b"\x00", topic="t.shopify", partition=3, offset=41
    )
    error = KafkaError(ConfluentKafkaError(ConfluentKafkaError._BAD_MSG), message)

    letter = kafka_error_letter(error)

    [record] = _records(caplog)
    assert record.levelno == logging.ERROR
    assert record.topic == "t.shopify"
    assert record.partition == 3
    assert record.offset == 41
    assert record.error_class == "kafka_error"
    assert record.dead_letter_id == letter.dead_letter_id


def test_late_event_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    state = SkuState(
        sku=SKU,
        settings=StateSettings(max_snapshot_lateness=timedelta(minutes=30)),
    )
    late = InventorySnapshot(
        **_header("count-late", 100),
        sku=SKU,
        warehouse="W1",
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=_at(69),
        balances=[StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=5)],
    )
    state.apply_all([_receipt("r1", 100)])
    caplog.set_level(logging.INFO)

    state.apply_all([late])

    [record] = _records(caplog, logging.WARNING)
    assert record.name == "operators.sku_state"
    assert record.error_class == "too_late"
    assert record.event_id == "count-late"
    assert record.sku == SKU
    assert record.warehouse == "W1"


def test_future_event_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    state = SkuState(sku=SKU, settings=StateSettings(max_future_skew=timedelta(1)))
    future = _receipt("r-future", 0).model_copy(
        update={"event_time": _at(0) + timedelta(days=2)}
    )
    caplog.set_level(logging.INFO)

    state.apply_all([future])

    [record] = _records(caplog, logging.WARNING)
    assert record.error_class == "future_event_time"
    assert record.event_id == "r-future"
    assert record.sku == SKU
    assert record.warehouse == "W1"


def test_stale_warehouse_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    now = [T0]
    config = FreshnessConfig(max_silence=timedelta(minutes=10))
    logic = FreshnessLogic(FreshnessSettings(config, lambda: now[0]), None)
    heartbeat = WarehouseHeartbeat(**_header("hb-1", 0), warehouse="W1")
    logic.on_batch([heartbeat])
    now[0] = _at(10)
    caplog.set_level(logging.INFO)

    [change], _ = logic.on_notify()

    [record] = _records(caplog)
    assert record.levelno == logging.WARNING
    assert record.warehouse == "W1"
    assert record.alert_id == change.alert_id


def test_variance_alert_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    variance = VarianceSettings(
        retention=timedelta(days=1), posting_grace=timedelta(minutes=60)
    )
    state = SkuState(
        sku=SKU,
        settings=StateSettings(
            dedup_retention=timedelta(days=1),
            max_snapshot_lateness=timedelta(days=1),
            variance=variance,
        ),
    )
    count = InventorySnapshot(
        **_header("count-0", 0),
        sku=SKU,
        warehouse="W1",
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=_at(0),
        balances=[StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=100)],
    )
    adjustment = InventoryMovement(
        **_header("adj-1", 5),
        sku=SKU,
        warehouse="W1",
        movement_type=MovementType.ADJUSTMENT,
        quantity=-5,
        reason_code="DMG",
    )
    state.apply_all([count])
    [posting] = [o for o in state.apply_all([adjustment]) if hasattr(o, "posting_id")]
    rejection = ErpPostingAck(
        **_header("ack-1", 6, Source.ERP),
        posting_id=posting.posting_id,
        sku=SKU,
        warehouse="W1",
        status=AckStatus.REJECTED,
        reason="period closed",
    )
    erp = ErpBalanceSnapshot(
        **_header("erp-1", 10, Source.ERP),
        sku=SKU,
        warehouse="W1",
        quantity=100,
        as_of=_at(10),
        last_applied_sequence=1,
    )
    state.apply_all([rejection])
    caplog.set_level(logging.INFO, logger="operators.variance")

    outputs = state.apply_all([erp])

    [alert] = [o for o in outputs if isinstance(o, VarianceAlert)]
    [record] = [r for r in caplog.records if r.name == "operators.variance"]
    assert record.alert_id == alert.alert_id
    assert record.sku == SKU
    assert record.warehouse == "W1"
    assert record.posting_ids == [posting.posting_id]


def test_adapter_dead_letter_log_fields(caplog: pytest.LogCaptureFixture) -> None:
    catalog = Catalog(InvsyncConfig.model_validate({"warehouses": {"W1": {}}}))
    item = AdapterInput(data=b'{"type": "Nonsense"}\n', origin="samples/wms/day1.jsonl")
    caplog.set_level(logging.INFO, logger="sources.wms")

    output = parse_wms(item, catalog)

    [letter] = output.dead_letters
    [record] = _records(caplog, logging.WARNING)
    assert record.origin == "samples/wms/day1.jsonl:1"
    assert record.error_class == letter.error_class
    assert letter.error_class == "unknown_type"


@pytest.fixture
def closing_listener() -> Iterator[int]:
    """Listen on a loopback port that closes every connection at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_librdkafka_lines_reach_logging(
    closing_listener: int, caplog: pytest.LogCaptureFixture
) -> None:
    producer = CheckedKafkaProducer(
        [f"127.0.0.1:{closing_listener}"], "t.postings", "postings", None, 2.0
    )
    caplog.set_level(logging.DEBUG, logger="sinks.kafka_checked")

    with pytest.raises(DeliveryError):
        producer.produce_batch([(None, b"posting")])
    with pytest.raises(DeliveryError):
        producer.close()

    ours = [r for r in caplog.records if r.name == "sinks.kafka_checked"]
    librdkafka = [r for r in ours if r.msg == "%s [%s] %s"]
    assert librdkafka != []
    assert str(librdkafka[0].args[1]).startswith("rdkafka#producer")


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (ConfluentKafkaError(ConfluentKafkaError._TRANSPORT), logging.DEBUG),
        (ConfluentKafkaError(ConfluentKafkaError._ALL_BROKERS_DOWN), logging.WARNING),
        (
            ConfluentKafkaError(ConfluentKafkaError._FENCED, fatal=True),
            logging.ERROR,
        ),
    ],
    ids=["transport", "all_brokers_down", "fatal"],
)
def test_producer_client_error_levels(
    error: ConfluentKafkaError, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sinks.kafka_checked")

    _log_client_error(error)

    [record] = caplog.records
    assert record.levelno == level
    assert record.error_class == error.name()


def test_failed_posting_delivery_log_fields(
    closing_listener: int, caplog: pytest.LogCaptureFixture
) -> None:
    posting = ErpPosting(
        posting_id="posting-7",
        sequence=7,
        sku=SKU,
        warehouse="W1",
        posting_type=PostingType.GOODS_RECEIPT,
        quantity=3,
        stock_status=StockStatus.AVAILABLE,
        source_event_id="r7",
        event_time=T0,
    )
    # librdkafka gives up on the record after 500 ms, within the flush timeout.
    producer = CheckedKafkaProducer(
        [f"127.0.0.1:{closing_listener}"],
        "t.postings",
        "postings",
        {"message.timeout.ms": "500"},
        5.0,
    )
    caplog.set_level(logging.INFO, logger="sinks.kafka_checked")

    with pytest.raises(DeliveryError):
        producer.produce_batch([(b"SKU-LOG|W1", encode(posting))])
    producer.close()

    [record] = [
        r
        for r in caplog.records
        if r.name == "sinks.kafka_checked" and r.levelno == logging.ERROR
    ]
    assert record.topic == "t.postings"
    assert record.error_class == "_MSG_TIMED_OUT"
    assert record.posting_id == "posting-7"
    assert record.sku == SKU
    assert record.warehouse == "W1"
