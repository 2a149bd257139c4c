"""Bytewax sink that produces to one Kafka topic and fails when a delivery fails.

Bytewax's own ``KafkaSink`` registers no delivery callback and ignores the
count that ``flush()`` returns, so a failed delivery disappears. This sink
checks every delivery report of a batch and raises ``DeliveryError`` when any
record was not acknowledged, which stops the dataflow instead of dropping the
record. After a restart, Bytewax replays from its last snapshot, so records
are produced at least once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import Counter

from invsync.logs import record_fields

logger = logging.getLogger(__name__)

KafkaItem = tuple[bytes | None, bytes]

DEFAULT_FLUSH_TIMEOUT_S = 30.0
# Seconds the producer is polled for delivery reports while its queue is full.
QUEUE_FULL_POLL_S = 0.1

# librdkafka properties set unless the caller's configuration overrides them.
# Idempotence with acks=all keeps a retried send from being written twice or
# out of order within a partition. lz4 is accepted by Tansu 0.6 and Kafka.
DEFAULT_PRODUCER_CONFIG: dict[str, str] = {
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "5",
    "compression.type": "lz4",
}

PRODUCED = Counter(
    "invsync_kafka_produced_total",
    "Records the broker acknowledged, by topic role.",
    ["topic"],
)
DELIVERY_FAILURES = Counter(
    "invsync_kafka_delivery_failures_total",
    "Records that failed to produce or were not acknowledged, by topic role.",
    ["topic"],
)


class DeliveryError(RuntimeError):
    """Raised when records of a batch were not delivered to Kafka."""

    def __init__(self, topic: str, failed: int, first_error: str) -> None:
        """Describe the failure: topic, number of failed records and the first error."""
        super().__init__(
            f"{failed} record(s) were not delivered to topic {topic!r}; "
            f"first error: {first_error}"
        )
        self.topic = topic
        self.failed = failed
        self.first_error = first_error


class _BatchReport:
    """Delivery reports of one batch."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.failed = 0
        self.first_error: str | None = None

    def fail(self, error: str) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = error

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        # Only the first failure of a batch is logged, and DeliveryError counts all.
        if self.first_error is None:
            logger.error(
                "delivery to %s partition %s failed for key %r: %s",
                message.topic(),
                message.partition(),
                message.key(),
                error,
                extra={
                    **record_fields(message.value()),
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "error_class": error.name(),
                },
            )
        self.fail(str(error))


def _log_client_error(error: KafkaError) -> None:
    fields = {"error_class": error.name()}
    if error.fatal():
        logger.error("Kafka producer fatal error: %s", error, extra=fields)
    elif error.code() == KafkaError._TRANSPORT:
        # librdkafka's own log line (see "logger" below) already reports each
        # failed connection, so this repeat of it is kept to debug.
        logger.debug("Kafka producer error: %s", error, extra=fields)
    else:
        logger.warning("Kafka producer error: %s", error, extra=fields)


class CheckedKafkaProducer:
    """Producer of ``(key, value)`` batches to one topic, with delivery checks.

    Usable without Bytewax. ``CheckedKafkaSink`` wraps one per worker.
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str,
        role: str,
        add_config: Mapping[str, str] | None = None,
        flush_timeout_s: float = DEFAULT_FLUSH_TIMEOUT_S,
    ) -> None:
        """Create the producer. ``add_config`` overrides the default properties."""
        config: dict[str, Any] = {
            "bootstrap.servers": ",".join(brokers),
            **DEFAULT_PRODUCER_CONFIG,
            **(add_config or {}),
            "error_cb": _log_client_error,
            # Only failed records get a delivery report. A batch counts the
            # others as those no longer queued after flush(), so no Python
            # callback runs per record. confluent-kafka expects a bool here.
            "delivery.report.only.error": True,
            # librdkafka's own log lines go through Python logging, so they are
            # formatted, masked and rate-limited like the project's.
            "logger": logger,
        }
        self._producer = Producer(config)
        self._topic = topic
        self._role = role
        self._flush_timeout_s = flush_timeout_s

    def produce_batch(self, items: Iterable[KafkaItem]) -> int:
        """Produce every item and wait until the broker acknowledged all of them.

        Returns the number of records delivered.

        Raises:
            DeliveryError: A record could not be queued, its delivery report
                carried an error, or it was still unacknowledged after the
                flush timeout.
        """
        report = _BatchReport(self._role)
        deadline = time.monotonic() + self._flush_timeout_s
        count = 0
        produce = self._producer.produce
        topic = self._topic
        on_delivery = report.on_delivery
        for key, value in items:
            count += 1
            try:
                produce(topic, value=value, key=key, on_delivery=on_delivery)
            except (BufferError, KafkaException):
                self._produce_one(key, value, report, deadline)

        remaining = max(0.0, deadline - time.monotonic())
        outstanding = self._producer.flush(remaining)
        for _ in range(outstanding):
            report.fail(f"not acknowledged within {self._flush_timeout_s} s")

        # Each failed record failed once: it was not queued, its report
        # carried an error, or it was still queued after flush(). The broker
        # acknowledged the others. The queue may also contain records of an
        # earlier batch that timed out, so the difference can fall below zero.
        delivered = max(0, count - report.failed)
        PRODUCED.labels(topic=self._role).inc(delivered)
        if report.failed:
            DELIVERY_FAILURES.labels(topic=self._role).inc(report.failed)
            raise DeliveryError(self._topic, report.failed, report.first_error or "")
        return delivered

    def _produce_one(
        self, key: bytes | None, value: bytes, report: _BatchReport, deadline: float
    ) -> None:
        """Produce a record the first attempt could not queue, or count its failure."""
        while True:
            try:
                self._producer.produce(
                    self._topic, value=value, key=key, on_delivery=report.on_delivery
                )
            except BufferError:
                # The local queue is full: serve delivery reports to free it.
                if time.monotonic() >= deadline:
                    report.fail(
                        f"producer queue stayed full for {self._flush_timeout_s} s"
                    )
                    return
                self._producer.poll(QUEUE_FULL_POLL_S)
                continue
            except KafkaException as error:
                if report.first_error is None:
                    logger.error(
                        "producing to %s failed: %s",
                        self._topic,
                        error,
                        extra={
                            **record_fields(value),
                            "topic": self._topic,
                            "error_class": error.args[0].name(),
                        },
                    )
                report.fail(str(error.args[0]))
            return

    def close(self) -> None:
        """Deliver what is queued and close the producer.

        Records still unacknowledged after the flush timeout are purged, so
        that closing does not wait for their message timeout.

        Raises:
            DeliveryError: Records were purged unacknowledged.
        """
        outstanding = self._producer.flush(self._flush_timeout_s)
        if outstanding:
            self._producer.purge()
        self._producer.close()
        if outstanding:
            DELIVERY_FAILURES.labels(topic=self._role).inc(outstanding)
            raise DeliveryError(
                self._topic,
                outstanding,
                f"not acknowledged within {self._flush_timeout_s} s at close",
            )


class _CheckedKafkaPartition(StatelessSinkPartition[KafkaItem]):
    def __init__(self, producer: CheckedKafkaProducer) -> None:
        self._producer = producer

    def write_batch(self, items: list[KafkaItem]) -> None:
        self._producer.produce_batch(items)

    def close(self) -> None:
        self._producer.close()


class CheckedKafkaSink(DynamicSink[KafkaItem]):
    """Bytewax sink of ``(key, value)`` byte pairs that raises on failed delivery.

    Every worker has its own idempotent producer. ``write_batch`` returns only
    after the broker acknowledged every record of the batch.
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topic: str,
        role: str,
        add_config: Mapping[str, str] | None = None,
        flush_timeout_s: float = DEFAULT_FLUSH_TIMEOUT_S,
    ) -> None:
        """Configure the sink.

        Args:
            brokers: ``host:port`` bootstrap servers.
            topic: Topic every item goes to.
            role: Label of the metrics, such as ``postings``. It is the topic's
                role rather than its full name, so that label values stay few.
            add_config: Extra librdkafka properties, such as
                ``security.protocol``. They override ``DEFAULT_PRODUCER_CONFIG``.
            flush_timeout_s: Seconds a batch may take from its first produce to
                its last acknowledgement.
        """
        self._brokers = list(brokers)
        self._topic = topic
        self._role = role
        self._add_config = dict(add_config or {})
        self._flush_timeout_s = flush_timeout_s

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _CheckedKafkaPartition:
        """Create the worker's producer and partition."""
        producer = CheckedKafkaProducer(
            self._brokers,
            self._topic,
            self._role,
            self._add_config,
            self._flush_timeout_s,
        )
        logger.info(
            "step %s worker %d/%d produces to %s (%s)",
            step_id,
            worker_index,
            worker_count,
            self._topic,
            self._role,
            extra={"step_id": step_id, "worker": worker_index, "topic": self._topic},
        )
        return _CheckedKafkaPartition(producer)
