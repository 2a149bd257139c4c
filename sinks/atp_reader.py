"""Read path for services that consume the ATP records invsync publishes to Redis.

Every method costs one round trip: a single command, or one pipeline for the
``*_many`` variants. ``docs/redis.md`` lists the commands, so clients in other
languages can read the same keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from invsync.events import AtpRecord, RecordVersion, WarehouseAtp
from sinks.redis_layout import (
    LIBRARY_NAME,
    NETWORK_ATP,
    NETWORK_ATP_MANY,
    RedisClient,
    atp_key,
    bucket_of,
    call_groups,
    check_key_prefix,
    connect,
    format_time,
    is_function_missing,
    warehouse_field,
    warehouses_key,
)
from sinks.redis_retry import call_with_library

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LibraryMissingError(RuntimeError):
    """Error raised when Redis lacks the library and the reader may not load it."""


@dataclass(frozen=True)
class WarehouseView:
    """One warehouse's balances of a SKU, with the version of the SKU's record."""

    sku: str
    version: RecordVersion
    updated_at: datetime
    atp: WarehouseAtp

    def to_dict(self) -> dict[str, Any]:
        """Return the view as JSON-compatible values, times as ISO-8601 strings."""
        return {
            "sku": self.sku,
            "version": self.version.model_dump(mode="json"),
            "updated_at": format_time(self.updated_at),
            "atp": self.atp.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class WarehouseAvailable:
    """Available quantity of one warehouse and whether it counts toward the network."""

    warehouse: str
    available: int
    active: bool
    stale: bool = False


@dataclass(frozen=True)
class NetworkAtp:
    """Network available-to-promise of one SKU.

    ``network`` is ``max(0, unclipped)``. ``unclipped`` is the sum of
    ``available`` over active warehouses minus ``unallocated_demand``, and is
    negative when unallocated demand exceeds what the network holds.
    """

    sku: str
    network: int
    unclipped: int
    unallocated_demand: int
    version: RecordVersion
    warehouses: tuple[WarehouseAvailable, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-compatible values."""
        return {
            "sku": self.sku,
            "network": self.network,
            "unclipped": self.unclipped,
            "unallocated_demand": self.unallocated_demand,
            "version": self.version.model_dump(mode="json"),
            "warehouses": [asdict(warehouse) for warehouse in self.warehouses],
        }


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _decode_record(value: Any) -> AtpRecord | None:
    if value is None:
        return None
    return AtpRecord.model_validate_json(value)


def _decode_network(sku: str, reply: Any) -> NetworkAtp | None:
    if reply is None:
        return None
    network, unclipped, unallocated, generation, counter, flat, *rest = reply
    # Libraries loaded before the stale flag existed return six elements.
    stale = {_text(code) for code in rest[0]} if rest else set()
    warehouses = tuple(
        WarehouseAvailable(
            warehouse=_text(flat[index]),
            available=int(flat[index + 1]),
            active=int(flat[index + 2]) == 1,
            stale=_text(flat[index]) in stale,
        )
        for index in range(0, len(flat), 3)
    )
    return NetworkAtp(
        sku=sku,
        network=int(network),
        unclipped=int(unclipped),
        unallocated_demand=int(unallocated),
        version=RecordVersion(generation=int(generation), counter=int(counter)),
        warehouses=warehouses,
    )


class AtpReader:
    """Reader of ATP records and network ATP in Redis.

    The reader sends only read commands (HGET, HMGET, FCALL_RO) unless it was
    created with ``load=True`` and Redis reports the function library missing.
    It does not retry, so errors of the Redis client
    (``redis.exceptions.RedisError``) reach the caller.
    """

    def __init__(
        self,
        url: str,
        key_prefix: str = "invsync:",
        *,
        load: bool = False,
        stale_policy: str = "include",
    ) -> None:
        """Connect to Redis.

        Args:
            url: Redis URL. The query ``?cluster=true`` selects Redis Cluster.
            key_prefix: Prefix the writer used.
            load: Load the function library when Redis reports it missing,
                which writes to Redis and needs a user that may run
                ``FUNCTION LOAD``. With False, a missing library raises
                :class:`LibraryMissingError` instead.
            stale_policy: "include" counts stale warehouses toward network ATP,
                "exclude" leaves them out (``freshness.stale_policy``).
        """
        if stale_policy not in ("include", "exclude"):
            msg = f"invalid stale policy {stale_policy!r}; use include or exclude"
            raise ValueError(msg)
        self._stale_policy = stale_policy
        self._key_prefix = check_key_prefix(key_prefix)
        self._load = load
        self._client: RedisClient = connect(url)

    def get(self, sku: str) -> AtpRecord | None:
        """Return the SKU's whole record, or None if Redis has none (one HGET)."""
        value = self._client.hget(atp_key(self._key_prefix, sku), "record")
        return _decode_record(value)

    def get_warehouse(self, sku: str, warehouse: str) -> WarehouseView | None:
        """Return one warehouse's balances of a SKU (one HMGET).

        Returns None if the SKU has no record or the record lists no such
        warehouse.
        """
        key = atp_key(self._key_prefix, sku)
        fields = ["gen", "ctr", "updated_at", warehouse_field(warehouse)]
        generation, counter, updated_at, balances = self._client.hmget(key, fields)
        if generation is None or counter is None or balances is None:
            return None

        atp = WarehouseAtp(warehouse=warehouse, **json.loads(balances))
        return WarehouseView(
            sku=sku,
            version=RecordVersion(generation=int(generation), counter=int(counter)),
            updated_at=datetime.fromisoformat(_text(updated_at)),
            atp=atp,
        )

    def get_many(self, skus: Iterable[str]) -> dict[str, AtpRecord | None]:
        """Return the records of many SKUs, None for each SKU without one.

        Sends one pipeline of HGET commands, which on Redis Cluster is one
        batch per node.
        """
        requested = list(dict.fromkeys(skus))
        pipeline = self._client.pipeline(transaction=False)
        for sku in requested:
            pipeline.hget(atp_key(self._key_prefix, sku), "record")
        values = pipeline.execute()
        return {
            sku: _decode_record(value)
            for sku, value in zip(requested, values, strict=True)
        }

    def network(self, sku: str) -> NetworkAtp | None:
        """Return the SKU's network ATP, or None without a record (one FCALL_RO)."""
        keys = self._network_keys(sku)
        reply = self._call_function(
            lambda: self._client.fcall_ro(NETWORK_ATP, 2, *keys, self._stale_policy)
        )
        return _decode_network(sku, reply)

    def network_many(self, skus: Iterable[str]) -> dict[str, NetworkAtp | None]:
        """Return the network ATP of many SKUs, None for each SKU without a record.

        Sends one pipeline of ``FCALL_RO invsync_network_atp_many`` calls: one
        per ``SKUS_PER_CALL`` SKUs on a single Redis, and one per hash slot on
        Redis Cluster (``call_groups``), where the pipeline is one batch per node.
        """
        requested = list(dict.fromkeys(skus))
        # A SKU's ATP and warehouses keys share its bucket's hash slot.
        groups = call_groups(
            self._client, requested, lambda sku: atp_key(self._key_prefix, sku)
        )

        def send() -> list[list[Any]]:
            pipeline = self._client.pipeline(transaction=False)
            for group in groups:
                keys = [key for sku in group for key in self._network_keys(sku)]
                pipeline.fcall_ro(
                    NETWORK_ATP_MANY, len(keys), *keys, self._stale_policy
                )
            replies: list[list[Any]] = pipeline.execute()
            return replies

        replies = self._call_function(send)
        found: dict[str, NetworkAtp | None] = {}
        for group, group_replies in zip(groups, replies, strict=True):
            for sku, reply in zip(group, group_replies, strict=True):
                found[sku] = _decode_network(sku, reply)
        return {sku: found[sku] for sku in requested}

    def _call_function(self, operation: Callable[[], T]) -> T:
        """Run an operation that calls the library, loading it only if allowed."""
        if self._load:
            return call_with_library(self._client, operation)
        try:
            return operation()
        except ResponseError as error:
            if not is_function_missing(error):
                raise
            msg = (
                f"Redis has no function library {LIBRARY_NAME!r}, so network ATP "
                "cannot be read. `invsync run` loads it when it starts"
            )
            raise LibraryMissingError(msg) from error

    def _network_keys(self, sku: str) -> tuple[str, str]:
        bucket = bucket_of(sku)
        return (
            atp_key(self._key_prefix, sku),
            warehouses_key(self._key_prefix, bucket),
        )

    def close(self) -> None:
        """Close the Redis connections."""
        self._client.close()

    def __enter__(self) -> AtpReader:
        """Return the reader itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the reader."""
        self.close()
