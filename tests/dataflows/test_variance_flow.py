"""Variance alerts end to end: input topics, the running dataflow, topic and Redis.

WMS events go in first and the test waits until their ATP is in Redis, because
the dataflow reads the WMS and ERP topics in no fixed order between topics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from invsync.avro import decode_as
from invsync.cli import main
from invsync.cluster import ClusterRun, start_cluster
from invsync.config import InvsyncConfig, load_config
from invsync.events import (
    AlertState,
    CanonicalEvent,
    ErpBalanceSnapshot,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    VarianceAlert,
    VarianceCause,
)
from invsync.golden import write_golden_files
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from sinks.atp_reader import AtpReader
from sinks.redis_layout import connect
from sinks.variance_redis import read_open_alerts
from sources.base import AdapterOutput, stable_id

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    """Return T0 plus a number of minutes."""
    return T0 + timedelta(minutes=minute)


def header(event_id: str, minute: float, source: Source) -> dict[str, Any]:
    """Return the fields every canonical event carries."""
    return {
        "event_id": event_id,
        "source": source,
        "event_time": at(minute),
        "ingest_time": at(minute),
    }


def wms_events() -> list[CanonicalEvent]:
    """SKU-V: 100 counted, 10 shipped. SKU-T: 50 shipped to W2, 48 received."""
    events: list[CanonicalEvent] = [
        InventorySnapshot(
            **header(f"count-{sku}", 0, Source.WMS),
            sku=sku,
            warehouse="W1",
            snapshot_kind=SnapshotKind.CYCLE_COUNT,
            as_of=at(0),
            balances=[StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=q)],
        )
        for sku, q in (("SKU-V", 100), ("SKU-T", 50))
    ]
    events.append(
        InventoryMovement(
            **header("ship-1", 5, Source.WMS),
            sku="SKU-V",
            warehouse="W1",
            movement_type=MovementType.SHIP,
            quantity=10,
        )
    )
    for event_id, warehouse, kind, quantity, other in (
        ("out-1", "W1", MovementType.TRANSFER_OUT, 50, "W2"),
        ("in-1", "W2", MovementType.TRANSFER_IN, 48, "W1"),
    ):
        events.append(
            InventoryMovement(
                **header(event_id, 6, Source.WMS),
                sku="SKU-T",
                warehouse=warehouse,
                movement_type=kind,
                quantity=quantity,
                transfer_id="TR-1",
                other_warehouse=other,
                document_id=f"DOC-{event_id}",
                final_receipt=kind is MovementType.TRANSFER_IN,
            )
        )
    return events


def erp_balance(event_id: str, minute: float, quantity: int, applied: int) -> Any:
    """Build an ERP total of SKU-V in W1 as of a minute."""
    return ErpBalanceSnapshot(
        **header(event_id, minute, Source.ERP),
        sku="SKU-V",
        warehouse="W1",
        quantity=quantity,
        as_of=at(minute),
        last_applied_sequence=applied,
    )


def wait_for(check: Callable[[], bool], run: ClusterRun, timeout: float = 60) -> None:
    """Poll a condition until it holds, failing with the dataflow log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout} s\n{run.log_tail()}")


def test_alerts_through_broker_and_redis(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    config = InvsyncConfig.model_validate(
        {
            "warehouses": {"W1": {}, "W2": {}},
            "items": {"SKU-V": {}, "SKU-T": {}},
            "kafka": {"brokers": kafka_brokers, "topic_prefix": topics.prefix},
            "redis": {"url": redis_url, "key_prefix": redis_prefix},
            "variance": {"posting_grace": "PT1H", "unit_costs": {"SKU-V": 2.5}},
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    client = connect(redis_url)
    publish_adapter_output(config, AdapterOutput(events=wms_events()))

    run = start_cluster(path, 1, tmp_path / "logs", ["--snapshot-interval", "1"])
    try:

        def shipped() -> bool:
            with AtpReader(redis_url, redis_prefix) as reader:
                record = reader.get("SKU-V")
            return record is not None and record.warehouses[0].on_hand == 90

        wait_for(shipped, run)
        wait_for(lambda: len(read_open_alerts(client, redis_prefix)) == 1, run)

        balances = [erp_balance("erp-1", 10, 100, 0), erp_balance("erp-2", 80, 100, 0)]
        publish_adapter_output(config, AdapterOutput(events=list(balances)))
        wait_for(lambda: len(read_open_alerts(client, redis_prefix, "SKU-V")) == 1, run)
        opened = read_open_alerts(client, redis_prefix, "SKU-V")[0]

        publish_adapter_output(
            config, AdapterOutput(events=[erp_balance("erp-3", 90, 90, 1)])
        )
        wait_for(lambda: read_open_alerts(client, redis_prefix, "SKU-V") == [], run)
        listed = subprocess.run(
            [sys.executable, "-m", "invsync.cli", "--config", str(path), "variances"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        run.stop()
        client.close()

    posting = stable_id("posting", "ship-1")
    assert opened.state is AlertState.OPENED
    assert opened.cause is VarianceCause.IN_FLIGHT_STUCK
    assert opened.variance == 10
    assert opened.erp_quantity == 100
    assert opened.wms_quantity == 90
    assert opened.expected_quantity == 90
    assert opened.in_flight_posting_ids == [posting]
    assert opened.explaining_posting_ids == [posting]
    assert opened.value == 25.0
    assert opened.snapshot_as_of == at(80)

    records = read_topic(kafka_brokers, topics.variance_alerts)
    by_key: dict[str, list[VarianceAlert]] = {}
    for record in records:
        assert record.key is not None
        alert = decode_as(record.value, VarianceAlert)
        by_key.setdefault(record.key.decode(), []).append(alert)
    assert sorted(by_key) == ["SKU-T|W2|TR-1", "SKU-V|W1"]
    lifecycle = by_key["SKU-V|W1"]
    assert [a.state for a in lifecycle] == [AlertState.OPENED, AlertState.RESOLVED]
    assert lifecycle[1].alert_id == opened.alert_id
    assert lifecycle[1].variance == 0
    transfer = by_key["SKU-T|W2|TR-1"]
    assert [a.variance for a in transfer] == [-2]
    assert transfer[0].cause is VarianceCause.TRANSFER_DISCREPANCY
    assert transfer[0].shipment_document_id == "DOC-out-1"
    assert transfer[0].receipt_document_id == "DOC-in-1"

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["transfer_id"] == "TR-1"


def test_replay_to_redis_then_variances(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    base = load_config(REPO / "samples" / "config.yaml")
    config = base.model_copy(
        update={
            "redis": base.redis.model_copy(
                update={"url": redis_url, "key_prefix": redis_prefix}
            )
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    golden = write_golden_files(tmp_path / "golden")

    code = main(
        [
            "--config",
            str(path),
            "replay",
            str(golden),
            "--out",
            str(tmp_path / "out.json"),
            "--redis",
        ]
    )
    listed = subprocess.run(
        [sys.executable, "-m", "invsync.cli", "--config", str(path), "variances"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "invsync.cli",
            "--config",
            str(path),
            "variances",
            "SKU-200",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert code == 0
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["sku"], r["warehouse"], r["cause"]) for r in rows] == [
        ("SKU-100", "WH-WEST", "in_flight_stuck"),
        ("SKU-200", "WH-EAST", "unexplained"),
    ]
    assert one.returncode == 0, one.stderr
    assert [json.loads(line)["variance"] for line in one.stdout.splitlines()] == [-4]
