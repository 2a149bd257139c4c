"""One benchmark run: every system on the same preloaded input, then checked."""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# confluent_kafka.admin re-exports NewTopic without __all__, which mypy rejects.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from redis import Redis

from bench import baselines, latency, measures, peer, pipeline, workload
from bench.report import (
    ProfileDigest,
    digest_profile,
    summary_line,
)
from dataflows.replay import replay_events
from invsync.config import InvsyncConfig
from invsync.devservices import Services, create_topics
from invsync.events import AtpRecord
from invsync.topics import Topics
from operators.reference import AtpRow
from operators.reference import ReferenceResult as ModelResult
from operators.reference import reference as model
from sinks.atp_reader import AtpReader

logger = logging.getLogger(__name__)

PARTITIONS = 2
INPUT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


@dataclass(frozen=True)
class BenchOptions:
    """Sizes and switches of one run."""

    events: int
    skus: int
    seed: int
    loads: tuple[int, ...]
    load_duration_s: float
    drain_timeout_s: float
    read_repeats: int
    profile: bool
    work_dir: Path
    # Timed runs of each invsync cluster size. The run with the median CPU time
    # counts, because single runs on this shared 2-CPU machine varied by 10-20%.
    repeats: int = 1


@dataclass
class SystemRun:
    """Throughput of one system on the shared input, and its correctness check."""

    name: str
    events: int
    wall_s: float
    cpu_s: float
    startup_wall_s: float = 0.0
    startup_cpu_s: float = 0.0
    check: str = "not checked"
    repeats: int = 1

    @property
    def net_wall_s(self) -> float:
        """Wall seconds less the startup and shutdown of an empty run."""
        return max(self.wall_s - self.startup_wall_s, 1e-6)

    @property
    def net_cpu_s(self) -> float:
        """CPU seconds less those of an empty run."""
        return max(self.cpu_s - self.startup_cpu_s, 1e-6)

    @property
    def events_per_s(self) -> float:
        """Events per net wall-clock second."""
        return self.events / self.net_wall_s

    @property
    def events_per_cpu_s(self) -> float:
        """Events per net CPU second."""
        return self.events / self.net_cpu_s


@dataclass
class BenchResult:
    """Everything one run measured."""

    options: BenchOptions
    started_at: datetime
    topic_counts: dict[str, int]
    replay_s: float
    # The replay's ATP against operators.reference, the executable specification.
    model_check: str = "not run"
    systems: list[SystemRun] = field(default_factory=list)
    peer_reason: str = ""
    latency: list[latency.LoadResult] = field(default_factory=list)
    reads: measures.ReadLatency | None = None
    state: measures.StateSize | None = None
    profile: ProfileDigest = field(default_factory=ProfileDigest)
    load_average: tuple[float, float] | None = None
    """One-minute load average of the machine at the start and at the end."""

    def system(self, name: str) -> SystemRun | None:
        """Return the run of one system, or None when it did not run."""
        return next((run for run in self.systems if run.name == name), None)

    @property
    def passed(self) -> bool:
        """Whether the replay matched the model and every system the replay."""
        return self.model_check == "passed" and all(
            run.check.startswith("passed") for run in self.systems
        )

    def summary_values(self) -> dict[str, float | None]:
        """Return the summary line's values (None for ``na``)."""
        one = self.system("invsync 1 process")
        two = self.system("invsync 2 processes")
        base = self.system("baseline, one round trip per event")
        piped = self.system("baseline, pipelined per batch")
        quix = self.system("Quix Streams peer")
        values: dict[str, float | None] = dict.fromkeys(
            ("events_per_s_1p", "events_per_cpu_s_1p", "events_per_cpu_s_2p")
        )
        if one is not None:
            values["events_per_s_1p"] = one.events_per_s
            values["events_per_cpu_s_1p"] = one.events_per_cpu_s
        if two is not None:
            values["events_per_cpu_s_2p"] = two.events_per_cpu_s
        if one is not None and two is not None:
            values["cpu_per_event_2p_over_1p"] = (
                one.events_per_cpu_s / two.events_per_cpu_s
            )
        for key, other in (
            ("baseline_ratio", base),
            ("pipelined_baseline_ratio", piped),
            ("peer_ratio", quix),
        ):
            values[key] = (
                None
                if one is None or other is None
                else one.events_per_s / other.events_per_s
            )
        at_20k = next((r for r in self.latency if r.offered_per_s == 20_000), None)
        values["p99_ms_at_20k"] = None
        if at_20k is not None:
            values["p99_ms_at_20k"] = _latency_p99(at_20k, self.options)
        if self.reads is not None:
            values["read_p99_ms_1sku"] = measures.percentile(
                self.reads.one_sku_ms, 0.99
            )
            values["read_p99_ms_100sku"] = measures.percentile(
                self.reads.many_skus_ms, 0.99
            )
        if self.state is not None:
            values["state_bytes_per_pair"] = self.state.bytes_per_pair
        return values

    def summary(self) -> str:
        """Return the one summary line."""
        return summary_line(self.summary_values())


def _latency_p99(load: latency.LoadResult, options: BenchOptions) -> float | None:
    # A missing probe waited at least the drain timeout, so counting it at that
    # value makes the p99 a lower bound rather than hiding the backlog.
    waited_ms = options.drain_timeout_s * 1000
    samples = load.latencies_ms + [waited_ms] * load.missing
    return measures.percentile(samples, 0.99) if samples else None


def without_empty_warehouses(record: AtpRecord | None) -> AtpRecord | None:
    """Return the record without warehouse entries whose every figure is zero.

    ``SkuState.settle`` adds a warehouse entry for each warehouse with an open
    line at the end of a batch, so a line placed and cancelled in one batch
    leaves no entry, and in two batches leaves an all-zero one. Which of the two
    happens depends on batch boundaries, which differ between replay and Kafka.
    """
    if record is None:
        return None
    kept = [
        warehouse
        for warehouse in record.warehouses
        if warehouse.channel_available is not None
        or any(
            warehouse.model_dump(exclude={"warehouse", "channel_available"}).values()
        )
    ]
    return record.model_copy(update={"warehouses": kept})


def compare_atp(expected: dict[str, AtpRecord], redis_url: str, key_prefix: str) -> str:
    """Compare every SKU's ATP record in Redis with the replay's and return a verdict.

    All-zero warehouse entries are left out of the comparison (see
    ``without_empty_warehouses``); the verdict counts the SKUs where only such
    an entry differed.
    """
    with AtpReader(redis_url, key_prefix) as reader:
        found = reader.get_many(sorted(expected))
    wrong = []
    empty_only = 0
    for sku, record in expected.items():
        if found.get(sku) == record:
            continue
        if without_empty_warehouses(found.get(sku)) == without_empty_warehouses(record):
            empty_only += 1
            continue
        wrong.append(sku)
    if wrong:
        sample = wrong[0]
        logger.error(
            "ATP of %s under %s differs from replay: expected %s, found %s",
            sample,
            key_prefix,
            expected[sample],
            found.get(sample),
        )
        return f"failed: {len(wrong)} of {len(expected)} SKUs differ, first {sample}"
    if empty_only:
        logger.info(
            "%d of %d SKUs under %s differ from replay only in all-zero "
            "warehouse entries",
            empty_only,
            len(expected),
            key_prefix,
        )
        return f"passed: {empty_only} SKUs differ only in all-zero warehouse entries"
    return "passed"


def compare_with_model(replayed: dict[str, AtpRecord], expected: ModelResult) -> str:
    """Compare the replay's ATP records with the reference model's figures.

    The model lists a warehouse for each SKU with an event that names it, and
    the records list the same warehouses, so both sides must have the same rows.
    """
    rows: dict[tuple[str, str], AtpRow] = {}
    unallocated: dict[str, tuple[int, int]] = {}
    for sku, record in replayed.items():
        for entry in record.warehouses:
            rows[(sku, entry.warehouse)] = AtpRow(
                on_hand=entry.on_hand,
                held=entry.held,
                reserved=entry.reserved,
                inbound=entry.inbound,
                safety_stock=entry.safety_stock,
                atp=entry.atp,
                backordered=entry.backordered,
            )
        if record.unallocated_demand or record.unallocated_backordered:
            unallocated[sku] = (
                record.unallocated_demand,
                record.unallocated_backordered,
            )
    modelled = {
        sku: (demand, expected.unallocated_backordered.get(sku, 0))
        for sku, demand in expected.unallocated_demand.items()
        if demand or expected.unallocated_backordered.get(sku, 0)
    }
    wrong = sorted(
        key
        for key in rows.keys() | expected.atp.keys()
        if rows.get(key) != expected.atp.get(key)
    )
    if wrong:
        sample = wrong[0]
        logger.error(
            "replay ATP of %s differs from the reference model: model %s, replay %s",
            sample,
            expected.atp.get(sample),
            rows.get(sample),
        )
        return f"failed: {len(wrong)} SKU x warehouse rows differ, first {sample}"
    if unallocated != modelled:
        return "failed: unallocated demand differs from the reference model"
    return "passed"


def compare_fields(
    expected: dict[str, dict[str, int]], found: dict[str, dict[str, int]]
) -> str:
    """Compare a baseline's fields with those expected from the replay result."""
    wrong = sorted(
        sku
        for sku in expected.keys() | found.keys()
        if expected.get(sku) != found.get(sku)
    )
    if wrong:
        sample = wrong[0]
        logger.error(
            "baseline fields of %s differ: expected %s, found %s",
            sample,
            expected.get(sample),
            found.get(sample),
        )
        return f"failed: {len(wrong)} SKUs differ, first {sample}"
    return "passed"


def _create(services: Services, topics: Topics) -> None:
    """Create the input topics with explicit retention configs, then the outputs.

    Quix Streams reads ``retention.ms`` from the broker's config of each input
    topic when it registers a state store. Tansu 0.6 returns only the configs a
    topic was created with, so the inputs get them at creation.
    """
    admin = AdminClient({"bootstrap.servers": ",".join(services.kafka_brokers)})
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=PARTITIONS, config=INPUT_TOPIC_CONFIG)
            for name in topics.inputs()
        ]
    )
    for name, future in futures.items():
        future.result(30)
        logger.info("created input topic %s with %s", name, INPUT_TOPIC_CONFIG)
    create_topics(
        services.kafka_brokers, [*topics.inputs(), *topics.outputs()], PARTITIONS
    )


def run_benchmark(services: Services, options: BenchOptions) -> BenchResult:
    """Run every measurement on one generated workload and return the results."""
    run_id = uuid.uuid4().hex[:6]
    options.work_dir.mkdir(parents=True, exist_ok=True)
    redis = Redis.from_url(services.redis_url)
    started_at = datetime.now(UTC)
    load_at_start = os.getloadavg()[0]

    spec = workload.WorkloadSpec(
        events=options.events, skus=options.skus, seed=options.seed
    )
    events = workload.generate(spec)
    replay_started = time.perf_counter()
    reference = replay_events(InvsyncConfig(), events).atp
    replay_s = time.perf_counter() - replay_started
    logger.info("replay: %d SKUs in %.1f s", len(reference), replay_s)
    model_check = compare_with_model(reference, model(InvsyncConfig(), events))
    logger.info("replay against the reference model: %s", model_check)

    topics = Topics(f"bench-{run_id}.")
    empty = Topics(f"bench-{run_id}-empty.")
    _create(services, topics)
    _create(services, empty)
    counts = workload.preload(services.kafka_brokers, topics, events)
    result = BenchResult(
        options=options,
        started_at=started_at,
        topic_counts=counts,
        replay_s=replay_s,
        model_check=model_check,
    )

    for processes in (1, 2):
        result.systems.append(
            _run_invsync(services, options, topics, empty, processes, reference)
        )
    result.systems.append(
        _run_invsync(services, options, topics, empty, 1, reference, recovery=True)
    )

    expected = baselines.expected_fields(reference)
    for name, pipelined in (
        ("baseline, one round trip per event", False),
        ("baseline, pipelined per batch", True),
    ):
        key_prefix = f"bench-{run_id}-{'piped' if pipelined else 'plain'}:"
        timing = baselines.run_baseline(
            name,
            services.kafka_brokers,
            topics.inputs(),
            redis,
            key_prefix,
            pipelined=pipelined,
        )
        found = baselines.read_fields(redis, key_prefix, reference)
        result.systems.append(
            SystemRun(
                name=name,
                events=timing.events,
                wall_s=timing.wall_s,
                cpu_s=timing.cpu_s,
                check=compare_fields(expected, found),
            )
        )

    peer_run = peer.run_peer(
        services, topics, reference, len(events), f"bench-{run_id}-quix:"
    )
    result.peer_reason = peer_run.reason
    if peer_run.timing is not None:
        result.systems.append(peer_run.timing)

    popular = sorted(reference)[:100]
    result.reads = measures.measure_reads(
        services.redis_url, f"bench-{run_id}-1p-0:", popular, options.read_repeats
    )
    result.state = measures.measure_state(measures.build_states(events))

    if options.loads:
        result.latency = _run_latency(services, options, run_id, redis)
    if options.profile:
        result.profile = _run_profile(services, options, topics, run_id)
    result.load_average = (load_at_start, os.getloadavg()[0])
    return result


def _run_invsync(
    services: Services,
    options: BenchOptions,
    topics: Topics,
    empty: Topics,
    processes: int,
    reference: dict[str, AtpRecord],
    *,
    recovery: bool = False,
) -> SystemRun:
    """Run the dataflow cluster ``options.repeats`` times, each after an empty run.

    With ``recovery`` each run, and its empty run, writes snapshots to a new
    recovery directory at the default snapshot interval.
    """
    label = f"{processes}p-recovery" if recovery else f"{processes}p"
    run_dir = options.work_dir / label
    run_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{topics.prefix.rstrip('.')}-{label}"
    idles: list[pipeline.ClusterTiming] = []
    timed: list[tuple[pipeline.ClusterTiming, str]] = []
    for repeat in range(options.repeats):
        empty_args: list[str] = []
        timed_args: list[str] = []
        if recovery:
            empty_args = ["--recovery-dir", str(run_dir / f"empty-recovery-{repeat}")]
            timed_args = ["--recovery-dir", str(run_dir / f"recovery-{repeat}")]
        empty_config = pipeline.write_config(
            run_dir / f"empty-{repeat}.json",
            services.kafka_brokers,
            empty.prefix,
            services.redis_url,
            f"{prefix}-empty-{repeat}:",
        )
        key_prefix = f"{prefix}-{repeat}:"
        config = pipeline.write_config(
            run_dir / f"config-{repeat}.json",
            services.kafka_brokers,
            topics.prefix,
            services.redis_url,
            key_prefix,
        )
        idles.append(
            pipeline.run_cluster(
                empty_config,
                processes,
                run_dir / f"empty-logs-{repeat}",
                extra_args=empty_args,
            )
        )
        timing = pipeline.run_cluster(
            config, processes, run_dir / f"logs-{repeat}", extra_args=timed_args
        )
        timed.append((timing, compare_atp(reference, services.redis_url, key_prefix)))
    idle = _median_by_cpu(idles)
    timing = _median_by_cpu([run for run, _ in timed])
    failed = [check for _, check in timed if check != "passed"]
    return SystemRun(
        name=f"invsync {processes} process{'es' if processes > 1 else ''}"
        + (", recovery on" if recovery else ""),
        events=_event_total(reference),
        wall_s=timing.wall_s,
        cpu_s=timing.cpu_s,
        startup_wall_s=idle.wall_s,
        startup_cpu_s=idle.cpu_s,
        check=failed[0] if failed else "passed",
        repeats=options.repeats,
    )


def _median_by_cpu(runs: list[pipeline.ClusterTiming]) -> pipeline.ClusterTiming:
    return sorted(runs, key=lambda run: run.cpu_s)[len(runs) // 2]


def _event_total(reference: dict[str, AtpRecord]) -> int:
    # Every benchmark event belongs to one SKU, and a record's counter is the
    # number of events applied to its SKU.
    return sum(record.version.counter for record in reference.values())


def _run_latency(
    services: Services, options: BenchOptions, run_id: str, redis: Redis
) -> list[latency.LoadResult]:
    topics = Topics(f"bench-{run_id}-lat.")
    _create(services, topics)
    run_dir = options.work_dir / "latency"
    run_dir.mkdir(parents=True, exist_ok=True)
    key_prefix = f"bench-{run_id}-lat:"
    config = pipeline.write_config(
        run_dir / "config.json",
        services.kafka_brokers,
        topics.prefix,
        services.redis_url,
        key_prefix,
    )
    return latency.measure_latency(
        services.kafka_brokers,
        topics,
        redis,
        key_prefix,
        config,
        run_dir / "logs",
        list(options.loads),
        options.load_duration_s,
        options.skus,
        options.drain_timeout_s,
    )


def _run_profile(
    services: Services, options: BenchOptions, topics: Topics, run_id: str
) -> ProfileDigest:
    run_dir = options.work_dir / "profile"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = pipeline.write_config(
        run_dir / "config.json",
        services.kafka_brokers,
        topics.prefix,
        services.redis_url,
        f"bench-{run_id}-prof:",
    )
    collapsed = run_dir / "pyspy.txt"
    pipeline.run_cluster(config, 1, run_dir / "logs", profile_to=collapsed)
    return digest_profile(collapsed)
