"""Recovery partitions, their settings from config and flags, and state size."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from invsync.cli import UsageError, build_parser, main, recovery_settings
from invsync.config import InvsyncConfig
from invsync.config import RecoveryConfig as RecoverySettings
from invsync.pod_recovery import init_process_partitions
from invsync.recovery import (
    ensure_recovery_partitions,
    existing_partitions,
    snapshot_state_size,
)


def test_partitions_created_once(tmp_path: Path) -> None:
    assert ensure_recovery_partitions(tmp_path, 3) == 3
    assert [p.name for p in existing_partitions(tmp_path)] == [
        "part-0.sqlite3",
        "part-1.sqlite3",
        "part-2.sqlite3",
    ]
    # A second call must not initialise again: Bytewax would panic.
    assert ensure_recovery_partitions(tmp_path, 3) == 3


def test_partition_count_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_recovery_partitions(tmp_path, 2)
    with caplog.at_level(logging.WARNING, logger="invsync.recovery"):
        assert ensure_recovery_partitions(tmp_path, 4) == 2
    assert len(existing_partitions(tmp_path)) == 2
    assert "has 2 partitions, not the 4 requested" in caplog.text


def test_partitions_created_in_new_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert ensure_recovery_partitions(target, 1) == 1
    assert [p.name for p in existing_partitions(target)] == ["part-0.sqlite3"]


def run_settings(config: InvsyncConfig, *flags: str) -> RecoverySettings:
    args = build_parser().parse_args(["run", *flags])
    return recovery_settings(config, args)


def test_recovery_settings_from_config() -> None:
    config = InvsyncConfig.model_validate(
        {
            "recovery": {
                "directory": "/var/lib/invsync",
                "partitions": 4,
                "snapshot_interval": 30,
                "backup_interval": 600,
            }
        }
    )
    settings = run_settings(config)
    assert settings.directory == Path("/var/lib/invsync")
    assert settings.partitions == 4
    assert settings.snapshot_interval == timedelta(seconds=30)
    assert settings.backup_interval == timedelta(minutes=10)


def test_recovery_flags_override_config() -> None:
    config = InvsyncConfig.model_validate(
        {"recovery": {"directory": "/var/lib/invsync", "partitions": 4}}
    )
    settings = run_settings(
        config,
        "--recovery-dir",
        "/tmp/elsewhere",
        "--recovery-partitions",
        "2",
        "--snapshot-interval",
        "2.5",
        "--backup-interval",
        "60",
    )
    assert settings.directory == Path("/tmp/elsewhere")
    assert settings.partitions == 2
    assert settings.snapshot_interval == timedelta(seconds=2.5)
    assert settings.backup_interval == timedelta(minutes=1)


def test_recovery_off_by_default() -> None:
    settings = run_settings(InvsyncConfig())
    assert settings.directory is None
    assert settings.partitions == 1
    assert settings.snapshot_interval == timedelta(seconds=10)
    assert settings.backup_interval == timedelta(0)


def test_recovery_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError, match="partitions"):
        run_settings(InvsyncConfig(), "--recovery-partitions", "0")


def test_state_size_counts_live_keys(tmp_path: Path) -> None:
    ensure_recovery_partitions(tmp_path, 2)
    flow = Dataflow("state-size")
    items = op.input("in", flow, TestingSource(["a", "b", "c", "a", "x"]))
    keyed = op.key_on("key", items, lambda item: item)

    def count(seen: int | None, item: str) -> tuple[int | None, int]:
        # The key "x" discards its state, so it must not be counted.
        total = (seen or 0) + 1
        return (None if item == "x" else total), total

    op.output("out", op.stateful_map("count", keyed, count), TestingSink([]))
    run_main(flow, recovery_config=RecoveryConfig(str(tmp_path)))

    sizes = snapshot_state_size(tmp_path)
    (step,) = [name for name in sizes if "count" in name]
    assert sizes[step].keys == 3
    assert sizes[step].pickled_bytes > 0


def test_volume_of_another_process_rejected(tmp_path: Path) -> None:
    init_process_partitions(tmp_path, 3, 1)

    with pytest.raises(ValueError, match="initialised for process 1, not 2"):
        init_process_partitions(tmp_path, 3, 2)


def test_other_partition_count_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_process_partitions(tmp_path, 3, 1)

    held = init_process_partitions(tmp_path, 5, 1)

    assert held == 1
    assert [p.name for p in existing_partitions(tmp_path)] == ["part-1.sqlite3"]
    assert "changes nothing" in caplog.text


@pytest.mark.parametrize(
    ("partitions", "process_id", "message"),
    [(0, 0, "at least 1"), (-3, 0, "at least 1"), (2, -1, "0 or more")],
)
def test_invalid_init_arguments_rejected(
    tmp_path: Path, partitions: int, process_id: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        init_process_partitions(tmp_path / "v", partitions, process_id)


def test_init_on_plain_file_rejected(tmp_path: Path) -> None:
    plain = tmp_path / "volume"
    plain.write_text("")

    with pytest.raises(ValueError, match="is not a directory"):
        init_process_partitions(plain, 2, 0)


def test_recovery_init_errors_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["recovery", "init", str(tmp_path), "0", "--process-id", "0"])

    err = capsys.readouterr().err
    assert code == 2
    assert err == "invsync: partition count must be at least 1, not 0\n"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [((), False), (("--recovery-dir", "state"), True)],
)
def test_run_skips_snapshots_only_without_recovery(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: tuple[str, ...],
    expected: bool,
) -> None:
    import bytewax.run

    import invsync.cli
    import invsync.worker
    from dataflows import kafka_flow as kafka_flow_module

    built: list[bool] = []
    started: list[RecoveryConfig | None] = []

    def build(config: InvsyncConfig, **kwargs: object) -> Dataflow:
        built.append(bool(kwargs["recovery"]))
        return Dataflow("stub")

    monkeypatch.setattr(kafka_flow_module, "kafka_flow", build)
    monkeypatch.setattr(invsync.cli, "_brokers_respond", lambda config: True)
    monkeypatch.setattr(invsync.cli, "_redis_responds", lambda config: True)
    monkeypatch.setattr(invsync.worker, "configure_gc", lambda settings: None)
    monkeypatch.setattr(
        bytewax.run,
        "cli_main",
        lambda flow, **kwargs: started.append(kwargs["recovery_config"]),
    )
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  brokers: [127.0.0.1:9]\n")

    assert main(["--config", str(config), "run", *flags]) == 0
    assert built == [expected]
    assert (started[0] is not None) is expected


def test_empty_recovery_dir_flag_rejected() -> None:
    with pytest.raises(UsageError, match="--recovery-dir is empty"):
        run_settings(InvsyncConfig(), "--recovery-dir", " ")


def test_empty_config_recovery_directory_rejected() -> None:
    with pytest.raises(ValueError, match=r"directory\n.*is empty"):
        InvsyncConfig.model_validate({"recovery": {"directory": ""}})


def test_recovery_directory_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "state"
    target.write_text("not a directory")

    with pytest.raises(ValueError, match="is a file, not a directory"):
        ensure_recovery_partitions(target, 1)


def test_no_recovery_flag_overrides_config() -> None:
    config = InvsyncConfig.model_validate({"recovery": {"directory": "/var/lib/x"}})

    assert run_settings(config, "--no-recovery").directory is None
    assert run_settings(config).directory == Path("/var/lib/x")


def test_no_recovery_flag_excludes_directory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--no-recovery", "--recovery-dir", "d"])

    assert "not allowed with argument" in capsys.readouterr().err
