"""Redis stopped for several seconds under a running dataflow, then started again.

The test runs its own redis-server without persistence, so the restart also
loses every key: the dataflow must retry its writes, count the retries and
re-publish the records Redis lost.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from invsync.cluster import start_cluster
from invsync.devservices import find_redis_server, free_port, wait_for_redis
from invsync.topics import Topics

pytestmark = pytest.mark.fault

EVENT_COUNT = 3000
SKU_COUNT = 20
SEED = 11
OUTAGE_S = 6.0
SETTLE_TIMEOUT_S = 90.0
RETRIES_METRIC = "invsync_redis_write_retries_total"


class RestartableRedis:
    """A redis-server on one loopback port that the test stops and starts."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            find_redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            argv, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for_redis(self.url, timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def scrape_counter(port: int, name: str) -> float:
    """Return a counter's value from a process's Prometheus endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    msg = f"{name} not found at port {port}"
    raise LookupError(msg)


def test_redis_restart_retries_and_loses_nothing(
    tmp_path: Path,
    kit: ModuleType,
    kafka_brokers: list[str],
    topics: Topics,
    own_redis: RestartableRedis,
) -> None:
    events = kit.generate_events(EVENT_COUNT, SKU_COUNT, SEED)
    half = EVENT_COUNT // 2
    skus = sorted({e.sku for e in events})
    first = kit.Workload(events[:half], skus)
    whole = kit.Workload(events, skus)
    config = kit.write_run_config(
        tmp_path / "config.yaml",
        kafka_brokers,
        topics,
        own_redis.url,
        "outage:",
        # Re-publishing every second restores the keys the restart lost.
        redis={"republish_interval": 1.0},
    )
    metrics_port = free_port()
    kit.produce_events(kafka_brokers, topics, events[:half])

    run = start_cluster(
        config, 1, tmp_path / "logs", ["--metrics-port", str(metrics_port)]
    )
    try:
        reached_first = kit.wait_until(
            lambda: (
                kit.read_atp(own_redis.url, "outage:", skus) == first.expected_atp()
            ),
            SETTLE_TIMEOUT_S,
        )
        assert reached_first, run.log_tail()
        retries_before = scrape_counter(metrics_port, RETRIES_METRIC)

        own_redis.stop()
        kit.produce_events(kafka_brokers, topics, events[half:])
        time.sleep(OUTAGE_S)
        own_redis.start()

        reached_all = kit.wait_until(
            lambda: (
                kit.read_atp(own_redis.url, "outage:", skus) == whole.expected_atp()
            ),
            SETTLE_TIMEOUT_S,
        )
        assert reached_all, run.log_tail()
        retries_after = scrape_counter(metrics_port, RETRIES_METRIC)
        assert run.processes[0].poll() is None, run.log_tail()
    finally:
        run.stop()

    assert retries_before == 0
    assert retries_after > 0
    assert "retrying in" in run.log_tail(200)
    postings = kit.read_postings(kafka_brokers, topics)
    assert postings == {pid: {q} for pid, q in whole.expected_postings().items()}


@pytest.mark.parametrize("query", ["", "?cluster=true"])
def test_unreachable_redis_fails_fast(
    tmp_path: Path,
    kit: ModuleType,
    kafka_brokers: list[str],
    redis_url: str,
    query: str,
) -> None:
    # Nothing listens on the first URL. The second names a single Redis as a
    # cluster, which the cluster client rejects when it reads the slot map.
    url = f"redis://127.0.0.1:{free_port()}/0" if not query else redis_url + query
    config = kit.write_run_config(
        tmp_path / "config.yaml",
        kafka_brokers,
        Topics("none."),
        url,
        "unreachable:",
        kafka={"startup_timeout": 2},
    )
    argv = [sys.executable, "-m", "invsync.cli", "--config", str(config), "run"]

    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 1
    assert "Redis unreachable, not starting the dataflow" in done.stderr
    assert "Traceback" not in done.stderr
