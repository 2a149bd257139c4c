"""The golden scenario, checked against hand-computed values through every path.

``docs/golden.md`` derives each expected number below from the scenario's
events and the rules in ``docs/semantics.md``. The same files go through
``invsync replay``, through the Kafka dataflow as one process and as a
two-process Bytewax cluster on the real broker and Redis; all three must give
exactly these results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflows.replay import replay
from invsync.avro import decode_as
from invsync.catalog import Catalog
from invsync.cluster import start_cluster
from invsync.config import InvsyncConfig, load_config
from invsync.devservices import free_port
from invsync.events import AtpRecord, ErpPosting, InventoryException, VarianceAlert
from invsync.golden import write_golden_files
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from sinks.atp_reader import AtpReader
from sources.registry import parse_input, read_inputs

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "samples" / "config.yaml"

# (on_hand, held, reserved, safety_stock, inbound, atp, available, backordered,
#  channel_available) per SKU and warehouse.
EXPECTED_WAREHOUSES: dict[str, dict[str, tuple[int, ...] | tuple[Any, ...]]] = {
    "SKU-100": {
        "WH-3PL": (27, 2, 0, 0, 0, 25, 25, 0, None),
        "WH-EAST": (78, 3, 0, 10, 0, 65, 65, 0, None),
        "WH-WEST": (48, 0, 0, 0, 2, 48, 48, 0, None),
    },
    "SKU-200": {
        "WH-EAST": (64, 0, 0, 0, 0, 64, 64, 0, None),
    },
    "SKU-300": {
        "WH-WEST": (5, 0, 0, 0, 12, 5, 5, 0, 1),
    },
}
# (unallocated demand, unallocated backordered, version counter)
EXPECTED_SKU = {
    "SKU-100": (0, 0, 15),
    "SKU-200": (10, 0, 4),
    "SKU-300": (7, 2, 11),
}
EXPECTED_NETWORK = {"SKU-100": (138, 138), "SKU-200": (54, 54), "SKU-300": (0, -2)}
# (sku, warehouse, posting type, signed quantity, sequence)
EXPECTED_POSTINGS = {
    ("SKU-100", "WH-EAST", "STATUS_CHANGE", -3, 1),
    ("SKU-100", "WH-EAST", "TRANSFER_OUT", -20, 2),
    ("SKU-100", "WH-EAST", "GOODS_ISSUE", -2, 3),
    ("SKU-100", "WH-WEST", "TRANSFER_IN", 18, 1),
    ("SKU-100", "WH-3PL", "GOODS_ISSUE", -24, 1),
    ("SKU-100", "WH-3PL", "ADJUSTMENT", -1, 2),
    ("SKU-200", "WH-EAST", "GOODS_RECEIPT", 24, 1),
    ("SKU-300", "WH-WEST", "ADJUSTMENT", -1, 1),
}
# Backorders still open at the end: (sku, order, line, quantity).
EXPECTED_OPEN_BACKORDERS = {("SKU-300", "5003", "9004", 2)}
EXPECTED_ADAPTER_DEAD_LETTERS = {"invalid_record": 1, "unmapped_item": 1}
# Variance alerts of the 18:30 ERP export: (sku, warehouse, state, cause, stock
# status, erp, wms, expected, in flight, variance, percent, value).
EXPECTED_VARIANCES = {
    (
        "SKU-100",
        "WH-WEST",
        "OPENED",
        "in_flight_stuck",
        "AVAILABLE",
        30,
        48,
        48,
        18,
        -18,
        37.5,
        -72.0,
    ),
    (
        "SKU-200",
        "WH-EAST",
        "OPENED",
        "unexplained",
        None,
        60,
        64,
        64,
        0,
        -4,
        6.25,
        -50.0,
    ),
}


def warehouse_rows(record: AtpRecord) -> dict[str, tuple[Any, ...]]:
    """Return a record's warehouses in the shape of EXPECTED_WAREHOUSES."""
    return {
        w.warehouse: (
            w.on_hand,
            w.held,
            w.reserved,
            w.safety_stock,
            w.inbound,
            w.atp,
            w.available,
            w.backordered,
            w.channel_available,
        )
        for w in record.warehouses
    }


def posting_rows(postings: list[ErpPosting]) -> set[tuple[Any, ...]]:
    """Return postings in the shape of EXPECTED_POSTINGS."""
    return {
        (p.sku, p.warehouse, p.posting_type.value, p.quantity, p.sequence)
        for p in postings
    }


def open_backorders(exceptions: list[InventoryException]) -> set[tuple[Any, ...]]:
    """Return the backorders whose latest exception record is above zero."""
    latest: dict[tuple[str, str | None, str | None], int] = {}
    for exception in exceptions:
        if exception.kind.value == "BACKORDER":
            latest[(exception.sku, exception.order_id, exception.line_id)] = (
                exception.quantity
            )
    return {(*key, quantity) for key, quantity in latest.items() if quantity > 0}


def variance_rows(alerts: list[VarianceAlert]) -> set[tuple[Any, ...]]:
    """Return alerts in the shape of EXPECTED_VARIANCES."""
    return {
        (
            a.sku,
            a.warehouse,
            a.state.value,
            a.cause.value,
            None if a.stock_status is None else a.stock_status.value,
            a.erp_quantity,
            a.wms_quantity,
            a.expected_quantity,
            a.in_flight_quantity,
            a.variance,
            a.percent,
            a.value,
        )
        for a in alerts
    }


def check_records(records: dict[str, AtpRecord]) -> None:
    """Assert the final ATP records against the hand-computed values."""
    assert sorted(records) == sorted(EXPECTED_WAREHOUSES)
    for sku, expected in EXPECTED_WAREHOUSES.items():
        assert warehouse_rows(records[sku]) == expected, sku
        unallocated, backordered, counter = EXPECTED_SKU[sku]
        assert records[sku].unallocated_demand == unallocated, sku
        assert records[sku].unallocated_backordered == backordered, sku
        assert records[sku].version.counter == counter, sku


@pytest.fixture(scope="module")
def golden_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the scenario's files once for the module."""
    return write_golden_files(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def config() -> InvsyncConfig:
    """Load the sample configuration that maps the scenario's partners."""
    return load_config(CONFIG)


def test_golden_replay(golden_files: Path, config: InvsyncConfig) -> None:
    result = replay(config, read_inputs([golden_files]))

    check_records(result.atp)
    assert posting_rows(result.postings) == EXPECTED_POSTINGS
    assert open_backorders(result.exceptions) == EXPECTED_OPEN_BACKORDERS
    classes: dict[str, int] = {}
    for letter in result.dead_letters:
        classes[letter.error_class] = classes.get(letter.error_class, 0) + 1
    assert classes == EXPECTED_ADAPTER_DEAD_LETTERS
    assert variance_rows(result.variance_alerts) == EXPECTED_VARIANCES
    assert len(result.variance_alerts) == len(EXPECTED_VARIANCES)


def test_golden_stuck_alert_names_posting(
    golden_files: Path, config: InvsyncConfig
) -> None:
    result = replay(config, read_inputs([golden_files]))

    receipt = [
        p.posting_id
        for p in result.postings
        if (p.warehouse, p.posting_type.value) == ("WH-WEST", "TRANSFER_IN")
    ]
    stuck = [a for a in result.variance_alerts if a.cause.value == "in_flight_stuck"]
    assert len(receipt) == 1
    assert len(stuck) == 1
    assert stuck[0].in_flight_posting_ids == receipt
    assert stuck[0].explaining_posting_ids == receipt


def test_golden_posting_ids_unique(golden_files: Path, config: InvsyncConfig) -> None:
    result = replay(config, read_inputs([golden_files]))

    ids = [p.posting_id for p in result.postings]
    assert len(ids) == len(set(ids))


def _ingest(config: InvsyncConfig, golden_files: Path) -> None:
    catalog = Catalog(config)
    for item in read_inputs([golden_files]):
        publish_adapter_output(config, parse_input(item, catalog))


def _run_config(
    config: InvsyncConfig,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    path: Path,
) -> InvsyncConfig:
    run_config = config.model_copy(
        update={
            "kafka": config.kafka.model_copy(
                update={"brokers": kafka_brokers, "topic_prefix": topics.prefix}
            ),
            "redis": config.redis.model_copy(
                update={"url": redis_url, "key_prefix": redis_prefix}
            ),
        }
    )
    path.write_text(yaml.safe_dump(json.loads(run_config.model_dump_json())))
    return run_config


def _check_kafka_run(
    run_config: InvsyncConfig, topics: Topics, redis_url: str, redis_prefix: str
) -> None:
    with AtpReader(redis_url, redis_prefix) as reader:
        found = reader.get_many(sorted(EXPECTED_WAREHOUSES))
        network = reader.network_many(sorted(EXPECTED_WAREHOUSES))
    records = {sku: record for sku, record in found.items() if record is not None}
    check_records(records)
    for sku, (available, unclipped) in EXPECTED_NETWORK.items():
        figures = network[sku]
        assert figures is not None, sku
        assert (figures.network, figures.unclipped) == (available, unclipped), sku

    brokers = run_config.kafka.brokers
    postings = [
        decode_as(r.value, ErpPosting) for r in read_topic(brokers, topics.postings)
    ]
    assert posting_rows(postings) == EXPECTED_POSTINGS
    assert len(postings) == len(EXPECTED_POSTINGS)
    exceptions = [
        decode_as(r.value, InventoryException)
        for r in read_topic(brokers, topics.exceptions)
    ]
    assert open_backorders(exceptions) == EXPECTED_OPEN_BACKORDERS


@pytest.mark.parametrize("processes", [1, 2])
def test_golden_on_kafka(
    processes: int,
    golden_files: Path,
    config: InvsyncConfig,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    run_config = _run_config(
        config, kafka_brokers, redis_url, topics, redis_prefix, tmp_path / "c.yaml"
    )
    _ingest(run_config, golden_files)

    run = start_cluster(
        tmp_path / "c.yaml", processes, tmp_path / "logs", ["--until-eof"]
    )
    codes = run.wait(timeout=180)

    assert codes == [0] * processes, run.log_tail()
    _check_kafka_run(run_config, topics, redis_url, redis_prefix)


def test_ingest_twice_changes_nothing(
    golden_files: Path,
    config: InvsyncConfig,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    run_config = _run_config(
        config, kafka_brokers, redis_url, topics, redis_prefix, tmp_path / "c.yaml"
    )
    _ingest(run_config, golden_files)
    _ingest(run_config, golden_files)

    run = start_cluster(tmp_path / "c.yaml", 2, tmp_path / "logs", ["--until-eof"])
    codes = run.wait(timeout=180)

    assert codes == [0, 0], run.log_tail()
    _check_kafka_run(run_config, topics, redis_url, redis_prefix)


def test_failed_posting_delivery_fails_run(
    golden_files: Path,
    config: InvsyncConfig,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    run_config = _run_config(
        config, kafka_brokers, redis_url, topics, redis_prefix, tmp_path / "c.yaml"
    )
    _ingest(run_config, golden_files)
    # The producers point at a loopback port with no listener, so every
    # delivery times out while the consumer still reads the real broker.
    unreachable = {
        "bootstrap.servers": f"127.0.0.1:{free_port()}",
        "message.timeout.ms": "3000",
    }
    broken = run_config.model_copy(
        update={
            "kafka": run_config.kafka.model_copy(
                update={"producer_config": unreachable}
            )
        }
    )
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump(json.loads(broken.model_dump_json()))
    )

    run = start_cluster(tmp_path / "c.yaml", 1, tmp_path / "logs", ["--until-eof"])
    codes = run.wait(timeout=180)

    assert codes != [0]
    assert "DeliveryError" in run.log_tail(200)
