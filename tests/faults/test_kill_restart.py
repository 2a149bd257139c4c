"""kill -9 of a two-process dataflow cluster, restarted from its recovery partitions.

100,000 events go to the input topics first. The cluster is killed with SIGKILL
at seeded random points three times and started again each time with the same
recovery directory. The last start runs to the end of every partition. The
final ATP in Redis and the posting topic must match a fault-free run.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from invsync.cluster import ClusterRun, start_cluster
from invsync.config import InvsyncConfig
from invsync.topics import Topics

pytestmark = pytest.mark.fault

EVENT_COUNT = 100_000
# Many SKUs keep each SKU's state small: the whole run spans about 28 hours of
# event time, inside the default 7-day dedup retention, so nothing is pruned
# and no event is too late however the topics interleave.
SKU_COUNT = 1000
SEED = 20260302
KILLS = 3
PROCESSES = 2
# Seconds each killed run is given before SIGKILL, drawn from this range.
KILL_AFTER_S = (4.0, 9.0)
FINAL_RUN_TIMEOUT_S = 420.0
SNAPSHOT_INTERVAL_S = 5.0


@pytest.fixture(scope="module")
def workload(kit: ModuleType) -> Any:
    events = kit.generate_events(EVENT_COUNT, SKU_COUNT, SEED)
    return kit.Workload(events, sorted({e.sku for e in events}), InvsyncConfig())


def kill(run: ClusterRun) -> list[bool]:
    """SIGKILL every process; return which ones were still running."""
    running = [process.poll() is None for process in run.processes]
    for process in run.processes:
        if process.poll() is None:
            process.kill()
    for process in run.processes:
        process.wait()
    return running


def snapshot_keys(recovery_dir: Path) -> dict[str, int]:
    """Return how many state keys have snapshots in each recovery partition."""
    counts: dict[str, int] = {}
    for path in sorted(recovery_dir.glob("part-*.sqlite3")):
        with sqlite3.connect(path) as db:
            (count,) = db.execute(
                "SELECT COUNT(DISTINCT state_key) FROM snaps"
            ).fetchone()
        counts[path.name] = count
    return counts


def test_kill_nine_cluster_keeps_exact_numbers(
    tmp_path: Path,
    workload: Any,
    kit: ModuleType,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    produced = kit.produce_events(kafka_brokers, topics, workload.events)
    assert produced == EVENT_COUNT

    recovery_dir = tmp_path / "recovery"
    config_path = kit.write_run_config(
        tmp_path / "config.yaml",
        kafka_brokers,
        topics,
        redis_url,
        redis_prefix,
        recovery={
            "directory": str(recovery_dir),
            "partitions": PROCESSES,
            "snapshot_interval": SNAPSHOT_INTERVAL_S,
        },
    )
    rng = random.Random(SEED)

    for attempt in range(KILLS):
        run = start_cluster(config_path, PROCESSES, tmp_path / f"logs-{attempt}")
        time.sleep(rng.uniform(*KILL_AFTER_S))
        running = kill(run)
        assert running == [True] * PROCESSES, run.log_tail()

    final = start_cluster(
        config_path, PROCESSES, tmp_path / "logs-final", ["--until-eof"]
    )
    codes = final.wait(FINAL_RUN_TIMEOUT_S)
    assert codes == [0] * PROCESSES, final.log_tail()

    # Both processes found the shared partitions and wrote snapshots to each.
    keys = snapshot_keys(recovery_dir)
    assert sorted(keys) == [f"part-{i}.sqlite3" for i in range(PROCESSES)]
    assert all(count > 0 for count in keys.values()), keys

    atp = kit.read_atp(redis_url, redis_prefix, workload.skus)
    expected_atp = workload.expected_atp()
    assert sorted(atp) == sorted(expected_atp)
    for sku, warehouses in expected_atp.items():
        assert atp[sku] == warehouses, sku

    postings = kit.read_postings(kafka_brokers, topics)
    expected_postings = workload.expected_postings()
    conflicting = {pid: q for pid, q in postings.items() if len(q) > 1}
    assert conflicting == {}
    missing = sorted(set(expected_postings) - set(postings))
    assert missing == []
    unexpected = sorted(set(postings) - set(expected_postings))
    assert unexpected == []
    wrong = {
        pid: (postings[pid], quantity)
        for pid, quantity in expected_postings.items()
        if postings[pid] != {quantity}
    }
    assert wrong == {}
