"""The benchmark page, ``docs/benchmarks.md``, written from one run's results."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from bench.harness import BenchResult
from bench.latency import LoadResult
from bench.measures import percentile
from bench.report import (
    explain,
    machine_description,
    markdown_table,
    target_rows,
    write_plot,
)

PLOT_NAME = "throughput_latency.png"


def _system_rows(result: BenchResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for run in result.systems:
        rows.append(
            (
                run.name,
                str(run.events),
                f"{run.wall_s:.2f}",
                f"{run.startup_wall_s:.2f}",
                f"{run.events_per_s:,.0f}",
                f"{run.cpu_s:.2f}",
                f"{run.startup_cpu_s:.2f}",
                f"{run.events_per_cpu_s:,.0f}",
                run.check,
            )
        )
    return rows


def _samples(load: LoadResult, drain_timeout_s: float) -> list[float]:
    return load.latencies_ms + [drain_timeout_s * 1000] * load.missing


def _latency_rows(result: BenchResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for load in result.latency:
        samples = _samples(load, result.options.drain_timeout_s)
        if samples:
            # Missing probes count at the drain timeout, so values are lower bounds.
            bound = ">= " if load.missing else ""
            p50 = f"{bound}{statistics.median(samples):.1f}"
            p99 = f"{bound}{percentile(samples, 0.99):.1f}"
        else:
            p50 = p99 = "na"
        rows.append(
            (
                f"{load.offered_per_s:,}",
                f"{load.achieved_per_s:,.0f}",
                str(len(load.latencies_ms) + load.missing),
                str(load.missing),
                p50,
                p99,
            )
        )
    return rows


def render_page(result: BenchResult, command: str, plot_name: str) -> str:
    """Render the Markdown page of a run."""
    options = result.options
    values = result.summary_values()
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (`make bench`) from its latest run. The "
        "harness overwrites this page, so edit `bench/page.py` instead.",
        "",
        f"- Machine: {machine_description()}. The broker (Tansu), Redis and the "
        "harness share these CPUs with the system under test.",
        f"- Date: {result.started_at:%Y-%m-%d %H:%M} UTC",
        *_load_line(result),
        f"- Command: `{command}`",
        f"- Workload: {options.events:,} events, seed {options.seed}, Zipf "
        f"(exponent 1.1) over {options.skus:,} SKUs, five warehouses, "
        f"{len(result.topic_counts)} input topics with 2 partitions each: "
        + ", ".join(f"{t} {n:,}" for t, n in sorted(result.topic_counts.items()))
        + ". About 60% order lines (a fifth of them cancel an earlier line), 25% "
        "WMS movements, 8% snapshots and 7% safety stock settings. The mix has "
        "no ERP balance snapshots and no warehouse settings, because the "
        "baselines keep neither.",
        f"- Reference: the replay mode (`dataflows.replay.replay_events`) took "
        f"{result.replay_s:.1f} s on this input, and its ATP against the "
        "reference model (`operators/reference.py`, the executable "
        f"specification) {_model_verdict(result)}. A run counts only if both "
        "agree and the system's final ATP equals the replay's: the whole ATP "
        "record of every SKU for invsync, on-hand, reserved and safety stock per "
        "warehouse plus unallocated demand for the baselines.",
        "",
        "## Summary line",
        "",
        "    " + result.summary(),
        "",
        "## Throughput on the same input",
        "",
        "Wall and CPU seconds of invsync are those of the dataflow processes from "
        "start to exit. The startup column is an empty run of the same cluster "
        "(process start, imports, broker metadata, shutdown), which the rates "
        "subtract. Each invsync row is the run with the median CPU time of "
        f"{_invsync_repeats(result)} timed runs, and its startup the median of "
        'as many empty runs. The rows without "recovery on" run with no '
        "recovery directory, as `invsync run` does by default. The recovery row "
        "snapshots its state every 10 s, as a production deployment would. "
        "The baselines run inside the harness process and are "
        "timed from the consumer's assignment to the end of input, and their CPU "
        "seconds are the harness process's, librdkafka threads included.",
        "",
        markdown_table(
            (
                "system",
                "events",
                "wall s",
                "startup s",
                "events/s",
                "CPU s",
                "startup CPU s",
                "events/CPU-s",
                "check",
            ),
            _system_rows(result),
        ),
        "",
        *_ratio_basis(result),
        f"![Throughput and latency](benchmarks/{plot_name})",
        "",
        "## Peer",
        "",
        result.peer_reason
        or "The peer (`bench/quix_peer.py`, Quix Streams 3.28.1 in its own "
        "virtualenv) keeps the baselines' fields in Quix state (RocksDB) and "
        "writes them with Quix's `RedisSink`. Its wall time runs from the first "
        "event it applied to its last output, because joining a consumer group "
        "takes seconds on Tansu, and its CPU time covers the whole run. The input "
        "topics are created with explicit `retention.ms` and `retention.bytes` "
        "configs: Quix reads them from the broker when it registers a state "
        "store, and Tansu 0.6 returns only configs given at creation.",
        "",
        "## Produce-to-Redis latency, one process",
        "",
        f"Each load is offered for {options.load_duration_s:g} s. Probes are "
        "movements of new SKUs sent every 20 ms among the load, and the "
        "latency runs from `produce()` to the Redis keyspace notification of "
        "the probe's ATP key. A missing probe had not arrived within "
        f"{options.drain_timeout_s:.0f} s after the load stopped. A load above "
        "what the process sustains builds a backlog for as long as it runs, so "
        "its latencies grow with the load's length.",
        "",
        markdown_table(
            ("offered/s", "produced/s", "probes", "missing", "p50 ms", "p99 ms"),
            _latency_rows(result),
        ),
        "",
    ]
    lines += _read_and_state(result)
    lines += [
        "## Targets",
        "",
        markdown_table(
            ("target", "measured", "met", "gap"),
            [tuple(row) for row in target_rows(values)],
        ),
        "",
    ]
    lines += _target_notes(result)
    lines += _profile(result)
    return "\n".join(lines) + "\n"


def _ratio_basis(result: BenchResult) -> list[str]:
    """Say what the ratios compare, and how the systems compare per CPU-second."""
    one = result.system("invsync 1 process")
    if one is None:
        return []
    others = [
        f"{run.name} {run.events_per_cpu_s:,.0f}"
        for run in result.systems
        if not run.name.startswith("invsync")
    ]
    comparison = ""
    if others:
        comparison = (
            " Per CPU-second the order can differ: invsync with one process "
            f"did {one.events_per_cpu_s:,.0f} events, against "
            + ", ".join(others)
            + ". The baselines' and the peer's CPU seconds include their "
            "startup, which invsync's figures subtract."
        )
    return [
        "The baseline and peer ratios of the summary line and the targets "
        "divide wall-clock events per second, and each system's wall time "
        "starts where its table row says." + comparison,
        "",
    ]


def _read_and_state(result: BenchResult) -> list[str]:
    lines: list[str] = []
    if result.reads is not None:
        reads = result.reads
        lines += [
            "## Read path",
            "",
            "`AtpReader.network` (one `FCALL_RO invsync_network_atp`) and "
            f"`AtpReader.network_many` ({reads.batch} SKUs in one "
            "`FCALL_RO invsync_network_atp_many`), "
            f"{len(reads.one_sku_ms)} and {len(reads.many_skus_ms)} timed calls.",
            "",
            markdown_table(
                ("read", "p50 ms", "p99 ms"),
                [
                    (
                        "1 SKU",
                        f"{statistics.median(reads.one_sku_ms):.3f}",
                        f"{percentile(reads.one_sku_ms, 0.99):.3f}",
                    ),
                    (
                        f"{reads.batch} SKUs",
                        f"{statistics.median(reads.many_skus_ms):.3f}",
                        f"{percentile(reads.many_skus_ms, 0.99):.3f}",
                    ),
                ],
            ),
            "",
        ]
    if result.state is not None:
        state = result.state
        lines += [
            "## State size",
            "",
            "`SkuState` objects built by the operator's pure logic from the same "
            "events, pickled one per SKU as Bytewax snapshots them. The pair "
            "figure is the state without dedup entries, order lines or movement "
            "history, divided by its SKU x warehouse pairs. The entry figures "
            "are what each dedup entry (`seen`) or movement history entry adds.",
            "",
            markdown_table(
                ("part", "entries", "bytes each"),
                [
                    (
                        "SKU x warehouse pair",
                        f"{state.pairs:,}",
                        f"{state.bytes_per_pair:.0f}",
                    ),
                    (
                        "dedup entry",
                        f"{state.dedup_entries:,}",
                        f"{state.bytes_per_dedup_entry:.0f}",
                    ),
                    (
                        "history entry",
                        f"{state.history_entries:,}",
                        f"{state.bytes_per_history_entry:.0f}",
                    ),
                ],
            ),
            "",
        ]
    return lines


def _model_verdict(result: BenchResult) -> str:
    check = getattr(result, "model_check", "not run")
    if check == "passed":
        return "matched on every SKU x warehouse row and unallocated demand"
    return f"did not match ({check})"


def _load_line(result: BenchResult) -> list[str]:
    load = getattr(result, "load_average", None)
    if load is None:
        return []
    return [
        f"- Load average (one minute) at the start {load[0]:.2f} and at the end "
        f"{load[1]:.2f}. A load above the CPU count means other processes "
        "competed for the CPUs, which lengthens wall-clock times more than CPU "
        "times."
    ]


_WHOLE_STEP = "SKU step, all of it (SkuLogic.on_batch)"


def _invsync_repeats(result: BenchResult) -> int:
    one = result.system("invsync 1 process")
    return one.repeats if one is not None else 1


def _target_notes(result: BenchResult) -> list[str]:
    """Explain, from this run's figures, what stands between each target and now."""
    notes: list[str] = []
    one = result.system("invsync 1 process")
    two = result.system("invsync 2 processes")
    shares = dict(result.profile.categories)
    step = shares.get(_WHOLE_STEP)
    copies = shares.get("state copy per epoch (SkuLogic.snapshot)")
    if one is not None:
        share = ""
        if step is not None and copies is not None:
            largest = sorted(
                (item for item in result.profile.categories if item[0] != _WHOLE_STEP),
                key=lambda item: item[1],
                reverse=True,
            )[:3]
            named = ", ".join(f"{name} {value:.0%}" for name, value in largest)
            share = (
                f". `SkuLogic.on_batch` takes {step:.0%} of the profiled samples "
                f"and `SkuLogic.snapshot` {copies:.0%}; the largest other shares "
                f"are {named}"
            )
        notes.append(
            f"- Throughput and the baseline ratios: one process spends "
            f"{1e6 / one.events_per_cpu_s:.0f} µs of CPU per event against the "
            f"target's 12.5 µs{share} (see the profile below). The baselines "
            "keep no dedup set, history, order lines or postings, so their cost "
            "does not grow with a SKU's history."
        )
    recovering = result.system("invsync 1 process, recovery on")
    if one is not None and recovering is not None:
        notes.append(
            f"- Recovery: with a recovery directory one process spends "
            f"{1e6 / recovering.events_per_cpu_s:.0f} µs of CPU per event, "
            f"against {1e6 / one.events_per_cpu_s:.0f} µs without. At the end "
            "of each epoch (the 10 s snapshot interval) Bytewax calls `snapshot` "
            "on every SKU that changed. The SKU step then pickles its whole "
            "`SkuState`, with the order lines and dedup entries it retains for "
            "the retention window (7 days by default), and Bytewax writes the "
            "snapshots to SQLite. Without a recovery directory Bytewax drops "
            "snapshots, so `invsync run` skips the pickling. This run lasted "
            f"{recovering.net_wall_s:.1f} s after startup, so it took at most "
            f"{math.ceil(recovering.net_wall_s / 10)} snapshot(s) per changed "
            "SKU and filled few retention windows. A longer run pickles each "
            "changed SKU once per epoch, so these rates hold for this run "
            "length only."
        )
    if one is not None and two is not None:
        notes.append(
            f"- Two processes: {1e6 / two.events_per_cpu_s:.0f} µs of CPU per "
            f"event against {1e6 / one.events_per_cpu_s:.0f} µs with one. Bytewax "
            "routes each SKU to one worker by key hash, so about half the events "
            "cross to the other process. Bytewax pickles and unpickles each of "
            "them (events pickle as tuples of field values, "
            "`invsync/model_pickle.py`) and sends it through its Rust runtime, "
            "whose work py-spy sees only as samples without Python frames. Each "
            "process also pays the per-batch costs of its own consumers, "
            "producers and Redis writes on smaller batches. The most popular "
            "SKU's events all run on one worker whatever the process count."
        )
    if one is not None and result.latency:
        over = [
            f"{load.offered_per_s:,}"
            for load in result.latency
            if load.offered_per_s > one.events_per_s
        ]
        if over:
            notes.append(
                f"- Latency: the offered loads {', '.join(over)} events/s exceed "
                f"the {one.events_per_s:,.0f} events/s one process sustained on "
                "the throughput input, so a backlog builds while the load runs and "
                "the probes wait behind it."
            )
    if result.reads is not None:
        notes.append(
            f"- Reads: the median of a one-SKU read is "
            f"{statistics.median(result.reads.one_sku_ms):.3f} ms and of a "
            f"100-SKU read {statistics.median(result.reads.many_skus_ms):.3f} ms. "
            "The p99 adds the waits of a 2-CPU machine where Redis shares the "
            "CPUs with the broker, the harness and other processes."
        )
    if result.state is not None and result.state.skus:
        per_sku = result.state.pairs / result.state.skus
        notes.append(
            "- State per pair: the figure includes each `SkuState` object itself "
            "(its variance state and empty maps), spread over the SKU's pairs, "
            f"of which this workload has {per_sku:.1f} per SKU. SKUs stocked in "
            "fewer warehouses cost more per pair."
        )
    if not notes:
        return []
    return ["## What stands in the way", "", *notes, ""]


def _profile(result: BenchResult) -> list[str]:
    digest = result.profile
    if not digest.samples:
        return ["## Profile", "", "Not recorded in this run (`--no-profile`).", ""]
    return [
        "## Profile",
        "",
        "py-spy 0.4 sampled process 0 of a separate one-process run on the same "
        f"input at 200 Hz ({digest.samples:,} samples of Python stacks, every "
        "thread). A sample counts toward each category one of its frames "
        "belongs to, so nested categories overlap. The profiled run has no "
        "recovery directory, like the first throughput row, so "
        "`SkuLogic.snapshot` returns without pickling there.",
        "",
        markdown_table(
            ("category", "share of samples"),
            [(name, f"{share:.0%}") for name, share in digest.categories],
        ),
        "",
        "What the largest shares cost in the profiled code:",
        "",
        *explain(digest),
        "",
        "Innermost frames with the most samples. py-spy sees Python frames only, "
        "so a sample whose innermost frame is `cmd_run` was inside Bytewax's "
        "native runtime.",
        "",
        markdown_table(
            ("frame", "share"),
            [(f"`{frame}`", f"{share:.1%}") for frame, share in digest.top_self],
        ),
        "",
    ]


def write_page(result: BenchResult, directory: Path, command: str) -> Path:
    """Write ``benchmarks.md`` and its plot under a docs directory; return the page."""
    plot = directory / "benchmarks" / PLOT_NAME
    throughput = [(run.name, run.events_per_s) for run in result.systems]
    latency = []
    for load in result.latency:
        samples = _samples(load, result.options.drain_timeout_s)
        if samples:
            latency.append(
                (
                    load.offered_per_s,
                    statistics.median(samples),
                    percentile(samples, 0.99),
                )
            )
    write_plot(plot, throughput, latency)
    page = directory / "benchmarks.md"
    page.write_text(render_page(result, command, PLOT_NAME))
    return page
