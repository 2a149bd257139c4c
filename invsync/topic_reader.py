"""Read a whole topic from the beginning, without a consumer group.

Used by ``invsync redrive``, the demo and the tests. The end of each partition
is found with librdkafka's partition-EOF events rather than by comparing
offsets with the high watermark, because some Kafka-protocol brokers (Tansu 0.6)
report a wrong high watermark for topics written in multi-record batches.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicRecord:
    """One record read from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(
    brokers: list[str],
    topic: str,
    *,
    timeout_s: float = 10.0,
    client_config: Mapping[str, str] | None = None,
) -> list[TopicRecord]:
    """Return every record of a topic, reading each partition to its end.

    Raises TimeoutError when a partition's end is not reached within the timeout.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(brokers),
            "group.id": f"invsync-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **(client_config or {}),
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            msg = f"topic {topic} not found on {','.join(brokers)}"
            raise LookupError(msg)
        partitions = sorted(described.partitions)
        consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        )
        pending = set(partitions)
        records: list[TopicRecord] = []
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                msg = (
                    f"reading {topic} timed out after {timeout_s} s; partitions "
                    f"{sorted(pending)} not read to the end"
                )
                raise TimeoutError(msg)
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                msg = f"reading {topic} failed: {error}"
                raise RuntimeError(msg)
            records.append(
                TopicRecord(
                    topic=topic,
                    partition=message.partition() or 0,
                    offset=message.offset() or 0,
                    key=message.key(),
                    value=message.value() or b"",
                )
            )
        return records
    finally:
        consumer.close()
