"""Logging: JSON lines with context fields, secrets masked, repeats limited."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from invsync.avro import encode
from invsync.config import InvsyncConfig
from invsync.events import (
    DeadLetter,
    ErpPosting,
    PostingType,
    Source,
    StockStatus,
    WarehouseHeartbeat,
)
from invsync.logs import (
    RepeatFilter,
    SecretFilter,
    configure_logging,
    dead_letter_fields,
    event_fields,
    origin_fields,
    record_fields,
    secrets_of,
)

SASL_PASSWORD = "kafka-Sasl-Pa55"
REDIS_PASSWORD = "redis-Acl-Pa55"


@pytest.fixture
def config() -> InvsyncConfig:
    """Return a configuration with a SASL password and a Redis ACL password."""
    return InvsyncConfig.model_validate(
        {
            "kafka": {
                "client_config": {
                    "sasl.username": "invsync",
                    "sasl.password": SASL_PASSWORD,
                }
            },
            "redis": {"url": f"rediss://invsync:{REDIS_PASSWORD}@redis:6380/0"},
        }
    )


def test_secrets_of_config(config: InvsyncConfig) -> None:
    secrets = secrets_of(config)

    assert SASL_PASSWORD in secrets
    assert REDIS_PASSWORD in secrets
    assert "invsync" not in secrets


def test_secret_filter_masks_args() -> None:
    masker = SecretFilter([SASL_PASSWORD])

    text = masker.mask(f"config {{'sasl.password': '{SASL_PASSWORD}'}}")

    assert SASL_PASSWORD not in text
    assert text == "config {'sasl.password': '***'}"


def test_secret_filter_masks_url_password() -> None:
    masker = SecretFilter()

    text = masker.mask("connecting to rediss://user:s3cr%40t@redis:6380/0 now")

    assert text == "connecting to rediss://user:***@redis:6380/0 now"


def test_secret_filter_masks_query_password() -> None:
    masker = SecretFilter()

    text = masker.mask("Redis redis://cache:6379/0?password=S3CRETpw&db=1 is down")

    assert text == "Redis redis://cache:6379/0?password=***&db=1 is down"


def test_secrets_of_query_password() -> None:
    config = InvsyncConfig.model_validate(
        {"redis": {"url": "redis://cache:6379/0?password=S3CRET%21pw"}}
    )

    assert "S3CRET!pw" in secrets_of(config)


def test_logged_secrets_masked(config: InvsyncConfig, restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging(
        "INFO", json_lines=True, secrets=secrets_of(config), stream=stream
    )
    log = logging.getLogger("invsync.test_logs")

    log.warning("client config %s", dict(config.kafka.client_config))
    log.warning("redis %s", config.redis.url)
    try:
        raise RuntimeError(f"auth failed for {REDIS_PASSWORD}")
    except RuntimeError:
        log.exception("write failed")
    output = stream.getvalue()

    assert SASL_PASSWORD not in output
    assert REDIS_PASSWORD not in output
    assert output.count("***") == 3


def test_json_lines_carry_context(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_lines=True, stream=stream)

    logging.getLogger("invsync.test_logs").warning(
        "dead letter %s",
        "invalid_avro",
        extra={**origin_fields("invsync.wms/1/42"), "sku": "SKU-1", "event_id": "e1"},
    )
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)

    assert record["message"] == "dead letter invalid_avro"
    assert record["level"] == "WARNING"
    assert record["topic"] == "invsync.wms"
    assert record["partition"] == 1
    assert record["offset"] == 42
    assert record["sku"] == "SKU-1"
    assert record["event_id"] == "e1"


def test_json_lines_carry_alert_and_attempt(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_lines=True, stream=stream)

    logging.getLogger("invsync.test_logs").warning(
        "variance OPENED",
        extra={
            "alert_id": "a1",
            "posting_ids": ["p1", "p2"],
            "attempt": 3,
            "order_id": None,
        },
    )
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)

    assert record["alert_id"] == "a1"
    assert record["posting_ids"] == ["p1", "p2"]
    assert record["attempt"] == 3
    assert "order_id" not in record


def test_dead_letter_fields_of_kafka_origin() -> None:
    letter = DeadLetter(
        dead_letter_id="d1",
        error_class="too_late",
        message="late",
        source_format="avro",
        partner="TPL1",
        original=b"",
        origin="invsync.wms/0/9",
        event_id="e9",
        sku="SKU-9",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )

    assert dead_letter_fields(letter) == {
        "dead_letter_id": "d1",
        "error_class": "too_late",
        "topic": "invsync.wms",
        "partition": 0,
        "offset": 9,
        "partner": "TPL1",
        "event_id": "e9",
        "sku": "SKU-9",
    }


def test_dead_letter_fields_without_origin() -> None:
    letter = DeadLetter(
        dead_letter_id="d2",
        error_class="not_avro",
        message="bad",
        source_format="avro",
        original=b"x",
        failed_at=datetime(2026, 3, 1, tzinfo=UTC),
    )

    assert dead_letter_fields(letter) == {
        "dead_letter_id": "d2",
        "error_class": "not_avro",
    }


def test_event_fields_of_heartbeat() -> None:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    heartbeat = WarehouseHeartbeat(
        event_id="hb-1",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        warehouse="W1",
    )

    assert event_fields(heartbeat) == {"event_id": "hb-1", "warehouse": "W1"}


def test_record_fields_of_posting() -> None:
    posting = ErpPosting(
        posting_id="p1",
        sequence=1,
        sku="SKU-1",
        warehouse="W1",
        posting_type=PostingType.GOODS_ISSUE,
        quantity=-2,
        stock_status=StockStatus.AVAILABLE,
        source_event_id="s1",
        event_time=datetime(2026, 3, 1, tzinfo=UTC),
        order_id="SO-1",
    )

    assert record_fields(encode(posting)) == {
        "posting_id": "p1",
        "order_id": "SO-1",
        "sku": "SKU-1",
        "warehouse": "W1",
    }


def test_record_fields_of_other_bytes() -> None:
    assert record_fields(b"RECEIPT,SKU-1,W1,10") == {}
    assert record_fields(None) == {}


def test_origin_fields_of_file() -> None:
    assert origin_fields("samples/wms/day1.jsonl:3") == {
        "origin": "samples/wms/day1.jsonl:3"
    }


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(
        "invsync.x", logging.WARNING, __file__, 1, message, (), None
    )


def test_repeat_filter_holds_back() -> None:
    now = [0.0]
    repeats = RepeatFilter(limit=2, interval_s=60, clock=lambda: now[0])

    passed = [repeats.filter(_record("retrying %s")) for _ in range(5)]
    other = repeats.filter(_record("another %s"))
    now[0] = 61.0
    later = _record("retrying %s")
    after_interval = repeats.filter(later)

    assert passed == [True, True, False, False, False]
    assert other is True
    assert after_interval is True
    assert later.msg == "retrying %s (held back 3 repeats of this message)"


def test_cli_masks_config_secrets(tmp_path: Path, config: InvsyncConfig) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    script = (
        "import logging, sys\n"
        "from invsync import cli\n"
        "cli.main(['--config', sys.argv[1], '--log-json', '--log-level', 'ERROR',"
        " 'parse', '--format', 'wms-jsonl', sys.argv[2]])\n"
        f"logging.getLogger('invsync').error('sasl %s', {SASL_PASSWORD!r})\n"
    )

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")

    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(empty)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    [line] = result.stderr.splitlines()

    assert result.returncode == 0, result.stderr
    assert json.loads(line)["message"] == "sasl ***"
