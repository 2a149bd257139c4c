"""Version-guarded ATP writes against a real Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import input as input_op
from bytewax.operators import output
from bytewax.testing import TestingSource, run_main
from prometheus_client import REGISTRY
from redis import Redis
from redis.exceptions import ResponseError

from invsync.events import WarehouseAtp
from sinks import redis_layout
from sinks.redis_atp import AtpWriter, RedisAtpSink, coalesce
from sinks.redis_layout import (
    atp_key,
    bucket_of,
    connect,
    packs_utf8,
    send_commands,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield redis
    redis.close()


@pytest.fixture
def writer(redis_url: str, redis_prefix: str) -> Iterator[AtpWriter]:
    atp_writer = AtpWriter(connect(redis_url), redis_prefix, retry_total_s=5.0)
    atp_writer.load_library()
    yield atp_writer
    atp_writer.close()


def _balances_without_code(warehouse: WarehouseAtp) -> dict[str, Any]:
    names = [name for name in WarehouseAtp.model_fields if name != "warehouse"]
    return {name: getattr(warehouse, name) for name in names}


def _stale(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "invsync_redis_stale_writes_total", {"reason": reason}
    )
    return value or 0.0


def test_write_stores_exact_fields(writer, client, redis_prefix, record_factory):
    record = record_factory("SKU-1", 0, 7, {"W1": 5, "W2": 3}, unallocated=2)

    result = writer.write([record])

    stored = client.hgetall(atp_key(redis_prefix, "SKU-1"))
    assert result.applied == 1
    assert result.rejected_older == 0
    assert sorted(stored) == [
        "avail",
        "ctr",
        "gen",
        "record",
        "unalloc",
        "unalloc_bo",
        "updated_at",
        "w:W1",
        "w:W2",
    ]
    assert stored["gen"] == "0"
    assert stored["ctr"] == "7"
    assert stored["updated_at"] == "2026-03-01T12:30:05Z"
    assert stored["unalloc"] == "2"
    assert stored["unalloc_bo"] == "0"
    assert stored["avail"] == '{"W1":5,"W2":3}'
    balances = json.loads(stored["w:W2"])
    assert balances["on_hand"] == 7
    assert balances["available"] == 3
    assert "warehouse" not in balances
    assert balances == _balances_without_code(record.warehouses[1])
    assert stored["record"] == record.model_dump_json()


def test_older_counter_is_rejected(writer, client, redis_prefix, record_factory):
    older_before = _stale("older")
    writer.write([record_factory("SKU-1", 0, 7, {"W1": 5})])

    result = writer.write([record_factory("SKU-1", 0, 5, {"W1": 1})])

    stored = client.hmget(atp_key(redis_prefix, "SKU-1"), ["ctr", "avail"])
    assert result.applied == 0
    assert result.rejected_older == 1
    assert stored == ["7", '{"W1":5}']
    assert _stale("older") == older_before + 1


def test_equal_version_is_rejected(writer, client, redis_prefix, record_factory):
    equal_before = _stale("equal")
    writer.write([record_factory("SKU-1", 0, 7, {"W1": 5})])

    result = writer.write([record_factory("SKU-1", 0, 7, {"W1": 1})])

    assert result.applied == 0
    assert result.rejected_equal == 1
    assert client.hget(atp_key(redis_prefix, "SKU-1"), "avail") == '{"W1":5}'
    assert _stale("equal") == equal_before + 1


def test_higher_generation_wins(writer, client, redis_prefix, record_factory):
    writer.write([record_factory("SKU-1", 0, 900, {"W1": 5})])

    result = writer.write([record_factory("SKU-1", 1, 2, {"W1": 8})])

    stored = client.hmget(atp_key(redis_prefix, "SKU-1"), ["gen", "ctr", "avail"])
    assert result.applied == 1
    assert stored == ["1", "2", '{"W1":8}']


def test_lower_generation_loses(writer, client, redis_prefix, record_factory):
    writer.write([record_factory("SKU-1", 1, 2, {"W1": 8})])

    result = writer.write([record_factory("SKU-1", 0, 900, {"W1": 5})])

    stored = client.hmget(atp_key(redis_prefix, "SKU-1"), ["gen", "ctr"])
    assert result.rejected_older == 1
    assert stored == ["1", "2"]


def test_newer_record_drops_old_warehouses(
    writer, client, redis_prefix, record_factory
):
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5, "W9": 4})])

    writer.write([record_factory("SKU-1", 0, 2, {"W1": 6})])

    fields = client.hkeys(atp_key(redis_prefix, "SKU-1"))
    assert "w:W1" in fields
    assert "w:W9" not in fields


def test_batch_coalesces_to_highest(writer, client, redis_prefix, record_factory):
    batch = [
        record_factory("SKU-1", 0, 3, {"W1": 3}),
        record_factory("SKU-1", 0, 9, {"W1": 9}),
        record_factory("SKU-1", 0, 5, {"W1": 5}),
    ]

    result = writer.write(batch)

    stored = client.hmget(atp_key(redis_prefix, "SKU-1"), ["ctr", "avail"])
    assert result.applied == 1
    assert result.fcalls == 1
    assert stored == ["9", '{"W1":9}']


def test_coalesce_keeps_later_of_equal(record_factory):
    first = record_factory("SKU-1", 0, 4, {"W1": 1})
    second = record_factory("SKU-1", 0, 4, {"W1": 2})
    other = record_factory("SKU-2", 0, 1, {"W1": 3})

    latest = coalesce([first, other, second])

    assert latest == [second, other]


def _skus_in_distinct_buckets(count: int) -> list[str]:
    skus: list[str] = []
    seen: set[int] = set()
    index = 0
    while len(skus) < count:
        sku = f"SKU-{index}"
        if bucket_of(sku) not in seen:
            seen.add(bucket_of(sku))
            skus.append(sku)
        index += 1
    return skus


def _sku_pair_in_one_bucket() -> tuple[str, str]:
    first_by_bucket: dict[int, str] = {}
    index = 0
    while True:
        sku = f"PAIR-{index}"
        bucket = bucket_of(sku)
        if bucket in first_by_bucket:
            return first_by_bucket[bucket], sku
        first_by_bucket[bucket] = sku
        index += 1


def _monitored_fcalls(redis_url, redis_prefix, write):
    """Run ``write`` and return its result and the FCALLs Redis received."""
    marker = f"end-{uuid.uuid4().hex}"
    monitor_client = Redis.from_url(redis_url, decode_responses=True)
    with monitor_client.monitor() as monitor:
        result = write()
        monitor_client.echo(marker)
        fcalls: list[list[str]] = []
        while True:
            command = monitor.next_command()["command"]
            if marker in command:
                break
            if command.startswith("FCALL") and redis_prefix in command:
                fcalls.append(command.split())
    monitor_client.close()
    return result, fcalls


def _called_keys(fcalls):
    return [words[3 : 3 + int(words[2])] for words in fcalls]


def test_single_redis_takes_a_batch_in_one_fcall(
    writer, redis_url, redis_prefix, record_factory
):
    skus = [*_skus_in_distinct_buckets(6), *_sku_pair_in_one_bucket()]
    records = [record_factory(sku, 0, 1, {"W1": 1}) for sku in skus]

    result, fcalls = _monitored_fcalls(
        redis_url, redis_prefix, lambda: writer.write(records)
    )

    assert result.fcalls == 1
    assert result.applied == len(skus)
    assert [sorted(keys) for keys in _called_keys(fcalls)] == [
        sorted(atp_key(redis_prefix, sku) for sku in skus)
    ]


def test_single_redis_splits_large_batches(
    writer, client, redis_url, redis_prefix, record_factory, monkeypatch
):
    monkeypatch.setattr(redis_layout, "SKUS_PER_CALL", 3)
    skus = [f"SPLIT-{index}" for index in range(8)]
    records = [record_factory(sku, 0, 1, {"W1": 1}) for sku in skus]

    result, fcalls = _monitored_fcalls(
        redis_url, redis_prefix, lambda: writer.write(records)
    )

    assert result.fcalls == 3
    assert [len(keys) for keys in _called_keys(fcalls)] == [3, 3, 2]
    stored = [
        json.loads(client.hget(atp_key(redis_prefix, sku), "avail")) for sku in skus
    ]
    assert stored == [{"W1": 1}] * len(skus)


def test_sink_in_dataflow(redis_url, redis_prefix, client, record_factory):
    records = [
        record_factory("SKU-1", 0, 1, {"W1": 1}),
        record_factory("SKU-2", 0, 4, {"W1": 4}),
        record_factory("SKU-1", 0, 2, {"W1": 2}),
    ]
    flow = Dataflow("redis_atp_sink")
    stream = input_op("records", flow, TestingSource(records))
    output("atp", stream, RedisAtpSink(redis_url, redis_prefix, retry_total_s=5.0))

    run_main(flow)

    assert client.hget(atp_key(redis_prefix, "SKU-1"), "ctr") == "2"
    assert client.hget(atp_key(redis_prefix, "SKU-2"), "ctr") == "4"


def test_batch_histogram_counts_batches(writer, record_factory):
    before = REGISTRY.get_sample_value("invsync_redis_batch_records_count") or 0.0
    sum_before = REGISTRY.get_sample_value("invsync_redis_batch_records_sum") or 0.0

    writer.write([record_factory("SKU-1", 0, 1), record_factory("SKU-2", 0, 1)])

    after = REGISTRY.get_sample_value("invsync_redis_batch_records_count")
    sum_after = REGISTRY.get_sample_value("invsync_redis_batch_records_sum")
    assert after == before + 1
    assert sum_after == sum_before + 2


def test_send_commands_returns_replies_in_order(redis_url, redis_prefix):
    redis = connect(redis_url)
    key = f"{redis_prefix}send:ü"
    try:
        replies = send_commands(
            redis,
            [("SET", key, "wert-ä"), ("STRLEN", key), ("INCRBY", f"{key}:n", 41)],
        )
        assert replies == [b"OK", len("wert-ä".encode()), 41]
        assert redis.get(key) == "wert-ä".encode()
    finally:
        redis.close()


def test_send_commands_error_keeps_sync(redis_url, redis_prefix):
    redis = connect(redis_url)
    key = f"{redis_prefix}send:text"
    try:
        with pytest.raises(
            ResponseError, match=r"command 2 of 3 \(INCR .*\) failed: .*not an integer"
        ):
            send_commands(
                redis,
                [("SET", key, "x"), ("INCR", key), ("SET", f"{key}:after", "y")],
            )
        # Every reply was read, so the pooled connection returns the next call's
        # own replies, and the command after the error still ran.
        assert send_commands(redis, [("GET", f"{key}:after"), ("PING",)]) == [
            b"y",
            b"PONG",
        ]
    finally:
        redis.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", True), ("?encoding=UTF8", True), ("?encoding=latin-1", False)],
)
def test_packs_utf8_follows_url_encoding(redis_url, query, expected):
    redis = connect(redis_url + query)
    try:
        assert packs_utf8(redis) is expected
    finally:
        redis.close()


def test_write_keeps_url_encoding(redis_url, redis_prefix, record_factory):
    url = f"{redis_url}?encoding=latin-1"
    writer = AtpWriter(connect(url), redis_prefix, retry_total_s=5.0)
    writer.load_library()
    reader = Redis.from_url(url, decode_responses=True)
    try:
        writer.write([record_factory("SKU-é", 0, 1, {"W1": 4})])

        stored = reader.hget(atp_key(redis_prefix, "SKU-é"), "avail")
        assert json.loads(stored) == {"W1": 4}
    finally:
        writer.close()
        reader.close()
