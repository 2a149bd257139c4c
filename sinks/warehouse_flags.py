"""Warehouse active flags in Redis, replicated into every bucket.

``invsync_network_atp`` reads a SKU's record and the flags in one call, so each
of the 1024 buckets keeps its own copy of the flags under the bucket's hash
tag. A change writes all copies in one pipeline, one ``FCALL`` per bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bytewax.outputs import StatelessSinkPartition

from invsync.config import RedisConfig, WarehouseConfig
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

# Redis function of the library in sinks/invsync.lua that writes stale flags.
SET_STALE = "invsync_set_stale"

# Event time of the configured initial flags: earlier than any setting's.
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        extra={"warehouse": warehouse},
    )
    return written


def initial_flags(warehouses: Mapping[str, WarehouseConfig]) -> list[WarehouseFlag]:
    """Return the configured active flags of ``warehouses`` as of the Unix epoch.

    Every ``WarehouseSetting`` has a later event time, so a flag it wrote is
    kept when the initial flags are written again.
    """
    return [
        WarehouseFlag(code, warehouse.active, UNIX_EPOCH)
        for code, warehouse in warehouses.items()
    ]


class _FlagSinkPartition(StatelessSinkPartition[WarehouseSetting]):
    def __init__(self, writer: WarehouseFlagWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[WarehouseSetting]) -> None:
        flags = [WarehouseFlag(s.warehouse, s.active, s.event_time) for s in items]
        self._writer.write(flags)

    def close(self) -> None:
        self._writer.close()


class WarehouseFlagSink(RedisSink[WarehouseSetting]):
    """Bytewax sink that writes ``WarehouseSetting`` events to the warehouse flags.

    With ``initial_flags``, worker 0 writes them when the sink is built, so
    every start of the dataflow, whichever command runs it, sets the
    configured flags that no setting has overridden.
    """

    def __init__(
        self,
        url: str,
        key_prefix: str = "invsync:",
        retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
        initial_flags: Iterable[WarehouseFlag] = (),
    ) -> None:
        """Configure the sink. ``RedisSink`` describes the connection arguments."""
        super().__init__(url, key_prefix, retry_total_s)
        self._initial_flags = list(initial_flags)

    @classmethod
    def from_warehouses(
        cls,
        config: RedisConfig,
        warehouses: Mapping[str, WarehouseConfig],
        retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
    ) -> WarehouseFlagSink:
        """Create a sink that also writes the configured flags of ``warehouses``."""
        return cls(
            config.url, config.key_prefix, retry_total_s, initial_flags(warehouses)
        )

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
            extra={"step_id": step_id, "worker": worker_index},
        )
        if worker_index == 0 and self._initial_flags:
            written = writer.write(self._initial_flags)
            logger.info(
                "wrote the initial flags %s in %d of %d bucket copies (the other "
                "copies keep a later setting)",
                ",".join(f"{f.warehouse}={int(f.active)}" for f in self._initial_flags),
                written,
                len(self._initial_flags) * BUCKETS,
                extra={"step_id": step_id, "worker": worker_index},
            )
        return _FlagSinkPartition(writer)


def stale_field(warehouse: str) -> str:
    """Return the warehouses-hash field that contains a warehouse's stale flag."""
    return f"{warehouse}:stale"


def latest_changes(changes: Iterable[WarehouseFreshness]) -> list[WarehouseFreshness]:
    """Keep the change with the latest detection time of each warehouse.

    Of two changes with one warehouse and an equal detection time, the later is
    kept.
    """
    latest: dict[str, WarehouseFreshness] = {}
    for change in changes:
        current = latest.get(change.warehouse)
        if current is None or change.detected_at >= current.detected_at:
            latest[change.warehouse] = change
    return list(latest.values())


def set_warehouses_stale(
    client: RedisClient,
    changes: Iterable[WarehouseFreshness],
    key_prefix: str = "invsync:",
    retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
) -> int:
    """Write the stale flags of freshness changes into every bucket.

    The flag is '1' for STALE and '0' for FRESH, and ``invsync_network_atp``
    reads it. ``invsync_set_stale`` writes a change unless the bucket contains a
    change of the same warehouse with a later ``detected_at``, so a change
    replayed after recovery never overrides a newer one. Returns how many
    bucket copies were written, counting each warehouse once per bucket.
    """
    latest = latest_changes(changes)
    if not latest:
        return 0
    arguments: list[str | int] = []
    for change in latest:
        arguments.append(change.warehouse)
        arguments.append("1" if change.state is FreshnessState.STALE else "0")
        arguments.append(_epoch_ms(change.detected_at))

    def send() -> list[list[int]]:
        pipeline = client.pipeline(transaction=False)
        for bucket in range(BUCKETS):
            key = warehouses_key(key_prefix, bucket)
            pipeline.fcall(SET_STALE, 1, key, *arguments)
        replies: list[list[int]] = pipeline.execute()
        return replies

    replies = call_with_retry(lambda: call_with_library(client, send), retry_total_s)
    for index, change in enumerate(latest):
        written = sum(int(reply[index]) for reply in replies)
        logger.info(
            "marked warehouse %s %s as of %s in %d of %d buckets (last event %s)",
            change.warehouse,
            change.state.value,
            change.detected_at.isoformat(),
            written,
            BUCKETS,
            change.last_event_at.isoformat(),
            extra={"warehouse": change.warehouse, "alert_id": change.alert_id},
        )
    return sum(int(flag) for reply in replies for flag in reply)


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
        """Connect, load the function library and return the worker's partition."""
        client = connect(self._url)
        call_with_retry(lambda: load_library(client), self._retry_total_s)
        logger.info(
            "step %s worker %d/%d writes stale flags to %s under prefix %r",
            step_id,
            worker_index,
            worker_count,
            describe_url(self._url),
            self._key_prefix,
            extra={"step_id": step_id, "worker": worker_index},
        )
        return _StaleSinkPartition(client, self._key_prefix, self._retry_total_s)
