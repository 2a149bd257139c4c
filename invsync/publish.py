"""Publishing adapter output to the input topics, with checked delivery."""

from __future__ import annotations

import logging
from collections import defaultdict
from types import TracebackType

from invsync.avro import encode
from invsync.config import InvsyncConfig
from invsync.topics import Topics, event_key
from sinks.kafka_checked import CheckedKafkaProducer
from sources.base import AdapterOutput

logger = logging.getLogger(__name__)


class Publisher:
    """Produces adapter output with one checked producer per topic, kept open.

    Reusing the producers across files saves a broker connection per file.
    """

    def __init__(self, config: InvsyncConfig) -> None:
        self._config = config
        self._topics = Topics(config.kafka.topic_prefix)
        self._producers: dict[str, CheckedKafkaProducer] = {}

    def publish(self, output: AdapterOutput) -> int:
        """Produce events to their input topics and dead letters to theirs.

        Events are keyed by SKU (warehouse settings by warehouse). Returns the
        number of records delivered; raises ``DeliveryError`` when any failed.
        """
        batches: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
        for event in output.events:
            batches[self._topics.for_event(event)].append(
                (event_key(event).encode(), encode(event))
            )
        for letter in output.dead_letters:
            key = letter.sku.encode() if letter.sku else None
            batches[self._topics.dead_letters].append((key, encode(letter)))

        delivered = 0
        for topic, items in batches.items():
            delivered += self._producer(topic).produce_batch(items)
            logger.info(
                "published %d records to %s", len(items), topic, extra={"topic": topic}
            )
        return delivered

    def _producer(self, topic: str) -> CheckedKafkaProducer:
        producer = self._producers.get(topic)
        if producer is None:
            producer = CheckedKafkaProducer(
                self._config.kafka.brokers,
                topic,
                role=topic.removeprefix(self._config.kafka.topic_prefix),
                add_config=self._config.kafka.client_config,
            )
            self._producers[topic] = producer
        return producer

    def close(self) -> None:
        """Deliver what is queued and close every producer."""
        producers, self._producers = self._producers, {}
        for producer in producers.values():
            producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def publish_adapter_output(config: InvsyncConfig, output: AdapterOutput) -> int:
    """Publish one adapter output with producers opened and closed for it."""
    with Publisher(config) as publisher:
        return publisher.publish(output)
