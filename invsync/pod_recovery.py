"""Recovery partitions on per-process volumes, as a Kubernetes StatefulSet has them.

Bytewax resumes when the processes of a cluster together hold every recovery
partition of the set, each partition on exactly one process. On Kubernetes each
pod has its own volume, so:

- ``init_process_partitions`` gives process K partition K of a set of N on its
  first start (processes K >= N hold none, which Bytewax accepts), and writes a
  marker so a second run, a restart or a later scale-up creates nothing new;
- ``move_partitions`` moves the partitions of a process that a scale-down
  removes onto a process that stays, so the smaller cluster still has the
  whole set.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from bytewax.recovery import init_db_dir

from invsync.recovery import existing_partitions

logger = logging.getLogger(__name__)

MARKER = "invsync-recovery.json"
"""File that records the partition set a volume was initialised for."""


def process_id_from_env(environ: dict[str, str] | None = None) -> int | None:
    """Return the process id the way ``python -m bytewax.run`` derives it.

    ``BYTEWAX_PROCESS_ID`` wins; otherwise the StatefulSet pod ordinal is the
    suffix of ``BYTEWAX_POD_NAME`` after ``BYTEWAX_STATEFULSET_NAME-``.
    """
    env = os.environ if environ is None else environ
    if "BYTEWAX_PROCESS_ID" in env:
        return int(env["BYTEWAX_PROCESS_ID"])
    pod = env.get("BYTEWAX_POD_NAME")
    statefulset = env.get("BYTEWAX_STATEFULSET_NAME")
    if pod is None or statefulset is None:
        return None
    return int(pod.removeprefix(statefulset + "-"))


def init_process_partitions(directory: Path, partitions: int, process_id: int) -> int:
    """Create this process's recovery partition unless the volume was initialised.

    Returns the number of partition files the directory contains afterwards.
    """
    if partitions < 1:
        msg = f"partition count must be at least 1, not {partitions}"
        raise ValueError(msg)
    if process_id < 0:
        msg = f"process id must be 0 or more, not {process_id}"
        raise ValueError(msg)
    if directory.exists() and not directory.is_dir():
        msg = f"{directory} is not a directory"
        raise ValueError(msg)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER
    if marker.exists():
        _check_marker(marker, partitions, process_id)
        found = len(existing_partitions(directory))
        logger.info(
            "recovery volume %s already initialised; it contains %d partitions",
            directory,
            found,
        )
        return found
    if existing_partitions(directory):
        msg = (
            f"{directory} contains recovery partitions but no {MARKER}; it was not "
            "initialised by this command, so it is left unchanged"
        )
        raise RuntimeError(msg)

    if process_id < partitions:
        # Bytewax creates a whole set at once; keep only this process's file.
        with tempfile.TemporaryDirectory(dir=directory) as scratch:
            init_db_dir(Path(scratch), partitions)  # type: ignore[no-untyped-call]
            name = f"part-{process_id}.sqlite3"
            os.replace(Path(scratch) / name, directory / name)
    marker.write_text(
        json.dumps({"partitions": partitions, "process_id": process_id}) + "\n"
    )
    found = len(existing_partitions(directory))
    logger.info(
        "initialised recovery volume %s for process %d: %d of %d partitions",
        directory,
        process_id,
        found,
        partitions,
    )
    return found


def _check_marker(marker: Path, partitions: int, process_id: int) -> None:
    """Raise when a volume belongs to another process; warn on another count.

    A volume initialised for process K contains partition K, so giving it to
    another process would leave one partition missing from the set and another
    on two processes. The partition count is fixed at initialisation, so a
    different count only changes nothing.
    """
    recorded = json.loads(marker.read_text())
    if recorded.get("process_id") != process_id:
        msg = (
            f"recovery volume {marker.parent} was initialised for process "
            f"{recorded.get('process_id')}, not {process_id}; mount each process's "
            "own volume"
        )
        raise ValueError(msg)
    if recorded.get("partitions") != partitions:
        logger.warning(
            "recovery volume %s was initialised for %s partitions; the requested "
            "%d changes nothing, because the count is fixed at initialisation",
            marker.parent,
            recorded.get("partitions"),
            partitions,
        )


def move_partitions(source: Path, target: Path) -> list[str]:
    """Move every recovery partition from ``source`` into ``target``.

    Raises FileExistsError, before moving anything, when ``target`` already
    contains a partition of the same name: one partition on two processes is not
    a valid set. Returns the names of the moved files.
    """
    moving = existing_partitions(source)
    clashes = [p.name for p in moving if (target / p.name).exists()]
    if clashes:
        msg = f"{target} already contains {', '.join(clashes)}; nothing was moved"
        raise FileExistsError(msg)
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in moving:
        # SQLite keeps commits in the -wal file until a checkpoint, so a
        # partition of a killed process is the database plus its journal files.
        for suffix in ("", "-wal", "-shm"):
            part_file = path.with_name(path.name + suffix)
            if part_file.exists():
                shutil.move(part_file, target / part_file.name)
        moved.append(path.name)
        logger.info(
            "moved recovery partition %s from %s to %s", path.name, source, target
        )
    return moved
