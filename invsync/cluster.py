"""Run the Kafka dataflow as a Bytewax cluster of local processes.

Each process is ``invsync run -i K -a ADDRESSES`` on a free loopback port:
Bytewax's own cluster mode, the same as on Kubernetes, only on one host. Used by
the demo and the end-to-end tests.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from invsync.devservices import free_port

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
"""Seconds a process may take to exit after SIGTERM before it gets SIGKILL."""


@dataclass
class ClusterRun:
    """Processes of one cluster run and where their logs go."""

    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def wait(self, timeout: float) -> list[int]:
        """Wait for every process to exit; kill all and raise on timeout."""
        deadline = time.monotonic() + timeout
        codes: list[int] = []
        for process in self.processes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                codes.append(process.wait(remaining))
            except subprocess.TimeoutExpired:
                self.stop()
                msg = (
                    f"dataflow cluster did not finish within {timeout} s; logs: "
                    + ", ".join(str(p) for p in self.logs)
                )
                raise TimeoutError(msg) from None
        return codes

    def stop(self) -> None:
        """Terminate every process still running, then kill what does not exit."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for index, process in enumerate(self.processes):
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "dataflow process %d pid %d did not exit within %.0f s of "
                    "SIGTERM; killing it",
                    index,
                    process.pid,
                    STOP_TIMEOUT,
                )
                process.kill()
                process.wait()

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of every process log."""
        parts = []
        for index, path in enumerate(self.logs):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- process {index} ({path}) ---\n" + "\n".join(text))
        return "\n".join(parts)


def start_cluster(
    config_path: Path,
    processes: int,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> ClusterRun:
    """Start ``processes`` dataflow processes that form one Bytewax cluster."""
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    log_dir.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    for index in range(processes):
        argv = [
            sys.executable,
            "-m",
            "invsync.cli",
            "--config",
            str(config_path),
            "run",
            "-i",
            str(index),
            "-a",
            addresses,
            *extra_args,
        ]
        log_path = log_dir / f"dataflow-{index}.log"
        with log_path.open("wb") as log:
            started.append(
                subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                )
            )
        logs.append(log_path)
        logger.info("started dataflow process %d pid %d", index, started[-1].pid)
    return ClusterRun(started, logs)
