"""Produce-to-Redis latency of the running dataflow at fixed offered loads.

One dataflow process tails fresh topics. For each load the harness produces
RECEIPT movements of Zipf-popular SKUs at a fixed rate and, every
``PROBE_INTERVAL_S``, one probe movement of a SKU never seen before. Redis
keyspace notifications report the first write of each probe's ATP key, and the
latency is that notification's arrival minus the probe's ``produce()`` call,
both on this process's monotonic clock. Each load starts after the previous
one's probes have all arrived, so a backlog does not carry over.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from redis import Redis

from bench.workload import sku_name
from invsync.avro import encode
from invsync.cluster import start_cluster
from invsync.events import InventoryMovement, MovementType, Source
from invsync.topics import Topics
from sinks.redis_layout import atp_key

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.02
PACE_SLEEP_S = 0.0005
STARTUP_TIMEOUT_S = 120.0
NOTIFY_FLAGS = "KA"
"""Keyspace events of every class, so both ``DEL`` and ``HSET`` of a key notify."""


@dataclass
class LoadResult:
    """Latencies of the probes of one offered load."""

    offered_per_s: int
    produced: int
    produce_s: float
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0

    @property
    def achieved_per_s(self) -> float:
        """Rate the producer actually reached, events per second."""
        return self.produced / self.produce_s if self.produce_s else 0.0


class _Watcher:
    """First keyspace notification per probe key, in a background thread."""

    def __init__(self, redis: Redis, pattern: str) -> None:
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(pattern)
        self.seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.05)
            if message is None:
                continue
            arrived = time.perf_counter()
            channel = message["channel"].decode()
            key = channel.split(":", 1)[1]
            with self._lock:
                self.seen.setdefault(key, arrived)

    def arrival(self, key: str) -> float | None:
        with self._lock:
            return self.seen.get(key)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()


def _movement(sku: str, event_id: str) -> bytes:
    now = datetime.now(UTC)
    return encode(
        InventoryMovement(
            event_id=event_id,
            source=Source.WMS,
            event_time=now,
            ingest_time=now,
            sku=sku,
            warehouse="WH-1",
            movement_type=MovementType.RECEIPT,
            quantity=1,
        )
    )


class _DeliveryCheck:
    def __init__(self) -> None:
        self.failed = 0
        self.first_error: str | None = None

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            self.first_error = self.first_error or str(error)


def measure_latency(
    brokers: list[str],
    topics: Topics,
    redis: Redis,
    key_prefix: str,
    config_path: Path,
    log_dir: Path,
    loads: list[int],
    duration_s: float,
    skus: int,
    drain_timeout_s: float,
) -> list[LoadResult]:
    """Run one tailing dataflow process and measure each offered load in turn."""
    database = int(redis.connection_pool.connection_kwargs.get("db", 0))
    previous = redis.config_get("notify-keyspace-events")["notify-keyspace-events"]
    redis.config_set("notify-keyspace-events", NOTIFY_FLAGS)
    pattern = f"__keyspace@{database}__:{key_prefix}atp:*:PROBE-*"
    watcher = _Watcher(redis, pattern)
    producer = Producer(
        {"bootstrap.servers": ",".join(brokers), "linger.ms": "1", "acks": "all"}
    )
    check = _DeliveryCheck()
    run = start_cluster(config_path, 1, log_dir)
    try:
        _wait_started(producer, topics, watcher, key_prefix, check)
        results = [
            _one_load(
                producer,
                topics,
                watcher,
                key_prefix,
                check,
                load,
                duration_s,
                skus,
                drain_timeout_s,
            )
            for load in loads
        ]
    finally:
        run.stop()
        producer.flush(10)
        watcher.close()
        redis.config_set("notify-keyspace-events", previous or "")
    if check.failed:
        msg = f"{check.failed} latency events were not delivered: {check.first_error}"
        raise RuntimeError(msg)
    return results


def _wait_started(
    producer: Producer,
    topics: Topics,
    watcher: _Watcher,
    key_prefix: str,
    check: _DeliveryCheck,
) -> None:
    sku = "PROBE-startup"
    key = atp_key(key_prefix, sku)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    attempt = 0
    while watcher.arrival(key) is None:
        if time.monotonic() > deadline:
            msg = f"dataflow wrote no ATP within {STARTUP_TIMEOUT_S} s"
            raise TimeoutError(msg)
        producer.produce(
            topics.wms,
            _movement(sku, f"startup-{attempt}"),
            sku.encode(),
            on_delivery=check,
        )
        producer.flush(5)
        attempt += 1
        time.sleep(0.5)


def _one_load(
    producer: Producer,
    topics: Topics,
    watcher: _Watcher,
    key_prefix: str,
    check: _DeliveryCheck,
    load: int,
    duration_s: float,
    skus: int,
    drain_timeout_s: float,
) -> LoadResult:
    rng = random.Random(load)
    total = int(load * duration_s)
    weights = [1.0 / rank**1.1 for rank in range(1, skus + 1)]
    picks = rng.choices(range(skus), weights=weights, k=total)
    payload = [
        (sku_name(rank).encode(), _movement(sku_name(rank), f"lat-{load}-{i}"))
        for i, rank in enumerate(picks)
    ]
    probes: dict[str, float] = {}
    produced = 0
    next_probe = 0.0
    started = time.perf_counter()
    while produced < total:
        elapsed = time.perf_counter() - started
        due = min(total, int(elapsed * load) + 1)
        while produced < due:
            key, value = payload[produced]
            producer.produce(topics.wms, value, key, on_delivery=check)
            produced += 1
        if elapsed >= next_probe:
            sku = f"PROBE-{load}-{len(probes)}"
            producer.produce(
                topics.wms, _movement(sku, f"probe-{load}-{len(probes)}"), sku.encode()
            )
            probes[atp_key(key_prefix, sku)] = time.perf_counter()
            next_probe += PROBE_INTERVAL_S
        producer.poll(0)
        time.sleep(PACE_SLEEP_S)
    produce_s = time.perf_counter() - started
    producer.flush(30)

    result = LoadResult(offered_per_s=load, produced=produced, produce_s=produce_s)
    deadline = time.monotonic() + drain_timeout_s
    pending = dict(probes)
    while pending and time.monotonic() < deadline:
        for probe_key, sent in list(pending.items()):
            arrived = watcher.arrival(probe_key)
            if arrived is not None:
                result.latencies_ms.append((arrived - sent) * 1000)
                del pending[probe_key]
        time.sleep(0.05)
    result.missing = len(pending)
    logger.info(
        "load %d/s: produced %d at %.0f/s, %d probes, %d missing",
        load,
        produced,
        result.achieved_per_s,
        len(probes),
        result.missing,
    )
    return result
