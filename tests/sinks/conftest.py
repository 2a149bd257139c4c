"""Fixtures of the sink tests: ATP records and Redis servers the tests control.

``restartable_redis`` and ``redis_cluster_url`` start their own redis-server
processes on free loopback ports, because the tests stop them or need a
cluster. The shared servers come from ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis

from invsync.events import AtpRecord, RecordVersion, WarehouseAtp

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 15.0


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a started process accepts connections on a loopback port."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port} after {START_TIMEOUT_S} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process started by a fixture and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


RecordFactory = Callable[..., AtpRecord]


def build_record(
    sku: str,
    generation: int = 0,
    counter: int = 1,
    available: dict[str, int] | None = None,
    unallocated: int = 0,
    updated_at: datetime | None = None,
) -> AtpRecord:
    """Build an ATP record whose warehouses have the given available quantities.

    Each warehouse has available + 4 on hand, of which 1 is held, 2 reserved
    and 1 safety stock, so that atp equals available.
    """
    warehouses = [
        WarehouseAtp(
            warehouse=code,
            on_hand=quantity + 4,
            held=1,
            reserved=2,
            safety_stock=1,
            inbound=3,
            atp=quantity,
            available=quantity,
            backordered=0,
        )
        for code, quantity in (available or {"W1": 5}).items()
    ]
    network = sum(w.available for w in warehouses)
    return AtpRecord(
        sku=sku,
        version=RecordVersion(generation=generation, counter=counter),
        updated_at=updated_at or datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC),
        warehouses=warehouses,
        unallocated_demand=unallocated,
        unallocated_backordered=max(0, unallocated - network),
    )


@pytest.fixture
def record_factory() -> RecordFactory:
    """Return ``build_record``, which builds ATP records for the tests."""
    return build_record


class RedisProcess:
    """A redis-server without persistence on one loopback port, restartable."""

    def __init__(self, directory: Path, extra_args: tuple[str, ...] = ()) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.directory = directory
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        log = self.directory / f"redis-{self.port}.log"
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            *self.extra_args,
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=output)
        wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """Start a private redis-server that a test may stop and start again."""
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a Redis Cluster of three primaries on loopback and return its URL."""
    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    directory = tmp_path_factory.mktemp("redis-cluster")
    nodes: list[RedisProcess] = []
    for index in range(3):
        node_directory = directory / f"node{index}"
        node_directory.mkdir()
        node = RedisProcess(node_directory)
        # The cluster bus listens on the port plus 10000.
        while node.port + 10000 > 65535 or not _port_is_free(node.port + 10000):
            node.port = free_port()
        node.extra_args = (
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(node_directory / "nodes.conf"),
            "--cluster-node-timeout",
            "5000",
        )
        node.start()
        nodes.append(node)

    try:
        addresses = [f"{LOOPBACK}:{node.port}" for node in nodes]
        create = ["redis-cli", "--cluster", "create", *addresses]
        subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait_for_cluster(nodes)
        yield f"redis://{LOOPBACK}:{nodes[0].port}?cluster=true"
    finally:
        for node in nodes:
            node.stop()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _wait_for_cluster(nodes: list[RedisProcess]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        states = []
        for node in nodes:
            client = Redis(host=LOOPBACK, port=node.port)
            states.append(client.cluster("INFO"))
            client.close()
        if all(state.get("cluster_state") == "ok" for state in states):
            return
        time.sleep(0.1)
    pytest.fail(f"Redis Cluster not ready after {START_TIMEOUT_S} s")
