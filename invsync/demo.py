"""``make demo``: the main job end to end on local services.

Starts Redis and Tansu on free loopback ports, creates the topics, ingests
partner files (the samples and the golden scenario, or ``--input DIR``), runs the
dataflow as a two-process Bytewax cluster until it has read every partition,
prints the ATP table read back from Redis and the counts of the output topics,
and stops everything it started. ERP balance exports go in after that run, and a
second run, resumed from the first run's recovery snapshots, compares them with
the WMS state; the open variance alerts in Redis are printed last.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

from invsync.avro import decode_as
from invsync.catalog import Catalog
from invsync.cli import UsageError, input_path_problem, read_config
from invsync.cluster import start_cluster
from invsync.config import InvsyncConfig
from invsync.devservices import create_topics, free_port, local_services
from invsync.events import AtpRecord, DeadLetter, InventoryException, VarianceAlert
from invsync.golden import write_golden_files
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics, event_key
from sinks.atp_reader import AtpReader
from sinks.redis_layout import connect
from sinks.variance_redis import read_open_alerts
from sources.base import AdapterInput
from sources.registry import detect_format, parse_input, read_inputs

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
DEFAULT_CONFIG = SAMPLES / "config.yaml"
TOPIC_PREFIX = "demo."
_EXIT_USAGE = 2
KEY_PREFIX = "demo:"


def demo_inputs(input_dir: Path | None, work_dir: Path) -> list[AdapterInput]:
    """Return the files the demo ingests, in order."""
    if input_dir is not None:
        return read_inputs([input_dir])
    golden_dir = write_golden_files(work_dir / "golden")
    sample_dirs = [SAMPLES / name for name in ("wms", "x12", "shopify")]
    return read_inputs([d for d in sample_dirs if d.is_dir()] + [golden_dir])


def format_table(records: dict[str, AtpRecord], network: dict[str, int]) -> str:
    """Return the ATP table as aligned text, one row per SKU and warehouse."""
    header = (
        "SKU",
        "WAREHOUSE",
        "ON_HAND",
        "HELD",
        "RESERVED",
        "SAFETY",
        "INBOUND",
        "ATP",
        "AVAILABLE",
        "BACKORDERED",
    )
    rows: list[tuple[str, ...]] = [header]
    for sku in sorted(records):
        record = records[sku]
        for wh in record.warehouses:
            rows.append(
                (
                    sku,
                    wh.warehouse,
                    str(wh.on_hand),
                    str(wh.held),
                    str(wh.reserved),
                    str(wh.safety_stock),
                    str(wh.inbound),
                    str(wh.atp),
                    str(wh.available),
                    str(wh.backordered),
                )
            )
        rows.append(
            (
                sku,
                "NETWORK",
                "",
                "",
                f"{record.unallocated_demand} unalloc",
                "",
                "",
                "",
                str(network.get(sku, 0)),
                str(record.unallocated_backordered),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    )


def run_demo(config_path: Path, input_dir: Path | None, processes: int) -> int:
    """Run the demo and print its results; return the exit code.

    Raises:
        UsageError: When the configuration cannot be loaded, the input path is
            missing or not a regular file or directory, or processes is below 1.
            Services are started only after these checks.
    """
    base = read_config(config_path)
    if input_dir is not None:
        problem = input_path_problem(input_dir)
        if problem is not None:
            raise UsageError(problem)
    if processes < 1:
        msg = f"--processes must be at least 1: {processes}"
        raise UsageError(msg)
    with (
        tempfile.TemporaryDirectory(prefix="invsync-demo-") as tmp,
        local_services() as svc,
    ):
        work = Path(tmp)
        config = base.model_copy(
            update={
                "kafka": base.kafka.model_copy(
                    update={"brokers": svc.kafka_brokers, "topic_prefix": TOPIC_PREFIX}
                ),
                "redis": base.redis.model_copy(
                    update={"url": svc.redis_url, "key_prefix": KEY_PREFIX}
                ),
                # The ERP phase resumes the state of the first phase from here.
                "recovery": base.recovery.model_copy(
                    update={"directory": work / "recovery", "partitions": processes}
                ),
            }
        )
        run_config = work / "config.yaml"
        run_config.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
        topics = Topics(TOPIC_PREFIX)
        create_topics(
            svc.kafka_brokers,
            topics.inputs() + topics.outputs(),
            config.kafka.partitions,
        )

        catalog = Catalog(config)
        skus: set[str] = set()
        files = demo_inputs(input_dir, work)
        # Topics have no common order, and ERP balances are compared with the
        # WMS state. So they go in after the first run has applied every event.
        erp_files = [f for f in files if detect_format(f) == "erp-csv"]
        adapter_letters = 0
        for item in files:
            if item in erp_files:
                continue
            output = parse_input(item, catalog)
            publish_adapter_output(config, output)
            adapter_letters += len(output.dead_letters)
            skus.update(event_key(e) for e in output.events if hasattr(e, "sku"))
        print(
            f"ingested {len(files) - len(erp_files)} files: {len(skus)} SKUs, "
            f"{adapter_letters} dead letters from the adapters"
        )
        if not _run_cluster(run_config, processes, work / "logs"):
            return 1

        for item in erp_files:
            publish_adapter_output(config, parse_input(item, catalog))
        if erp_files:
            print(f"ingested {len(erp_files)} ERP balance exports; running again")
            if not _run_cluster(run_config, processes, work / "logs-erp"):
                return 1

        with AtpReader(svc.redis_url, KEY_PREFIX) as reader:
            found = reader.get_many(sorted(skus))
            records = {sku: rec for sku, rec in found.items() if rec is not None}
            networks = reader.network_many(sorted(records))
        network = {sku: n.network for sku, n in networks.items() if n is not None}
        print()
        print(format_table(records, network))
        print()
        _print_counts(config, topics)
        print()
        _print_variances(svc.redis_url)
    return 0


def _run_cluster(run_config: Path, processes: int, log_dir: Path) -> bool:
    """Run the dataflow cluster until every partition is read, or return False."""

    # Process K serves its metrics on metrics_port + K while it runs.
    metrics_port = free_port()
    run = start_cluster(
        run_config,
        processes,
        log_dir,
        ["--until-eof", "--metrics-port", str(metrics_port)],
    )
    print(
        "metrics while the dataflow runs: "
        + " ".join(
            f"http://127.0.0.1:{metrics_port + k}/metrics" for k in range(processes)
        )
    )
    try:
        codes = run.wait(timeout=300)
    except TimeoutError:
        print(run.log_tail(), file=sys.stderr)
        raise
    if any(codes):
        print(run.log_tail(), file=sys.stderr)
        print(f"dataflow processes exited with {codes}", file=sys.stderr)
        return False
    print(f"dataflow ran as {processes} Bytewax processes and read every partition")
    return True


def format_variances(alerts: list[VarianceAlert]) -> str:
    """Return open variance alerts as aligned text, one row per alert."""
    header = ("SKU", "WAREHOUSE", "CAUSE", "ERP", "EXPECTED", "VARIANCE", "VALUE")
    rows = [header]
    for alert in alerts:
        value = "" if alert.value is None else f"{alert.value:.2f}"
        rows.append(
            (
                alert.sku,
                alert.warehouse,
                alert.cause.value,
                str(alert.erp_quantity),
                str(alert.expected_quantity),
                str(alert.variance),
                value,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    )


def _print_variances(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        alerts = read_open_alerts(client, KEY_PREFIX)
    finally:
        client.close()
    print(f"open variance alerts: {len(alerts)}")
    if alerts:
        print(format_variances(alerts))


def exception_counts(exceptions: list[InventoryException]) -> str:
    """Return the demo's line of exception records, raised and cleared, by kind."""
    # A record with quantity 0 clears an earlier exception of its line or pair.
    cleared = sum(1 for e in exceptions if e.quantity == 0)
    kinds = Counter(e.kind.value for e in exceptions)
    by_kind = " ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
    return (
        f"exception records: {len(exceptions)} ({len(exceptions) - cleared} raised, "
        f"{cleared} cleared) {by_kind}"
    )


def _print_counts(config: InvsyncConfig, topics: Topics) -> None:
    brokers = config.kafka.brokers
    postings = read_topic(brokers, topics.postings)
    exceptions = [
        decode_as(r.value, InventoryException)
        for r in read_topic(brokers, topics.exceptions)
    ]
    letters = [
        decode_as(r.value, DeadLetter) for r in read_topic(brokers, topics.dead_letters)
    ]
    classes = Counter(d.error_class for d in letters)
    print(f"ERP postings: {len(postings)}")
    print(exception_counts(exceptions))
    print(
        f"dead letters: {len(letters)} "
        + " ".join(f"{k}={v}" for k, v in sorted(classes.items()))
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the demo."""
    parser = argparse.ArgumentParser(prog="python -m invsync.demo", description=__doc__)
    parser.add_argument("--input", type=Path, help="directory of partner files")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="config file"
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="Bytewax processes (default 2)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return run_demo(args.config, args.input, args.processes)
    except UsageError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return _EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
