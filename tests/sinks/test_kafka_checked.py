"""Delivery-checked Kafka sink against a real broker and a broker that never replies."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import input as input_op
from bytewax.operators import output
from bytewax.testing import TestingSource, run_main
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client import REGISTRY

from sinks.kafka_checked import CheckedKafkaProducer, CheckedKafkaSink, DeliveryError

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 20.0


def _read_all(brokers: list[str], topic: str, expected: int) -> list[tuple]:
    """Read a topic from the beginning until ``expected`` records or a timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(brokers),
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = sorted(metadata.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records: list[tuple] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(records) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        assert message.error() is None
        records.append((message.key(), message.value()))
    consumer.close()
    return records


def _counter(name: str, role: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": role}) or 0.0


@pytest.fixture
def role() -> str:
    return f"role-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def silent_broker() -> Iterator[str]:
    """Listen on a loopback port, accept nothing and never reply.

    The listener stays open for the whole module, so producers that outlive
    their test still connect to it and to nothing else.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        host, port = listener.getsockname()
        yield f"{host}:{port}"


def test_batch_read_back(kafka_brokers, topics, role):
    producer = CheckedKafkaProducer(kafka_brokers, topics.postings, role)
    items = [(f"SKU-{i}".encode(), f"value-{i}".encode()) for i in range(20)]
    items.append((None, b"no-key"))

    delivered = producer.produce_batch(items)
    producer.close()

    records = _read_all(kafka_brokers, topics.postings, len(items))
    assert delivered == 21
    assert sorted(records, key=repr) == sorted(items, key=repr)
    assert _counter("invsync_kafka_produced_total", role) == 21
    assert _counter("invsync_kafka_delivery_failures_total", role) == 0


def test_full_queue_waits_for_space(kafka_brokers, topics, role):
    config = {"queue.buffering.max.messages": "2"}
    producer = CheckedKafkaProducer(kafka_brokers, topics.postings, role, config)
    items = [(f"SKU-{i}".encode(), b"x" * 100) for i in range(30)]

    delivered = producer.produce_batch(items)
    producer.close()

    assert delivered == 30
    assert len(_read_all(kafka_brokers, topics.postings, 30)) == 30


def test_oversized_message_raises(kafka_brokers, topics, role):
    config = {"message.max.bytes": "1000"}
    producer = CheckedKafkaProducer(kafka_brokers, topics.postings, role, config)
    items = [(b"a", b"small"), (b"b", b"x" * 5000), (b"c", b"small")]

    with pytest.raises(DeliveryError) as raised:
        producer.produce_batch(items)

    assert raised.value.topic == topics.postings
    assert raised.value.failed == 1
    assert "too large" in raised.value.first_error
    assert topics.postings in str(raised.value)
    assert _counter("invsync_kafka_delivery_failures_total", role) == 1
    assert _counter("invsync_kafka_produced_total", role) == 2


def test_timed_out_delivery_raises(silent_broker, role):
    config = {"message.timeout.ms": "1000"}
    producer = CheckedKafkaProducer(
        [silent_broker], "postings", role, config, flush_timeout_s=15.0
    )

    with pytest.raises(DeliveryError) as raised:
        producer.produce_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    producer.close()

    assert raised.value.failed == 3
    assert "timed out" in raised.value.first_error
    assert _counter("invsync_kafka_delivery_failures_total", role) == 3
    assert _counter("invsync_kafka_produced_total", role) == 0


def test_flush_timeout_raises(silent_broker, role):
    producer = CheckedKafkaProducer(
        [silent_broker], "postings", role, flush_timeout_s=0.5
    )
    started = time.monotonic()

    with pytest.raises(DeliveryError) as raised:
        producer.produce_batch([(b"a", b"1"), (b"b", b"2")])
    with pytest.raises(DeliveryError) as raised_at_close:
        producer.close()

    assert time.monotonic() - started < 5.0
    assert raised.value.failed == 2
    assert raised.value.first_error == "not acknowledged within 0.5 s"
    assert raised_at_close.value.failed == 2
    assert _counter("invsync_kafka_delivery_failures_total", role) == 4


def test_sink_in_dataflow(kafka_brokers, topics, role):
    items = [(b"SKU-1", b"one"), (b"SKU-2", b"two"), (b"SKU-3", b"three")]
    flow = Dataflow("checked_kafka_sink")
    stream = input_op("items", flow, TestingSource(items))
    output("postings", stream, CheckedKafkaSink(kafka_brokers, topics.postings, role))

    run_main(flow)

    records = _read_all(kafka_brokers, topics.postings, len(items))
    assert sorted(records) == sorted(items)


def test_sink_failure_stops_dataflow(silent_broker, role):
    flow = Dataflow("checked_kafka_sink_failure")
    stream = input_op("items", flow, TestingSource([(b"SKU-1", b"one")]))
    sink = CheckedKafkaSink(
        [silent_broker], "postings", role, {"message.timeout.ms": "500"}, 10.0
    )
    output("postings", stream, sink)

    with pytest.raises(Exception, match="error writing output batch") as raised:
        run_main(flow)

    causes = []
    error: BaseException | None = raised.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    delivery_errors = [cause for cause in causes if isinstance(cause, DeliveryError)]
    assert len(delivery_errors) == 1
    assert delivery_errors[0].topic == "postings"
    assert delivery_errors[0].failed == 1


def test_missing_topic_raises(kafka_brokers, role):
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    config = {"allow.auto.create.topics": "false", "message.timeout.ms": "2000"}
    producer = CheckedKafkaProducer(kafka_brokers, missing, role, config, 15.0)

    with pytest.raises(DeliveryError) as raised:
        producer.produce_batch([(b"a", b"1")])
    producer.close()

    assert raised.value.topic == missing
    assert raised.value.failed == 1
    assert "timed out" in raised.value.first_error
