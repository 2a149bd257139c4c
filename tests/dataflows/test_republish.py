"""A running dataflow writes every SKU's record again after Redis lost it."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import redis
import yaml

from invsync.catalog import Catalog
from invsync.cluster import start_cluster
from invsync.config import load_config
from invsync.devservices import delete_redis_keys
from invsync.golden import write_golden_files
from invsync.publish import publish_adapter_output
from invsync.topics import Topics
from sinks.atp_reader import AtpReader
from sources.registry import parse_input, read_inputs

REPO = Path(__file__).resolve().parents[2]


def _wait_for_record(redis_url: str, prefix: str, sku: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with AtpReader(redis_url, prefix) as reader:
        while time.monotonic() < deadline:
            if reader.get(sku) is not None:
                return True
            time.sleep(0.2)
    return False


def test_records_come_back_after_redis_loses_keys(
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
                update={
                    "url": redis_url,
                    "key_prefix": redis_prefix,
                    "republish_interval": timedelta(seconds=2),
                }
            ),
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    catalog = Catalog(config)
    for item in read_inputs([write_golden_files(tmp_path / "golden")]):
        publish_adapter_output(config, parse_input(item, catalog))

    # Without --until-eof the dataflow keeps running, as in production.
    run = start_cluster(path, 1, tmp_path / "logs", ["--snapshot-interval", "1"])
    try:
        for sku in ("SKU-100", "SKU-200", "SKU-300"):
            assert _wait_for_record(redis_url, redis_prefix, sku, 60), run.log_tail()
        removed = delete_redis_keys(redis_url, redis_prefix + "atp:")
        assert removed >= 3
        client = redis.Redis.from_url(redis_url)
        assert client.keys(f"{redis_prefix}atp:*") == []

        returned = _wait_for_record(redis_url, redis_prefix, "SKU-100", 20)
    finally:
        run.stop()

    assert returned, run.log_tail()
    with AtpReader(redis_url, redis_prefix) as reader:
        record = reader.get("SKU-100")
    assert record is not None
    assert record.version.counter == 15
