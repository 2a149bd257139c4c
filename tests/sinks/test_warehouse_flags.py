"""Warehouse flags replicated into every bucket, against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import input as input_op
from bytewax.operators import output
from bytewax.testing import TestingSource, run_main
from redis import Redis

from invsync.events import Source, WarehouseSetting
from sinks.redis_layout import BUCKETS, connect, warehouses_key
from sinks.warehouse_flags import (
    WarehouseFlag,
    WarehouseFlagSink,
    WarehouseFlagWriter,
    latest_flags,
    set_warehouse_active,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
T0_MS = 1772352000000


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield redis
    redis.close()


@pytest.fixture
def flags(redis_url: str, redis_prefix: str) -> Iterator[WarehouseFlagWriter]:
    flag_writer = WarehouseFlagWriter(connect(redis_url), redis_prefix, 5.0)
    flag_writer.load_library()
    yield flag_writer
    flag_writer.close()


def _setting(warehouse: str, active: bool, event_time: datetime) -> WarehouseSetting:
    return WarehouseSetting(
        event_id=f"setting-{warehouse}-{event_time.isoformat()}",
        source=Source.CONFIG,
        event_time=event_time,
        ingest_time=event_time,
        warehouse=warehouse,
        active=active,
    )


def test_flag_written_to_every_bucket(flags, client, redis_prefix):
    written = flags.write([WarehouseFlag("W3", False, T0)])

    copies = [
        client.hgetall(warehouses_key(redis_prefix, bucket))
        for bucket in range(BUCKETS)
    ]
    assert written == BUCKETS
    assert copies[0] == {"W3": "0", "W3:t": str(T0_MS)}
    assert all(copy == copies[0] for copy in copies)


def test_older_flag_is_ignored(flags, client, redis_prefix):
    flags.write([WarehouseFlag("W3", False, T0)])

    written = flags.write([WarehouseFlag("W3", True, T0 - timedelta(seconds=1))])

    assert written == 0
    assert client.hget(warehouses_key(redis_prefix, 17), "W3") == "0"


def test_equal_time_flag_applies(flags, client, redis_prefix):
    flags.write([WarehouseFlag("W3", False, T0)])

    written = flags.write([WarehouseFlag("W3", True, T0)])

    assert written == BUCKETS
    assert client.hget(warehouses_key(redis_prefix, 17), "W3") == "1"


def test_latest_flags_keeps_newest():
    newest = WarehouseFlag("W1", True, T0 + timedelta(minutes=1))
    latest = latest_flags(
        [
            WarehouseFlag("W1", False, T0),
            newest,
            WarehouseFlag("W1", False, T0 - timedelta(minutes=1)),
            WarehouseFlag("W2", False, T0),
        ]
    )

    assert latest == [newest, WarehouseFlag("W2", False, T0)]


def test_naive_event_time_rejected(flags):
    with pytest.raises(ValueError, match="has no timezone"):
        flags.write([WarehouseFlag("W1", True, datetime(2026, 3, 1, 8, 0))])


def test_set_warehouse_active_helper(redis_url, redis_prefix, client):
    redis = connect(redis_url)

    written = set_warehouse_active(redis, "W7", False, T0, key_prefix=redis_prefix)

    assert written == BUCKETS
    assert client.hget(warehouses_key(redis_prefix, 1023), "W7") == "0"
    redis.close()


def test_flag_sink_in_dataflow(redis_url, redis_prefix, client):
    settings = [
        _setting("W1", False, T0),
        _setting("W2", False, T0),
        _setting("W1", True, T0 + timedelta(minutes=5)),
    ]
    flow = Dataflow("warehouse_flag_sink")
    stream = input_op("settings", flow, TestingSource(settings))
    output("flags", stream, WarehouseFlagSink(redis_url, redis_prefix, 5.0))

    run_main(flow)

    stored = client.hgetall(warehouses_key(redis_prefix, 500))
    assert stored["W1"] == "1"
    assert stored["W2"] == "0"
    assert stored["W1:t"] == str(T0_MS + 5 * 60 * 1000)
