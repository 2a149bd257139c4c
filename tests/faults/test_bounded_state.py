"""State stays bounded while order lines are opened and closed without end.

Runs ``python -m bench.state_size`` twice with fewer lines than the benchmark's
million: 4,500 and 9,000 lines, 1.25 and 2.5 times the 3,600 lines of the
one-hour dedup window at one line per second. A step that kept every order
would keep twice as much state after 9,000 lines as after 4,500.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fault

REPO = Path(__file__).resolve().parents[2]
SHORT_LINES = 4500
LINES = 9000
SKUS = 50
WINDOW_LINES = 3600
OPEN_LINES = 100
# Order lines reach the SKU step up to a few source batches of 1,000 events
# later than the movements that skip the order step.
SKEW_LINES = 1000
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def runs() -> list[dict[str, int]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.state_size",
            "--lines",
            str(SHORT_LINES),
            str(LINES),
            "--skus",
            str(SKUS),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()[-2:]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def measured(runs: list[dict[str, int]]) -> dict[str, int]:
    return runs[1]


def test_every_event_applied(measured: dict[str, int]) -> None:
    assert measured["dead_letters"] == 0


def test_sku_step_keeps_one_key_per_sku(measured: dict[str, int]) -> None:
    assert measured["sku_keys"] == SKUS


def test_order_step_drops_old_orders(measured: dict[str, int]) -> None:
    assert measured["order_keys"] <= WINDOW_LINES + OPEN_LINES + SKEW_LINES
    assert measured["order_keys"] >= WINDOW_LINES - SKEW_LINES


def test_runs_cover_requested_lines(runs: list[dict[str, int]]) -> None:
    assert [run["lines"] for run in runs] == [SHORT_LINES, LINES]


def test_sku_state_stops_growing(runs: list[dict[str, int]]) -> None:
    # The last dedup window has the same shape in both runs. Runs differ by up
    # to about 4 %, because order lines reach the SKU step at varying delays.
    # Keeping the variance history of every line would add an estimated 23 %.
    short, long = runs
    assert long["sku_bytes"] <= short["sku_bytes"] * 1.10


def test_order_state_stops_growing(runs: list[dict[str, int]]) -> None:
    short, long = runs
    assert long["order_keys"] == short["order_keys"]
    assert long["order_bytes"] <= short["order_bytes"] * 1.10
