"""State size after opening and closing many order lines over a fixed catalogue.

``python -m bench.state_size --lines 1000000 --skus 50 [--write-docs]`` runs the
main dataflow (decode, order step, SKU step) on one worker over a generated
stream, with recovery on. It prints one JSON line with the keys and pickled
bytes that each stateful step keeps in the newest recovery snapshots at the end.

Line ``i`` of the stream is placed at ``i * SPACING`` of event time on SKU
``i % skus``. It is closed ``OPEN_LINES`` lines later, by a cancellation or a
shipment in turn. Every ``skus`` lines a receipt restocks one SKU. With a dedup
retention of ``RETENTION``, the state should hold about the lines of the last
``RETENTION / SPACING`` lines plus the open ones, however long the run is.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from dataflows.flow import FlowSinks, build_core, new_flow
from dataflows.records import RawRecord
from invsync.avro import encode
from invsync.events import (
    CanonicalEvent,
    InventoryMovement,
    MovementType,
    OrderAction,
    OrderLine,
    Source,
)
from invsync.recovery import snapshot_state_size
from operators.order_versions import OrderRetention
from operators.sku_logic import SkuLogicSettings
from operators.sku_state import StateSettings
from operators.variance import VarianceSettings

logger = logging.getLogger(__name__)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPACING = timedelta(seconds=1)
RETENTION = timedelta(hours=1)
OPEN_LINES = 100
BATCH = 1000
# docs/benchmarks.md is rewritten whole by ``python -m bench``, so this
# measurement has a page of its own.
DOCS_PAGE = (
    Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "state-size.md"
)
TITLE = "# State size under order churn"


def churn_events(lines: int, skus: int, start: int = 0) -> Iterator[CanonicalEvent]:
    """Generate the stream from line ``start`` on, the same on every call."""
    for i in range(start, lines + OPEN_LINES):
        when = T0 + SPACING * i
        if i % skus == 0:
            yield _receipt(i, when, skus)
        if i < lines:
            yield _placed(i, when, skus)
        closed = i - OPEN_LINES
        if closed >= 0:
            yield _closed(closed, when, skus)


def _receipt(i: int, when: datetime, skus: int) -> InventoryMovement:
    return InventoryMovement(
        event_id=f"r-{i}",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=f"SKU-{(i // skus) % skus}",
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=skus * 2,
    )


def _placed(i: int, when: datetime, skus: int) -> OrderLine:
    return OrderLine(
        event_id=f"o-{i}",
        source=Source.SHOPIFY,
        event_time=when,
        ingest_time=when,
        sku=f"SKU-{i % skus}",
        warehouse="W1",
        order_id=f"SO-{i}",
        line_id="1",
        action=OrderAction.PLACED,
        ordered_quantity=1,
        version_time=when,
        version_rank=0,
        channel="shop",
        order_line_ids=["1"],
    )


def _closed(i: int, when: datetime, skus: int) -> CanonicalEvent:
    if i % 2 == 0:
        return _placed(i, T0 + SPACING * i, skus).model_copy(
            update={
                "event_id": f"c-{i}",
                "event_time": when,
                "ingest_time": when,
                "action": OrderAction.CANCELLED,
                "cancelled_quantity": 1,
                "version_time": when,
                "version_rank": 2,
            }
        )
    return InventoryMovement(
        event_id=f"s-{i}",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=f"SKU-{i % skus}",
        warehouse="W1",
        movement_type=MovementType.SHIP,
        quantity=1,
        order_id=f"SO-{i}",
        line_id="1",
    )


class _ChurnPartition(StatefulSourcePartition[RawRecord, int]):
    """Generates events lazily; the resume state is the count already emitted."""

    def __init__(self, lines: int, skus: int, resume: int | None) -> None:
        self._emitted = resume or 0
        self._events = churn_events(lines, skus)
        for _ in range(self._emitted):
            next(self._events)

    def next_batch(self) -> list[RawRecord]:
        batch = []
        for event in self._events:
            batch.append(RawRecord(value=encode(event), origin=event.event_id))
            if len(batch) == BATCH:
                break
        if not batch:
            raise StopIteration
        self._emitted += len(batch)
        return batch

    def snapshot(self) -> int:
        return self._emitted


class ChurnSource(FixedPartitionedSource[RawRecord, int]):
    """One partition of generated churn events."""

    def __init__(self, lines: int, skus: int) -> None:
        self._lines = lines
        self._skus = skus

    def list_parts(self) -> list[str]:
        return ["churn"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _ChurnPartition:
        return _ChurnPartition(self._lines, self._skus, resume_state)


class _CountPartition(StatelessSinkPartition[object]):
    def __init__(self, sink: CountSink) -> None:
        self._sink = sink

    def write_batch(self, items: list[object]) -> None:
        self._sink.count += len(items)


class CountSink(DynamicSink[object]):
    """A sink that only counts what it receives, so memory stays flat."""

    def __init__(self) -> None:
        self.count = 0

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _CountPartition:
        return _CountPartition(self)


@dataclass(frozen=True)
class StateSizeResult:
    """State kept at the end of one run, with the run's inputs."""

    lines: int
    skus: int
    events: int
    seconds: float
    sku_keys: int
    sku_bytes: int
    order_keys: int
    order_bytes: int
    dead_letters: int


def run(lines: int, skus: int, recovery_dir: Path) -> StateSizeResult:
    """Run the flow over the churn stream and measure the recovery snapshots."""
    init_db_dir(recovery_dir, 1)  # type: ignore[no-untyped-call]
    # Variance detection keeps its posting history for its own retention (7 days
    # by default), so it gets the same window as the dedup entries here.
    settings = SkuLogicSettings(
        state=StateSettings(
            dedup_retention=RETENTION,
            max_snapshot_lateness=RETENTION,
            variance=VarianceSettings(retention=RETENTION),
        )
    )
    # A zero check interval checks every order's retention on each activation,
    # so a short run drops orders as soon as they are out of the window.
    retention = OrderRetention(RETENTION, check_interval=timedelta(0))
    dead_letters = CountSink()
    counted = CountSink()
    flow = new_flow("invsync-state-size")
    raw = op.input("churn_in", flow, ChurnSource(lines, skus))
    build_core(
        raw,
        settings,
        FlowSinks(
            atp=counted,
            warehouse_settings=counted,
            postings=counted,
            exceptions=counted,
            dead_letters=dead_letters,
        ),
        order_retention=retention,
    )
    started = time.monotonic()
    run_main(  # type: ignore[no-untyped-call]
        flow,
        epoch_interval=timedelta(seconds=1),
        recovery_config=RecoveryConfig(str(recovery_dir)),  # type: ignore[no-untyped-call]
    )
    seconds = time.monotonic() - started

    sizes = snapshot_state_size(recovery_dir)
    sku = _step(sizes, "sku_state")
    order = _step(sizes, "order_versions")
    return StateSizeResult(
        lines=lines,
        skus=skus,
        events=sum(1 for _ in churn_events(lines, skus)),
        seconds=round(seconds, 1),
        sku_keys=sku[0],
        sku_bytes=sku[1],
        order_keys=order[0],
        order_bytes=order[1],
        dead_letters=dead_letters.count,
    )


def _step(sizes: dict[str, object], name: str) -> tuple[int, int]:
    keys = size = 0
    for step_id, value in sizes.items():
        if f".{name}." in f".{step_id}.":
            keys += getattr(value, "keys", 0)
            size += getattr(value, "pickled_bytes", 0)
    return keys, size


def write_docs(results: list[StateSizeResult]) -> None:
    """Write the result to docs/benchmarks/state-size.md, replacing the last one."""
    lines = " ".join(str(r.lines) for r in results)
    skus = results[0].skus
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    machine = (
        f"{platform.machine()}, {cpus} logical CPUs, one-minute load average "
        f"{load:.1f} at the end"
    )
    if load > cpus:
        machine += " (other processes competed for the CPUs, so run times are longer)"
    section = "\n".join(
        [
            TITLE,
            "",
            f"`python -m bench.state_size --lines {lines} --skus "
            f"{skus}`, {datetime.now(UTC):%Y-%m-%d} on {machine}, Python "
            f"{platform.python_version()}, one Bytewax worker, recovery on.",
            "",
            f"Order lines are opened and closed over {skus} SKUs with a "
            f"dedup retention of {RETENTION} at {SPACING.total_seconds():.0f} s "
            f"of event time per line, so about "
            f"{RETENTION // SPACING + OPEN_LINES} lines are inside the window or "
            "open at any time.",
            "",
            "| lines | events | run s | SKU keys | SKU bytes | order keys | "
            "order bytes | dead letters |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {r.lines} | {r.events} | {r.seconds} | {r.sku_keys} | "
                f"{r.sku_bytes} | {r.order_keys} | {r.order_bytes} | "
                f"{r.dead_letters} |"
                for r in results
            ),
            "",
        ]
    )
    DOCS_PAGE.write_text(section)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print it as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.state_size")
    parser.add_argument(
        "--lines",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="order lines per run; one run per value",
    )
    parser.add_argument("--skus", type=int, default=50)
    parser.add_argument(
        "--write-docs", action="store_true", help="record the result in docs"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = []
    for lines in args.lines:
        with tempfile.TemporaryDirectory(prefix="invsync-state-size-") as tmp:
            result = run(lines, args.skus, Path(tmp))
        print(json.dumps(asdict(result)), flush=True)
        results.append(result)
    if args.write_docs:
        write_docs(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
