"""The benchmark harness in its smoke size, run as ``make bench`` runs it.

No timing is asserted: the test checks that every system ran, matched the
replay result, and that the summary line, page and plot come out complete.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = [
    "events_per_s_1p",
    "events_per_cpu_s_1p",
    "events_per_cpu_s_2p",
    "baseline_ratio",
    "pipelined_baseline_ratio",
    "peer_ratio",
    "p99_ms_at_20k",
    "read_p99_ms_1sku",
    "read_p99_ms_100sku",
    "state_bytes_per_pair",
]
# Keys whose value the smoke run always measures. The peer does not run, and
# the smoke run offers no 20,000 events/s load.
MEASURED_KEYS = [
    key for key in SUMMARY_KEYS if key not in {"peer_ratio", "p99_ms_at_20k"}
]


def _run_smoke(
    redis_url: str, kafka_brokers: list[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "INVSYNC_TEST_REDIS_URL": redis_url,
        "INVSYNC_TEST_KAFKA_BROKERS": ",".join(kafka_brokers),
    }
    # The peer needs a virtualenv of its own, which the test suite does not build.
    env.pop("INVSYNC_BENCH_PEER_PYTHON", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--report-dir",
            str(tmp_path / "docs"),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_smoke_run_summary_and_page(
    redis_url: str, kafka_brokers: list[str], tmp_path: Path
) -> None:
    completed = _run_smoke(redis_url, kafka_brokers, tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]

    lines = completed.stdout.strip().splitlines()
    check = next(line for line in lines if line.startswith("bench-check: "))
    assert check.startswith("bench-check: passed "), check
    for system in (
        "invsync_1_process=passed",
        "invsync_2_processes=passed",
        "invsync_1_process_recovery_on=passed",
        "baseline_one_round_trip_per_event=passed",
        "baseline_pipelined_per_batch=passed",
    ):
        assert system in check.split(), check

    summary = lines[-1]
    assert summary.startswith("bench: "), summary
    pairs = [item.split("=", 1) for item in summary.removeprefix("bench: ").split()]
    assert [key for key, _ in pairs] == SUMMARY_KEYS
    values = dict(pairs)
    assert values["peer_ratio"] == "na"
    assert values["p99_ms_at_20k"] == "na"
    for key in MEASURED_KEYS:
        assert float(values[key]) > 0, f"{key}={values[key]}"

    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert summary in page
    assert "| target | measured | met | gap |" in page
    assert "- Recovery: with a recovery directory one process spends" in page
    plot = tmp_path / "docs" / "benchmarks" / "throughput_latency.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "work" / "result.pickle").stat().st_size > 0
