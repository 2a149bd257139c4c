"""ATP writes, reads and network ATP against a three-primary Redis Cluster.

The cluster is private to the session and stopped afterwards, so the tests
leave their keys behind. Each test has its own key prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from invsync.events import FreshnessState, WarehouseFreshness
from sinks.atp_reader import AtpReader
from sinks.redis_atp import AtpWriter
from sinks.redis_layout import BUCKETS, atp_key, connect, warehouses_key
from sinks.warehouse_flags import (
    WarehouseFlag,
    WarehouseFlagWriter,
    set_warehouses_stale,
    stale_field,
)

pytestmark = pytest.mark.integration

FLAG_TIME = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def prefix() -> str:
    return f"cluster-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def cluster(redis_cluster_url: str) -> Iterator[RedisCluster]:
    client = connect(redis_cluster_url)
    assert isinstance(client, RedisCluster)
    yield client
    client.close()


@pytest.fixture
def writer(redis_cluster_url: str, prefix: str) -> Iterator[AtpWriter]:
    atp_writer = AtpWriter(connect(redis_cluster_url), prefix, retry_total_s=5.0)
    atp_writer.load_library()
    yield atp_writer
    atp_writer.close()


@pytest.fixture
def reader(redis_cluster_url: str, prefix: str) -> Iterator[AtpReader]:
    with AtpReader(redis_cluster_url, prefix) as atp_reader:
        yield atp_reader


def test_cluster_has_three_primaries(cluster):
    assert len(cluster.get_primaries()) == 3


def test_cluster_write_and_read(writer, reader, cluster, prefix, record_factory):
    records = [record_factory(f"SKU-{i}", 0, i + 1, {"W1": i}) for i in range(200)]
    slots = {key_slot(atp_key(prefix, record.sku).encode()) for record in records}

    result = writer.write(records)

    found = reader.get_many([record.sku for record in records])
    nodes = {cluster.get_node_from_key(atp_key(prefix, r.sku)).name for r in records}
    assert result.applied == 200
    assert result.fcalls == len(slots)
    assert len(nodes) == 3
    assert all(found[record.sku] == record for record in records)


def test_cluster_version_guard(writer, reader, record_factory):
    writer.write([record_factory("SKU-1", 0, 7, {"W1": 7})])

    result = writer.write([record_factory("SKU-1", 0, 5, {"W1": 5})])

    stored = reader.get("SKU-1")
    assert result.rejected_older == 1
    assert stored is not None
    assert stored.version.counter == 7


def test_cluster_network_atp(redis_cluster_url, prefix, writer, reader, record_factory):
    flags = WarehouseFlagWriter(connect(redis_cluster_url), prefix, 5.0)
    flags.load_library()
    available = {"W1": 5, "W2": 3, "W3": 7}
    writer.write(
        [
            record_factory("SKU-1", 0, 1, available, unallocated=2),
            record_factory("SKU-2", 0, 1, available, unallocated=10),
        ]
    )

    written = flags.write([WarehouseFlag("W3", False, FLAG_TIME)])
    single = reader.network("SKU-1")
    many = reader.network_many(["SKU-1", "SKU-2"])
    flags.close()

    assert written == BUCKETS
    assert single is not None
    assert single.network == 6
    assert single.unclipped == 6
    second = many["SKU-2"]
    assert second is not None
    assert second.network == 0
    assert second.unclipped == -2


def test_cluster_network_many_matches_single_reads(writer, reader, record_factory):
    skus = [f"SLOT-{index}" for index in range(40)]
    writer.write(
        [
            record_factory(sku, 0, 1, {"W1": index, "W2": 2}, unallocated=index % 3)
            for index, sku in enumerate(skus)
        ]
    )

    found = reader.network_many([*skus, "NO-SUCH-SKU"])

    assert found["NO-SUCH-SKU"] is None
    for sku in skus:
        assert found[sku] == reader.network(sku)


def test_cluster_flags_on_every_primary(redis_cluster_url, prefix, cluster):
    flags = WarehouseFlagWriter(connect(redis_cluster_url), prefix, 5.0)
    flags.load_library()

    flags.write([WarehouseFlag("W5", False, FLAG_TIME)])

    keys = [warehouses_key(prefix, bucket) for bucket in range(BUCKETS)]
    values = [cluster.hget(key, "W5") for key in keys]
    nodes = {cluster.get_node_from_key(key).name for key in keys}
    flags.close()
    assert values == [b"0"] * BUCKETS
    assert len(nodes) == 3


def test_cluster_stale_policy(redis_cluster_url, prefix, writer, record_factory):
    client = connect(redis_cluster_url)
    writer.write([record_factory("SKU-9", 0, 1, {"W1": 5, "W2": 3})])
    stale = WarehouseFreshness(
        alert_id="w1-stale",
        warehouse="W1",
        state=FreshnessState.STALE,
        last_event_at=FLAG_TIME,
        detected_at=FLAG_TIME,
        max_silence_seconds=60.0,
    )

    set_warehouses_stale(client, [stale], prefix)
    with AtpReader(redis_cluster_url, prefix) as include:
        included = include.network_many(["SKU-9"])["SKU-9"]
    with AtpReader(redis_cluster_url, prefix, stale_policy="exclude") as exclude:
        excluded = exclude.network_many(["SKU-9"])["SKU-9"]
    values = {
        client.hget(warehouses_key(prefix, bucket), stale_field("W1"))
        for bucket in range(BUCKETS)
    }
    client.close()

    assert included is not None
    assert excluded is not None
    assert included.network == 8
    assert excluded.network == 3
    assert [w.stale for w in excluded.warehouses] == [True, False]
    assert values == {b"1"}
