"""Configuration loading, the Redis URL check and one-line error descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from invsync.config import (
    InvsyncConfig,
    RedisConfig,
    check_redis_url,
    describe_config_error,
    load_config,
)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.example:6380/1",
        "unix:///run/redis/redis.sock",
        "REDIS://host",
        "redis://:pass@host:6379/0?socket_timeout=2",
        "unix:///run/redis/redis.sock?db=2",
        "redis://host:7000?cluster=true&socket_timeout=2",
        "redis://host/0?encoding=UTF8&decode_responses=true",
    ],
)
def test_redis_url_accepted(url: str) -> None:
    assert check_redis_url(url) == url
    assert RedisConfig(url=url).url == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "notaurl",
            "Redis URL must specify one of the following schemes "
            "(redis://, rediss://, unix://)",
        ),
        ("http://host:6379", "Redis URL must specify one of the following schemes"),
        ("redis://host:port/0", "Port could not be cast to integer value as 'port'"),
        ("redis://host:70000/0", "Port out of range 0-65535"),
        (
            "redis://host/0?socket_timeout=soon",
            "Invalid value for 'socket_timeout' in connection URL",
        ),
        ("redis://host/0?bogus_option=1", "an option is unknown"),
        ("redis://host/0?encoding=latin-1", "encoding 'latin-1' is not supported"),
        ("redis://host/0?encoding=no-such-codec", "is not supported"),
    ],
)
def test_redis_url_rejected(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid Redis URL") as caught:
        check_redis_url(url)

    assert reason in str(caught.value)


def test_redis_url_error_masks_query_password() -> None:
    with pytest.raises(ValueError, match="socket_timeout") as caught:
        check_redis_url("redis://host/0?password=S3CRETpw&socket_timeout=abc")

    assert "S3CRETpw" not in str(caught.value)
    assert "password=***" in str(caught.value)


def test_redis_url_error_masks_password() -> None:
    with pytest.raises(ValidationError) as caught:
        RedisConfig(url="redis://user:p@ss-word@host:port/0")

    text = describe_config_error(caught.value)
    assert text.startswith("url: invalid Redis URL 'redis://***@host:port/0': ")
    assert "ss-word" not in text
    assert "ss-word" not in str(caught.value)


def test_validation_error_one_line() -> None:
    data = {
        "warehouses": {"W": {"locations": [{"value": "L1"}, {"value": ""}]}},
        "kafka": {"partitions": 0},
    }
    with pytest.raises(ValidationError) as caught:
        InvsyncConfig.model_validate(data)

    assert describe_config_error(caught.value) == (
        "warehouses.W.locations[1].value: String should have at least 1 "
        "character; kafka.partitions: Input should be greater than or equal to 1"
    )


def test_model_validator_error_without_prefix() -> None:
    data = {"warehouses": {"W": {"on_hand_source": "NOBODY"}}}
    with pytest.raises(ValidationError) as caught:
        InvsyncConfig.model_validate(data)

    assert describe_config_error(caught.value) == (
        "warehouse 'W' takes on hand from partner 'NOBODY', which is not configured"
    )


def test_yaml_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("kafka:\n  brokers: [a\nredis: x: y\n")

    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load_config(path)

    assert caught.value.problem_mark is not None
    assert caught.value.problem_mark.name == str(path)
    assert describe_config_error(caught.value) == (
        "YAML syntax error at line 3, column 6: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 2, column 12)"
    )


def test_other_error_joined_to_one_line() -> None:
    error = ValueError("first line\n  second line")

    assert describe_config_error(error) == "first line second line"


def test_key_prefix_with_braces_rejected_at_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("redis:\n  key_prefix: 'shop{1}:'\n")

    with pytest.raises(ValidationError, match="must not contain braces"):
        load_config(path)


def test_gc_threshold_beyond_c_int_rejected() -> None:
    with pytest.raises(ValidationError, match="at most 2147483647"):
        InvsyncConfig.model_validate({"worker": {"gc_thresholds": [2**31, 10, 10]}})


def test_kafka_property_numbers_become_text(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "kafka:\n"
        "  consumer_config: {fetch.wait.max.ms: 20}\n"
        "  producer_config: {linger.ms: 2.5, enable.idempotence: true}\n"
    )

    kafka = load_config(path).kafka

    assert kafka.consumer_config == {"fetch.wait.max.ms": "20"}
    assert kafka.producer_config == {"linger.ms": "2.5", "enable.idempotence": "true"}


@pytest.mark.parametrize(
    ("section", "name", "reason"),
    [
        ("consumer_config", "enable.partition.eof", "from --until-eof"),
        ("client_config", "bootstrap.servers", "set kafka.brokers instead"),
        ("producer_config", "delivery.report.only.error", "the producers set it"),
        ("client_config", "delivery.report.only.error", "the producers set it"),
    ],
)
def test_kafka_properties_invsync_sets_rejected(
    section: str, name: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        InvsyncConfig.model_validate({"kafka": {section: {name: "false"}}})


def test_producers_may_name_other_brokers() -> None:
    config = InvsyncConfig.model_validate(
        {"kafka": {"producer_config": {"bootstrap.servers": "10.0.0.9:9092"}}}
    )

    assert config.kafka.producer_config == {"bootstrap.servers": "10.0.0.9:9092"}


def test_duplicate_yaml_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "warehouses:\n  WH-1: {}\nkafka:\n  partitions: 2\nwarehouses:\n  WH-2: {}\n"
    )

    with pytest.raises(yaml.YAMLError) as raised:
        load_config(path)

    assert describe_config_error(raised.value) == (
        "YAML error at line 5, column 1: duplicate key 'warehouses', first given "
        "at line 1"
    )


def test_duplicate_nested_yaml_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("kafka:\n  partitions: 2\n  partitions: 3\n")

    with pytest.raises(yaml.YAMLError, match="duplicate key 'partitions'"):
        load_config(path)


def test_duplicate_json_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"kafka": {"partitions": 2, "partitions": 3}}')

    with pytest.raises(ValueError, match="duplicate key 'partitions'"):
        load_config(path)


def test_sample_configs_have_no_duplicate_keys() -> None:
    samples = sorted((Path(__file__).parent.parent / "samples").glob("*.yaml"))

    loaded = [load_config(path) for path in samples]

    assert loaded
