"""Retries of Redis writes while the server is down, against a private redis-server."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from prometheus_client import REGISTRY
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from sinks.redis_atp import AtpWriter
from sinks.redis_layout import atp_key, connect

pytestmark = [pytest.mark.integration, pytest.mark.fault]

OUTAGE_S = 2.0


def _retries() -> float:
    return REGISTRY.get_sample_value("invsync_redis_write_retries_total") or 0.0


def test_write_lands_after_outage(restartable_redis, record_factory, caplog):
    writer = AtpWriter(connect(restartable_redis.url), "p:", retry_total_s=30.0)
    writer.load_library()
    restartable_redis.stop()
    retries_before = _retries()
    restart = threading.Timer(OUTAGE_S, restartable_redis.start)
    started = time.monotonic()

    restart.start()
    with caplog.at_level(logging.WARNING, logger="sinks.redis_retry"):
        result = writer.write([record_factory("SKU-1", 0, 3, {"W1": 5})])
    elapsed = time.monotonic() - started
    restart.join()

    stored = Redis.from_url(restartable_redis.url, decode_responses=True)
    assert result.applied == 1
    assert stored.hget(atp_key("p:", "SKU-1"), "ctr") == "3"
    assert elapsed >= OUTAGE_S
    assert _retries() > retries_before
    assert "Redis write attempt 1 failed" in caplog.text
    # The restarted server has no persistence, so the writer loaded the
    # function library again.
    assert "function library is missing" in caplog.text
    stored.close()
    writer.close()


def test_write_gives_up_after_total(restartable_redis, record_factory):
    writer = AtpWriter(connect(restartable_redis.url), "p:", retry_total_s=1.0)
    writer.load_library()
    restartable_redis.stop()
    retries_before = _retries()
    started = time.monotonic()

    with pytest.raises(RedisConnectionError):
        writer.write([record_factory("SKU-1", 0, 3, {"W1": 5})])

    elapsed = time.monotonic() - started
    assert elapsed >= 1.0
    assert elapsed < 10.0
    assert _retries() >= retries_before + 3
    writer.close()


def test_retry_logged_once_per_attempt(restartable_redis, record_factory, caplog):
    writer = AtpWriter(connect(restartable_redis.url), "p:", retry_total_s=1.0)
    writer.load_library()
    restartable_redis.stop()
    retries_before = _retries()
    caplog.set_level(logging.INFO)

    with pytest.raises(RedisConnectionError):
        writer.write([record_factory("SKU-1", 0, 1, {"W1": 5})])
    retried = int(_retries() - retries_before)
    writer.close()

    # Each retried attempt is logged once, by the retry policy only.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert retried >= 1
    assert {r.name for r in warnings} == {"sinks.redis_retry"}
    assert [r.attempt for r in warnings] == list(range(1, retried + 1))
    assert {r.error_class for r in warnings} == {"ConnectionError"}
