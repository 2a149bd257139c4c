"""Freshness step: silence clock per warehouse, stale flags and network ATP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
import redis
import yaml
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.flow import FlowSinks, build_core, new_flow
from dataflows.records import RawRecord
from dataflows.replay import settings_from_config
from invsync.avro import decode_as, encode
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
from invsync.recovery import ensure_recovery_partitions
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from operators.freshness import (
    FreshnessLogic,
    FreshnessSettings,
    TrackingStart,
    TrackingStartSource,
    WarehouseClock,
)
from sinks.atp_reader import AtpReader
from sinks.redis_atp import AtpWriter
from sinks.redis_layout import BUCKETS, connect, warehouses_key
from sinks.warehouse_flags import set_warehouses_stale, stale_field
from sources.base import AdapterOutput

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# Bytewax compares notify_at with the system clock. The dataflow tests keep the
# fake clock in the past, so a scheduled notification is due at once.
PAST = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class TickingClock:
    """A clock that returns ``start`` first and moves ``step`` on with each read."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.start = start
        self.step = step
        self.reads = 0

    def __call__(self) -> datetime:
        now = self.start + self.reads * self.step
        self.reads += 1
        return now


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


def test_tracked_warehouses_with_default() -> None:
    config = FreshnessConfig(
        max_silence=timedelta(hours=1),
        max_silence_by_warehouse={"WH-3PL": timedelta(hours=24)},
    )
    settings = FreshnessSettings(config, warehouses=("WH-B", "WH-A"))

    assert settings.tracked_warehouses() == ["WH-3PL", "WH-A", "WH-B"]


def test_tracked_warehouses_without_default() -> None:
    config = FreshnessConfig(max_silence_by_warehouse={"WH-B": timedelta(minutes=5)})
    settings = FreshnessSettings(config, warehouses=("WH-A", "WH-B"))

    assert settings.tracked_warehouses() == ["WH-B"]


def test_settings_from_config() -> None:
    config = InvsyncConfig.model_validate(
        {
            "warehouses": {"WH-A": {}, "WH-B": {}},
            "freshness": {"max_silence": "PT10M"},
        }
    )

    settings = FreshnessSettings.from_config(config)

    assert settings.warehouses == ("WH-A", "WH-B")
    assert settings.tracked_warehouses() == ["WH-A", "WH-B"]


def test_start_marker_starts_clock() -> None:
    clock = FakeClock(T0)
    logic = _logic(clock, max_silence=timedelta(minutes=10))

    changes, _ = logic.on_batch([TrackingStart("WH-A")])
    clock.now = T0 + timedelta(minutes=10)
    [stale], _ = logic.on_notify()

    assert list(changes) == []
    assert stale.state is FreshnessState.STALE
    assert stale.warehouse == "WH-A"
    assert stale.last_event_at == T0


def test_start_marker_keeps_resumed_clock() -> None:
    clock = FakeClock(T0 + timedelta(minutes=5))
    settings = FreshnessSettings(
        FreshnessConfig(max_silence=timedelta(minutes=10)), clock
    )
    logic = FreshnessLogic(settings, WarehouseClock("WH-A", last_event_at=T0))

    changes, _ = logic.on_batch([TrackingStart("WH-A")])

    assert list(changes) == []
    assert logic.snapshot().last_event_at == T0
    assert logic.notify_at() == T0 + timedelta(minutes=10)


def test_start_marker_keeps_stale_flag() -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    settings = FreshnessSettings(
        FreshnessConfig(max_silence=timedelta(minutes=10)), clock
    )
    resumed = WarehouseClock("WH-A", last_event_at=T0, stale=True)
    logic = FreshnessLogic(settings, resumed)

    changes, _ = logic.on_batch([TrackingStart("WH-A")])

    assert list(changes) == []
    assert logic.snapshot().stale is True
    assert logic.snapshot().last_event_at == T0


def test_start_marker_with_event_counts_event() -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    settings = FreshnessSettings(
        FreshnessConfig(max_silence=timedelta(minutes=10)), clock
    )
    logic = FreshnessLogic(settings, WarehouseClock("WH-A", T0, stale=True))

    [fresh], _ = logic.on_batch([TrackingStart("WH-A"), _heartbeat("WH-A")])

    assert fresh.state is FreshnessState.FRESH
    assert logic.snapshot().last_event_at == T0 + timedelta(hours=1)


def test_start_source_shares_warehouses() -> None:
    source = TrackingStartSource(["WH-A", "WH-B", "WH-C"])

    first = source.build("freshness_start", 0, 2).next_batch()
    second = source.build("freshness_start", 1, 2).next_batch()

    assert first == [TrackingStart("WH-A"), TrackingStart("WH-C")]
    assert second == [TrackingStart("WH-B")]


def test_start_source_ends_after_one_batch() -> None:
    partition = TrackingStartSource(["WH-A"]).build("freshness_start", 0, 1)
    partition.next_batch()

    with pytest.raises(StopIteration):
        partition.next_batch()


def _freshness_flow(
    inputs: list[RawRecord], settings: FreshnessSettings
) -> tuple[list[WarehouseFreshness], Dataflow]:
    changes: list[WarehouseFreshness] = []
    flow = new_flow("test-freshness")
    build_core(
        op.input("in", flow, TestingSource(inputs)),
        settings_from_config(InvsyncConfig()),
        FlowSinks(
            atp=TestingSink([]),
            warehouse_settings=TestingSink([]),
            postings=TestingSink([]),
            exceptions=TestingSink([]),
            dead_letters=TestingSink([]),
            freshness=TestingSink(changes),
        ),
        freshness=settings,
    )
    return changes, flow


def _silence_config() -> InvsyncConfig:
    # WH-A has a maximum silence; WH-B has none and is never tracked.
    return InvsyncConfig.model_validate(
        {
            "warehouses": {"WH-A": {}, "WH-B": {}},
            "freshness": {"max_silence_by_warehouse": {"WH-A": "PT10M"}},
        }
    )


def test_flow_flags_warehouse_without_events() -> None:
    clock = TickingClock(PAST, timedelta(minutes=10))
    settings = FreshnessSettings.from_config(_silence_config(), clock)
    changes, flow = _freshness_flow([], settings)

    run_main(flow)

    [stale] = changes
    assert stale.warehouse == "WH-A"
    assert stale.state is FreshnessState.STALE
    assert stale.last_event_at == PAST
    assert stale.detected_at == PAST + timedelta(minutes=10)


def test_resumed_flow_keeps_last_event(tmp_path: Path) -> None:
    ensure_recovery_partitions(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    heartbeat = RawRecord(encode(_heartbeat("WH-A")), "test.wms/0/0")
    first_clock = FakeClock(PAST)
    first, flow = _freshness_flow(
        [heartbeat], FreshnessSettings.from_config(_silence_config(), first_clock)
    )
    run_main(flow, recovery_config=recovery)

    # The resumed run starts 5 minutes later: the marker must not restart the
    # clock, so the warehouse is stale 10 minutes after the heartbeat.
    second_clock = TickingClock(PAST + timedelta(minutes=5), timedelta(minutes=5))
    second, flow = _freshness_flow(
        [heartbeat], FreshnessSettings.from_config(_silence_config(), second_clock)
    )
    run_main(flow, recovery_config=recovery)

    [stale] = second
    assert first == []
    assert stale.warehouse == "WH-A"
    assert stale.state is FreshnessState.STALE
    assert stale.last_event_at == PAST
    assert stale.detected_at == PAST + timedelta(minutes=10)


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

    assert written == BUCKETS
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

    # Every configured warehouse is tracked from the start, so WH-WEST and
    # WH-3PL, which send nothing, go stale as well.
    assert went_stale, run.log_tail()
    assert sorted(stale_changes) == [
        ("WH-3PL", "STALE"),
        ("WH-EAST", "STALE"),
        ("WH-WEST", "STALE"),
    ]
    assert came_back, run.log_tail()
    assert sorted(all_changes) == [
        ("WH-3PL", "STALE"),
        ("WH-EAST", "FRESH"),
        ("WH-EAST", "STALE"),
        ("WH-WEST", "STALE"),
    ]
    assert all_changes.index(("WH-EAST", "STALE")) < all_changes.index(
        ("WH-EAST", "FRESH")
    )
