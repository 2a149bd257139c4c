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

from invsync.config import RedisConfig, WarehouseConfig
from invsync.events import (
    FreshnessState,
    Source,
    WarehouseFreshness,
    WarehouseSetting,
)
from sinks.redis_layout import BUCKETS, connect, warehouses_key
from sinks.warehouse_flags import (
    UNIX_EPOCH,
    WarehouseFlag,
    WarehouseFlagSink,
    WarehouseFlagWriter,
    WarehouseStaleSink,
    initial_flags,
    latest_changes,
    latest_flags,
    set_warehouse_active,
    set_warehouses_stale,
    stale_field,
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


def _change(
    warehouse: str, state: FreshnessState, detected_at: datetime
) -> WarehouseFreshness:
    return WarehouseFreshness(
        alert_id=f"{warehouse}-{state.value}-{detected_at.isoformat()}",
        warehouse=warehouse,
        state=state,
        last_event_at=T0,
        detected_at=detected_at,
        max_silence_seconds=600.0,
    )


def _stale_copies(client: Redis, prefix: str, warehouse: str) -> set[str | None]:
    return {
        client.hget(warehouses_key(prefix, bucket), stale_field(warehouse))
        for bucket in range(BUCKETS)
    }


def test_stale_flag_written_to_every_bucket(redis_url, redis_prefix, client):
    redis = connect(redis_url)
    stale = _change("W1", FreshnessState.STALE, T0 + timedelta(minutes=10))

    written = set_warehouses_stale(redis, [stale], redis_prefix)
    redis.close()

    assert written == BUCKETS
    assert _stale_copies(client, redis_prefix, "W1") == {"1"}
    assert client.hget(warehouses_key(redis_prefix, 9), "W1:stale_t") == str(
        T0_MS + 10 * 60 * 1000
    )


def test_older_stale_change_is_ignored(redis_url, redis_prefix, client):
    redis = connect(redis_url)
    stale = _change("W1", FreshnessState.STALE, T0 + timedelta(minutes=10))
    fresh = _change("W1", FreshnessState.FRESH, T0 + timedelta(minutes=20))
    set_warehouses_stale(redis, [stale], redis_prefix)
    set_warehouses_stale(redis, [fresh], redis_prefix)

    replayed = set_warehouses_stale(redis, [stale], redis_prefix)
    redis.close()

    assert replayed == 0
    assert _stale_copies(client, redis_prefix, "W1") == {"0"}


def test_equal_time_stale_change_applies(redis_url, redis_prefix, client):
    redis = connect(redis_url)
    when = T0 + timedelta(minutes=10)
    set_warehouses_stale(
        redis, [_change("W1", FreshnessState.FRESH, when)], redis_prefix
    )

    written = set_warehouses_stale(
        redis, [_change("W1", FreshnessState.STALE, when)], redis_prefix
    )
    redis.close()

    assert written == BUCKETS
    assert _stale_copies(client, redis_prefix, "W1") == {"1"}


def test_stale_guard_per_warehouse(redis_url, redis_prefix, client):
    redis = connect(redis_url)
    later = T0 + timedelta(minutes=20)
    set_warehouses_stale(
        redis, [_change("W1", FreshnessState.FRESH, later)], redis_prefix
    )

    written = set_warehouses_stale(
        redis,
        [
            _change("W1", FreshnessState.STALE, T0),
            _change("W2", FreshnessState.STALE, T0),
        ],
        redis_prefix,
    )
    redis.close()

    assert written == BUCKETS
    assert _stale_copies(client, redis_prefix, "W1") == {"0"}
    assert _stale_copies(client, redis_prefix, "W2") == {"1"}


def test_latest_changes_keeps_newest():
    older = _change("W1", FreshnessState.FRESH, T0 + timedelta(minutes=30))
    newest = _change("W1", FreshnessState.STALE, T0 + timedelta(minutes=40))
    other = _change("W2", FreshnessState.STALE, T0)

    latest = latest_changes([newest, older, other])

    assert latest == [newest, other]


def test_stale_write_loads_missing_library(restartable_redis, redis_prefix):
    redis = connect(restartable_redis.url)
    stale = _change("W1", FreshnessState.STALE, T0)

    written = set_warehouses_stale(redis, [stale], redis_prefix)
    stored = redis.hget(warehouses_key(redis_prefix, 0), stale_field("W1"))
    redis.close()

    assert written == BUCKETS
    assert stored == b"1"


def test_stale_sink_replay_in_dataflow(redis_url, redis_prefix, client):
    stale = _change("W1", FreshnessState.STALE, T0 + timedelta(minutes=10))
    fresh = _change("W1", FreshnessState.FRESH, T0 + timedelta(minutes=20))
    flow = Dataflow("warehouse_stale_sink")
    # The STALE record arrives again after the FRESH one, as after a recovery.
    stream = input_op("changes", flow, TestingSource([stale, fresh, stale]))
    output("stale", stream, WarehouseStaleSink(redis_url, redis_prefix, 5.0))

    run_main(flow)

    assert _stale_copies(client, redis_prefix, "W1") == {"0"}


def test_initial_flags_as_of_epoch():
    warehouses = {"W1": WarehouseConfig(), "W2": WarehouseConfig(active=False)}

    flags = initial_flags(warehouses)

    assert flags == [
        WarehouseFlag("W1", True, UNIX_EPOCH),
        WarehouseFlag("W2", False, UNIX_EPOCH),
    ]


def _run_flag_sink(sink: WarehouseFlagSink, settings: list[WarehouseSetting]) -> None:
    flow = Dataflow("warehouse_flag_sink_initial")
    output("flags", input_op("settings", flow, TestingSource(settings)), sink)
    run_main(flow)


def test_flag_sink_writes_initial_flags(redis_url, redis_prefix, client):
    sink = WarehouseFlagSink.from_warehouses(
        RedisConfig(url=redis_url, key_prefix=redis_prefix),
        {"W1": WarehouseConfig(), "W2": WarehouseConfig(active=False)},
    )

    _run_flag_sink(sink, [])

    stored = client.hgetall(warehouses_key(redis_prefix, 1023))
    assert stored == {"W1": "1", "W1:t": "0", "W2": "0", "W2:t": "0"}


def test_initial_flags_keep_later_setting(redis_url, redis_prefix, client):
    config = RedisConfig(url=redis_url, key_prefix=redis_prefix)
    warehouses = {"W2": WarehouseConfig(active=False)}
    _run_flag_sink(
        WarehouseFlagSink.from_warehouses(config, warehouses),
        [_setting("W2", True, T0)],
    )

    # A restart writes the initial flags again; the setting keeps its flag.
    _run_flag_sink(WarehouseFlagSink.from_warehouses(config, warehouses), [])

    stored = client.hgetall(warehouses_key(redis_prefix, 3))
    assert stored == {"W2": "1", "W2:t": str(T0_MS)}
