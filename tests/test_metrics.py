"""Business metrics: the helpers, and a scrape of a running dataflow."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from invsync.avro import decode_as
from invsync.catalog import Catalog
from invsync.cluster import start_cluster
from invsync.config import load_config
from invsync.devservices import free_port
from invsync.events import (
    AtpRecord,
    ErpPosting,
    ExceptionKind,
    InventoryException,
    InventoryMovement,
    MovementType,
    RecordVersion,
    Source,
    StockStatus,
    WarehouseAtp,
)
from invsync.golden import write_golden_files
from invsync.metrics import (
    AtpTracker,
    WarehouseSilenceCollector,
    enable_dataflow_api,
    exported_metric_names,
    observe_atps,
    observe_event,
    observe_events,
    observe_exceptions,
)
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from sinks.atp_reader import AtpReader
from sources.registry import parse_input, read_inputs

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _warehouse(code: str, atp: int, backordered: int = 0) -> WarehouseAtp:
    return WarehouseAtp(
        warehouse=code,
        on_hand=10,
        held=0,
        reserved=10 - atp,
        safety_stock=0,
        inbound=0,
        atp=atp,
        available=max(0, atp),
        backordered=backordered,
    )


def _record(sku: str, counter: int, *warehouses: WarehouseAtp) -> AtpRecord:
    return AtpRecord(
        sku=sku,
        version=RecordVersion(generation=0, counter=counter),
        updated_at=T0,
        warehouses=list(warehouses),
        unallocated_demand=0,
        unallocated_backordered=0,
    )


def test_tracker_counts_oversold_pairs() -> None:
    tracker = AtpTracker()
    before = _value("invsync_oversold_pairs", warehouse="M-OVER")

    tracker.observe(_record("S1", 1, _warehouse("M-OVER", -2)))
    tracker.observe(_record("S2", 1, _warehouse("M-OVER", -1)))
    tracker.observe(_record("S1", 2, _warehouse("M-OVER", -5)))
    two = _value("invsync_oversold_pairs", warehouse="M-OVER")
    tracker.observe(_record("S2", 2, _warehouse("M-OVER", 0)))
    one = _value("invsync_oversold_pairs", warehouse="M-OVER")

    assert two - before == 2
    assert one - before == 1


def test_tracker_sums_backordered_units() -> None:
    tracker = AtpTracker()
    before = _value("invsync_backordered_units", warehouse="M-BACK")
    before_unallocated = _value("invsync_backordered_units", warehouse="unallocated")
    record = _record("S3", 1, _warehouse("M-BACK", -4, backordered=4))
    record = record.model_copy(update={"unallocated_backordered": 3})

    tracker.observe(record)
    tracker.observe(_record("S4", 1, _warehouse("M-BACK", -2, backordered=2)))
    after_two = _value("invsync_backordered_units", warehouse="M-BACK")
    tracker.observe(_record("S3", 2, _warehouse("M-BACK", -1, backordered=1)))
    after_drop = _value("invsync_backordered_units", warehouse="M-BACK")
    unallocated = _value("invsync_backordered_units", warehouse="unallocated")

    assert after_two - before == 6
    assert after_drop - before == 3
    assert unallocated - before_unallocated == 0


def test_observe_exceptions_counts_by_kind() -> None:
    before = {
        kind: _value("invsync_exceptions_total", kind=kind.value)
        for kind in ExceptionKind
    }
    kinds = [ExceptionKind.BACKORDER] * 3 + [ExceptionKind.OVERSELL]
    exceptions = [
        InventoryException(
            exception_id=f"x-{index}",
            kind=kind,
            sku="SKU-X",
            quantity=1,
            event_time=T0,
        )
        for index, kind in enumerate(kinds)
    ]

    observe_exceptions(exceptions)

    backorders = _value("invsync_exceptions_total", kind="BACKORDER")
    oversells = _value("invsync_exceptions_total", kind="OVERSELL")
    assert backorders - before[ExceptionKind.BACKORDER] == 3
    assert oversells - before[ExceptionKind.OVERSELL] == 1


def test_observe_atps_counts_and_tracks() -> None:
    before_records = _value("invsync_atp_records_total")
    before_oversold = _value("invsync_oversold_pairs", warehouse="WH-ATPS")
    records = [
        _record("SKU-ATPS-1", 1, _warehouse("WH-ATPS", -2)),
        _record("SKU-ATPS-2", 1, _warehouse("WH-ATPS", 4)),
    ]

    observe_atps(records)

    assert _value("invsync_atp_records_total") - before_records == 2
    oversold = _value("invsync_oversold_pairs", warehouse="WH-ATPS")
    assert oversold - before_oversold == 1


def test_silence_collector_fake_clock() -> None:
    now = [1000.0]
    collector = WarehouseSilenceCollector(clock=lambda: now[0])
    collector.touch("WH-A", 990.0)
    collector.touch("WH-B", 400.0)
    collector.touch("WH-A", 980.0)
    now[0] = 1030.0

    [family] = list(collector.collect())
    values = {s.labels["warehouse"]: s.value for s in family.samples}

    assert family.name == "invsync_warehouse_seconds_since_last_event"
    assert values == {"WH-A": 40.0, "WH-B": 630.0}


def test_observe_event_counts_and_lag() -> None:
    event = InventoryMovement(
        event_id="m-lag-1",
        source=Source.WMS,
        event_time=T0,
        ingest_time=T0,
        sku="SKU-LAG",
        warehouse="M-LAG",
        stock_status=StockStatus.AVAILABLE,
        movement_type=MovementType.RECEIPT,
        quantity=5,
    )
    labels = {"source": "WMS", "event_type": "InventoryMovement"}
    consumed = _value("invsync_events_consumed_total", **labels)
    lag_sum = _value("invsync_event_lag_seconds_sum", source="WMS")
    slow = _value("invsync_event_lag_seconds_bucket", source="WMS", le="60.0")

    observe_event(event, now=T0 + timedelta(seconds=90))

    assert _value("invsync_events_consumed_total", **labels) - consumed == 1
    assert _value("invsync_event_lag_seconds_sum", source="WMS") - lag_sum == 90
    assert _value("invsync_event_lag_seconds_bucket", source="WMS", le="60.0") == slow
    last = _value("invsync_warehouse_last_event_timestamp_seconds", warehouse="M-LAG")
    assert last == (T0 + timedelta(seconds=90)).timestamp()


def test_observe_events_counts_a_batch() -> None:
    def movement(event_id: str, warehouse: str, seconds: int) -> InventoryMovement:
        return InventoryMovement(
            event_id=event_id,
            source=Source.WMS,
            event_time=T0 + timedelta(seconds=seconds),
            ingest_time=T0,
            sku="SKU-BATCH",
            warehouse=warehouse,
            stock_status=StockStatus.AVAILABLE,
            movement_type=MovementType.RECEIPT,
            quantity=1,
        )

    labels = {"source": "WMS", "event_type": "InventoryMovement"}
    consumed = _value("invsync_events_consumed_total", **labels)
    lag_count = _value("invsync_event_lag_seconds_count", source="WMS")
    lag_sum = _value("invsync_event_lag_seconds_sum", source="WMS")
    now = T0 + timedelta(seconds=100)

    observe_events(
        [
            movement("b1", "B-ONE", 0),
            movement("b2", "B-ONE", 40),
            movement("b3", "B-TWO", 70),
        ],
        now=now,
    )

    assert _value("invsync_events_consumed_total", **labels) - consumed == 3
    assert _value("invsync_event_lag_seconds_count", source="WMS") - lag_count == 3
    assert _value("invsync_event_lag_seconds_sum", source="WMS") - lag_sum == 190
    for code in ("B-ONE", "B-TWO"):
        last = _value("invsync_warehouse_last_event_timestamp_seconds", warehouse=code)
        assert last == now.timestamp()


def test_enable_api_port_per_process() -> None:
    env: dict[str, str] = {}

    port = enable_dataflow_api(9100, 2, env)

    assert port == 9102
    assert env["BYTEWAX_DATAFLOW_API_ENABLED"] == "true"
    assert env["BYTEWAX_DATAFLOW_API_PORT"] == "9102"
    assert "BYTEWAX_DATAFLOW_API_CACHE_PATH" in env


def test_exported_names_include_unobserved() -> None:
    names = exported_metric_names()

    assert "invsync_events_consumed_total" in names
    assert "invsync_event_lag_seconds_bucket" in names
    assert "invsync_oversold_pairs" in names
    assert "invsync_warehouse_seconds_since_last_event" in names


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def _total(
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str
) -> float:
    return sum(samples.get(name, {}).values())


def _redis_figures(redis_url: str, prefix: str, skus: set[str]) -> tuple[int, int, int]:
    """Return the SKUs with a record, oversold pairs and backordered units in Redis."""
    with AtpReader(redis_url, prefix) as reader:
        found = reader.get_many(sorted(skus))
    final = [r for r in found.values() if r is not None]
    oversold = sum(1 for r in final for wh in r.warehouses if wh.atp < 0)
    backordered = sum(wh.backordered for r in final for wh in r.warehouses)
    backordered += sum(r.unallocated_backordered for r in final)
    return len(final), oversold, backordered


def test_scrape_running_dataflow(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    base = load_config(REPO / "samples" / "config.yaml")
    config = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(
                update={"brokers": kafka_brokers, "topic_prefix": topics.prefix}
            ),
            "redis": base.redis.model_copy(
                update={"url": redis_url, "key_prefix": redis_prefix}
            ),
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    catalog = Catalog(config)
    published: Counter[str] = Counter()
    warehouses: set[str] = set()
    skus: set[str] = set()
    for item in read_inputs([write_golden_files(tmp_path / "golden")]):
        output = parse_input(item, catalog)
        publish_adapter_output(config, output)
        published.update(type(e).__name__ for e in output.events)
        for event in output.events:
            warehouse = getattr(event, "warehouse", None)
            if warehouse:
                warehouses.add(warehouse)
            sku = getattr(event, "sku", None)
            if sku:
                skus.add(sku)
    port = free_port()

    # Without --until-eof the dataflow keeps running, so its endpoint stays up.
    run = start_cluster(path, 1, tmp_path / "logs", ["--metrics-port", str(port)])
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    figures = (0, 0, 0)
    postings: list[Any] = []
    try:
        # Scrape until the endpoint shows every event and the gauges match what
        # the sinks wrote, so a slow machine does not fail the test.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                samples = _scrape(port)
            except (urllib.error.URLError, ConnectionError):
                continue
            figures = _redis_figures(redis_url, redis_prefix, skus)
            if (
                _total(samples, "invsync_events_consumed_total")
                < sum(published.values())
                or figures[0] < len(skus)
                or _total(samples, "invsync_backordered_units") != figures[2]
            ):
                continue
            postings = read_topic(kafka_brokers, topics.postings)
            produced = samples.get("invsync_kafka_produced_total", {})
            if produced.get((("topic", "postings"),)) == len(postings):
                break
    finally:
        run.stop()

    consumed = samples.get("invsync_events_consumed_total", {})
    by_type: Counter[str] = Counter()
    for labels, value in consumed.items():
        by_type[dict(labels)["event_type"]] += int(value)
    assert by_type == published, run.log_tail()

    records, oversold, backordered = figures
    assert backordered > 0  # the scenario has backorders, so the check below can fail
    assert _total(samples, "invsync_oversold_pairs") == oversold
    assert _total(samples, "invsync_backordered_units") == backordered
    assert records == len(skus)
    assert _total(samples, "invsync_atp_records_total") >= records
    assert _total(samples, "invsync_event_lag_seconds_count") == sum(published.values())
    assert samples["invsync_kafka_produced_total"][(("topic", "postings"),)] == len(
        postings
    )
    assert _total(samples, "invsync_redis_write_seconds_count") >= 1
    silent = samples["invsync_warehouse_seconds_since_last_event"]
    assert {dict(k)["warehouse"] for k in silent} == warehouses
    assert _total(samples, "bytewax_inp_part_next_batch_size_count") >= 1
    assert all(decode_as(p.value, ErpPosting).quantity != 0 for p in postings)
