"""Open variance alerts in Redis: a writer, its Bytewax sink and a reader.

Each bucket of ``sinks.redis_layout`` has one hash of open alerts,
``<prefix>variances:{b<bucket>}``, whose fields are alert keys
(``<sku>|<warehouse>``, plus ``|<transfer_id>`` for transfers) and whose values
are the alert records as JSON. OPENED and UPDATED set the field; RESOLVED
deletes it. ``docs/redis.md`` describes the layout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bytewax.outputs import StatelessSinkPartition

from invsync.events import AlertState, VarianceAlert
from operators.variance import alert_key, sorted_alerts
from sinks.redis_layout import (
    BUCKETS,
    RedisClient,
    bucket_of,
    check_key_prefix,
    connect,
    describe_url,
    hash_tag,
)
from sinks.redis_retry import DEFAULT_RETRY_TOTAL_S, call_with_retry
from sinks.redis_sink import RedisSink

logger = logging.getLogger(__name__)


def variances_key(key_prefix: str, bucket: int) -> str:
    """Return the key of one bucket's hash of open variance alerts."""
    return f"{key_prefix}variances:{hash_tag(bucket)}"


class VarianceWriter:
    """Writer of alert records to the open-alert hashes."""

    def __init__(
        self,
        client: RedisClient,
        key_prefix: str = "invsync:",
        retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
    ) -> None:
        """Wrap a connected client."""
        self._client = client
        self._key_prefix = check_key_prefix(key_prefix)
        self._retry_total_s = retry_total_s

    def write(self, alerts: Iterable[VarianceAlert]) -> None:
        """Apply alert records in order in one pipeline.

        Records of one key must arrive in lifecycle order, which is true because
        one worker owns each SKU. A retried pipeline repeats the same sets and
        deletes, so it leaves the same result.
        """
        batch = list(alerts)
        if not batch:
            return
        call_with_retry(lambda: self._send(batch), self._retry_total_s)

    def _send(self, alerts: list[VarianceAlert]) -> None:
        pipeline = self._client.pipeline(transaction=False)
        for alert in alerts:
            key = variances_key(self._key_prefix, bucket_of(alert.sku))
            if alert.state is AlertState.RESOLVED:
                pipeline.hdel(key, alert_key(alert))
            else:
                pipeline.hset(key, alert_key(alert), alert.model_dump_json())
        pipeline.execute()

    def close(self) -> None:
        """Close the Redis connections."""
        self._client.close()


def read_open_alerts(
    client: RedisClient, key_prefix: str = "invsync:", sku: str | None = None
) -> list[VarianceAlert]:
    """Return the open alerts of one SKU, or of every SKU, ordered by key."""
    check_key_prefix(key_prefix)
    buckets = range(BUCKETS) if sku is None else [bucket_of(sku)]
    pipeline = client.pipeline(transaction=False)
    for bucket in buckets:
        pipeline.hgetall(variances_key(key_prefix, bucket))
    replies: list[dict[bytes, bytes]] = pipeline.execute()
    alerts = [
        VarianceAlert.model_validate_json(value)
        for reply in replies
        for value in reply.values()
    ]
    if sku is not None:
        alerts = [alert for alert in alerts if alert.sku == sku]
    return sorted_alerts(alerts)


class _VariancePartition(StatelessSinkPartition[VarianceAlert]):
    def __init__(self, writer: VarianceWriter) -> None:
        self._writer = writer

    def write_batch(self, items: list[VarianceAlert]) -> None:
        self._writer.write(items)

    def close(self) -> None:
        self._writer.close()


class OpenVarianceSink(RedisSink[VarianceAlert]):
    """Bytewax sink that keeps the open variance alerts in Redis."""

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _VariancePartition:
        """Connect and return the worker's partition."""
        writer = VarianceWriter(
            connect(self._url), self._key_prefix, self._retry_total_s
        )
        logger.info(
            "step %s worker %d/%d writes open variance alerts to %s under prefix %r",
            step_id,
            worker_index,
            worker_count,
            describe_url(self._url),
            self._key_prefix,
            extra={"step_id": step_id, "worker": worker_index},
        )
        return _VariancePartition(writer)
