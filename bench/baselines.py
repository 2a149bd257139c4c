"""Hand-written baselines: a plain consumer that applies each event to Redis.

Both baselines read every input topic from the beginning to the end of each
partition with one confluent-kafka consumer, decode with ``invsync.avro.decode``
like the dataflow, and keep per SKU one Redis hash with the fields
``<warehouse>:on_hand``, ``<warehouse>:reserved``, ``<warehouse>:safety_stock``
and ``unallocated_demand``. They keep no dedup set, no movement history, no
backorders and no postings, so they are correct only for the benchmark
workload (see ``bench.workload``). The first sends one command per event; the
second sends the commands of each consumed batch in one pipeline.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from redis import Redis
from redis.client import Pipeline

from invsync.avro import decode
from invsync.events import (
    AtpRecord,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderLine,
    SafetyStockSetting,
)

logger = logging.getLogger(__name__)

CONSUME_BATCH = 1000
UNALLOCATED_FIELD = "unallocated_demand"

Command = tuple[str, str, str, int]


@dataclass(frozen=True)
class BaselineTiming:
    """Events applied, wall-clock seconds and CPU seconds of this process."""

    name: str
    events: int
    wall_s: float
    cpu_s: float


def command_for(event: object, key_prefix: str) -> Command:
    """Return the Redis command (name, key, field, value) that applies an event."""
    if isinstance(event, InventoryMovement):
        key = f"{key_prefix}{event.sku}"
        if event.movement_type is MovementType.SHIP:
            delta = -event.quantity
        elif event.movement_type in (MovementType.RECEIPT, MovementType.ADJUSTMENT):
            delta = event.quantity
        else:
            msg = f"baseline does not apply {event.movement_type.value} movements"
            raise ValueError(msg)
        return ("HINCRBY", key, f"{event.warehouse}:on_hand", delta)
    if isinstance(event, InventorySnapshot):
        (balance,) = event.balances
        key = f"{key_prefix}{event.sku}"
        return ("HSET", key, f"{event.warehouse}:on_hand", balance.quantity)
    if isinstance(event, OrderLine):
        key = f"{key_prefix}{event.sku}"
        field = (
            UNALLOCATED_FIELD
            if event.warehouse is None
            else f"{event.warehouse}:reserved"
        )
        sign = -1 if event.action is OrderAction.CANCELLED else 1
        return ("HINCRBY", key, field, sign * event.ordered_quantity)
    if isinstance(event, SafetyStockSetting):
        key = f"{key_prefix}{event.sku}"
        return ("HSET", key, f"{event.warehouse}:safety_stock", event.quantity)
    msg = f"baseline does not apply {type(event).__name__}"
    raise ValueError(msg)


def _assign_all(consumer: Consumer, topics: list[str]) -> set[tuple[str, int]]:
    metadata = consumer.list_topics(timeout=10)
    assignment: list[TopicPartition] = []
    for topic in topics:
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            msg = f"topic {topic} not found"
            raise LookupError(msg)
        for partition in described.partitions:
            assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
    consumer.assign(assignment)
    return {(tp.topic, tp.partition) for tp in assignment}


def run_baseline(
    name: str,
    brokers: list[str],
    topics: list[str],
    redis: Redis,
    key_prefix: str,
    *,
    pipelined: bool,
    timeout_s: float = 1800.0,
) -> BaselineTiming:
    """Consume every input topic to its end and apply each event to Redis.

    Raises:
        RuntimeError: The consumer reported an error other than partition EOF.
        TimeoutError: The topics were not read to the end within ``timeout_s``.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(brokers),
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    events = 0
    cpu_before = time.process_time()
    started = time.perf_counter()
    try:
        pending = _assign_all(consumer, topics)
        deadline = started + timeout_s
        while pending:
            if time.perf_counter() > deadline:
                msg = f"{name}: partitions {sorted(pending)} not read to the end"
                raise TimeoutError(msg)
            commands: list[Command] = []
            for message in consumer.consume(CONSUME_BATCH, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                        continue
                    msg = f"{name}: consumer error {error}"
                    raise RuntimeError(msg)
                commands.append(command_for(decode(message.value() or b""), key_prefix))
            _apply(redis, commands, pipelined=pipelined)
            events += len(commands)
    finally:
        consumer.close()
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_before
    logger.info("%s: %d events in %.2f s wall, %.2f s CPU", name, events, wall_s, cpu_s)
    return BaselineTiming(name=name, events=events, wall_s=wall_s, cpu_s=cpu_s)


def _send(target: Redis | Pipeline, command: Command) -> None:
    name, key, field, value = command
    if name == "HINCRBY":
        target.hincrby(key, field, value)
    else:
        target.hset(key, field, value)


def _apply(redis: Redis, commands: list[Command], *, pipelined: bool) -> None:
    if not pipelined:
        for command in commands:
            _send(redis, command)
        return
    if not commands:
        return
    pipeline = redis.pipeline(transaction=False)
    for command in commands:
        _send(pipeline, command)
    pipeline.execute()


def read_fields(
    redis: Redis, key_prefix: str, skus: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Return the non-zero fields a baseline stored for each SKU."""
    ordered = list(skus)
    pipeline = redis.pipeline(transaction=False)
    for sku in ordered:
        pipeline.hgetall(f"{key_prefix}{sku}")
    found: dict[str, dict[str, int]] = {}
    for sku, raw in zip(ordered, pipeline.execute(), strict=True):
        fields = {k.decode(): int(v) for k, v in raw.items() if int(v) != 0}
        if fields:
            found[sku] = fields
    return found


def expected_fields(atp: dict[str, AtpRecord]) -> dict[str, dict[str, int]]:
    """Return the baseline fields of replay ATP records, non-zero values only."""
    expected: dict[str, dict[str, int]] = {}
    for sku, record in atp.items():
        fields: dict[str, int] = {}
        for warehouse in record.warehouses:
            for name in ("on_hand", "reserved", "safety_stock"):
                value = getattr(warehouse, name)
                if value:
                    fields[f"{warehouse.warehouse}:{name}"] = value
        if record.unallocated_demand:
            fields[UNALLOCATED_FIELD] = record.unallocated_demand
        if fields:
            expected[sku] = fields
    return expected
