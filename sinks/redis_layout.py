"""Redis key layout of the ATP records, the connection URL and the function library.

``docs/redis.md`` describes every key and field. Every key of one SKU carries
the hash tag of the SKU's bucket, so the keys of one bucket share a hash slot
and the layout works on a single Redis and on Redis Cluster.
"""

from __future__ import annotations

import codecs
import logging
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import hiredis
from pydantic_core import to_json
from redis import Redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from invsync.events import AtpRecord

logger = logging.getLogger(__name__)

# The bucket count is part of the stored layout: changing it moves every SKU to
# other keys, so it is fixed.
BUCKETS = 1024

LIBRARY_NAME = "invsync"
PUT_ATP = "invsync_put_atp"
SET_WAREHOUSES = "invsync_set_warehouses"
NETWORK_ATP = "invsync_network_atp"
NETWORK_ATP_MANY = "invsync_network_atp_many"

# Seconds. A URL query parameter of the same name overrides each of them.
DEFAULT_SOCKET_CONNECT_TIMEOUT = 5.0
DEFAULT_SOCKET_TIMEOUT = 10.0

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

RedisClient = Redis | RedisCluster


def bucket_of(sku: str) -> int:
    """Return the bucket of a SKU: CRC-32 of its UTF-8 bytes modulo 1024."""
    return zlib.crc32(sku.encode()) % BUCKETS


def hash_tag(bucket: int) -> str:
    """Return the Redis Cluster hash tag of a bucket, such as ``{b17}``."""
    if not 0 <= bucket < BUCKETS:
        msg = f"bucket {bucket} is out of range 0..{BUCKETS - 1}"
        raise ValueError(msg)
    return f"{{b{bucket}}}"


def check_key_prefix(key_prefix: str) -> str:
    """Return the key prefix unchanged after checking that it has no braces.

    Raises:
        ValueError: The prefix contains ``{`` or ``}``, which would make Redis
            Cluster hash the prefix instead of the bucket tag.
    """
    if "{" in key_prefix or "}" in key_prefix:
        msg = f"invalid Redis key prefix {key_prefix!r}: it must not contain braces"
        raise ValueError(msg)
    return key_prefix


def atp_key(key_prefix: str, sku: str) -> str:
    """Return the key of a SKU's ATP hash."""
    return f"{key_prefix}atp:{hash_tag(bucket_of(sku))}:{sku}"


KEY_FAMILIES = ("atp:", "warehouses:", "variances:")
"""Key families under a prefix: ATP hashes, warehouse flags, open variances."""


def _pattern(key_prefix: str, family: str) -> str:
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", key_prefix)
    return f"{escaped}{family}*"


def contains_atp(client: RedisClient, key_prefix: str) -> bool:
    """Return whether any ATP hash exists under the key prefix."""
    match = _pattern(key_prefix, "atp:")
    return any(True for _ in client.scan_iter(match=match, count=1000))


def delete_layout(client: RedisClient, key_prefix: str) -> int:
    """Delete every key of the ``KEY_FAMILIES`` under the prefix; return the count.

    Keys are unlinked as the scan finds them, in pipelines of 500 with one
    command per key, so the same code works on Redis Cluster, where one command
    may not span hash slots. SCAN still returns every key present for the
    whole scan, so deleting as it goes misses none.
    """
    deleted = 0
    for family in KEY_FAMILIES:
        batch: list[Any] = []
        for key in client.scan_iter(match=_pattern(key_prefix, family), count=1000):
            batch.append(key)
            if len(batch) == 500:
                deleted += _unlink(client, batch)
                batch = []
        deleted += _unlink(client, batch)
    return deleted


def _unlink(client: RedisClient, keys: list[Any]) -> int:
    if not keys:
        return 0
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.unlink(key)
    return sum(int(count) for count in pipeline.execute())


SKUS_PER_CALL = 500
"""Maximum SKUs per function call on a single Redis, which runs one call at a time."""

ItemT = TypeVar("ItemT")


def call_groups(
    client: RedisClient, items: list[ItemT], key_of: Callable[[ItemT], str]
) -> list[list[ItemT]]:
    """Split items into the groups that one function call each takes, in order.

    On Redis Cluster a call may touch one hash slot only, so items are grouped
    by the slot of ``key_of(item)``. A single Redis takes keys of any slot in
    one call, so items go in chunks of ``SKUS_PER_CALL``.
    """
    if not isinstance(client, RedisCluster):
        return [
            items[start : start + SKUS_PER_CALL]
            for start in range(0, len(items), SKUS_PER_CALL)
        ]
    by_slot: dict[int, list[ItemT]] = {}
    for item in items:
        by_slot.setdefault(key_slot(key_of(item).encode()), []).append(item)
    return list(by_slot.values())


Command = tuple[str | int, ...]


def packs_utf8(client: RedisClient) -> bool:
    """Return whether ``send_commands`` can serve a client.

    hiredis sends ``str`` arguments as UTF-8, so a single Redis whose URL sets
    another ``encoding`` keeps redis-py's own encoder.
    """
    if not isinstance(client, Redis):
        return False
    options = client.connection_pool.connection_kwargs
    encoding = options.get("encoding", "utf-8")
    errors = options.get("encoding_errors", "strict")
    return codecs.lookup(encoding).name == "utf-8" and errors == "strict"


def send_commands(client: Redis, commands: list[Command]) -> list[Any]:
    """Send commands to a single Redis in one write and return their replies.

    hiredis packs each command in C. A redis-py pipeline would first encode
    every argument in Python, which for the ATP sink's calls of about fifteen
    arguments per SKU costs more than building them. Arguments are ``str``
    (sent as UTF-8, see ``packs_utf8``) or ``int``.

    Raises:
        redis.exceptions.ResponseError: A command failed. The first error is
            raised after every reply has been read, with the command's
            position and name in its message.
        redis.exceptions.ConnectionError: The connection failed; it is closed.
        redis.exceptions.TimeoutError: A reply did not arrive in time; the
            connection is closed.
    """
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        # hiredis's stub declares a one-element tuple, but any length works.
        packed = [
            hiredis.pack_command(command)  # type: ignore[arg-type]
            for command in commands
        ]
        connection.send_packed_command(packed)  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        first_error: ResponseError | None = None
        for position, command in enumerate(commands, start=1):
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                # Reading on keeps the connection in step with the replies.
                replies.append(error)
                if first_error is None:
                    name = " ".join(str(word) for word in command[:2])
                    first_error = type(error)(
                        f"command {position} of {len(commands)} ({name}) "
                        f"failed: {error}"
                    )
    except (RedisConnectionError, RedisTimeoutError, OSError):
        connection.disconnect()  # type: ignore[no-untyped-call]
        raise
    finally:
        pool.release(connection)
    if first_error is not None:
        raise first_error
    return replies


def warehouses_key(key_prefix: str, bucket: int) -> str:
    """Return the key of one bucket's copy of the warehouse flags."""
    return f"{key_prefix}warehouses:{hash_tag(bucket)}"


def warehouse_field(warehouse: str) -> str:
    """Return the ATP hash field that stores one warehouse's balances."""
    return f"w:{warehouse}"


def format_time(value: datetime) -> str:
    """Format an aware datetime as ISO-8601 in UTC, such as ``2026-03-01T12:00:00Z``.

    The ``Z`` suffix matches how the ``record`` field's JSON writes times.

    Raises:
        ValueError: The datetime has no timezone.
    """
    if value.tzinfo is None:
        msg = f"timestamp {value.isoformat()} has no timezone; use UTC"
        raise ValueError(msg)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode_atp_fields(record: AtpRecord) -> dict[str, str]:
    """Encode an ATP record as hash fields, all but ``gen`` and ``ctr``.

    The function ``invsync_put_atp`` writes ``gen`` and ``ctr`` from the
    version it compares, so the caller passes them apart from these fields.
    """
    updated_at = record.updated_at
    if updated_at.tzinfo is not UTC:
        # Stored times are UTC with a Z suffix. format_time rejects a naive one.
        format_time(updated_at)
        updated_at = updated_at.astimezone(UTC)
        record = record.model_copy(update={"updated_at": updated_at})
    # pydantic-core writes the JSON texts, with a Z suffix on UTC times.
    available: dict[str, int] = {}
    fields = {
        "updated_at": to_json(updated_at).decode()[1:-1],
        "unalloc": str(record.unallocated_demand),
        "unalloc_bo": str(record.unallocated_backordered),
        "record": record.model_dump_json(),
    }
    for warehouse in record.warehouses:
        row = dict(warehouse.__dict__)
        code = row.pop("warehouse")
        available[code] = warehouse.available
        fields[f"w:{code}"] = to_json(row).decode()
    if len(available) > 1:
        available = dict(sorted(available.items()))
    fields["avail"] = to_json(available).decode()
    return fields


def library_source() -> str:
    """Return the Lua source of the ``invsync`` function library."""
    return resources.files(__package__).joinpath("invsync.lua").read_text()


def load_library(client: RedisClient) -> None:
    """Load the ``invsync`` function library, replacing an older copy.

    Loading is idempotent. On Redis Cluster, redis-py sends the load to every
    primary.
    """
    client.function_load(library_source(), replace=True)
    logger.info("loaded Redis function library %s", LIBRARY_NAME)


def is_function_missing(error: ResponseError) -> bool:
    """Return whether a Redis error reports an unknown function.

    A Redis restarted without persistence has lost its function library.
    """
    # redis-py prefixes errors raised inside a pipeline with the command number.
    return "Function not found" in str(error)


def split_cluster_option(url: str) -> tuple[str, bool]:
    """Return the URL without its ``cluster`` query parameter, and its value.

    The rest of the URL stays as written, so ``unix:///path`` keeps its
    empty host.
    """
    base, separator, query = url.partition("?")
    if not separator:
        return url, False
    pairs = parse_qsl(query, keep_blank_values=True)
    cluster_values = [value for name, value in pairs if name == "cluster"]
    if not cluster_values:
        return url, False
    remaining = [(name, value) for name, value in pairs if name != "cluster"]
    plain_url = f"{base}?{urlencode(remaining)}" if remaining else base
    return plain_url, any(value.lower() in _TRUE_WORDS for value in cluster_values)


def connect(url: str, *, timeout_s: float | None = None) -> RedisClient:
    """Create a Redis client from a URL.

    The query parameter ``cluster=true`` selects Redis Cluster, for example
    ``redis://10.0.0.5:7000?cluster=true``, and the host is then any node of
    the cluster. Other query parameters are redis-py connection options such as
    ``socket_timeout`` (seconds). ``timeout_s`` replaces both default socket
    timeouts, and options in the URL still override it.

    The single-node client retries nothing itself, so the callers' retry policy
    alone decides the backoff. The cluster client keeps redis-py's default
    retries, which follow slot moves and failovers.
    """
    plain_url, is_cluster = split_cluster_option(url)
    timeouts: dict[str, Any] = {
        "socket_connect_timeout": DEFAULT_SOCKET_CONNECT_TIMEOUT,
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
    }
    if timeout_s is not None:
        timeouts = dict.fromkeys(timeouts, timeout_s)
    if is_cluster:
        return RedisCluster.from_url(plain_url, **timeouts)
    return Redis.from_url(plain_url, retry=Retry(NoBackoff(), 0), **timeouts)


def describe_url(url: str) -> str:
    """Return the URL without its user name and password, for logs."""
    from invsync.config import mask_url_passwords

    parts = urlsplit(url)
    if not parts.netloc:
        return mask_url_passwords(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return mask_url_passwords(urlunsplit(parts._replace(netloc=host)))
