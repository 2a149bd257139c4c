"""Freshness step: silence clock per warehouse, stale flags and network ATP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import yaml

from invsync.avro import decode_as
from invsync.cluster import start_cluster
from invsync.config import FreshnessConfig, InvsyncConfig, load_config
from invsync.events import (
    AtpRecord,
    FreshnessState,
    InventoryMovement,
    MovementType,
    RecordVersion,
    Source,
    StockStatus,
    WarehouseAtp,
    WarehouseFreshness,
    WarehouseHeartbeat,
)
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from operators.freshness import FreshnessLogic, FreshnessSettings
from sinks.atp_reader import AtpReader
from sinks.redis_atp import AtpWriter
from sinks.redis_layout import BUCKETS, connect, warehouses_key
from sinks.warehouse_flags import set_warehouses_stale, stale_field
from sources.base import AdapterOutput

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _heartbeat(warehouse: str, serial: int = 1) -> WarehouseHeartbeat:
    return WarehouseHeartbeat(
        event_id=f"hb-{warehouse}-{serial}",
        source=Source.WMS,
        event_time=T0,
        ingest_time=T0,
        warehouse=warehouse,
    )


def _logic(clock: FakeClock, **config: object) -> FreshnessLogic:
    settings = FreshnessSettings(FreshnessConfig.model_validate(config), clock)
    return FreshnessLogic(settings, None)


def test_silent_warehouse_goes_stale() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))

    first, _ = logic.on_batch([_heartbeat("WH-A")])
    due = logic.notify_at()
    clock.now = T0 + timedelta(minutes=10)
    [change], _ = logic.on_notify()

    assert list(first) == []
    assert due == T0 + timedelta(minutes=10)
    assert change.state is FreshnessState.STALE
    assert change.warehouse == "WH-A"
    assert change.last_event_at == T0
    assert change.detected_at == T0 + timedelta(minutes=10)
    assert change.max_silence_seconds == 600.0
    assert logic.notify_at() is None


def test_notify_before_deadline_does_nothing() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))
    logic.on_batch([_heartbeat("WH-A")])
    clock.now = T0 + timedelta(minutes=9, seconds=59)

    changes, _ = logic.on_notify()

    assert list(changes) == []
    assert logic.snapshot().stale is False


def test_event_resets_clock() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))
    logic.on_batch([_heartbeat("WH-A", 1)])
    clock.now = T0 + timedelta(minutes=8)
    logic.on_batch([_heartbeat("WH-A", 2)])
    clock.now = T0 + timedelta(minutes=12)

    changes, _ = logic.on_notify()

    assert list(changes) == []
    assert logic.notify_at() == T0 + timedelta(minutes=18)


def test_stale_warehouse_fresh_again() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))
    logic.on_batch([_heartbeat("WH-A", 1)])
    clock.now = T0 + timedelta(minutes=30)
    [stale], _ = logic.on_notify()
    clock.now = T0 + timedelta(minutes=31)

    [fresh], _ = logic.on_batch([_heartbeat("WH-A", 2)])

    assert fresh.state is FreshnessState.FRESH
    assert fresh.last_event_at == T0
    assert fresh.detected_at == T0 + timedelta(minutes=31)
    assert fresh.alert_id != stale.alert_id
    assert logic.notify_at() == T0 + timedelta(minutes=41)


def test_per_warehouse_silence_overrides() -> None:
    clock = FakeClock(T0)
    logic = _logic(
        clock,
        max_silence=timedelta(hours=1),
        max_silence_by_warehouse={"WH-3PL": timedelta(hours=24)},
    )

    logic.on_batch([_heartbeat("WH-3PL")])

    assert logic.notify_at() == T0 + timedelta(hours=24)


def test_untracked_warehouse_never_stale() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence_by_warehouse={"WH-B": timedelta(minutes=1)})
    logic.on_batch([_heartbeat("WH-A")])
    clock.now = T0 + timedelta(days=30)

    changes, _ = logic.on_notify()

    assert logic.notify_at() is None
    assert list(changes) == []


def test_snapshot_resumes_stale_state() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))
    logic.on_batch([_heartbeat("WH-A")])
    clock.now = T0 + timedelta(minutes=11)
    logic.on_notify()

    resumed = FreshnessLogic(logic._settings, logic.snapshot())
    clock.now = T0 + timedelta(minutes=12)
    [fresh], _ = resumed.on_batch([_heartbeat("WH-A", 2)])

    assert fresh.state is FreshnessState.FRESH


def _record(sku: str) -> AtpRecord:
    def warehouse(code: str, available: int) -> WarehouseAtp:
        return WarehouseAtp(
            warehouse=code,
            on_hand=available,
            held=0,
            reserved=0,
            safety_stock=0,
            inbound=0,
            atp=available,
            available=available,
            backordered=0,
        )

    return AtpRecord(
        sku=sku,
        version=RecordVersion(generation=0, counter=1),
        updated_at=T0,
        warehouses=[warehouse("WH-A", 5), warehouse("WH-B", 7)],
        unallocated_demand=0,
        unallocated_backordered=0,
    )


def _change(warehouse: str, state: FreshnessState) -> WarehouseFreshness:
    return WarehouseFreshness(
        alert_id=f"{warehouse}-{state.value}",
        warehouse=warehouse,
        state=state,
        last_event_at=T0,
        detected_at=T0 + timedelta(hours=1),
        max_silence_seconds=600.0,
    )


def test_stale_flag_policy_in_redis(redis_url: str, redis_prefix: str) -> None:
    client = connect(redis_url)
    writer = AtpWriter(client, redis_prefix)
    writer.load_library()
    writer.write([_record("SKU-F")])

    written = set_warehouses_stale(
        client, [_change("WH-A", FreshnessState.STALE)], redis_prefix
    )
    with AtpReader(redis_url, redis_prefix) as include:
        included = include.network("SKU-F")
    with AtpReader(redis_url, redis_prefix, stale_policy="exclude") as exclude:
        excluded = exclude.network("SKU-F")
    set_warehouses_stale(client, [_change("WH-A", FreshnessState.FRESH)], redis_prefix)
    with AtpReader(redis_url, redis_prefix, stale_policy="exclude") as exclude:
        cleared = exclude.network("SKU-F")
    flags = {
        client.hget(warehouses_key(redis_prefix, b), stale_field("WH-A"))
        for b in range(BUCKETS)
    }
    client.close()

    assert written == 1
    assert included is not None
    assert excluded is not None
    assert cleared is not None
    assert included.network == 12
    assert [w.stale for w in included.warehouses] == [True, False]
    assert [w.active for w in included.warehouses] == [True, True]
    assert excluded.network == 7
    assert [w.active for w in excluded.warehouses] == [False, True]
    assert cleared.network == 12
    assert [w.stale for w in cleared.warehouses] == [False, False]
    assert flags == {b"0"}


def _run_config(
    kafka_brokers: list[str], redis_url: str, topics: Topics, prefix: str
) -> InvsyncConfig:
    base = load_config(REPO / "samples" / "config.yaml")
    return base.model_copy(
        update={
            "kafka": base.kafka.model_copy(
                update={"brokers": kafka_brokers, "topic_prefix": topics.prefix}
            ),
            "redis": base.redis.model_copy(
                update={"url": redis_url, "key_prefix": prefix}
            ),
            "freshness": FreshnessConfig(max_silence=timedelta(seconds=3)),
        }
    )


def _changes(brokers: list[str], topics: Topics) -> list[tuple[str, str]]:
    return [
        (change.warehouse, change.state.value)
        for change in (
            decode_as(r.value, WarehouseFreshness)
            for r in read_topic(brokers, topics.freshness)
        )
    ]


def _wait_for(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.3)
    return False


def test_running_flow_flags_stale(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    config = _run_config(kafka_brokers, redis_url, topics, redis_prefix)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    receipt = InventoryMovement(
        event_id="fresh-receipt-1",
        source=Source.WMS,
        event_time=T0,
        ingest_time=T0,
        sku="SKU-100",
        warehouse="WH-EAST",
        stock_status=StockStatus.AVAILABLE,
        movement_type=MovementType.RECEIPT,
        quantity=4,
    )
    publish_adapter_output(config, AdapterOutput(events=[receipt]))
    client = redis.Redis.from_url(redis_url)
    key = warehouses_key(redis_prefix, 0)

    run = start_cluster(path, 1, tmp_path / "logs", ["--snapshot-interval", "1"])
    try:
        went_stale = _wait_for(
            lambda: client.hget(key, stale_field("WH-EAST")) == b"1", 30
        )
        stale_changes = _changes(kafka_brokers, topics)
        publish_adapter_output(config, AdapterOutput(events=[_heartbeat("WH-EAST", 7)]))
        came_back = _wait_for(
            lambda: client.hget(key, stale_field("WH-EAST")) == b"0", 30
        )
    finally:
        run.stop()
    all_changes = _changes(kafka_brokers, topics)
    client.close()

    assert went_stale, run.log_tail()
    assert stale_changes == [("WH-EAST", "STALE")]
    assert came_back, run.log_tail()
    assert all_changes == [("WH-EAST", "STALE"), ("WH-EAST", "FRESH")]
