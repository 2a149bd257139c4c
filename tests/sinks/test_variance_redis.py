"""Open variance alerts in Redis, against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import input as input_op
from bytewax.operators import output
from bytewax.testing import TestingSource, run_main
from redis import Redis

from invsync.events import AlertState, VarianceAlert, VarianceCause
from sinks.redis_layout import bucket_of, connect
from sinks.variance_redis import (
    OpenVarianceSink,
    VarianceWriter,
    read_open_alerts,
    variances_key,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)


def alert(sku: str, warehouse: str, state: AlertState, **fields: Any) -> VarianceAlert:
    """Build an alert record with a variance of -4."""
    values: dict[str, Any] = {
        "alert_id": f"id-{sku}-{warehouse}",
        "state": state,
        "cause": VarianceCause.UNEXPLAINED,
        "sku": sku,
        "warehouse": warehouse,
        "erp_quantity": 60,
        "wms_quantity": 64,
        "expected_quantity": 64,
        "in_flight_quantity": 0,
        "variance": -4,
        "percent": 6.25,
        "first_seen": T0,
        "last_seen": T0,
        "snapshot_as_of": T0,
        **fields,
    }
    return VarianceAlert(**values)


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    redis = connect(redis_url)
    assert isinstance(redis, Redis)
    yield redis
    redis.close()


def test_opened_then_resolved_leaves_nothing(client: Redis, redis_prefix: str) -> None:
    writer = VarianceWriter(client, redis_prefix, 5.0)

    writer.write([alert("SKU-1", "W1", AlertState.OPENED)])
    opened = read_open_alerts(client, redis_prefix, "SKU-1")
    writer.write([alert("SKU-1", "W1", AlertState.RESOLVED)])
    resolved = read_open_alerts(client, redis_prefix, "SKU-1")

    assert [a.state for a in opened] == [AlertState.OPENED]
    assert opened[0].variance == -4
    assert resolved == []
    assert client.exists(variances_key(redis_prefix, bucket_of("SKU-1"))) == 0


def test_updated_replaces_and_transfer_kept_apart(
    client: Redis, redis_prefix: str
) -> None:
    writer = VarianceWriter(client, redis_prefix, 5.0)

    writer.write(
        [
            alert("SKU-1", "W1", AlertState.OPENED),
            alert("SKU-1", "W1", AlertState.UPDATED, variance=-7),
            alert("SKU-1", "W1", AlertState.OPENED, transfer_id="TR-1", variance=-2),
            alert("SKU-2", "W1", AlertState.OPENED),
        ]
    )
    one = read_open_alerts(client, redis_prefix, "SKU-1")
    every = read_open_alerts(client, redis_prefix)

    assert [(a.state, a.variance, a.transfer_id) for a in one] == [
        (AlertState.UPDATED, -7, None),
        (AlertState.OPENED, -2, "TR-1"),
    ]
    assert [a.sku for a in every] == ["SKU-1", "SKU-1", "SKU-2"]


def test_sku_filter_in_shared_bucket(client: Redis, redis_prefix: str) -> None:
    # Find two SKUs that share a bucket.
    first = "SKU-A"
    second = next(
        f"SKU-{n}" for n in range(100000) if bucket_of(f"SKU-{n}") == bucket_of(first)
    )
    writer = VarianceWriter(client, redis_prefix, 5.0)

    writer.write(
        [alert(first, "W1", AlertState.OPENED), alert(second, "W1", AlertState.OPENED)]
    )

    assert [a.sku for a in read_open_alerts(client, redis_prefix, first)] == [first]


def test_sink_in_dataflow(client: Redis, redis_url: str, redis_prefix: str) -> None:
    flow = Dataflow("variance-sink")
    records = input_op(
        "in",
        flow,
        TestingSource(
            [
                alert("SKU-1", "W1", AlertState.OPENED),
                alert("SKU-2", "W2", AlertState.OPENED),
                alert("SKU-1", "W1", AlertState.RESOLVED),
            ]
        ),
    )
    output("out", records, OpenVarianceSink(redis_url, redis_prefix))

    run_main(flow)

    open_alerts = read_open_alerts(client, redis_prefix)
    assert [(a.sku, a.warehouse) for a in open_alerts] == [("SKU-2", "W2")]
