"""The demo's argument checks, which run before it starts any service."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from invsync.demo import exception_counts
from invsync.events import ExceptionKind, InventoryException


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m invsync.demo`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "invsync.demo", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "/no/such/dir"], "input file not found: /no/such/dir"),
        (
            ["--input", "/dev/null"],
            "input /dev/null is a character device; pass regular files or directories",
        ),
        (["--processes", "0"], "--processes must be at least 1: 0"),
        (["--config", "/no/such.yaml"], "configuration file not found: /no/such.yaml"),
    ],
)
def test_demo_usage_error_one_line(args: list[str], message: str) -> None:
    result = demo(*args)

    assert result.returncode == 2
    assert result.stderr == f"python -m invsync.demo: {message}\n"
    assert result.stdout == ""


def test_demo_invalid_config_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("redis: {url: notaurl}\n")

    result = demo("--config", str(path))

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"python -m invsync.demo: invalid configuration {path}: "
        "redis.url: invalid Redis URL 'notaurl'"
    )
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def _exception(kind: ExceptionKind, quantity: int) -> InventoryException:
    return InventoryException(
        exception_id=f"{kind.value}-{quantity}",
        kind=kind,
        sku="SKU-1",
        warehouse="W1",
        quantity=quantity,
        event_time=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_exception_counts_split_cleared() -> None:
    records = [
        _exception(ExceptionKind.BACKORDER, 2),
        _exception(ExceptionKind.BACKORDER, 0),
        _exception(ExceptionKind.OVERSELL, 1),
    ]

    line = exception_counts(records)

    assert line == "exception records: 3 (2 raised, 1 cleared) BACKORDER=2 OVERSELL=1"
