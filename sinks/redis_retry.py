"""Retry policy and metrics shared by the Redis writers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import Counter
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,  # noqa: A004
    ReadOnlyError,
    ResponseError,
    TimeoutError,  # noqa: A004
    TryAgainError,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from sinks.redis_layout import RedisClient, is_function_missing, load_library

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_TOTAL_S = 60.0
RETRY_INITIAL_WAIT_S = 0.1
RETRY_MAX_WAIT_S = 5.0
# Up to this many seconds of random jitter on each wait, so that many workers
# do not reconnect to a restarted Redis in lockstep.
RETRY_JITTER_S = 0.1

# Errors after which the same write can be sent again. A replay is harmless
# because every write is version-guarded. ReadOnlyError and the cluster errors
# occur while a replica is promoted.
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)

WRITE_RETRIES = Counter(
    "invsync_redis_write_retries_total",
    "Redis writes sent again after a connection error or timeout.",
)


def _log_retry(state: RetryCallState) -> None:
    WRITE_RETRIES.inc()
    error = state.outcome.exception() if state.outcome is not None else None
    wait_s = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning(
        "Redis write attempt %d failed: %r; retrying in %.2f s",
        state.attempt_number,
        error,
        wait_s,
        extra={
            "attempt": state.attempt_number,
            "error_class": type(error).__name__,
        },
    )


def call_with_retry(operation: Callable[[], T], retry_total_s: float) -> T:
    """Call a Redis operation, retrying connection errors with exponential backoff.

    Waits start at 0.1 s and double up to 5 s. After ``retry_total_s`` seconds
    since the first attempt, the last error is raised. Each failed attempt that
    is retried is logged once here, with its attempt number, so callers log
    nothing for it. The error raised at the end is not logged here.
    """
    retrying = Retrying(
        retry=retry_if_exception_type(RETRYABLE_ERRORS),
        wait=wait_exponential_jitter(
            multiplier=RETRY_INITIAL_WAIT_S,
            max=RETRY_MAX_WAIT_S,
            jitter=RETRY_JITTER_S,
        ),
        stop=stop_after_delay(retry_total_s),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(operation)


def call_with_library(client: RedisClient, operation: Callable[[], T]) -> T:
    """Call an operation that uses the function library, loading it when missing.

    A Redis restarted without persistence has no functions, so on the error
    "Function not found" the library is loaded and the operation runs once more.
    """
    try:
        return operation()
    except ResponseError as error:
        if not is_function_missing(error):
            raise
        logger.warning("Redis function library is missing (%s), loading it", error)
        load_library(client)
        return operation()
