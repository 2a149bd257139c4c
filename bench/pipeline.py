"""Runs of the invsync dataflow cluster over preloaded topics, timed and profiled.

Each run starts ``invsync run --until-eof`` processes through
``invsync.cluster.start_cluster`` and measures wall-clock time from the start
to the exit of the last process, and the user + system CPU time of those
processes from ``resource.getrusage(RUSAGE_CHILDREN)``. That figure counts only
children the harness has waited for, so the broker and Redis, which run until
the harness ends, are not included.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from invsync.cluster import start_cluster

logger = logging.getLogger(__name__)

RUN_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class ClusterTiming:
    """Wall-clock and CPU seconds of one cluster run."""

    processes: int
    wall_s: float
    cpu_s: float


def write_config(
    path: Path,
    brokers: list[str],
    topic_prefix: str,
    redis_url: str,
    key_prefix: str,
) -> Path:
    """Write an invsync configuration for one benchmark run and return its path."""
    config = {
        "kafka": {"brokers": brokers, "topic_prefix": topic_prefix, "partitions": 2},
        "redis": {"url": redis_url, "key_prefix": key_prefix},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cluster(
    config_path: Path,
    processes: int,
    log_dir: Path,
    *,
    profile_to: Path | None = None,
    extra_args: Sequence[str] = (),
) -> ClusterTiming:
    """Run the dataflow to the end of its input and return its timing.

    With ``profile_to``, py-spy samples process 0 and writes collapsed stacks
    (one ``frame;frame;... count`` line per stack) to that path.

    Raises:
        RuntimeError: A process exited with a non-zero code.
        TimeoutError: The run took longer than ``RUN_TIMEOUT_S``.
    """
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    run = start_cluster(
        config_path, processes, log_dir, extra_args=["--until-eof", *extra_args]
    )
    profiler = None
    if profile_to is not None:
        profiler = _start_profiler(run.processes[0].pid, profile_to)
    try:
        codes = run.wait(RUN_TIMEOUT_S)
    finally:
        run.stop()
    wall_s = time.perf_counter() - started
    if profiler is not None:
        profiler.wait(60)
    cpu_s = _children_cpu_s() - cpu_before
    if any(codes):
        msg = f"dataflow exited with codes {codes}:\n{run.log_tail()}"
        raise RuntimeError(msg)
    logger.info(
        "cluster of %d processes finished in %.2f s wall, %.2f s CPU",
        processes,
        wall_s,
        cpu_s,
    )
    return ClusterTiming(processes=processes, wall_s=wall_s, cpu_s=cpu_s)


def _start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    # --nonblocking samples without pausing the target, so the run keeps its
    # speed. Without --idle, samples show where CPU time goes.
    argv = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    log = output.with_suffix(".log").open("wb")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
