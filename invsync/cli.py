"""The ``invsync`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from invsync.config import InvsyncConfig, load_config

logger = logging.getLogger("invsync")

_EXIT_USAGE = 2


def _config(args: argparse.Namespace) -> InvsyncConfig:
    path = args.config or os.environ.get("INVSYNC_CONFIG")
    if not path:
        return InvsyncConfig()
    config = load_config(path)
    updates: dict[str, Any] = {}
    if getattr(args, "brokers", None):
        brokers = [b for b in args.brokers.split(",") if b]
        updates["kafka"] = config.kafka.model_copy(update={"brokers": brokers})
    if getattr(args, "redis_url", None):
        updates["redis"] = config.redis.model_copy(update={"url": args.redis_url})
    return config.model_copy(update=updates) if updates else config


def _hints(args: argparse.Namespace) -> dict[str, str]:
    hints: dict[str, str] = {}
    if getattr(args, "format", None):
        hints["format"] = args.format
    if getattr(args, "topic", None):
        hints["topic"] = args.topic
    if getattr(args, "shop_domain", None):
        hints["shop_domain"] = args.shop_domain
    return hints


def cmd_parse(args: argparse.Namespace) -> int:
    """Print each file's canonical events, or its dead letters, as JSON lines."""
    from invsync.catalog import Catalog
    from sources.registry import parse_input, read_inputs

    catalog = Catalog(_config(args))
    failed = False
    for item in read_inputs([Path(p) for p in args.files], _hints(args)):
        output = parse_input(item, catalog)
        for event in output.events:
            line = {"file": item.origin, "type": type(event).__name__}
            line.update(event.model_dump(mode="json"))
            print(json.dumps(line))
        for letter in output.dead_letters:
            failed = True
            print(
                json.dumps(
                    {
                        "file": item.origin,
                        "dead_letter": letter.error_class,
                        "message": letter.message,
                        "partner": letter.partner,
                    }
                )
            )
    return 1 if failed and args.strict else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Publish the canonical events of files to the input topics, keyed by SKU."""
    from invsync.catalog import Catalog
    from invsync.publish import publish_adapter_output
    from sources.registry import parse_input, read_inputs

    config = _config(args)
    catalog = Catalog(config)
    events = dead = 0
    for item in read_inputs([Path(p) for p in args.files], _hints(args)):
        output = parse_input(item, catalog)
        publish_adapter_output(config, output)
        events += len(output.events)
        dead += len(output.dead_letters)
    print(f"ingested {events} events, {dead} dead letters")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the dataflow on Kafka through Bytewax."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from dataflows.kafka_flow import kafka_flow
    from invsync.recovery import ensure_recovery_partitions

    config = _config(args)
    if not args.process_id:
        write_initial_flags(config)
    flow = kafka_flow(config, tail=not args.until_eof)
    recovery = None
    epoch = timedelta(seconds=args.snapshot_interval)
    if args.recovery_dir:
        ensure_recovery_partitions(Path(args.recovery_dir), args.recovery_partitions)
        recovery = RecoveryConfig(  # type: ignore[no-untyped-call]
            str(args.recovery_dir), timedelta(seconds=args.backup_interval)
        )
    addresses = args.addresses.split(";") if args.addresses else None
    logger.info(
        "starting dataflow: brokers=%s process_id=%s addresses=%s workers=%d",
        ",".join(config.kafka.brokers),
        args.process_id,
        addresses,
        args.workers_per_process,
    )
    cli_main(  # type: ignore[no-untyped-call]
        flow,
        workers_per_process=args.workers_per_process,
        process_id=args.process_id,
        addresses=addresses,
        epoch_interval=epoch,
        recovery_config=recovery,
    )
    logger.info("dataflow stopped")
    return 0


def write_initial_flags(config: InvsyncConfig) -> None:
    """Write the configured active flags as of the epoch.

    Any WarehouseSetting event is later than the epoch, so events still win.
    """
    from datetime import UTC, datetime

    from sinks.redis_layout import connect
    from sinks.warehouse_flags import set_warehouse_active

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    client = connect(config.redis.url)
    try:
        for code, warehouse in config.warehouses.items():
            set_warehouse_active(
                client,
                code,
                warehouse.active,
                epoch,
                key_prefix=config.redis.key_prefix,
            )
    finally:
        client.close()


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the dataflow over files; write final ATP, postings and dead letters."""
    from dataflows.replay import replay
    from sources.registry import read_inputs

    config = _config(args)
    result = replay(config, read_inputs([Path(p) for p in args.files], _hints(args)))
    data = result.to_json()
    Path(args.out).write_text(json.dumps(data, indent=2) + "\n")
    if args.redis:
        from sinks.redis_atp import AtpWriter
        from sinks.redis_layout import connect
        from sinks.warehouse_flags import set_warehouse_active

        client = connect(config.redis.url)
        writer = AtpWriter(client, config.redis.key_prefix)
        writer.load_library()
        writer.write(result.atp.values())
        for setting in result.warehouse_settings.values():
            set_warehouse_active(
                client,
                setting.warehouse,
                setting.active,
                setting.event_time,
                key_prefix=config.redis.key_prefix,
            )
        writer.close()
    counts = data["counts"]
    print(
        f"replayed {counts['events']} events: {counts['skus']} SKUs, "
        f"{counts['postings']} postings, {counts['exceptions']} exceptions, "
        f"{counts['dead_letters']} dead letters -> {args.out}"
    )
    return 0


def cmd_atp(args: argparse.Namespace) -> int:
    """Read ATP of a SKU from Redis as a downstream service would."""
    from sinks.atp_reader import AtpReader

    config = _config(args)
    with AtpReader(config.redis.url, config.redis.key_prefix) as reader:
        if args.warehouse:
            view = reader.get_warehouse(args.sku, args.warehouse)
            if view is None:
                print(f"no ATP for {args.sku} in {args.warehouse}", file=sys.stderr)
                return 1
            print(json.dumps(_plain(view)))
            return 0
        record = reader.get(args.sku)
        if record is None:
            print(f"no ATP for {args.sku}", file=sys.stderr)
            return 1
        network = reader.network(args.sku)
        print(
            json.dumps(
                {
                    "record": record.model_dump(mode="json"),
                    "network": _plain(network) if network is not None else None,
                }
            )
        )
    return 0


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def cmd_redrive(args: argparse.Namespace) -> int:
    """Re-publish dead letters through the adapters after a configuration fix."""
    from invsync.redrive import redrive

    config = _config(args)
    summary = redrive(
        config,
        error_classes=set(args.error_class or []),
        source_formats=set(args.source or []),
        dry_run=args.dry_run,
        timeout_s=args.timeout,
    )
    print(summary)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the input and output topics."""
    from invsync.devservices import create_topics
    from invsync.topics import Topics

    config = _config(args)
    topics = Topics(config.kafka.topic_prefix)
    names = topics.inputs() + topics.outputs()
    create_topics(
        config.kafka.brokers, names, config.kafka.partitions, config.kafka.client_config
    )
    print("\n".join(names))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Check or write the Avro schemas generated from the event models."""
    from invsync.avro import ALL_RECORD_TYPES, render_schema, schema_path

    stale = []
    for model in ALL_RECORD_TYPES:
        path = schema_path(model)
        text = render_schema(model)
        if args.write:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(path.name)
    if stale:
        print("schemas out of date: " + ", ".join(stale), file=sys.stderr)
        print("run: invsync schemas --write", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="invsync",
        description="Live multi-warehouse inventory synchronization.",
    )
    parser.add_argument(
        "--config",
        help="configuration file (YAML or JSON); default: $INVSYNC_CONFIG",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("INVSYNC_LOG_LEVEL", "INFO"),
        help="logging level (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def files_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("files", nargs="+", help="files or directories")
        command.add_argument(
            "--format",
            choices=["x12", "shopify", "wms-jsonl"],
            help="input format; default: detected from each file",
        )
        command.add_argument(
            "--topic",
            help="Shopify webhook topic of bare bodies, e.g. orders/create; "
            "default: from the file name",
        )
        command.add_argument(
            "--shop-domain",
            help="Shopify shop domain of deliveries that carry none",
        )
        return command

    parse = files_command("parse", "print canonical events of files as JSON lines")
    parse.add_argument(
        "--strict", action="store_true", help="exit 1 when any dead letter is printed"
    )
    parse.set_defaults(func=cmd_parse)

    ingest = files_command("ingest", "publish files' events to the input topics")
    ingest.add_argument("--brokers", help="comma-separated brokers; overrides config")
    ingest.set_defaults(func=cmd_ingest)

    run = sub.add_parser(
        "run",
        help="run the dataflow on Kafka",
        description="Run the dataflow on Kafka.",
    )
    run.add_argument("--brokers", help="comma-separated brokers; overrides config")
    run.add_argument("--redis-url", help="Redis URL; overrides config")
    run.add_argument(
        "-w",
        "--workers-per-process",
        type=int,
        default=1,
        help="Bytewax worker threads per process (default 1)",
    )
    run.add_argument(
        "-i",
        "--process-id",
        type=int,
        default=None,
        help="this process's index in the cluster (Bytewax -i)",
    )
    run.add_argument(
        "-a",
        "--addresses",
        default=None,
        help="host:port of every process, separated by ';' (Bytewax -a)",
    )
    run.add_argument(
        "--until-eof",
        action="store_true",
        help="stop at the end of every input partition instead of waiting",
    )
    run.add_argument(
        "--recovery-dir",
        default=None,
        help="directory of Bytewax recovery partitions, created on first use",
    )
    run.add_argument(
        "--recovery-partitions",
        type=int,
        default=1,
        help="recovery partition count when creating them (fixed afterwards)",
    )
    run.add_argument(
        "--snapshot-interval",
        type=float,
        default=10.0,
        help="seconds between state snapshots (the epoch length)",
    )
    run.add_argument(
        "--backup-interval",
        type=float,
        default=0.0,
        help="seconds to keep older snapshots for partition backups",
    )
    run.set_defaults(func=cmd_run)

    rep = files_command("replay", "run the dataflow over files instead of Kafka")
    rep.add_argument("--out", required=True, help="output JSON file")
    rep.add_argument("--redis", action="store_true", help="also write ATP to Redis")
    rep.add_argument("--redis-url", help="Redis URL; overrides config")
    rep.set_defaults(func=cmd_replay)

    atp = sub.add_parser(
        "atp",
        help="read ATP of a SKU from Redis",
        description="Read ATP of a SKU from Redis.",
    )
    atp.add_argument("sku")
    atp.add_argument("warehouse", nargs="?")
    atp.add_argument("--redis-url", help="Redis URL; overrides config")
    atp.set_defaults(func=cmd_atp)

    red = sub.add_parser(
        "redrive",
        help="re-publish dead letters after a configuration fix",
        description="Re-parse dead letters with the current configuration and "
        "publish what now succeeds.",
    )
    red.add_argument("--brokers", help="comma-separated brokers; overrides config")
    red.add_argument(
        "--error-class", action="append", help="only this class (repeatable)"
    )
    red.add_argument(
        "--source", action="append", help="only this source format (repeatable)"
    )
    red.add_argument(
        "--dry-run", action="store_true", help="report what would be re-published"
    )
    red.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for more dead letters before stopping",
    )
    red.set_defaults(func=cmd_redrive)

    topics = sub.add_parser(
        "topics", help="create the topics", description="Create the topics."
    )
    topics.add_argument("--brokers", help="comma-separated brokers; overrides config")
    topics.set_defaults(func=cmd_topics)

    schemas = sub.add_parser(
        "schemas",
        help="check or write schemas/avro",
        description="Check that schemas/avro matches the event models.",
    )
    schemas.add_argument("--write", action="store_true", help="rewrite the files")
    schemas.set_defaults(func=cmd_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
