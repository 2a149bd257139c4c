"""Command-line arguments of the benchmark harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import options_from, parse_args


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_sizes_below_one_rejected(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--smoke", "--events", value])

    assert "expected a whole number of at least 1" in capsys.readouterr().err


def test_sizes_override_smoke_defaults(tmp_path: Path) -> None:
    options = options_from(
        parse_args(["--smoke", "--events", "7", "--skus", "3"]), tmp_path
    )

    assert options.events == 7
    assert options.skus == 3


def test_smoke_defaults_without_sizes(tmp_path: Path) -> None:
    options = options_from(parse_args(["--smoke"]), tmp_path)

    assert options.events == 2_000
    assert options.skus == 1_000
