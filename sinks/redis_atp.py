"""Bytewax sink that publishes ATP records to Redis with version-guarded writes.

Each batch is coalesced per SKU and sent as ``FCALL invsync_put_atp`` calls,
all in one round trip: one call per hash slot on Redis Cluster, in a redis-py
pipeline, and one per ``SKUS_PER_CALL`` SKUs on a single Redis, packed by
hiredis (``call_groups``, ``send_commands``). The
function writes a record only when its version is newer than the stored one,
so replays and out-of-order batches never move a key back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bytewax.outputs import StatelessSinkPartition
from prometheus_client import Counter, Histogram
from redis import Redis

from invsync.events import AtpRecord
from sinks.redis_layout import (
    PUT_ATP,
    Command,
    RedisClient,
    atp_key,
    call_groups,
    check_key_prefix,
    connect,
    describe_url,
    encode_atp_fields,
    load_library,
    packs_utf8,
    send_commands,
)
from sinks.redis_retry import DEFAULT_RETRY_TOTAL_S, call_with_library, call_with_retry
from sinks.redis_sink import RedisSink

logger = logging.getLogger(__name__)

WRITE_SECONDS = Histogram(
    "invsync_redis_write_seconds",
    "Time to write one batch of ATP records to Redis, retries included.",
)
BATCH_RECORDS = Histogram(
    "invsync_redis_batch_records",
    "ATP records per batch handed to the Redis sink, before coalescing.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
)
STALE_WRITES = Counter(
    "invsync_redis_stale_writes_total",
    "ATP writes rejected because Redis stores a version that is newer (reason "
    "older) or the same (reason equal).",
    ["reason"],
)


OLDER_WARNING_INTERVAL_S = 60.0
"""Seconds between warnings about writes rejected as older than Redis's copy."""


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one batch write, counted per SKU after coalescing."""

    applied: int
    rejected_older: int
    rejected_equal: int
    fcalls: int


def _version_key(record: AtpRecord) -> tuple[int, int]:
    return (record.version.generation, record.version.counter)


def coalesce(records: Iterable[AtpRecord]) -> list[AtpRecord]:
    """Keep the record with the highest version of each SKU.

    Of two records with one SKU and an equal version, the later one is kept.
    """
    latest: dict[str, AtpRecord] = {}
    for record in records:
        current = latest.get(record.sku)
        if current is None or _version_key(record) >= _version_key(current):
            latest[record.sku] = record
    return list(latest.values())


def _put_arguments(record: AtpRecord) -> list[str | int]:
    fields = encode_atp_fields(record)
    arguments: list[str | int] = [
        record.version.generation,
        record.version.counter,
        len(fields),
    ]
    for name, value in fields.items():
        arguments.append(name)
        arguments.append(value)
    return arguments


class AtpWriter:
    """Writer of ATP records to Redis through ``invsync_put_atp``.

    Usable without Bytewax. ``RedisAtpSink`` wraps one per worker.
    """

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
        self._last_older_warning = -OLDER_WARNING_INTERVAL_S

    def load_library(self) -> None:
        """Load the function library, retrying connection errors."""
        call_with_retry(lambda: load_library(self._client), self._retry_total_s)

    def write(self, records: Iterable[AtpRecord]) -> WriteResult:
        """Write a batch of records in one pipeline of FCALLs.

        Raises:
            redis.exceptions.ConnectionError: Redis stayed unreachable for the
                whole retry time.
            redis.exceptions.ResponseError: Redis rejected a call.
        """
        started = time.perf_counter()
        batch = list(records)
        BATCH_RECORDS.observe(len(batch))
        if not batch:
            return WriteResult(applied=0, rejected_older=0, rejected_equal=0, fcalls=0)

        latest = coalesce(batch)
        groups = call_groups(
            self._client, latest, lambda record: atp_key(self._key_prefix, record.sku)
        )

        replies = call_with_retry(
            lambda: call_with_library(self._client, lambda: self._send(groups)),
            self._retry_total_s,
        )

        applied = sum(int(reply[0]) for reply in replies)
        rejected_older = sum(int(reply[1]) for reply in replies)
        rejected_equal = sum(int(reply[2]) for reply in replies)
        STALE_WRITES.labels(reason="older").inc(rejected_older)
        STALE_WRITES.labels(reason="equal").inc(rejected_equal)
        WRITE_SECONDS.observe(time.perf_counter() - started)
        if rejected_older:
            self._warn_older(rejected_older, len(latest))
        return WriteResult(
            applied=applied,
            rejected_older=rejected_older,
            rejected_equal=rejected_equal,
            fcalls=len(replies),
        )

    def _warn_older(self, rejected: int, total: int) -> None:
        # Older rejections are normal while a restarted dataflow replays its
        # resume window, so the warning is repeated at most once a minute.
        now = time.monotonic()
        if now - self._last_older_warning < OLDER_WARNING_INTERVAL_S:
            logger.debug(
                "Redis kept a newer version for %d of %d SKUs", rejected, total
            )
            return
        self._last_older_warning = now
        logger.warning(
            "Redis kept a newer version for %d of %d SKUs and rejected these writes. "
            "This is expected while a restarted dataflow replays its last snapshot "
            "interval; if it persists, the state was rebuilt without raising "
            "redis.generation, and Redis shows the old state",
            rejected,
            total,
        )

    def _send(self, groups: list[list[AtpRecord]]) -> list[list[int]]:
        commands: list[Command] = []
        for records in groups:
            keys = [atp_key(self._key_prefix, record.sku) for record in records]
            arguments: list[str | int] = []
            for record in records:
                arguments.extend(_put_arguments(record))
            commands.append(("FCALL", PUT_ATP, len(keys), *keys, *arguments))
        if isinstance(self._client, Redis) and packs_utf8(self._client):
            replies: list[list[int]] = send_commands(self._client, commands)
            return replies
        pipeline = self._client.pipeline(  # type: ignore[no-untyped-call]
            transaction=False
        )
        for command in commands:
            pipeline.execute_command(*command)
        replies = pipeline.execute()
        return replies

    def close(self) -> None:
        """Close the Redis connections."""
        self._client.close()


class _AtpSinkPartition(StatelessSinkPartition[AtpRecord]):
    def __init__(self, writer: AtpWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[AtpRecord]) -> None:
        self._writer.write(items)

    def close(self) -> None:
        self._writer.close()


class RedisAtpSink(RedisSink[AtpRecord]):
    """Bytewax sink that publishes ``AtpRecord`` items to Redis from every worker.

    Each worker opens its own client and loads the function library at start.
    """

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _AtpSinkPartition:
        """Connect, load the function library and return the worker's partition."""
        writer = AtpWriter(connect(self._url), self._key_prefix, self._retry_total_s)
        writer.load_library()
        logger.info(
            "step %s worker %d/%d writes ATP records to %s under prefix %r",
            step_id,
            worker_index,
            worker_count,
            describe_url(self._url),
            self._key_prefix,
            extra={"step_id": step_id, "worker": worker_index},
        )
        return _AtpSinkPartition(writer)
