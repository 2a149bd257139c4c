"""The ``invsync`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import stat
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from invsync.config import (
    InvsyncConfig,
    check_redis_url,
    describe_config_error,
    load_config,
)
from invsync.config import RecoveryConfig as RecoverySettings
from invsync.logs import configure_logging, env_flag, secrets_of

if TYPE_CHECKING:
    from sources.base import AdapterInput

logger = logging.getLogger("invsync")

_EXIT_USAGE = 2

# Subcommands that read the configuration file.
CONFIG_COMMANDS = (
    "parse",
    "ingest",
    "run",
    "replay",
    "atp",
    "variances",
    "redrive",
    "topics",
)


class UsageError(Exception):
    """A mistake in the command or its configuration, reported without traceback."""


def read_config(path: str | Path) -> InvsyncConfig:
    """Load a configuration file, or raise UsageError with a one-line reason."""
    import yaml

    try:
        return load_config(path)
    except FileNotFoundError as exc:
        msg = f"configuration file not found: {path}"
        raise UsageError(msg) from exc
    except IsADirectoryError as exc:
        msg = f"configuration {path} is a directory, not a file"
        raise UsageError(msg) from exc
    except OSError as exc:
        msg = f"cannot read configuration {path}: {exc.strerror}"
        raise UsageError(msg) from exc
    except (ValueError, yaml.YAMLError) as exc:
        msg = f"invalid configuration {path}: {describe_config_error(exc)}"
        raise UsageError(msg) from exc


def _config(args: argparse.Namespace, *, required: bool = True) -> InvsyncConfig:
    path = args.config or os.environ.get("INVSYNC_CONFIG")
    if not path:
        if required:
            msg = "no configuration: pass --config FILE or set INVSYNC_CONFIG"
            raise UsageError(msg)
        # The defaults, with the command-line overrides below.
        config = InvsyncConfig()
    else:
        config = read_config(path)
    updates: dict[str, Any] = {}
    if getattr(args, "brokers", None):
        brokers = [b for b in args.brokers.split(",") if b]
        updates["kafka"] = config.kafka.model_copy(update={"brokers": brokers})
    if getattr(args, "redis_url", None):
        # model_copy does not validate, so the override is checked here.
        try:
            check_redis_url(args.redis_url)
        except ValueError as exc:
            msg = f"--redis-url: {exc}"
            raise UsageError(msg) from exc
        updates["redis"] = config.redis.model_copy(update={"url": args.redis_url})
    return config.model_copy(update=updates) if updates else config


def input_path_problem(path: Path) -> str | None:
    """Return why a path cannot be an input, or None for a regular file or directory.

    The adapters read regular files only, so devices, FIFOs and sockets are
    rejected by name here rather than reported as missing.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"input file not found: {path}"
    except OSError as exc:
        return f"cannot read input {path}: {exc.strerror}"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISCHR(mode):
        kind = "a character device"
    elif stat.S_ISBLK(mode):
        kind = "a block device"
    elif stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    return f"input {path} is {kind}; pass regular files or directories"


def _inputs(args: argparse.Namespace) -> list[AdapterInput]:
    """Read the command's input files, after checking that each can be read."""
    from sources.registry import read_inputs

    paths = [Path(p) for p in args.files]
    for path in paths:
        problem = input_path_problem(path)
        if problem is not None:
            raise UsageError(problem)
    return read_inputs(paths, _hints(args))


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
    from sources.registry import parse_input

    catalog = Catalog(_config(args))
    failed = False
    for item in _inputs(args):
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
    from invsync.publish import Publisher
    from sources.registry import parse_input

    config = _config(args)
    catalog = Catalog(config)
    events = dead = 0
    inputs = _inputs(args)
    with Publisher(config) as publisher:
        for item in inputs:
            output = parse_input(item, catalog)
            publisher.publish(output)
            events += len(output.events)
            dead += len(output.dead_letters)
    print(f"ingested {events} events, {dead} dead letters")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the dataflow on Kafka through Bytewax."""
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from dataflows.kafka_flow import check_client_properties, kafka_flow
    from invsync.recovery import ensure_recovery_partitions
    from invsync.worker import configure_gc

    config = _config(args)
    _check_cluster_arguments(args)
    try:
        settings = recovery_settings(config, args)
    except ValidationError as exc:
        msg = f"invalid recovery settings: {describe_config_error(exc)}"
        raise UsageError(msg) from exc
    try:
        check_client_properties(config)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not _brokers_respond(config) or not _redis_responds(config):
        return 1
    flow = kafka_flow(
        config, tail=not args.until_eof, recovery=settings.directory is not None
    )
    configure_gc(config.worker)
    recovery = None
    if settings.directory is not None:
        try:
            ensure_recovery_partitions(settings.directory, settings.partitions)
        except (ValueError, OSError) as exc:
            msg = f"cannot prepare the recovery directory: {exc}"
            raise UsageError(msg) from exc
        recovery = RecoveryConfig(  # type: ignore[no-untyped-call]
            str(settings.directory), settings.backup_interval
        )
    addresses = args.addresses.split(";") if args.addresses else None
    if args.metrics_port is not None:
        from invsync.metrics import enable_dataflow_api

        enable_dataflow_api(args.metrics_port, args.process_id)
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
        epoch_interval=settings.snapshot_interval,
        recovery_config=recovery,
    )
    logger.info("dataflow stopped")
    return 0


def _check_cluster_arguments(args: argparse.Namespace) -> None:
    """Reject worker, process and address combinations Bytewax cannot run."""
    if args.workers_per_process < 1:
        msg = f"--workers-per-process must be at least 1: {args.workers_per_process}"
        raise UsageError(msg)
    partitions = getattr(args, "recovery_partitions", None)
    if partitions is not None and partitions < 1:
        msg = f"--recovery-partitions must be at least 1: {partitions}"
        raise UsageError(msg)
    _check_seconds("--snapshot-interval", args.snapshot_interval, allow_zero=False)
    _check_seconds("--backup-interval", args.backup_interval, allow_zero=True)
    metrics_port = getattr(args, "metrics_port", None)
    if metrics_port is not None:
        # Process K listens on the base port plus K.
        port = metrics_port + (args.process_id or 0)
        if not 1 <= port <= _MAX_PORT:
            msg = (
                f"--metrics-port {metrics_port} gives this process port {port}, "
                f"outside 1..{_MAX_PORT}"
            )
            raise UsageError(msg)
    addresses = args.addresses.split(";") if args.addresses else []
    if args.process_id is None:
        if addresses:
            msg = "--addresses needs --process-id, this process's index in them"
            raise UsageError(msg)
        return
    if not addresses:
        msg = "--process-id needs --addresses, the host:port of every process"
        raise UsageError(msg)
    if not 0 <= args.process_id < len(addresses):
        msg = (
            f"--process-id {args.process_id} is outside the {len(addresses)} "
            "addresses; process ids count from 0"
        )
        raise UsageError(msg)


_MAX_PORT = 65535

# Maximum duration of datetime.timedelta, in seconds.
_MAX_SECONDS = timedelta.max.total_seconds()


def _check_seconds(flag: str, value: float | None, *, allow_zero: bool) -> None:
    """Reject a duration flag that is negative, NaN, infinite or beyond timedelta."""
    if value is None:
        return
    lowest = "0 or more" if allow_zero else "greater than 0"
    in_range = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and in_range and value <= _MAX_SECONDS):
        msg = f"{flag} must be a number of seconds {lowest}: {value}"
        raise UsageError(msg)


def _brokers_respond(config: InvsyncConfig) -> bool:
    """Wait for the brokers at start; log and return False when they do not respond.

    Without this check the Kafka source retries the connection forever and the
    dataflow hangs with no progress.
    """
    from invsync.devservices import ServiceError, wait_for_kafka

    timeout = config.kafka.startup_timeout.total_seconds()
    brokers = ",".join(config.kafka.brokers)
    logger.info("waiting up to %.0f s for Kafka brokers %s", timeout, brokers)
    try:
        wait_for_kafka(config.kafka.brokers, timeout, config.kafka.client_config)
    except ServiceError as exc:
        logger.error(
            "Kafka brokers unreachable, not starting the dataflow: %s. Check "
            "kafka.brokers and the network, then start it again",
            exc,
        )
        return False
    return True


def _redis_responds(config: InvsyncConfig) -> bool:
    """Wait for Redis at start, and log and return False when it does not respond.

    The sinks retry a lost connection for a while, but a Redis that is wrong
    from the start (down, or a single server named as a cluster) would end
    the run in a worker panic.
    """
    from invsync.devservices import ServiceError, wait_for_redis

    timeout = config.kafka.startup_timeout.total_seconds()
    try:
        wait_for_redis(config.redis.url, timeout)
    except ServiceError as exc:
        logger.error(
            "Redis unreachable, not starting the dataflow: %s. Check redis.url "
            "and the server, then start it again",
            exc,
        )
        return False
    return True


def recovery_settings(
    config: InvsyncConfig, args: argparse.Namespace
) -> RecoverySettings:
    """Return the configured recovery settings with the command-line flags applied."""
    updates: dict[str, Any] = {}
    if args.no_recovery:
        updates["directory"] = None
    if args.recovery_dir is not None:
        if not args.recovery_dir.strip():
            msg = "--recovery-dir is empty; give a directory path"
            raise UsageError(msg)
        updates["directory"] = Path(args.recovery_dir)
    if args.recovery_partitions is not None:
        updates["partitions"] = args.recovery_partitions
    if args.snapshot_interval is not None:
        updates["snapshot_interval"] = timedelta(seconds=args.snapshot_interval)
    if args.backup_interval is not None:
        updates["backup_interval"] = timedelta(seconds=args.backup_interval)
    merged = {**config.recovery.model_dump(), **updates}
    return RecoverySettings.model_validate(merged)


def cmd_replay(args: argparse.Namespace) -> int:
    """Run the dataflow over files; write final ATP, postings and dead letters."""
    from dataflows.replay import replay

    config = _config(args)
    _check_output_path(Path(args.out))
    if args.redis:
        _check_replay_prefix(config, replace=args.replace)
    result = replay(config, _inputs(args))
    data = result.to_json()
    Path(args.out).write_text(json.dumps(data, indent=2) + "\n")
    if args.redis:
        from sinks.redis_atp import AtpWriter
        from sinks.redis_layout import connect, delete_layout
        from sinks.warehouse_flags import set_warehouse_active

        client = connect(config.redis.url)
        if args.replace:
            deleted = delete_layout(client, config.redis.key_prefix)
            print(
                f"deleted {deleted} keys under prefix {config.redis.key_prefix!r} "
                "before writing"
            )
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
        from sinks.variance_redis import VarianceWriter

        VarianceWriter(client, config.redis.key_prefix).write(result.variance_alerts)
        writer.close()
    counts = data["counts"]
    print(
        f"replayed {counts['events']} events: {counts['skus']} SKUs, "
        f"{counts['postings']} postings, {counts['exceptions']} exceptions, "
        f"{counts['dead_letters']} dead letters, "
        f"{counts['variance_alerts']} variance alerts -> {args.out}"
    )
    return 0


def _check_output_path(path: Path) -> None:
    """Raise UsageError before a long run when its output file cannot be written."""
    if path.is_dir():
        msg = f"--out {path} is a directory; name a file such as {path / 'out.json'}"
        raise UsageError(msg)
    if not path.parent.is_dir():
        msg = f"--out {path}: directory {path.parent} not found"
        raise UsageError(msg)


def _check_replay_prefix(config: InvsyncConfig, *, replace: bool) -> None:
    """Raise UsageError when the key prefix already contains ATP records.

    A replay's record versions count only the replayed events, so they are not
    comparable with those of a running dataflow (docs/running.md).
    """
    from sinks.redis_layout import connect, contains_atp, describe_url

    if replace:
        return
    client = connect(config.redis.url)
    try:
        occupied = contains_atp(client, config.redis.key_prefix)
    finally:
        client.close()
    if occupied:
        msg = (
            f"Redis {describe_url(config.redis.url)} already contains ATP records "
            f"under key prefix {config.redis.key_prefix!r}. Replay into another "
            "redis.key_prefix, or pass --replace to overwrite them"
        )
        raise UsageError(msg)


def cmd_atp(args: argparse.Namespace) -> int:
    """Read ATP of a SKU from Redis as a downstream service would."""
    from sinks.atp_reader import AtpReader, LibraryMissingError

    config = _config(args, required=False)
    with AtpReader(
        config.redis.url,
        config.redis.key_prefix,
        load=args.load_library,
        stale_policy=config.freshness.stale_policy.value,
    ) as reader:
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
        try:
            network = reader.network(args.sku)
        except LibraryMissingError as error:
            print(f"{error}, or pass --load-library", file=sys.stderr)
            return 1
        print(
            json.dumps(
                {
                    "record": record.model_dump(mode="json"),
                    "network": _plain(network) if network is not None else None,
                }
            )
        )
    return 0


def cmd_variances(args: argparse.Namespace) -> int:
    """Print the open variance alerts from Redis as JSON lines."""
    from sinks.redis_layout import connect
    from sinks.variance_redis import read_open_alerts

    config = _config(args)
    client = connect(config.redis.url)
    try:
        alerts = read_open_alerts(client, config.redis.key_prefix, args.sku)
    finally:
        client.close()
    for alert in alerts:
        print(alert.model_dump_json())
    if not alerts:
        scope = f"for {args.sku}" if args.sku else "for any SKU"
        print(f"no open variance alerts {scope}", file=sys.stderr)
    return 0


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def cmd_redrive(args: argparse.Namespace) -> int:
    """Re-publish dead letters through the adapters after a configuration fix."""
    from invsync.redrive import redrive

    config = _config(args)
    error_classes = set(args.error_class or [])
    source_formats = set(args.source or [])
    summary = redrive(
        config,
        error_classes=error_classes,
        source_formats=source_formats,
        dry_run=args.dry_run,
        timeout_s=args.timeout,
    )
    for problem in summary.unmatched(error_classes, source_formats):
        print(f"invsync: warning: {problem}", file=sys.stderr)
    print(summary)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the input and output topics."""
    from invsync.devservices import ServiceError, create_topics, wait_for_kafka
    from invsync.topics import Topics

    config = _config(args)
    timeout = args.timeout
    if timeout is None:
        timeout = config.kafka.startup_timeout.total_seconds()
    _check_seconds("--timeout", timeout, allow_zero=False)
    topics = Topics(config.kafka.topic_prefix)
    names = topics.inputs() + topics.outputs()
    brokers = config.kafka.brokers
    try:
        wait_for_kafka(brokers, timeout, config.kafka.client_config)
        create_topics(
            brokers,
            names,
            config.kafka.partitions,
            config.kafka.client_config,
            timeout=timeout,
        )
    except ServiceError as exc:
        logger.error(
            "creating topics on Kafka brokers %s failed: %s. Check kafka.brokers "
            "and the network, then run it again",
            ",".join(brokers),
            exc,
        )
        return 1
    print("\n".join(names))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Check or write the Avro schemas generated from the event models."""
    from invsync.avro import (
        ALL_RECORD_TYPES,
        archive_schema,
        render_schema,
        schema_path,
    )

    stale = []
    for model in ALL_RECORD_TYPES:
        path = schema_path(model)
        text = render_schema(model)
        if args.write:
            # Keep the replaced version so records written with it still decode.
            if path.exists() and path.read_text() != text:
                archive_schema(path.read_text(), text)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(path.name)
    if stale:
        print("schemas out of date: " + ", ".join(stale), file=sys.stderr)
        print("run: invsync schemas --write", file=sys.stderr)
        return 1
    return 0


def cmd_recovery_init(args: argparse.Namespace) -> int:
    """Create this process's recovery partition on first start."""
    from invsync.pod_recovery import init_process_partitions, process_id_from_env

    process_id = args.process_id
    if process_id is None:
        process_id = process_id_from_env()
    if process_id is None:
        print(
            "process id missing: pass --process-id or set BYTEWAX_POD_NAME and "
            "BYTEWAX_STATEFULSET_NAME",
            file=sys.stderr,
        )
        return _EXIT_USAGE
    try:
        held = init_process_partitions(args.directory, args.partitions, process_id)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from exc
    print(f"{args.directory}: {held} recovery partition(s) for process {process_id}")
    return 0


def cmd_recovery_move(args: argparse.Namespace) -> int:
    """Move recovery partitions from one process's volume to another's."""
    from invsync.pod_recovery import move_partitions

    moved = move_partitions(args.source, args.target)
    print(f"moved {len(moved)} partition(s) to {args.target}: {' '.join(moved)}")
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
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default=os.environ.get("INVSYNC_LOG_LEVEL", "INFO").upper(),
        help="logging level (default INFO)",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=env_flag("INVSYNC_LOG_JSON"),
        help="log one JSON object per line (default: off, or INVSYNC_LOG_JSON=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def files_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("files", nargs="+", help="files or directories")
        command.add_argument(
            "--format",
            choices=["x12", "shopify", "wms-jsonl", "erp-csv"],
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
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics at /metrics of the Bytewax dataflow API on "
        "this port plus the process id (default: off, or as the BYTEWAX_DATAFLOW_API_* "
        "variables set it)",
    )
    run.add_argument(
        "--until-eof",
        action="store_true",
        help="stop at the end of every input partition instead of waiting",
    )
    recovery_choice = run.add_mutually_exclusive_group()
    recovery_choice.add_argument(
        "--recovery-dir",
        default=None,
        help="directory of Bytewax recovery partitions, created on first use; "
        "default: recovery.directory of the config",
    )
    recovery_choice.add_argument(
        "--no-recovery",
        action="store_true",
        help="run without recovery even when the config sets recovery.directory",
    )
    run.add_argument(
        "--recovery-partitions",
        type=int,
        default=None,
        help="recovery partition count when creating them (fixed afterwards); "
        "default: recovery.partitions of the config (1)",
    )
    run.add_argument(
        "--snapshot-interval",
        type=float,
        default=None,
        help="seconds between state snapshots (the epoch length); "
        "default: recovery.snapshot_interval of the config (10 s)",
    )
    run.add_argument(
        "--backup-interval",
        type=float,
        default=None,
        help="seconds to keep superseded snapshots for partition backups; "
        "default: recovery.backup_interval of the config (0 s)",
    )
    run.set_defaults(func=cmd_run)

    rep = files_command("replay", "run the dataflow over files instead of Kafka")
    rep.add_argument("--out", required=True, help="output JSON file")
    rep.add_argument("--redis", action="store_true", help="also write ATP to Redis")
    rep.add_argument(
        "--replace",
        action="store_true",
        help="with --redis, delete the ATP records, warehouse flags and open "
        "variances under the key prefix, then write the replay's",
    )
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
    atp.add_argument(
        "--load-library",
        action="store_true",
        help="load the Redis function library when it is missing, which writes "
        "to Redis; without it the read only reads",
    )
    atp.set_defaults(func=cmd_atp)

    variances = sub.add_parser(
        "variances",
        help="list open ERP/WMS variance alerts from Redis",
        description="Print the open ERP/WMS variance alerts in Redis as JSON "
        "lines, of one SKU or of all.",
    )
    variances.add_argument("sku", nargs="?", help="SKU; default: every SKU")
    variances.add_argument("--redis-url", help="Redis URL; overrides config")
    variances.set_defaults(func=cmd_variances)

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
    topics.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the brokers to respond, and again for the new "
        "topics to appear; default: kafka.startup_timeout of the config (30 s)",
    )
    topics.set_defaults(func=cmd_topics)

    schemas = sub.add_parser(
        "schemas",
        help="check or write schemas/avro",
        description="Check that schemas/avro matches the event models.",
    )
    schemas.add_argument("--write", action="store_true", help="rewrite the files")
    schemas.set_defaults(func=cmd_schemas)
    _add_recovery_commands(sub)
    _accept_config_after_command(sub.choices)
    return parser


def _accept_config_after_command(commands: dict[str, argparse.ArgumentParser]) -> None:
    """Accept --config after the subcommand name too, as in ``invsync atp --config``.

    The default is SUPPRESS so that, when the option is not repeated there, the
    value given before the subcommand stays in the namespace.
    """
    for name in CONFIG_COMMANDS:
        commands[name].add_argument(
            "--config",
            default=argparse.SUPPRESS,
            help="configuration file (YAML or JSON); default: $INVSYNC_CONFIG",
        )


def _add_recovery_commands(sub: Any) -> None:
    recovery = sub.add_parser(
        "recovery",
        help="prepare recovery partitions on per-process volumes",
        description="Prepare Bytewax recovery partitions on per-process volumes "
        "(one volume per StatefulSet pod).",
    )
    actions = recovery.add_subparsers(dest="recovery_command", required=True)
    init = actions.add_parser(
        "init",
        help="give this process its partition on first start; safe to run again",
        description="Create partition K of N in DIR for process K on first start. "
        "A second run, or a process K >= N, creates nothing.",
    )
    init.add_argument("directory", type=Path, help="this process's recovery volume")
    init.add_argument("partitions", type=int, help="partitions in the whole set")
    init.add_argument(
        "--process-id",
        type=int,
        default=None,
        help="this process's index; default: BYTEWAX_PROCESS_ID, or the pod "
        "ordinal from BYTEWAX_POD_NAME and BYTEWAX_STATEFULSET_NAME",
    )
    init.set_defaults(func=cmd_recovery_init)
    move = actions.add_parser(
        "move",
        help="move a removed process's partitions onto a remaining process",
        description="Move every recovery partition from SOURCE to TARGET before "
        "a scale-down, so the smaller cluster holds the whole set.",
    )
    move.add_argument("source", type=Path, help="volume of the process to remove")
    move.add_argument("target", type=Path, help="volume of a process that stays")
    move.set_defaults(func=cmd_recovery_move)


def _secrets(args: argparse.Namespace) -> set[str]:
    """Return the configuration's secrets, so logging can mask them."""
    import yaml

    try:
        return secrets_of(_config(args, required=False))
    except (OSError, ValueError, yaml.YAMLError, UsageError):
        # The command loads the configuration again and reports the error.
        return set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; report expected failures in one line, no traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, json_lines=args.log_json, secrets=_secrets(args))
    try:
        result: int = args.func(args)
    except UsageError as exc:
        print(f"invsync: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    except FileNotFoundError as exc:
        print(f"invsync: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    except Exception as exc:
        message = _service_failure(exc)
        if message is None:
            raise
        logger.debug("command failed", exc_info=True)
        print(f"invsync: {message}", file=sys.stderr)
        return 1
    return result


def _service_failure(exc: Exception) -> str | None:
    """Describe a failure to reach Redis or Kafka, or return None for other errors."""
    import redis
    from confluent_kafka import KafkaException

    from sinks.kafka_checked import DeliveryError

    # AuthenticationError is a ConnectionError in redis-py, so it goes first.
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return f"Redis rejected the credentials: {exc}"
    if isinstance(
        exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
    ):
        return f"Redis is unreachable: {exc}; check redis.url and the server"
    if isinstance(exc, KafkaException | DeliveryError):
        return f"Kafka failed: {exc}; check kafka.brokers and that the broker runs"
    if isinstance(exc, redis.exceptions.RedisClusterException):
        return (
            f"Redis Cluster failed: {exc}; a URL with cluster=true must name a "
            "node of a Redis Cluster"
        )
    if isinstance(exc, redis.exceptions.ResponseError):
        return f"Redis rejected a command: {exc}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
