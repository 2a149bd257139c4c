"""Bytewax recovery partitions: created once, reused on every later start.

Bytewax 0.21 stores snapshots in SQLite files ``part-N.sqlite3``. Each process
of a cluster opens every partition it finds in its own recovery directory, and
state keys are spread over all partitions, so the processes together must see
every partition. Processes on one host may share one directory: both then find
all partitions (tests/faults runs two processes that way).
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bytewax.recovery import init_db_dir

logger = logging.getLogger(__name__)


def existing_partitions(directory: Path) -> list[Path]:
    """Return the recovery partition files already in a directory."""
    return sorted(directory.glob("part-*.sqlite3"))


def ensure_recovery_partitions(directory: Path, count: int) -> int:
    """Create ``count`` recovery partitions unless the directory already has some.

    Bytewax panics when asked to initialise a directory twice, so this checks
    first, under an exclusive lock on ``directory/.init.lock`` because the
    processes of a cluster that share the directory start at the same time. The
    partition count is fixed once created; returns the count in use.

    Raises:
        ValueError: ``directory`` exists and is not a directory.
    """
    if directory.exists() and not directory.is_dir():
        msg = f"recovery directory {directory} is a file, not a directory"
        raise ValueError(msg)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".init.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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


# The newest snapshot of each (step, key) over every partition; a NULL
# ser_change is a discarded key.
_LATEST_SNAPSHOTS = """
SELECT step_id, COUNT(*), COALESCE(SUM(LENGTH(ser_change)), 0)
FROM snaps AS s
WHERE ser_change IS NOT NULL
  AND snap_epoch = (
    SELECT MAX(snap_epoch) FROM snaps AS t
    WHERE t.step_id = s.step_id AND t.state_key = s.state_key
  )
GROUP BY step_id
"""


@dataclass(frozen=True)
class StepStateSize:
    """Live state of one stateful step in the recovery partitions."""

    keys: int
    pickled_bytes: int


def snapshot_state_size(directory: Path) -> dict[str, StepStateSize]:
    """Return the keys and pickled bytes each step keeps in the newest snapshots.

    Reads the Bytewax 0.21 ``snaps`` table of every partition; keys whose newest
    snapshot is a discard are not counted.
    """
    totals: dict[str, StepStateSize] = {}
    for path in existing_partitions(directory):
        with sqlite3.connect(path) as db:
            rows = db.execute(_LATEST_SNAPSHOTS).fetchall()
        for step_id, keys, size in rows:
            known = totals.get(step_id, StepStateSize(0, 0))
            totals[step_id] = StepStateSize(
                known.keys + keys, known.pickled_bytes + size
            )
    return totals
