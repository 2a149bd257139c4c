"""Publishing adapter output to the input topics, with checked delivery."""

from __future__ import annotations

import logging
from collections import defaultdict

from invsync.avro import encode
from invsync.config import InvsyncConfig
from invsync.topics import Topics, event_key
from sinks.kafka_checked import CheckedKafkaProducer
from sources.base import AdapterOutput

logger = logging.getLogger(__name__)


def publish_adapter_output(config: InvsyncConfig, output: AdapterOutput) -> int:
    """Produce events to their input topics and dead letters to the dead-letter topic.

    Events are keyed by SKU (warehouse settings by warehouse). Returns the number
    of records delivered; raises ``DeliveryError`` when any delivery failed.
    """
    topics = Topics(config.kafka.topic_prefix)
    batches: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for event in output.events:
        batches[topics.for_event(event)].append(
            (event_key(event).encode(), encode(event))
        )
    for letter in output.dead_letters:
        key = letter.sku.encode() if letter.sku else None
        batches[topics.dead_letters].append((key, encode(letter)))

    delivered = 0
    for topic, items in batches.items():
        producer = CheckedKafkaProducer(
            config.kafka.brokers,
            topic,
            role=topic.removeprefix(config.kafka.topic_prefix),
            add_config=config.kafka.client_config,
        )
        try:
            delivered += producer.produce_batch(items)
        finally:
            producer.close()
        logger.info("published %d records to %s", len(items), topic)
    return delivered
