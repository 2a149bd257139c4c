"""Warehouse active flags in Redis, replicated into every bucket.

``invsync_network_atp`` reads a SKU's record and the flags in one call, so each
of the 1024 buckets keeps its own copy of the flags under the bucket's hash
tag. A change writes all copies in one pipeline, one ``FCALL`` per bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bytewax.outputs import StatelessSinkPartition
from redis.typing import EncodableT, FieldT

from invsync.events import FreshnessState, WarehouseFreshness, WarehouseSetting
from sinks.redis_layout import (
    BUCKETS,
    SET_WAREHOUSES,
    RedisClient,
    check_key_prefix,
    connect,
    describe_url,
    load_library,
    warehouses_key,
)
from sinks.redis_retry import DEFAULT_RETRY_TOTAL_S, call_with_library, call_with_retry
from sinks.redis_sink import RedisSink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarehouseFlag:
    """Active flag of one warehouse as of an event time."""

    warehouse: str
    active: bool
    event_time: datetime


def _epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        msg = f"timestamp {value.isoformat()} has no timezone; use UTC"
        raise ValueError(msg)
    return int(value.timestamp() * 1000)


def latest_flags(flags: Iterable[WarehouseFlag]) -> list[WarehouseFlag]:
    """Keep the flag with the latest event time of each warehouse.

    Of two flags with one warehouse and an equal event time, the later is kept.
    """
    latest: dict[str, WarehouseFlag] = {}
    for flag in flags:
        current = latest.get(flag.warehouse)
        if current is None or flag.event_time >= current.event_time:
            latest[flag.warehouse] = flag
    return list(latest.values())


class WarehouseFlagWriter:
    """Writer of warehouse flags to every bucket through ``invsync_set_warehouses``."""

    def __init__(
        self,
        client: RedisClient,
        key_prefix: str = "invsync:",
        retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
    ) -> None:
        """Wrap a connected client. Call ``load_library`` before the first write."""
        self._client = client
        self._key_prefix = check_key_prefix(key_prefix)
        self._retry_total_s = retry_total_s

    def load_library(self) -> None:
        """Load the function library, retrying connection errors."""
        call_with_retry(lambda: load_library(self._client), self._retry_total_s)

    def write(self, flags: Iterable[WarehouseFlag]) -> int:
        """Write flags to all buckets in one pipeline and count the stored copies.

        A bucket counts once for each flag it stored. A flag older than the
        stored one changes nothing and counts zero.
        """
        arguments: list[str | int] = []
        for flag in latest_flags(flags):
            arguments.append(flag.warehouse)
            arguments.append("1" if flag.active else "0")
            arguments.append(_epoch_ms(flag.event_time))
        if not arguments:
            return 0

        replies = call_with_retry(
            lambda: call_with_library(self._client, lambda: self._send(arguments)),
            self._retry_total_s,
        )
        return sum(int(reply) for reply in replies)

    def _send(self, arguments: list[str | int]) -> list[int]:
        pipeline = self._client.pipeline(transaction=False)
        for bucket in range(BUCKETS):
            key = warehouses_key(self._key_prefix, bucket)
            pipeline.fcall(SET_WAREHOUSES, 1, key, *arguments)
        replies: list[int] = pipeline.execute()
        return replies

    def close(self) -> None:
        """Close the Redis connections."""
        self._client.close()


def set_warehouse_active(
    client: RedisClient,
    warehouse: str,
    active: bool,
    event_time: datetime | None = None,
    key_prefix: str = "invsync:",
) -> int:
    """Set one warehouse's active flag in every bucket.

    ``event_time`` defaults to now. A stored flag with a later event time is
    kept. Returns how many buckets stored the flag. Loads the function library
    first, because an operator may call this against a fresh Redis.
    """
    writer = WarehouseFlagWriter(client, key_prefix)
    writer.load_library()
    when = event_time if event_time is not None else datetime.now(UTC)
    written = writer.write([WarehouseFlag(warehouse, active, when)])
    logger.info(
        "set warehouse %s %s as of %s in %d of %d buckets",
        warehouse,
        "active" if active else "inactive",
        when.isoformat(),
        written,
        BUCKETS,
    )
    return written


class _FlagSinkPartition(StatelessSinkPartition[WarehouseSetting]):
    def __init__(self, writer: WarehouseFlagWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[WarehouseSetting]) -> None:
        flags = [WarehouseFlag(s.warehouse, s.active, s.event_time) for s in items]
        self._writer.write(flags)

    def close(self) -> None:
        self._writer.close()


class WarehouseFlagSink(RedisSink[WarehouseSetting]):
    """Bytewax sink that writes ``WarehouseSetting`` events to the warehouse flags."""

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _FlagSinkPartition:
        """Connect, load the function library and return the worker's partition."""
        writer = WarehouseFlagWriter(
            connect(self._url), self._key_prefix, self._retry_total_s
        )
        writer.load_library()
        logger.info(
            "step %s worker %d/%d writes warehouse flags to %s under prefix %r",
            step_id,
            worker_index,
            worker_count,
            describe_url(self._url),
            self._key_prefix,
        )
        return _FlagSinkPartition(writer)


def stale_field(warehouse: str) -> str:
    """Return the warehouses-hash field that contains a warehouse's stale flag."""
    return f"{warehouse}:stale"


def set_warehouses_stale(
    client: RedisClient,
    changes: Iterable[WarehouseFreshness],
    key_prefix: str = "invsync:",
    retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
) -> int:
    """Write the stale flags of freshness changes into every bucket.

    The last change of each warehouse wins. The flag is '1' for STALE and '0'
    for FRESH; ``invsync_network_atp`` reads it. Returns the warehouses written.
    """
    latest = {change.warehouse: change for change in changes}
    if not latest:
        return 0
    mapping: dict[FieldT, EncodableT] = {
        stale_field(code): "1" if change.state is FreshnessState.STALE else "0"
        for code, change in latest.items()
    }

    def send() -> None:
        pipeline = client.pipeline(transaction=False)
        for bucket in range(BUCKETS):
            pipeline.hset(warehouses_key(key_prefix, bucket), mapping=mapping)
        pipeline.execute()

    call_with_retry(send, retry_total_s)
    for change in latest.values():
        logger.info(
            "marked warehouse %s %s in %d buckets (last event %s)",
            change.warehouse,
            change.state.value,
            BUCKETS,
            change.last_event_at.isoformat(),
        )
    return len(latest)


class _StaleSinkPartition(StatelessSinkPartition[WarehouseFreshness]):
    def __init__(self, client: RedisClient, key_prefix: str, retry_s: float) -> None:
        self._client = client
        self._key_prefix = key_prefix
        self._retry_s = retry_s

    def write_batch(self, items: list[WarehouseFreshness]) -> None:
        set_warehouses_stale(self._client, items, self._key_prefix, self._retry_s)

    def close(self) -> None:
        self._client.close()


class WarehouseStaleSink(RedisSink[WarehouseFreshness]):
    """Bytewax sink that writes freshness changes to the warehouses' stale flags."""

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _StaleSinkPartition:
        """Connect and return the worker's partition."""
        logger.info(
            "step %s worker %d/%d writes stale flags to %s under prefix %r",
            step_id,
            worker_index,
            worker_count,
            describe_url(self._url),
            self._key_prefix,
        )
        return _StaleSinkPartition(
            connect(self._url), self._key_prefix, self._retry_total_s
        )
