"""The main dataflow on Kafka: input topics in, Redis and output topics out.

``python -m bytewax.run "dataflows.kafka_flow:get_flow()"`` runs it with the
configuration named by ``INVSYNC_CONFIG``; ``invsync run`` does the same and
passes worker count, process id and addresses through to Bytewax.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Generic, TypeVar

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import Consumer, KafkaException, Producer
from pydantic_avro import AvroBase

from dataflows.flow import FlowSinks, build_core, new_flow
from dataflows.records import message_origin
from dataflows.replay import settings_from_config
from invsync.avro import encode
from invsync.config import InvsyncConfig, load_config
from invsync.events import (
    DeadLetter,
    ErpPosting,
    InventoryException,
    VarianceAlert,
    WarehouseFreshness,
)
from invsync.logs import configure_from_env, dead_letter_fields
from invsync.topics import Topics
from invsync.worker import configure_gc
from operators.freshness import FreshnessSettings
from operators.variance import alert_key
from sinks.kafka_checked import DEFAULT_PRODUCER_CONFIG, CheckedKafkaSink
from sinks.redis_atp import RedisAtpSink
from sinks.variance_redis import OpenVarianceSink
from sinks.warehouse_flags import WarehouseFlagSink, WarehouseStaleSink
from sources.base import stable_id

logger = logging.getLogger(__name__)

RecordT = TypeVar("RecordT", bound=AvroBase)

DEFAULT_CONSUMER_CONFIG: dict[str, str] = {
    # At 5,000 events/s on Tansu, the median produce-to-Redis latency was
    # 208 ms with librdkafka's default of 500 ms and 44 ms with 50 ms. An idle
    # consumer then sends a fetch request every 50 ms.
    "fetch.wait.max.ms": "50",
}
KeyFn = Callable[[RecordT], str | None]


def consumer_properties(config: InvsyncConfig) -> dict[str, str]:
    """Return the librdkafka properties of the dataflow's consumers."""
    return {
        **DEFAULT_CONSUMER_CONFIG,
        **config.kafka.client_config,
        **config.kafka.consumer_config,
    }


def producer_properties(config: InvsyncConfig) -> dict[str, str]:
    """Return the extra librdkafka properties of the dataflow's producers."""
    return {**config.kafka.client_config, **config.kafka.producer_config}


def _quiet_logger() -> logging.Logger:
    """Return a logger that drops librdkafka's notes about the missing brokers."""
    quiet = logging.getLogger(f"{__name__}.property_check")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    return quiet


def check_client_properties(config: InvsyncConfig) -> None:
    """Raise ValueError when librdkafka rejects a configured property.

    librdkafka checks names and values when a client is created, which inside
    the dataflow would end in a panic of the Bytewax worker. The clients built
    here have no brokers, so they open no connection.
    """
    checks = (
        (
            "kafka.client_config or kafka.consumer_config",
            Consumer,
            {
                **consumer_properties(config),
                "group.id": "invsync-property-check",
            },
        ),
        (
            "kafka.client_config or kafka.producer_config",
            Producer,
            {
                **DEFAULT_PRODUCER_CONFIG,
                **producer_properties(config),
            },
        ),
    )
    for where, client_class, properties in checks:
        try:
            client = client_class(
                {**properties, "bootstrap.servers": "", "logger": _quiet_logger()}
            )
        except KafkaException as exc:
            msg = f"invalid librdkafka property in {where}: {exc.args[0].str()}"
            raise ValueError(msg) from exc
        if isinstance(client, Consumer):
            client.close()


def kafka_error_letter(error: KafkaError[bytes | None, bytes | None]) -> DeadLetter:
    """Turn a consumer error into a dead letter, keeping the message bytes."""
    origin = message_origin(error.msg)
    letter = DeadLetter(
        dead_letter_id=stable_id("kafka_error", origin, str(error.err)),
        error_class="kafka_error",
        message=f"consumer error at {origin}: {error.err}",
        source_format="avro",
        original=error.msg.value or b"",
        origin=origin,
        failed_at=datetime.now(UTC),
    )
    logger.error(
        "Kafka consumer error at %s: %s; the message goes to the dead letters",
        origin,
        error.err,
        extra=dead_letter_fields(letter),
    )
    return letter


class _EncodingPartition(StatelessSinkPartition[RecordT], Generic[RecordT]):
    def __init__(
        self,
        inner: StatelessSinkPartition[tuple[bytes | None, bytes]],
        key: KeyFn[RecordT],
    ) -> None:
        self._inner = inner
        self._key = key

    def write_batch(self, items: list[RecordT]) -> None:
        encoded = []
        for item in items:
            key = self._key(item)
            encoded.append((None if key is None else key.encode(), encode(item)))
        self._inner.write_batch(encoded)

    def close(self) -> None:
        self._inner.close()


class AvroKafkaSink(DynamicSink[RecordT], Generic[RecordT]):
    """Encode records with Avro single-object encoding and produce them checked."""

    def __init__(self, inner: CheckedKafkaSink, key: KeyFn[RecordT]) -> None:
        self._inner = inner
        self._key = key

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _EncodingPartition[RecordT]:
        """Build the inner producer partition and wrap it."""
        inner = self._inner.build(step_id, worker_index, worker_count)
        return _EncodingPartition(inner, self._key)


def kafka_sinks(config: InvsyncConfig) -> FlowSinks:
    """Return the production sinks: Redis for ATP and flags, Kafka for the rest."""
    topics = Topics(config.kafka.topic_prefix)
    brokers = config.kafka.brokers
    extra = producer_properties(config)

    def checked(topic: str, role: str) -> CheckedKafkaSink:
        return CheckedKafkaSink(brokers, topic, role=role, add_config=extra)

    return FlowSinks(
        atp=RedisAtpSink.from_config(config.redis),
        warehouse_settings=WarehouseFlagSink.from_warehouses(
            config.redis, config.warehouses
        ),
        postings=AvroKafkaSink[ErpPosting](
            checked(topics.postings, "postings"), lambda p: f"{p.sku}|{p.warehouse}"
        ),
        exceptions=AvroKafkaSink[InventoryException](
            checked(topics.exceptions, "exceptions"), lambda e: e.sku
        ),
        dead_letters=AvroKafkaSink[DeadLetter](
            checked(topics.dead_letters, "dead_letters"), lambda d: d.sku
        ),
        variance_alerts=AvroKafkaSink[VarianceAlert](
            checked(topics.variance_alerts, "variance_alerts"), alert_key
        ),
        open_variances=OpenVarianceSink.from_config(config.redis),
        freshness=AvroKafkaSink[WarehouseFreshness](
            checked(topics.freshness, "freshness"), lambda f: f.warehouse
        ),
        stale_flags=WarehouseStaleSink.from_config(config.redis),
    )


def kafka_flow(
    config: InvsyncConfig,
    *,
    tail: bool = True,
    sinks: FlowSinks | None = None,
    batch_size: int = 1000,
    recovery: bool = True,
) -> Dataflow:
    """Build the dataflow reading every input topic of the configuration.

    With ``tail`` false the flow stops at the end of each partition, for
    backfills and tests; otherwise it keeps waiting for new events. Pass
    ``recovery`` false only for a run without a recovery store: the SKU step
    then skips pickling the snapshots that Bytewax would drop.
    """
    topics = Topics(config.kafka.topic_prefix)
    flow = new_flow()
    consumed = kop.input(
        "kafka_in",
        flow,
        brokers=config.kafka.brokers,
        topics=topics.inputs(),
        tail=tail,
        # librdkafka's own log lines, such as failed broker connections, go
        # through Python logging, so they are formatted, masked and rate-limited.
        # confluent-kafka takes a Logger there; Bytewax annotates only strings.
        add_config={
            **consumer_properties(config),
            "logger": logger,  # type: ignore[dict-item]
        },
        batch_size=batch_size,
    )
    errors = op.map("kafka_errors", consumed.errs, kafka_error_letter)
    build_core(
        consumed.oks,
        replace(settings_from_config(config), snapshots=recovery),
        sinks or kafka_sinks(config),
        extra_dead_letters=errors,
        freshness=(
            FreshnessSettings.from_config(config) if config.freshness.enabled else None
        ),
    )
    return flow


def get_flow(config_path: str | None = None, tail: bool = True) -> Dataflow:
    """Build the Kafka dataflow from a configuration file (``INVSYNC_CONFIG``)."""
    path = config_path or os.environ.get("INVSYNC_CONFIG")
    if not path:
        msg = "no configuration: set INVSYNC_CONFIG to the path of the config file"
        raise RuntimeError(msg)
    config = load_config(path)
    # python -m bytewax.run configures no logging of its own.
    configure_from_env(config)
    flow = kafka_flow(config, tail=tail)
    configure_gc(config.worker)
    return flow
