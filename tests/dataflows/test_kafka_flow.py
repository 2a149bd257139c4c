"""The Kafka dataflow as ``python -m bytewax.run`` builds it with ``get_flow``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from bytewax.testing import run_main
from redis import Redis

from dataflows import kafka_flow as kafka_flow_module
from dataflows.kafka_flow import get_flow
from invsync.config import InvsyncConfig, WarehouseConfig, load_config
from invsync.topics import Topics
from operators.sku_logic import SkuLogicSettings
from sinks.redis_layout import BUCKETS, warehouses_key

REPO = Path(__file__).resolve().parents[2]


def _write_config(
    path: Path, brokers: list[str], topics: Topics, redis_url: str, prefix: str
) -> None:
    base = load_config(REPO / "samples" / "config.yaml")
    warehouses = {
        "WH-EAST": base.warehouses["WH-EAST"],
        "WH-OFF": WarehouseConfig(active=False),
    }
    config: InvsyncConfig = base.model_copy(
        update={
            "warehouses": warehouses,
            "kafka": base.kafka.model_copy(
                update={"brokers": brokers, "topic_prefix": topics.prefix}
            ),
            "redis": base.redis.model_copy(
                update={"url": redis_url, "key_prefix": prefix}
            ),
        }
    )
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))


def test_get_flow_writes_initial_flags(
    tmp_path: Path,
    kafka_brokers: list[str],
    topics: Topics,
    redis_url: str,
    redis_prefix: str,
    restore_root: None,
) -> None:
    path = tmp_path / "config.yaml"
    _write_config(path, kafka_brokers, topics, redis_url, redis_prefix)

    run_main(get_flow(str(path), tail=False))

    client = Redis.from_url(redis_url, decode_responses=True)
    copies = [
        client.hgetall(warehouses_key(redis_prefix, bucket))
        for bucket in range(BUCKETS)
    ]
    client.close()
    assert copies[0] == {
        "WH-EAST": "1",
        "WH-EAST:t": "0",
        "WH-OFF": "0",
        "WH-OFF:t": "0",
    }
    assert all(copy == copies[0] for copy in copies)


def _consumer_config(monkeypatch: pytest.MonkeyPatch, config: InvsyncConfig) -> dict:
    captured: dict = {}
    real_input = kafka_flow_module.kop.input

    def capture(*args, **kwargs):
        captured.update(kwargs["add_config"])
        return real_input(*args, **kwargs)

    monkeypatch.setattr(kafka_flow_module.kop, "input", capture)
    kafka_flow_module.kafka_flow(config, tail=False, sinks=_unused_sinks())
    return captured


def _unused_sinks():
    # The flow is only built, never run, so its sinks are never opened.
    return kafka_flow_module.kafka_sinks(InvsyncConfig())


def test_consumers_default_to_short_fetch_wait(monkeypatch):
    captured = _consumer_config(monkeypatch, InvsyncConfig())

    assert captured["fetch.wait.max.ms"] == "50"


def test_consumer_config_overrides_defaults(monkeypatch):
    config = InvsyncConfig.model_validate(
        {
            "kafka": {
                "client_config": {"security.protocol": "SSL"},
                "consumer_config": {"fetch.wait.max.ms": "500"},
            }
        }
    )

    captured = _consumer_config(monkeypatch, config)

    assert captured["fetch.wait.max.ms"] == "500"
    assert captured["security.protocol"] == "SSL"


@pytest.mark.parametrize(
    ("section", "properties", "message"),
    [
        (
            "consumer_config",
            {"fetch.wait.max.ms": "soon"},
            'Invalid value for configuration property "fetch.wait.max.ms"',
        ),
        ("producer_config", {"no.such.property": "1"}, "No such configuration"),
    ],
)
def test_invalid_client_property_rejected(section, properties, message):
    config = InvsyncConfig.model_validate({"kafka": {section: properties}})

    with pytest.raises(ValueError, match=message):
        kafka_flow_module.check_client_properties(config)


def test_configured_properties_accepted():
    config = InvsyncConfig.model_validate(
        {"kafka": {"consumer_config": {"fetch.wait.max.ms": "20"}}}
    )

    kafka_flow_module.check_client_properties(config)


def _sku_settings(monkeypatch: pytest.MonkeyPatch, **flow_args) -> SkuLogicSettings:
    captured: list[SkuLogicSettings] = []
    real_build_core = kafka_flow_module.build_core

    def capture(raw, settings, *args, **kwargs):
        captured.append(settings)
        return real_build_core(raw, settings, *args, **kwargs)

    monkeypatch.setattr(kafka_flow_module, "build_core", capture)
    kafka_flow_module.kafka_flow(
        InvsyncConfig(), tail=False, sinks=_unused_sinks(), **flow_args
    )
    (settings,) = captured
    return settings


def test_flow_snapshots_sku_state_by_default(monkeypatch):
    assert _sku_settings(monkeypatch).snapshots is True


def test_flow_without_recovery_skips_snapshots(monkeypatch):
    assert _sku_settings(monkeypatch, recovery=False).snapshots is False
