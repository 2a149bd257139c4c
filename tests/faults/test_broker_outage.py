"""The broker unreachable at start, and paused under a running dataflow.

``invsync run`` waits ``kafka.startup_timeout`` for the brokers and then exits
with code 1 and an error log. The dataflow waits for a broker that stops
responding mid-run, and goes on once it responds again without losing or
repeating an event's effect. The test pauses a Tansu of its own with SIGSTOP,
because Tansu keeps its data in memory only and cannot be restarted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from invsync.cluster import start_cluster
from invsync.devservices import (
    ServiceProcess,
    create_topics,
    free_port,
    local_tansu,
)
from invsync.topics import Topics

pytestmark = pytest.mark.fault

EVENT_COUNT = 3000
SKU_COUNT = 20
SEED = 12
PAUSE_S = 8.0
SETTLE_TIMEOUT_S = 90.0
STARTUP_TIMEOUT_S = 2
EXIT_TIMEOUT_S = 60.0


@pytest.fixture
def own_tansu() -> Iterator[ServiceProcess]:
    with local_tansu() as broker:
        yield broker
        # A broker left paused by a failed test would never stop on SIGTERM.
        os.kill(broker.pid, signal.SIGCONT)


def test_unreachable_broker_fails_fast(
    tmp_path: Path, kit: ModuleType, redis_url: str, redis_prefix: str
) -> None:
    nobody = [f"127.0.0.1:{free_port()}"]
    config = kit.write_run_config(
        tmp_path / "config.yaml",
        nobody,
        Topics("none."),
        redis_url,
        redis_prefix,
        kafka={"startup_timeout": STARTUP_TIMEOUT_S},
    )
    argv = [sys.executable, "-m", "invsync.cli", "--config", str(config), "run"]

    started = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=EXIT_TIMEOUT_S, check=False
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 1
    assert "Kafka brokers unreachable, not starting the dataflow" in done.stderr
    assert nobody[0] in done.stderr
    assert elapsed < EXIT_TIMEOUT_S


def test_paused_broker_resumes_without_loss(
    tmp_path: Path,
    kit: ModuleType,
    redis_url: str,
    redis_prefix: str,
    own_tansu: ServiceProcess,
) -> None:
    brokers = [own_tansu.address]
    topics = Topics("paused.")
    create_topics(brokers, topics.inputs() + topics.outputs(), 2)
    events = kit.generate_events(EVENT_COUNT, SKU_COUNT, SEED)
    half = EVENT_COUNT // 2
    skus = sorted({e.sku for e in events})
    first = kit.Workload(events[:half], skus)
    whole = kit.Workload(events, skus)
    config = kit.write_run_config(
        tmp_path / "config.yaml", brokers, topics, redis_url, redis_prefix
    )
    kit.produce_events(brokers, topics, events[:half])

    run = start_cluster(config, 1, tmp_path / "logs")
    try:
        reached_first = kit.wait_until(
            lambda: kit.read_atp(redis_url, redis_prefix, skus) == first.expected_atp(),
            SETTLE_TIMEOUT_S,
        )
        assert reached_first, run.log_tail()

        os.kill(own_tansu.pid, signal.SIGSTOP)
        time.sleep(PAUSE_S)
        assert run.processes[0].poll() is None, run.log_tail()
        os.kill(own_tansu.pid, signal.SIGCONT)
        kit.produce_events(brokers, topics, events[half:])

        reached_all = kit.wait_until(
            lambda: kit.read_atp(redis_url, redis_prefix, skus) == whole.expected_atp(),
            SETTLE_TIMEOUT_S,
        )
        assert reached_all, run.log_tail()
        postings = kit.read_postings(brokers, topics)
        assert run.processes[0].poll() is None, run.log_tail()
    finally:
        run.stop()

    assert postings == {pid: {q} for pid, q in whole.expected_postings().items()}
