"""Tests for the local Redis and Tansu servers and the test service helpers."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from confluent_kafka.admin import AdminClient

from invsync.devservices import (
    KAFKA_BROKERS_ENV,
    REALCASES_ENV,
    REDIS_URL_ENV,
    ServiceError,
    ServiceProcess,
    create_topics,
    delete_redis_keys,
    delete_topics,
    find_redis_server,
    local_redis,
    local_services,
    local_tansu,
    locate_realcases_dir,
    open_services,
    parse_brokers,
    read_external_endpoints,
    redact_url,
)
from invsync.topics import Topics


def partition_counts(brokers: list[str]) -> dict[str, int]:
    """Return the partition count of every topic the brokers report."""
    admin = AdminClient({"bootstrap.servers": ",".join(brokers)})
    metadata = admin.list_topics(timeout=10)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def broker_addresses(brokers: list[str]) -> list[str]:
    """Return the "host:port" of every broker in a metadata response, sorted."""
    admin = AdminClient({"bootstrap.servers": ",".join(brokers)})
    metadata = admin.list_topics(timeout=10)
    return sorted(f"{b.host}:{b.port}" for b in metadata.brokers.values())


def accepts_connections(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def write_script(path: Path, body: str) -> Path:
    """Write an executable shell script and return its path."""
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def refused_port() -> Iterator[int]:
    """Hold a bound, non-listening loopback port, so connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# Local servers


@pytest.mark.integration
def test_local_services_start_and_stop() -> None:
    with local_services() as services:
        redis_process = services.redis_process
        kafka_process = services.kafka_process
        assert redis_process is not None
        assert kafka_process is not None
        assert services.redis_url == f"redis://127.0.0.1:{redis_process.port}/0"
        assert services.kafka_brokers == [f"127.0.0.1:{kafka_process.port}"]
        assert redis_process.process.poll() is None
        assert kafka_process.process.poll() is None

        client = redis.Redis.from_url(services.redis_url)
        try:
            assert client.ping() is True
        finally:
            client.close()
        assert broker_addresses(services.kafka_brokers) == services.kafka_brokers

    assert redis_process.process.poll() == 0
    assert kafka_process.process.poll() == 0
    assert not accepts_connections(redis_process.port)
    assert not accepts_connections(kafka_process.port)


@pytest.mark.integration
def test_local_redis_has_no_persistence() -> None:
    with local_redis() as server:
        client = redis.Redis.from_url(
            f"redis://{server.address}/0", decode_responses=True
        )
        try:
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("bind") == {"bind": "127.0.0.1"}
        finally:
            client.close()
        workdir = server.log_path.parent
        assert server.log_path.is_file()

    assert not workdir.exists()


def test_local_redis_missing_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(ServiceError) as raised:
        find_redis_server()
    assert "redis-server not found on PATH" in str(raised.value)
    assert "apt-get install -y redis-server" in str(raised.value)

    with pytest.raises(ServiceError) as raised, local_redis():
        pass
    assert "apt-get install -y redis-server" in str(raised.value)


def test_local_tansu_exits_during_startup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker = write_script(
        tmp_path / "broker",
        f'echo "$$" >> {tmp_path}/pids\necho "bind failed: port taken" >&2\nexit 3',
    )
    monkeypatch.setenv("CALF_TANSU_BIN", str(broker))

    with pytest.raises(ServiceError) as raised, local_tansu():
        pass
    message = str(raised.value)
    assert "tansu failed to start after 3 attempts" in message
    assert "exited with code 3" in message
    assert "bind failed: port taken" in message

    pids = (tmp_path / "pids").read_text(encoding="utf-8").split()
    assert len(pids) == 3


def test_local_tansu_startup_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker = write_script(
        tmp_path / "broker", f'echo "$$" > {tmp_path}/pid\nexec sleep 60'
    )
    monkeypatch.setenv("CALF_TANSU_BIN", str(broker))

    with pytest.raises(ServiceError) as raised, local_tansu(startup_timeout=0.5):
        pass
    assert "did not respond within 0.5 s" in str(raised.value)

    pid = int((tmp_path / "pid").read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_local_tansu_arguments_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker = write_script(
        tmp_path / "broker",
        f'echo "$@" > {tmp_path}/argv\nenv > {tmp_path}/env\nexit 3',
    )
    monkeypatch.setenv("CALF_TANSU_BIN", str(broker))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("SCHEMA_REGISTRY", "file://./schemas")
    monkeypatch.setenv("INVSYNC_PASSED_THROUGH", "yes")

    with pytest.raises(ServiceError), local_tansu():
        pass

    argv = (tmp_path / "argv").read_text(encoding="utf-8").split()
    assert argv[0] == "broker"
    assert argv[1] == "--listener-url"
    assert argv[2].startswith("tcp://127.0.0.1:")
    assert argv[3] == "--advertised-listener-url"
    assert argv[4] == argv[2]
    assert argv[5:] == ["--storage-engine", "memory://tansu/"]

    env_lines = (tmp_path / "env").read_text(encoding="utf-8").splitlines()
    names = {line.split("=", 1)[0] for line in env_lines}
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in names
    assert "SCHEMA_REGISTRY" not in names
    assert "INVSYNC_PASSED_THROUGH" in names


def test_service_stop_kills_after_timeout(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    service = ServiceProcess(
        name="sigterm-ignorer", port=0, process=process, log_path=tmp_path / "log"
    )

    assert service.stop(timeout=0.5) == -signal.SIGKILL
    assert service.stop(timeout=0.5) == -signal.SIGKILL
    process.stdout.close()


def test_service_log_tail_unreadable(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    service = ServiceProcess(
        name="done", port=0, process=process, log_path=tmp_path / "missing.log"
    )

    assert service.log_tail().startswith(f"(log {tmp_path / 'missing.log'} unreadable")


# Topics


@pytest.mark.integration
def test_create_topics_idempotent(kafka_brokers: list[str]) -> None:
    prefix = f"t-{uuid4().hex[:8]}."
    names = [f"{prefix}a", f"{prefix}b"]

    create_topics(kafka_brokers, names, 2)
    counts = partition_counts(kafka_brokers)
    assert counts[names[0]] == 2
    assert counts[names[1]] == 2

    create_topics(kafka_brokers, [*names, f"{prefix}c"], 2)
    counts = partition_counts(kafka_brokers)
    assert counts[names[0]] == 2
    assert counts[names[1]] == 2
    assert counts[f"{prefix}c"] == 2

    delete_topics(kafka_brokers, [*names, f"{prefix}c"])


@pytest.mark.integration
def test_create_topics_partition_mismatch(kafka_brokers: list[str]) -> None:
    name = f"t-{uuid4().hex[:8]}.mismatch"
    create_topics(kafka_brokers, [name], 2)

    with pytest.raises(ServiceError) as fewer:
        create_topics(kafka_brokers, [name], 1)
    assert str(fewer.value) == (
        f"topics exist with more than 1 partitions: {{'{name}': 2}}. "
        "Delete them or use a new topic prefix."
    )

    with pytest.raises(ServiceError) as more:
        create_topics(kafka_brokers, [name], 3, timeout=0.5)
    assert str(more.value) == (
        "metadata did not show 3 partitions within 0.5 s. "
        f"Partition counts seen: {{'{name}': 2}}"
    )

    delete_topics(kafka_brokers, [name])


@pytest.mark.integration
def test_create_topics_empty_and_invalid(kafka_brokers: list[str]) -> None:
    before = partition_counts(kafka_brokers)
    create_topics(kafka_brokers, [], 2)
    assert partition_counts(kafka_brokers) == before

    with pytest.raises(ValueError, match="partitions must be at least 1, got 0"):
        create_topics(kafka_brokers, ["t-never-created"], 0)
    assert "t-never-created" not in partition_counts(kafka_brokers)


@pytest.mark.integration
def test_delete_topics_unknown_ok(kafka_brokers: list[str]) -> None:
    prefix = f"t-{uuid4().hex[:8]}."
    create_topics(kafka_brokers, [f"{prefix}a"], 2)

    delete_topics(kafka_brokers, [f"{prefix}a", f"{prefix}never-created"])
    counts = partition_counts(kafka_brokers)
    assert f"{prefix}a" not in counts
    assert f"{prefix}never-created" not in counts


@pytest.mark.integration
def test_topics_fixture_creates_all(topics: Topics, kafka_brokers: list[str]) -> None:
    assert topics.prefix.startswith("t-")
    assert topics.prefix.endswith(".")
    assert len(topics.prefix) == len("t-") + 8 + len(".")

    counts = partition_counts(kafka_brokers)
    for name in [*topics.inputs(), *topics.outputs()]:
        assert counts.get(name) == 2, name


# Redis keys


@pytest.mark.integration
def test_delete_redis_keys_under_prefix(redis_url: str) -> None:
    prefix = f"t{uuid4().hex[:8]}*[x]:"
    other = f"t{uuid4().hex[:8]}:"
    # The prefix read as an unescaped glob would match this key too.
    lookalike = f"{prefix[:9]}zzzx:"
    client = redis.Redis.from_url(redis_url)
    try:
        for i in range(23):
            client.set(f"{prefix}{i}", i)
        client.set(f"{other}kept", 1)
        client.set(f"{lookalike}kept", 1)

        assert delete_redis_keys(redis_url, prefix, batch_size=5) == 23
        assert client.exists(*[f"{prefix}{i}" for i in range(23)]) == 0
        assert client.get(f"{other}kept") == b"1"
        assert client.get(f"{lookalike}kept") == b"1"
        assert delete_redis_keys(redis_url, prefix) == 0
    finally:
        client.delete(f"{other}kept", f"{lookalike}kept")
        client.close()


def test_delete_redis_keys_empty_prefix() -> None:
    with pytest.raises(ValueError, match="prefix must not be empty"):
        delete_redis_keys("redis://127.0.0.1:1/0", "")


@pytest.mark.integration
def test_redis_prefix_fixture_format(redis_prefix: str, redis_url: str) -> None:
    assert redis_prefix.startswith("t")
    assert redis_prefix.endswith(":")
    assert len(redis_prefix) == len("t") + 8 + len(":")

    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{redis_prefix}*")) == []
    finally:
        client.close()


# External servers from the environment


def test_read_external_endpoints_unset() -> None:
    endpoints = read_external_endpoints({})

    assert endpoints.redis_url is None
    assert endpoints.kafka_brokers is None


def test_read_external_endpoints_blank() -> None:
    endpoints = read_external_endpoints({REDIS_URL_ENV: "  ", KAFKA_BROKERS_ENV: ""})

    assert endpoints.redis_url is None
    assert endpoints.kafka_brokers is None


def test_read_external_endpoints_set() -> None:
    endpoints = read_external_endpoints(
        {
            REDIS_URL_ENV: " redis://127.0.0.1:6390/3 ",
            KAFKA_BROKERS_ENV: "127.0.0.1:9092, 127.0.0.1:9093 ,",
        }
    )

    assert endpoints.redis_url == "redis://127.0.0.1:6390/3"
    assert endpoints.kafka_brokers == ["127.0.0.1:9092", "127.0.0.1:9093"]


def test_read_external_endpoints_invalid_redis() -> None:
    with pytest.raises(ValueError, match="is not a redis://") as raised:
        read_external_endpoints({REDIS_URL_ENV: "http://user:hunter2@127.0.0.1:80"})

    message = str(raised.value)
    assert message.startswith(f"{REDIS_URL_ENV}='http://user:***@127.0.0.1:80'")
    assert "hunter2" not in message


def test_read_external_endpoints_invalid_brokers() -> None:
    with pytest.raises(ValueError, match="invalid broker") as raised:
        read_external_endpoints({KAFKA_BROKERS_ENV: "127.0.0.1:9092,broker-2"})

    assert str(raised.value) == (
        f"{KAFKA_BROKERS_ENV}: invalid broker 'broker-2' in "
        "'127.0.0.1:9092,broker-2', expected host:port"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9092", ["127.0.0.1:9092"]),
        ("a:1,b:65535", ["a:1", "b:65535"]),
        ("[::1]:9092", ["[::1]:9092"]),
    ],
)
def test_parse_brokers_valid(text: str, expected: list[str]) -> None:
    assert parse_brokers(text) == expected


@pytest.mark.parametrize(
    "text", [",", "host", ":9092", "host:", "host:0", "host:65536", "host:90x"]
)
def test_parse_brokers_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="broker"):
        parse_brokers(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://app:secret@cache.internal/1", "rediss://app:***@cache.internal/1"),
        ("redis://app:secret@[::1]:6379", "redis://app:***@[::1]:6379"),
        (
            "redis://cache:6379/0?password=secret&db=1",
            "redis://cache:6379/0?password=***&db=1",
        ),
        ("redis://app:a@cache/0?password=b", "redis://app:***@cache/0?password=***"),
    ],
)
def test_redact_url_cases(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.integration
def test_open_services_uses_external() -> None:
    with local_services() as started:
        environ = {
            REDIS_URL_ENV: started.redis_url,
            KAFKA_BROKERS_ENV: ",".join(started.kafka_brokers),
        }
        with open_services(environ) as services:
            assert services.redis_url == started.redis_url
            assert services.kafka_brokers == started.kafka_brokers
            assert services.redis_process is None
            assert services.kafka_process is None


@pytest.mark.integration
def test_open_services_mixed_external_local() -> None:
    with local_redis() as external_redis:
        url = f"redis://{external_redis.address}/0"
        with open_services({REDIS_URL_ENV: url}) as services:
            assert services.redis_url == url
            assert services.redis_process is None
            assert services.kafka_process is not None
            assert services.kafka_brokers == [services.kafka_process.address]
            kafka_process = services.kafka_process

        assert kafka_process.process.poll() == 0
        assert external_redis.process.poll() is None


@pytest.mark.integration
def test_open_services_unreachable_redis(refused_port: int) -> None:
    environ = {REDIS_URL_ENV: f"redis://:hunter2@127.0.0.1:{refused_port}/0"}

    with (
        pytest.raises(ServiceError) as raised,
        open_services(environ, connect_timeout=0.5),
    ):
        pass
    message = str(raised.value)
    assert message.startswith(
        f"Redis at redis://:***@127.0.0.1:{refused_port}/0 did not respond within 0.5 s"
    )
    assert message.endswith(f"\nStart that server or unset {REDIS_URL_ENV}.")
    assert "hunter2" not in message


@pytest.mark.integration
def test_open_services_unreachable_kafka(refused_port: int) -> None:
    environ = {KAFKA_BROKERS_ENV: f"127.0.0.1:{refused_port}"}

    with (
        pytest.raises(ServiceError) as raised,
        open_services(environ, connect_timeout=0.5),
    ):
        pass
    message = str(raised.value)
    assert message.startswith(
        f"Kafka brokers 127.0.0.1:{refused_port} did not respond within 0.5 s"
    )
    assert message.endswith(f"\nStart those brokers or unset {KAFKA_BROKERS_ENV}.")


# Real input files


def test_locate_realcases_dir_default(tmp_path: Path) -> None:
    repo_root = tmp_path / "repo"

    path = locate_realcases_dir({}, repo_root)

    assert path == (tmp_path / "shared" / "realcases" / "files").resolve()


def test_locate_realcases_dir_from_env(tmp_path: Path) -> None:
    path = locate_realcases_dir({REALCASES_ENV: str(tmp_path / "cases")}, tmp_path)

    assert path == tmp_path / "cases"
