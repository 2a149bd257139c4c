"""Base of the Bytewax sinks that write to Redis: the connection settings."""

from __future__ import annotations

from typing import Generic, Self, TypeVar

from bytewax.outputs import DynamicSink

from invsync.config import RedisConfig
from sinks.redis_layout import check_key_prefix
from sinks.redis_retry import DEFAULT_RETRY_TOTAL_S

ItemT = TypeVar("ItemT")


class RedisSink(DynamicSink[ItemT], Generic[ItemT]):
    """Connection settings shared by the Redis sinks; subclasses define ``build``.

    Each worker opens its own client when Bytewax builds its partition.
    """

    def __init__(
        self,
        url: str,
        key_prefix: str = "invsync:",
        retry_total_s: float = DEFAULT_RETRY_TOTAL_S,
    ) -> None:
        """Configure the sink.

        Args:
            url: Redis URL. The query ``?cluster=true`` selects Redis Cluster.
            key_prefix: Prefix of every key, without braces.
            retry_total_s: Seconds to keep retrying a batch on connection
                errors before raising.
        """
        self._url = url
        self._key_prefix = check_key_prefix(key_prefix)
        self._retry_total_s = retry_total_s

    @classmethod
    def from_config(
        cls, config: RedisConfig, retry_total_s: float = DEFAULT_RETRY_TOTAL_S
    ) -> Self:
        """Create a sink from the ``redis`` section of the configuration."""
        return cls(config.url, config.key_prefix, retry_total_s)
