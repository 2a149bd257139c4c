"""Fixtures that give tests a Redis server, a Kafka-protocol broker and real inputs.

Tests run against the servers named by ``INVSYNC_TEST_REDIS_URL`` and
``INVSYNC_TEST_KAFKA_BROKERS`` (comma-separated host:port) when those are set,
and otherwise against a `redis-server` and a Tansu broker started once per
session on free loopback ports. A server that cannot be reached or started
fails the tests that need it and never skips them.

Each test gets its own topic prefix and Redis key prefix, so tests can share one
Redis or Kafka cluster with each other and with other users.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from invsync.devservices import (
    REALCASES_ENV,
    ServiceError,
    Services,
    create_topics,
    delete_redis_keys,
    delete_topics,
    locate_realcases_dir,
    open_services,
)
from invsync.topics import Topics

logger = logging.getLogger(__name__)

TEST_TOPIC_PARTITIONS = 2

# Tests that use any of these fixtures are marked `integration`, so
# `pytest -m "not integration"` deselects them.
SERVICE_FIXTURES = frozenset(
    {"services", "redis_url", "kafka_brokers", "topics", "redis_prefix"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a service fixture as an integration test."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Provide the session's Redis server and Kafka brokers."""
    try:
        with open_services(os.environ) as found:
            yield found
    except (ServiceError, ValueError) as exc:
        pytest.fail(f"test services unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    """Provide the URL of the session's Redis server."""
    return services.redis_url


@pytest.fixture(scope="session")
def kafka_brokers(services: Services) -> list[str]:
    """Provide the session's Kafka brokers as "host:port" strings."""
    return list(services.kafka_brokers)


@pytest.fixture
def topics(kafka_brokers: list[str]) -> Iterator[Topics]:
    """Create every input and output topic under a prefix unique to the test."""
    names = Topics(prefix=f"t-{uuid4().hex[:8]}.")
    all_topics = [*names.inputs(), *names.outputs()]
    try:
        create_topics(kafka_brokers, all_topics, TEST_TOPIC_PARTITIONS)
    except ServiceError as exc:
        pytest.fail(f"creating test topics failed: {exc}", pytrace=False)

    yield names

    # Deletion keeps a shared cluster from filling up with test topics. A failure
    # here is logged and left alone, because the test itself already ran.
    try:
        delete_topics(kafka_brokers, all_topics)
    except ServiceError:
        logger.warning(
            "deleting test topics under prefix %s failed", names.prefix, exc_info=True
        )


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """Provide a Redis key prefix unique to the test and delete its keys afterwards."""
    prefix = f"t{uuid4().hex[:8]}:"
    yield prefix
    delete_redis_keys(redis_url, prefix)


@pytest.fixture(scope="session")
def realcases_dir() -> Path:
    """Provide the folder of real partner files, or skip when it is absent."""
    path = locate_realcases_dir(os.environ, Path(__file__).resolve().parents[1])
    if not path.is_dir():
        pytest.skip(
            f"real input files not found at {path}. Set {REALCASES_ENV} to the "
            "folder that contains them."
        )
    return path


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put back the root logger's handlers and level, which logging setup replaces."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    level = root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
