"""Read path of the ATP records and network ATP against a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis import Redis
from redis.exceptions import ResponseError

from invsync.events import RecordVersion
from sinks import redis_layout
from sinks.atp_reader import AtpReader, LibraryMissingError, WarehouseAvailable
from sinks.redis_atp import AtpWriter
from sinks.redis_layout import connect
from sinks.warehouse_flags import WarehouseFlag, WarehouseFlagWriter

pytestmark = pytest.mark.integration

FLAG_TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def writer(redis_url: str, redis_prefix: str) -> Iterator[AtpWriter]:
    atp_writer = AtpWriter(connect(redis_url), redis_prefix, retry_total_s=5.0)
    atp_writer.load_library()
    yield atp_writer
    atp_writer.close()


@pytest.fixture
def flags(redis_url: str, redis_prefix: str) -> Iterator[WarehouseFlagWriter]:
    flag_writer = WarehouseFlagWriter(connect(redis_url), redis_prefix, 5.0)
    flag_writer.load_library()
    yield flag_writer
    flag_writer.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield redis
    redis.close()


@pytest.fixture
def reader(redis_url: str, redis_prefix: str) -> Iterator[AtpReader]:
    with AtpReader(redis_url, redis_prefix) as atp_reader:
        yield atp_reader


def test_get_returns_written_record(writer, reader, record_factory):
    record = record_factory("SKU-1", 3, 7, {"W1": 5, "W2": 3}, unallocated=2)
    writer.write([record])

    assert reader.get("SKU-1") == record


def test_get_unknown_sku_is_none(reader):
    assert reader.get("NO-SUCH-SKU") is None


def test_get_warehouse_exact(writer, reader, record_factory):
    record = record_factory("SKU-1", 3, 7, {"W1": 5, "W2": 3})
    writer.write([record])

    view = reader.get_warehouse("SKU-1", "W2")

    assert view is not None
    assert view.sku == "SKU-1"
    assert view.version == RecordVersion(generation=3, counter=7)
    assert view.updated_at == datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    assert view.atp == record.warehouses[1]
    assert view.atp.warehouse == "W2"
    assert view.atp.on_hand == 7


def test_get_warehouse_unknown_is_none(writer, reader, record_factory):
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5})])

    assert reader.get_warehouse("SKU-1", "W9") is None
    assert reader.get_warehouse("NO-SUCH-SKU", "W1") is None


def test_get_many_pipelined(writer, reader, record_factory):
    records = [record_factory(f"SKU-{index}", 0, index + 1) for index in range(50)]
    writer.write(records)

    found = reader.get_many(["SKU-7", "NO-SUCH-SKU", "SKU-49", "SKU-7"])

    assert list(found) == ["SKU-7", "NO-SUCH-SKU", "SKU-49"]
    assert found["SKU-7"] == records[7]
    assert found["NO-SUCH-SKU"] is None
    assert found["SKU-49"] == records[49]


def test_network_skips_inactive_warehouse(writer, flags, reader, record_factory):
    available = {"W1": 5, "W2": 3, "W3": 7}
    writer.write([record_factory("SKU-1", 0, 4, available, unallocated=2)])
    flags.write([WarehouseFlag("W3", False, FLAG_TIME)])

    network = reader.network("SKU-1")

    assert network is not None
    assert network.network == 6
    assert network.unclipped == 6
    assert network.unallocated_demand == 2
    assert network.version == RecordVersion(generation=0, counter=4)
    assert network.warehouses == (
        WarehouseAvailable("W1", 5, active=True),
        WarehouseAvailable("W2", 3, active=True),
        WarehouseAvailable("W3", 7, active=False),
    )


def test_network_clips_excess_demand(writer, flags, reader, record_factory):
    available = {"W1": 5, "W2": 3, "W3": 7}
    writer.write([record_factory("SKU-1", 0, 4, available, unallocated=10)])
    flags.write([WarehouseFlag("W3", False, FLAG_TIME)])

    network = reader.network("SKU-1")

    assert network is not None
    assert network.network == 0
    assert network.unclipped == -2


def test_network_counts_unflagged_warehouse(writer, reader, record_factory):
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5, "W2": 3}, unallocated=1)])

    network = reader.network("SKU-1")

    assert network is not None
    assert network.network == 7


def test_network_follows_reactivation(writer, flags, reader, record_factory):
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5, "W3": 7})])
    flags.write([WarehouseFlag("W3", False, FLAG_TIME)])
    later = FLAG_TIME.replace(hour=9)

    flags.write([WarehouseFlag("W3", True, later)])

    network = reader.network("SKU-1")
    assert network is not None
    assert network.network == 12


def test_network_unknown_sku_is_none(reader):
    assert reader.network("NO-SUCH-SKU") is None


def test_network_many_pipelined(writer, flags, reader, record_factory):
    writer.write(
        [
            record_factory("SKU-1", 0, 1, {"W1": 5, "W3": 7}, unallocated=1),
            record_factory("SKU-2", 0, 1, {"W1": 2, "W3": 9}, unallocated=4),
        ]
    )
    flags.write([WarehouseFlag("W3", False, FLAG_TIME)])

    found = reader.network_many(["SKU-1", "SKU-2", "NO-SUCH-SKU"])

    assert list(found) == ["SKU-1", "SKU-2", "NO-SUCH-SKU"]
    first = found["SKU-1"]
    second = found["SKU-2"]
    assert first is not None
    assert first.network == 4
    assert second is not None
    assert second.network == 0
    assert second.unclipped == -2
    assert found["NO-SUCH-SKU"] is None


def _fcall_ro_count(client: Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_fcall_ro", {})
    return int(stats.get("calls", 0))


def _write_varied(writer, flags, record_factory, count: int) -> list[str]:
    skus = [f"MANY-{index}" for index in range(count)]
    writer.write(
        [
            record_factory(
                sku, 0, index + 1, {"W1": index % 4, "W2": 3}, unallocated=index % 5
            )
            for index, sku in enumerate(skus)
        ]
    )
    flags.write([WarehouseFlag("W2", False, FLAG_TIME)])
    return skus


def test_network_many_matches_single_reads(
    writer, flags, reader, record_factory, client
):
    skus = _write_varied(writer, flags, record_factory, 30)
    requested = [*skus, "NO-SUCH-SKU", skus[0]]
    calls_before = _fcall_ro_count(client)

    found = reader.network_many(requested)

    assert _fcall_ro_count(client) - calls_before == 1
    assert list(found) == [*skus, "NO-SUCH-SKU"]
    assert found["NO-SUCH-SKU"] is None
    for sku in skus:
        assert found[sku] == reader.network(sku)


def test_network_many_splits_large_requests(
    writer, flags, reader, record_factory, client, monkeypatch
):
    monkeypatch.setattr(redis_layout, "SKUS_PER_CALL", 4)
    skus = _write_varied(writer, flags, record_factory, 10)
    calls_before = _fcall_ro_count(client)

    found = reader.network_many(skus)

    assert _fcall_ro_count(client) - calls_before == 3
    for sku in skus:
        assert found[sku] == reader.network(sku)


def test_network_many_rejects_unpaired_keys(writer, client):
    with pytest.raises(ResponseError, match="expected pairs"):
        client.fcall_ro("invsync_network_atp_many", 1, "p:atp:{b1}:SKU-1")


def test_network_reloads_flushed_library(restartable_redis, record_factory):
    url = restartable_redis.url
    writer = AtpWriter(connect(url), "p:", retry_total_s=5.0)
    writer.load_library()
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5})])
    reader = AtpReader(url, "p:", load=True)
    admin = Redis.from_url(url)
    admin.function_flush()

    network = reader.network("SKU-1")

    assert network is not None
    assert network.network == 5
    assert admin.function_list(library="invsync") != []
    admin.close()
    reader.close()
    writer.close()


def test_network_with_many_warehouses(writer, flags, reader, record_factory):
    # More warehouses than Lua's unpack() can return at once, so the function
    # has to write and read them in chunks.
    available = {f"W{index:05d}": 1 for index in range(4500)}
    record = record_factory("SKU-1", 0, 1, available, unallocated=3)
    writer.write([record])
    flags.write([WarehouseFlag("W04499", False, FLAG_TIME)])

    network = reader.network("SKU-1")

    assert reader.get_warehouse("SKU-1", "W04499") is not None
    assert network is not None
    assert network.network == 4496
    assert len(network.warehouses) == 4500
    assert network.warehouses[-1] == WarehouseAvailable("W04499", 1, active=False)


def test_views_convert_to_json(writer, flags, reader, record_factory):
    writer.write([record_factory("SKU-1", 2, 9, {"W1": 5, "W3": 7}, unallocated=1)])
    flags.write([WarehouseFlag("W3", False, FLAG_TIME)])
    view = reader.get_warehouse("SKU-1", "W1")
    network = reader.network("SKU-1")
    assert view is not None
    assert network is not None

    view_json = json.loads(json.dumps(view.to_dict()))
    network_json = json.loads(json.dumps(network.to_dict()))

    assert view_json["version"] == {"generation": 2, "counter": 9}
    assert view_json["updated_at"] == "2026-03-01T12:30:05Z"
    assert view_json["atp"]["warehouse"] == "W1"
    assert view_json["atp"]["available"] == 5
    assert network_json["network"] == 4
    assert network_json["unclipped"] == 4
    assert network_json["warehouses"] == [
        {"warehouse": "W1", "available": 5, "active": True, "stale": False},
        {"warehouse": "W3", "available": 7, "active": False, "stale": False},
    ]


def test_reads_leave_fresh_redis_unchanged(restartable_redis):
    url = restartable_redis.url
    admin = Redis.from_url(url)
    functions_before = admin.function_list()
    keys_before = admin.dbsize()

    with AtpReader(url, "p:") as atp_reader:
        record = atp_reader.get("SKU-1")
        view = atp_reader.get_warehouse("SKU-1", "W1")
        many = atp_reader.get_many(["SKU-1", "SKU-2"])
        with pytest.raises(LibraryMissingError):
            atp_reader.network("SKU-1")
        with pytest.raises(LibraryMissingError):
            atp_reader.network_many(["SKU-1", "SKU-2"])

    assert record is None
    assert view is None
    assert many == {"SKU-1": None, "SKU-2": None}
    assert functions_before == []
    assert admin.function_list() == []
    assert admin.dbsize() == keys_before
    admin.close()


def test_missing_library_message_names_run(restartable_redis, record_factory):
    url = restartable_redis.url
    writer = AtpWriter(connect(url), "p:", retry_total_s=5.0)
    writer.load_library()
    writer.write([record_factory("SKU-1", 0, 1, {"W1": 5})])
    writer.close()
    admin = Redis.from_url(url)
    admin.function_flush()

    with AtpReader(url, "p:") as atp_reader:
        record = atp_reader.get("SKU-1")
        with pytest.raises(LibraryMissingError) as raised:
            atp_reader.network("SKU-1")

    assert record is not None
    assert str(raised.value) == (
        "Redis has no function library 'invsync', so network ATP cannot be "
        "read. `invsync run` loads it when it starts"
    )
    assert admin.function_list() == []
    admin.close()
