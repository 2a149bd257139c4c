"""Summary line, profile digest, Markdown page and plot of one benchmark run."""

from __future__ import annotations

import logging
import os
import platform
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

SUMMARY_KEYS = (
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
)

# Each target: summary key, comparison, bound, and how the issue words it.
TARGETS = (
    ("events_per_cpu_s_1p", ">=", 80_000.0, "events per CPU-second, one process"),
    ("events_per_s_1p", ">=", 60_000.0, "events per second wall-clock, one process"),
    ("baseline_ratio", ">=", 10.0, "times the one-round-trip baseline"),
    ("pipelined_baseline_ratio", ">=", 0.7, "times the pipelined baseline"),
    ("peer_ratio", ">", 1.0, "times the Quix Streams peer"),
    ("cpu_per_event_2p_over_1p", "<=", 1.2, "CPU per event, two processes / one"),
    ("p99_ms_at_20k", "<", 100.0, "p99 produce-to-Redis ms at 20,000 events/s"),
    ("read_p99_ms_1sku", "<", 1.0, "p99 ms of a network ATP read, 1 SKU"),
    ("read_p99_ms_100sku", "<", 5.0, "p99 ms of a pipelined read, 100 SKUs"),
    ("state_bytes_per_pair", "<=", 500.0, "pickled balance bytes per SKU x warehouse"),
)

# Frame name fragments that attribute profile samples to a cost. py-spy writes
# each frame as "function (file:line)".
PROFILE_CATEGORIES = (
    ("SKU step, all of it (SkuLogic.on_batch)", ("SkuLogic.on_batch",)),
    ("state copy per epoch (SkuLogic.snapshot)", ("SkuLogic.snapshot",)),
    ("retention pruning per event (SkuState._prune)", ("SkuState._prune",)),
    ("backorder settling per batch (SkuState.settle)", ("SkuState.settle",)),
    ("ATP record per batch (SkuState.atp_record)", ("SkuState.atp_record",)),
    ("variance checks (operators/variance.py)", ("operators/variance",)),
    ("decode step (decode_record)", ("decode_record",)),
    ("Redis ATP sink (AtpWriter.write)", ("AtpWriter.write",)),
    ("Kafka output sinks (_EncodingPartition)", ("_EncodingPartition.write_batch",)),
    ("Kafka input (bytewax.connectors.kafka)", ("connectors/kafka",)),
    ("pydantic validation and dumps", ("pydantic",)),
)

# Each category's cost in the profiled code. The page prints the sentence of
# every category with at least EXPLAIN_SHARE of the samples.
EXPLAIN_SHARE = 0.05
EXPLANATIONS = {
    "state copy per epoch (SkuLogic.snapshot)": (
        "Bytewax 0.21 calls `snapshot` at the end of every epoch for each key "
        "that received events in it, also without recovery. With recovery, "
        "`SkuLogic.snapshot` pickles the whole `SkuState` (state classes "
        "pickle as tuples, without settings or derived indexes), so a popular "
        "SKU's retained order lines and dedup entries are written again each "
        "epoch; without recovery, as in the profiled run, it returns None."
    ),
    "retention pruning per event (SkuState._prune)": (
        "`_prune` rebuilds the dedup, line, advice and transfer maps. It runs "
        "once per sixteenth of the dedup retention of event time per SKU, so "
        "its cost per event is the SKU's retained state divided by the events "
        "of that sixteenth."
    ),
    "backorder settling per batch (SkuState.settle)": (
        "`settle` visits each warehouse of the SKU. Lines sit in a queue per "
        "location sorted by priority (`operators/backorders.py`). A settlement "
        "walks from the first line it could not serve in full, so a SKU out of "
        "stock costs the lines that changed, not all its open lines. "
        "Each backorder change builds an `InventoryException`: this workload "
        "stocks out its popular SKUs, so about one exception leaves per event."
    ),
    "ATP record per batch (SkuState.atp_record)": (
        "`atp_record` reads per-location totals kept as lines change and builds "
        "one pydantic `WarehouseAtp` per warehouse of the SKU and the record."
    ),
    "Redis ATP sink (AtpWriter.write)": (
        "The ATP sink builds about fifteen arguments per SKU in Python: the "
        "record's JSON, which pydantic-core writes, one JSON text per "
        "warehouse and the totals. hiredis packs the calls in C "
        "(`send_commands`)."
    ),
    "decode step (decode_record)": (
        "Decoding is fastavro's reader (about 6.7 µs for an order line of 17 "
        "fields, three of them timestamps) plus pydantic validation of each "
        "event with its UTC and quantity validators (about 2 µs). fastavro is "
        "compiled with Cython, so py-spy counts its time on the line of "
        "`decode` that calls it."
    ),
    "pydantic validation and dumps": (
        "Every input event is validated once, and every output record (ATP, "
        "posting, exception) is a pydantic model built once. Postings and "
        "exceptions go to fastavro as their field dict, and ATP records are "
        "dumped to JSON once."
    ),
}


def format_value(value: float | None) -> str:
    """Format a summary value: ``na`` when missing, else 4 significant digits."""
    if value is None:
        return "na"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def summary_line(values: dict[str, float | None]) -> str:
    """Return the one summary line of the run, keys in their fixed order."""
    parts = [f"{key}={format_value(values.get(key))}" for key in SUMMARY_KEYS]
    return "bench: " + " ".join(parts)


def explain(digest: ProfileDigest) -> list[str]:
    """Return the explanation of each category with a large share of samples."""
    return [
        f"- {name}, {share:.0%} of samples: {EXPLANATIONS[name]}"
        for name, share in digest.categories
        if share >= EXPLAIN_SHARE and name in EXPLANATIONS
    ]


@dataclass
class ProfileDigest:
    """Shares of py-spy samples by cost category and by innermost function."""

    samples: int = 0
    categories: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)


def digest_profile(collapsed: Path, top: int = 15) -> ProfileDigest:
    """Summarise py-spy's collapsed stacks (``frame;frame;... count`` per line).

    A category's share counts each sample once if any of its frames matches,
    so shares of nested categories may add to more than 100%.
    """
    digest = ProfileDigest()
    if not collapsed.exists():
        return digest
    by_category: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        digest.samples += count
        frames = stack.split(";")
        by_self[frames[-1]] += count
        for name, fragments in PROFILE_CATEGORIES:
            if any(fragment in stack for fragment in fragments):
                by_category[name] += count
    if digest.samples:
        digest.categories = [
            (name, by_category[name] / digest.samples) for name, _ in PROFILE_CATEGORIES
        ]
        digest.top_self = [
            (frame, count / digest.samples) for frame, count in by_self.most_common(top)
        ]
    return digest


def target_rows(values: dict[str, float | None]) -> list[tuple[str, str, str, str]]:
    """Return (target, measured, met, gap) rows for the targets table."""
    rows = []
    for key, comparison, bound, label in TARGETS:
        measured = values.get(key)
        target = f"{comparison} {format_value(bound)} {label}"
        if measured is None:
            rows.append((target, "na", "not measured", "see the peer section"))
            continue
        met = {
            ">=": measured >= bound,
            ">": measured > bound,
            "<=": measured <= bound,
            "<": measured < bound,
        }[comparison]
        if met:
            gap = "met"
        elif comparison.startswith(">"):
            gap = (
                f"{bound / measured:.1f}x short" if measured > 0 else "nothing measured"
            )
        else:
            gap = f"{measured / bound:.1f}x over"
        rows.append((target, format_value(measured), "yes" if met else "no", gap))
    return rows


def machine_description() -> str:
    """Describe this machine: CPU model, logical CPUs and memory, from /proc."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        memory = f", {int(first[1]) / 1024 / 1024:.1f} GiB memory"
    return f"{model}, {os.cpu_count()} logical CPUs (nproc){memory}"


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Render a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_plot(
    path: Path,
    throughput: list[tuple[str, float]],
    latency: list[tuple[int, float, float]],
) -> None:
    """Plot throughput per system and latency p50/p99 per offered load as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": (1.3, 1)}
    )
    names = [name for name, _ in throughput]
    # Horizontal bars keep the long system names readable.
    left.barh(names, [value for _, value in throughput], color="#4472c4")
    left.invert_yaxis()
    left.set_xlabel("events per second (wall-clock)")
    left.set_title("Throughput on the same input")
    if latency:
        loads = [load for load, _, _ in latency]
        right.plot(loads, [p50 for _, p50, _ in latency], marker="o", label="p50")
        right.plot(loads, [p99 for _, _, p99 in latency], marker="o", label="p99")
        right.set_xscale("log")
        right.set_yscale("log")
        # Only the offered loads get labels, because minor labels overlap.
        right.set_xticks(loads, [f"{load:,}" for load in loads])
        right.xaxis.set_minor_formatter(NullFormatter())
        right.legend()
    right.set_xlabel("offered load, events per second")
    right.set_ylabel("produce to Redis, ms")
    right.set_title("Latency, one process")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
