"""Bytewax recovery partitions: created once, reused on every later start."""

from __future__ import annotations

import logging
from pathlib import Path

from bytewax.recovery import init_db_dir

logger = logging.getLogger(__name__)


def existing_partitions(directory: Path) -> list[Path]:
    """Return the recovery partition files already in a directory."""
    return sorted(directory.glob("part-*.sqlite3"))


def ensure_recovery_partitions(directory: Path, count: int) -> int:
    """Create ``count`` recovery partitions unless the directory already has some.

    Bytewax panics when asked to initialise a directory twice, so this checks
    first. The partition count is fixed once created; returns the count in use.
    """
    directory.mkdir(parents=True, exist_ok=True)
    found = existing_partitions(directory)
    if found:
        if len(found) != count:
            logger.warning(
                "recovery directory %s has %d partitions, not the %d requested; "
                "using the existing ones (the count is fixed at initialisation)",
                directory,
                len(found),
                count,
            )
        return len(found)
    init_db_dir(directory, count)  # type: ignore[no-untyped-call]
    logger.info("created %d recovery partitions in %s", count, directory)
    return count
