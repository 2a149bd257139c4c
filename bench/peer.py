"""The peer run: ``bench.quix_peer`` in its own interpreter, timed and checked.

Quix Streams 3.28.1, the newest release, requires ``confluent-kafka<2.13`` and
``pydantic<2.14``, while invsync pins confluent-kafka 2.16.1 and pydantic
2.14.4, so the two cannot share one environment. The peer runs with the Python
named by ``INVSYNC_BENCH_PEER_PYTHON``, a virtualenv holding the packages of
``bench/peer-requirements.txt``. Without it the harness reports
``peer_ratio=na`` and writes the reason on the page.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from redis import Redis

from bench.baselines import expected_fields
from invsync.events import AtpRecord
from invsync.topics import Topics

if TYPE_CHECKING:
    from bench.harness import SystemRun
    from invsync.devservices import Services

logger = logging.getLogger(__name__)

PEER_PYTHON_ENV = "INVSYNC_BENCH_PEER_PYTHON"
REPO = Path(__file__).resolve().parent.parent
PEER_NAME = "Quix Streams peer"
NOT_CONFIGURED = (
    "The peer did not run: Quix Streams 3.28.1 requires confluent-kafka<2.13 and "
    "pydantic<2.14, while invsync pins confluent-kafka 2.16.1 and pydantic 2.14.4, "
    "so it needs its own virtualenv (bench/peer-requirements.txt) named by "
    f"{PEER_PYTHON_ENV}, which was not set."
)


@dataclass(frozen=True)
class PeerRun:
    """The peer's run, or None with the reason it did not run."""

    timing: SystemRun | None
    reason: str


def run_peer(
    services: Services,
    topics: Topics,
    reference: dict[str, AtpRecord],
    events: int,
    key_prefix: str,
) -> PeerRun:
    """Run the peer on the preloaded topics, or return why it cannot run."""
    from bench.harness import SystemRun, compare_fields

    python = os.environ.get(PEER_PYTHON_ENV)
    if not python:
        logger.warning("peer not run: %s is not set", PEER_PYTHON_ENV)
        return PeerRun(timing=None, reason=NOT_CONFIGURED)

    redis_parts = urlsplit(services.redis_url)
    database = int((redis_parts.path or "/0").lstrip("/") or 0)
    with tempfile.TemporaryDirectory(prefix="invsync-quix-") as state_dir:
        argv = [
            python,
            "-m",
            "bench.quix_peer",
            "--brokers",
            ",".join(services.kafka_brokers),
            "--topics",
            ",".join([topics.wms, topics.orders, topics.settings]),
            "--partitions",
            "2",
            "--redis-host",
            redis_parts.hostname or "127.0.0.1",
            "--redis-port",
            str(redis_parts.port or 6379),
            "--redis-db",
            str(database),
            "--key-prefix",
            key_prefix,
            "--events",
            str(events),
            "--state-dir",
            state_dir,
        ]
        completed = subprocess.run(
            argv,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-8:])
        logger.error("peer failed with exit code %d:\n%s", completed.returncode, tail)
        reason = (
            f"The peer ran but failed with exit code {completed.returncode}; the "
            f"last lines of its error output:\n\n    " + tail.replace("\n", "\n    ")
        )
        return PeerRun(timing=None, reason=reason)

    report = json.loads(completed.stdout.strip().splitlines()[-1])
    logger.info(
        "peer: %s events, %.2f s from first event, %.2f s run, %.2f s CPU",
        report["events"],
        report["wall_s"],
        report["run_s"],
        report["cpu_s"],
    )
    redis = Redis.from_url(services.redis_url)
    found: dict[str, dict[str, int]] = {}
    for sku in reference:
        raw = redis.get(f"{key_prefix}{sku}")
        if raw is None:
            continue
        fields = {k: int(v) for k, v in json.loads(raw).items() if int(v) != 0}
        if fields:
            found[sku] = fields
    timing = SystemRun(
        name=PEER_NAME,
        events=int(report["events"]),
        wall_s=float(report["wall_s"]),
        cpu_s=float(report["cpu_s"]),
        check=compare_fields(expected_fields(reference), found),
    )
    return PeerRun(timing=timing, reason="")
