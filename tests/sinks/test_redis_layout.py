"""Key layout, field encoding and URL handling of the Redis sinks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from redis import Redis
from redis.crc import key_slot

from invsync.events import WarehouseAtp
from sinks.redis_layout import (
    BUCKETS,
    atp_key,
    bucket_of,
    check_key_prefix,
    connect,
    contains_atp,
    describe_url,
    encode_atp_fields,
    format_time,
    hash_tag,
    library_source,
    split_cluster_option,
    warehouses_key,
)


def test_bucket_of_uses_crc32_check_value() -> None:
    # 0xCBF43926 is the published CRC-32 check value of b"123456789", and
    # 0xCBF43926 % 1024 == 0x126 == 294.
    assert bucket_of("123456789") == 294


def test_bucket_of_stays_in_range() -> None:
    buckets = {bucket_of(f"SKU-{index}") for index in range(5000)}
    assert min(buckets) >= 0
    assert max(buckets) < BUCKETS
    assert len(buckets) > 900


def test_atp_key_format() -> None:
    assert atp_key("invsync:", "123456789") == "invsync:atp:{b294}:123456789"


def test_warehouses_key_format() -> None:
    assert warehouses_key("invsync:", 294) == "invsync:warehouses:{b294}"


def test_sku_keys_share_slot() -> None:
    sku = "SKU-42"
    record_slot = key_slot(atp_key("p:", sku).encode())
    flags_slot = key_slot(warehouses_key("p:", bucket_of(sku)).encode())
    assert record_slot == flags_slot


def test_hash_tag_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="bucket 1024 is out of range"):
        hash_tag(BUCKETS)


def test_key_prefix_rejects_braces() -> None:
    with pytest.raises(ValueError, match="must not contain braces"):
        check_key_prefix("tenant{a}:")


def test_key_prefix_accepts_plain() -> None:
    assert check_key_prefix("tenant-a:") == "tenant-a:"


def test_format_time_converts_to_utc() -> None:
    berlin_winter = timezone(timedelta(hours=1))
    value = datetime(2026, 3, 1, 13, 30, 5, tzinfo=berlin_winter)

    assert format_time(value) == "2026-03-01T12:30:05Z"


def test_format_time_rejects_naive() -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        format_time(datetime(2026, 3, 1, 12, 0))


def test_encode_atp_fields_exact(record_factory) -> None:
    record = record_factory("SKU-1", 2, 7, {"W2": 3, "W1": 5}, unallocated=10)

    fields = encode_atp_fields(record)

    assert sorted(fields) == [
        "avail",
        "record",
        "unalloc",
        "unalloc_bo",
        "updated_at",
        "w:W1",
        "w:W2",
    ]
    assert fields["updated_at"] == "2026-03-01T12:30:05Z"
    assert fields["unalloc"] == "10"
    assert fields["unalloc_bo"] == "2"
    assert fields["avail"] == '{"W1":5,"W2":3}'
    balances = json.loads(fields["w:W1"])
    assert balances["atp"] == 5
    assert balances["available"] == 5
    assert balances["on_hand"] == 9
    assert balances["reserved"] == 2
    assert "warehouse" not in balances
    assert sorted(balances) == sorted(set(WarehouseAtp.model_fields) - {"warehouse"})
    assert fields["record"] == record.model_dump_json()
    for warehouse in record.warehouses:
        text = warehouse.model_dump_json(exclude={"warehouse"})
        assert fields[f"w:{warehouse.warehouse}"] == text


@pytest.mark.parametrize(
    "updated_at",
    [
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 30, 5, 120, tzinfo=UTC),
        datetime(2026, 3, 1, 13, 30, 5, 999999, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_atp_fields_time_in_utc(record_factory, updated_at: datetime) -> None:
    record = record_factory("SKU-1", 2, 7, {"W1": 5}).model_copy(
        update={"updated_at": updated_at}
    )

    fields = encode_atp_fields(record)

    assert fields["updated_at"] == format_time(updated_at)
    assert json.loads(fields["record"])["updated_at"] == format_time(updated_at)


def test_library_source_names_library() -> None:
    assert library_source().startswith("#!lua name=invsync\n")


def test_connect_plain_url_gives_redis() -> None:
    # redis-py connects lazily, so no server is needed.
    client = connect("redis://127.0.0.1:1/3?socket_timeout=2.5")
    options = client.connection_pool.connection_kwargs
    assert isinstance(client, Redis)
    assert options["db"] == 3
    assert options["socket_timeout"] == 2.5
    assert options["socket_connect_timeout"] == 5.0
    client.close()


def test_connect_timeout_replaces_defaults() -> None:
    client = connect("redis://127.0.0.1:1/3?socket_timeout=4", timeout_s=1.5)
    options = client.connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == 1.5
    assert options["socket_timeout"] == 4.0
    client.close()


def test_describe_url_drops_password() -> None:
    assert describe_url("redis://user:secret@cache:6380/0") == "redis://cache:6380/0"


def test_describe_url_masks_query_password() -> None:
    described = describe_url("redis://cache:6380/0?password=S3CRET&socket_timeout=2")

    assert described == "redis://cache:6380/0?password=***&socket_timeout=2"


def test_describe_url_keeps_unix_socket() -> None:
    assert describe_url("unix:///run/redis.sock?db=2") == "unix:///run/redis.sock?db=2"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://h:1/0", ("redis://h:1/0", False)),
        ("redis://h:1/0?cluster=true", ("redis://h:1/0", True)),
        ("redis://h:1/0?cluster=no&db=2", ("redis://h:1/0?db=2", False)),
        ("unix:///run/redis.sock?db=2", ("unix:///run/redis.sock?db=2", False)),
    ],
)
def test_split_cluster_option(url: str, expected: tuple[str, bool]) -> None:
    assert split_cluster_option(url) == expected


def test_connect_unix_socket_url() -> None:
    # redis-py connects lazily, so no server is needed.
    client = connect("unix:///run/invsync-test.sock?db=2")
    options = client.connection_pool.connection_kwargs
    assert options["path"] == "/run/invsync-test.sock"
    assert options["db"] == 2
    client.close()


def test_contains_atp_finds_only_its_prefix(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url)
    plain = f"{redis_prefix}stXr:"
    starred = f"{redis_prefix}st*r:"
    empty_before = contains_atp(client, plain)
    client.hset(atp_key(plain, "SKU-1"), "ctr", "1")
    plain_found = contains_atp(client, plain)
    # A glob character in a prefix matches only itself.
    starred_before = contains_atp(client, starred)
    client.hset(atp_key(starred, "SKU-1"), "ctr", "1")
    starred_found = contains_atp(client, starred)
    client.delete(atp_key(plain, "SKU-1"), atp_key(starred, "SKU-1"))
    client.close()

    assert empty_before is False
    assert plain_found is True
    assert starred_before is False
    assert starred_found is True
