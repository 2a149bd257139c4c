"""The invsync command line, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from redis import Redis

from invsync.avro import decode_as
from invsync.catalog import Catalog
from invsync.cli import build_parser, main
from invsync.config import InvsyncConfig, load_config
from invsync.devservices import free_port, local_redis
from invsync.events import (
    AtpRecord,
    DeadLetter,
    OrderLine,
    RecordVersion,
    WarehouseAtp,
)
from invsync.golden import write_golden_files
from invsync.publish import publish_adapter_output
from invsync.redrive import redrive
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from sinks.atp_reader import AtpReader
from sinks.redis_atp import AtpWriter
from sinks.redis_layout import connect
from sources.registry import parse_input, read_inputs

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = REPO / "samples" / "config.yaml"
SUBCOMMANDS = [
    "parse",
    "ingest",
    "run",
    "replay",
    "atp",
    "redrive",
    "topics",
    "schemas",
    "variances",
]


def invsync(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the invsync command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "invsync.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(command: str) -> None:
    result = invsync(command, "--help")

    assert result.returncode == 0, result.stderr
    assert f"usage: invsync {command}" in result.stdout


def test_parser_knows_every_subcommand() -> None:
    parser = build_parser()
    text = parser.format_help()

    for command in SUBCOMMANDS:
        assert command in text


def test_parse_prints_events_and_dead_letters(tmp_path: Path) -> None:
    golden = write_golden_files(tmp_path / "golden")

    result = invsync(
        "--config",
        str(SAMPLE_CONFIG),
        "parse",
        str(golden / "22-850-po.edi"),
        str(golden / "23-850-unmapped-item.edi"),
    )

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    events = [line for line in lines if "type" in line]
    letters = [line for line in lines if "dead_letter" in line]
    assert [(e["type"], e["sku"], e["ordered_quantity"]) for e in events] == [
        ("OrderLine", "SKU-100", 24),
        ("OrderLine", "SKU-200", 10),
    ]
    assert [d["dead_letter"] for d in letters] == ["unmapped_item"]
    assert "NOT-IN-CATALOG" in letters[0]["message"]


def test_parse_strict_fails_on_dead_letter(tmp_path: Path) -> None:
    golden = write_golden_files(tmp_path / "golden")

    result = invsync(
        "--config",
        str(SAMPLE_CONFIG),
        "parse",
        "--strict",
        str(golden / "23-850-unmapped-item.edi"),
    )

    assert result.returncode == 1


def test_parse_bare_shopify_body_topic_from_flag(tmp_path: Path) -> None:
    golden = write_golden_files(tmp_path / "golden")
    delivery = json.loads((golden / "10-orders-create-5001.json").read_text())
    bare = tmp_path / "body.json"
    bare.write_text(json.dumps(delivery["body"]))

    result = invsync(
        "--config",
        str(SAMPLE_CONFIG),
        "parse",
        "--topic",
        "orders/create",
        "--shop-domain",
        "invsync-golden.myshopify.com",
        str(bare),
    )

    assert result.returncode == 0, result.stderr
    skus = [json.loads(line)["sku"] for line in result.stdout.splitlines()]
    assert skus == ["SKU-100", "SKU-300"]


def test_replay_writes_result_file(tmp_path: Path) -> None:
    golden = write_golden_files(tmp_path / "golden")
    out = tmp_path / "atp.json"

    code = main(
        ["--config", str(SAMPLE_CONFIG), "replay", str(golden), "--out", str(out)]
    )

    assert code == 0
    data = json.loads(out.read_text())
    assert data["atp"]["SKU-200"]["warehouses"][0]["atp"] == 64
    assert data["counts"]["postings"] == 8
    assert data["counts"]["dead_letters"] == 2


def _service_config(
    kafka_brokers: list[str], redis_url: str, topics: Topics, redis_prefix: str
) -> InvsyncConfig:
    base = load_config(SAMPLE_CONFIG)
    return base.model_copy(
        update={
            "kafka": base.kafka.model_copy(
                update={"brokers": kafka_brokers, "topic_prefix": topics.prefix}
            ),
            "redis": base.redis.model_copy(
                update={"url": redis_url, "key_prefix": redis_prefix}
            ),
        }
    )


def _write(config: InvsyncConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    return path


def test_replay_to_redis_then_atp(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    config = _write(
        _service_config(kafka_brokers, redis_url, topics, redis_prefix),
        tmp_path / "c.yaml",
    )
    golden = write_golden_files(tmp_path / "golden")
    out = tmp_path / "atp.json"
    assert (
        main(
            [
                "--config",
                str(config),
                "replay",
                str(golden),
                "--out",
                str(out),
                "--redis",
            ]
        )
        == 0
    )

    whole = invsync("--config", str(config), "atp", "SKU-100")
    one = invsync("--config", str(config), "atp", "SKU-100", "WH-EAST")
    missing = invsync("--config", str(config), "atp", "NO-SUCH-SKU")

    assert whole.returncode == 0, whole.stderr
    data = json.loads(whole.stdout)
    assert data["network"]["network"] == 138
    assert data["network"]["unclipped"] == 138
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["atp"]["atp"] == 65
    assert missing.returncode == 1
    assert "no ATP for NO-SUCH-SKU" in missing.stderr


def test_redrive_after_config_fix(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    config = _service_config(kafka_brokers, redis_url, topics, redis_prefix)
    golden = write_golden_files(tmp_path / "golden")
    item = read_inputs([golden / "23-850-unmapped-item.edi"])[0]
    publish_adapter_output(config, parse_input(item, Catalog(config)))
    letters = [
        decode_as(r.value, DeadLetter)
        for r in read_topic(kafka_brokers, topics.dead_letters)
    ]
    assert [d.error_class for d in letters] == ["unmapped_item"]

    unchanged = redrive(config, timeout_s=20)
    assert unchanged.selected == 1
    assert unchanged.republished_events == 0
    assert unchanged.still_failing == {"unmapped_item": 1}

    data = json.loads(config.model_dump_json())
    data["items"]["SKU-400"] = {
        "aliases": [{"qualifier": "VN", "value": "NOT-IN-CATALOG"}]
    }
    fixed = InvsyncConfig.model_validate(data)
    other_class = redrive(fixed, error_classes={"invalid_envelope"}, timeout_s=20)
    assert other_class.selected == 0
    assert other_class.unmatched({"invalid_envelope"}, {"x12"}) == [
        "no dead letter has error class 'invalid_envelope'; the topic has "
        "unmapped_item (1)"
    ]

    summary = redrive(fixed, error_classes={"unmapped_item"}, timeout_s=20)

    assert summary.selected == 1
    assert summary.republished_events == 1
    assert summary.still_failing == {}
    orders = [
        decode_as(r.value, OrderLine) for r in read_topic(kafka_brokers, topics.orders)
    ]
    assert [(o.sku, o.order_id, o.ordered_quantity) for o in orders] == [
        ("SKU-400", "PO-4500002", 5)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "/no/such.yaml", "parse", "x"], "configuration file not found"),
        (["parse", "x"], "no configuration: pass --config FILE"),
        (
            ["--config", str(SAMPLE_CONFIG), "parse", "/no/such.edi"],
            "input file not found: /no/such.edi",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "-w", "0"],
            "--workers-per-process must be at least 1",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "-i", "5", "-a", "a:1;b:2"],
            "--process-id 5 is outside the 2 addresses",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "--snapshot-interval", "-1"],
            "--snapshot-interval must be a number of seconds greater than 0: -1.0",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "--snapshot-interval", "1e20"],
            "--snapshot-interval must be a number of seconds greater than 0: 1e+20",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "--backup-interval", "nan"],
            "--backup-interval must be a number of seconds 0 or more: nan",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "topics", "--timeout", "0"],
            "--timeout must be a number of seconds greater than 0: 0.0",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "parse", "/dev/null"],
            "input /dev/null is a character device; pass regular files or directories",
        ),
        (
            ["--config", "/dev", "parse", "x"],
            "configuration /dev is a directory, not a file",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "run", "--metrics-port", "99999"],
            "--metrics-port 99999 gives this process port 99999, outside 1..65535",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "replay", "x", "--out", "/tmp"],
            "--out /tmp is a directory; name a file such as /tmp/out.json",
        ),
        (
            ["--config", str(SAMPLE_CONFIG), "replay", "x", "--out", "/no/dir/o.json"],
            "--out /no/dir/o.json: directory /no/dir not found",
        ),
    ],
)
def test_usage_errors_without_traceback(args: list[str], message: str) -> None:
    result = invsync(*args)

    assert result.returncode == 2
    assert result.stderr.startswith("invsync: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_run_rejects_invalid_consumer_property(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kafka:\n  consumer_config: {fetch.wait.max.ms: soon}\n")

    result = invsync("--config", str(config), "run", "--until-eof")

    assert result.returncode == 2
    assert result.stderr == (
        "invsync: invalid librdkafka property in kafka.client_config or "
        'kafka.consumer_config: Invalid value for configuration property "fetch.'
        'wait.max.ms"\n'
    )


def test_cluster_url_on_single_redis_one_line(redis_url: str) -> None:
    separator = "&" if "?" in redis_url else "?"
    url = f"{redis_url}{separator}cluster=true"

    result = invsync("atp", "SKU-1", "--redis-url", url)

    assert result.returncode == 1
    assert result.stderr.startswith("invsync: Redis Cluster failed: ")
    assert len(result.stderr.splitlines()) == 1


BAD_REDIS_URL_MESSAGE = (
    "invsync: --redis-url: invalid Redis URL 'notaurl': Redis URL must specify "
    "one of the following schemes (redis://, rediss://, unix://). Use "
    "redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH/TO/SOCKET\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["atp", "TEE-RED-M"],
        ["variances"],
        ["replay", str(SAMPLE_CONFIG), "--out", "/dev/null", "--redis"],
        ["run"],
    ],
)
def test_invalid_redis_url_rejected(args: list[str]) -> None:
    # The config file goes after the subcommand, as users often write it.
    result = invsync(*args, "--config", str(SAMPLE_CONFIG), "--redis-url", "notaurl")

    assert result.returncode == 2
    assert result.stderr == BAD_REDIS_URL_MESSAGE
    assert result.stdout == ""


def test_redis_url_password_masked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('redis: {url: "http://user:s3cret-pw@cache:6379/0"}\n')

    result = invsync("--config", str(path), "variances")

    assert result.returncode == 2
    assert "redis.url: invalid Redis URL 'http://***@cache:6379/0'" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_config_after_subcommand_overrides(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")

    after = invsync("parse", "x", "--config", missing)
    both = invsync("--config", str(SAMPLE_CONFIG), "parse", "x", "--config", missing)
    before_only = invsync("--config", missing, "parse", "x")

    assert after.stderr == f"invsync: configuration file not found: {missing}\n"
    assert both.stderr == f"invsync: configuration file not found: {missing}\n"
    assert before_only.stderr == (f"invsync: configuration file not found: {missing}\n")


def test_topics_unreachable_broker_one_line() -> None:
    # Nothing listens on a port that was just free.
    broker = f"127.0.0.1:{free_port()}"

    result = invsync(
        "--config",
        str(SAMPLE_CONFIG),
        "topics",
        "--brokers",
        broker,
        "--timeout",
        "0.5",
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert f"ERROR invsync: creating topics on Kafka brokers {broker} failed: " in (
        result.stderr
    )
    assert "did not respond within 0.5 s" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]\n", "must be a mapping"),
        ("state: {dedup_retention: 7}\n", "has no unit"),
        ("state: {dedup_retention: P0D}\n", "must be positive"),
        ("partners: {A: {role: customer, timezone: Mars/Base}}\n", "unknown timezone"),
        ("bogus_key: 1\n", "bogus_key"),
        ("warehouses: {W: {on_hand_source: NOBODY}}\n", "not configured"),
        (
            "warehouses: {A: {locations: [{value: L1}]},\n"
            "             B: {locations: [{value: L1}]}}\n",
            "names both 'A' and 'B'",
        ),
        (
            "warehouses: {W: {locations: [{value: L1}, {value: ''}]}}\n",
            "warehouses.W.locations[1].value: String should have at least 1 character",
        ),
        (
            "kafka: {partitions: 0}\nbogus_key: 1\n",
            "kafka.partitions: Input should be greater than or equal to 1; "
            "bogus_key: Extra inputs are not permitted",
        ),
        (
            "kafka:\n  brokers: [a\nredis: x: y\n",
            "YAML syntax error at line 3, column 6: expected ',' or ']', but got "
            "':' (while parsing a flow sequence at line 2, column 12)",
        ),
    ],
)
def test_invalid_config_reported(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)

    result = invsync("--config", str(path), "parse", str(SAMPLE_CONFIG))

    assert result.returncode == 2
    assert result.stderr.startswith(f"invsync: invalid configuration {path}: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "errors.pydantic.dev" not in result.stderr
    assert "input_value" not in result.stderr
    assert "<unicode string>" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_redis_reported() -> None:
    result = invsync(
        "--config",
        str(SAMPLE_CONFIG),
        "atp",
        "SKU-100",
        "--redis-url",
        "redis://127.0.0.1:1/0",
    )

    assert result.returncode == 1
    assert "Redis is unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_atp_without_library_does_not_write() -> None:
    record = AtpRecord(
        sku="SKU-1",
        version=RecordVersion(generation=0, counter=1),
        updated_at=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
        warehouses=[
            WarehouseAtp(
                warehouse="W1",
                on_hand=5,
                held=0,
                reserved=0,
                safety_stock=0,
                inbound=0,
                atp=5,
                available=5,
                backordered=0,
            ),
        ],
        unallocated_demand=0,
        unallocated_backordered=0,
    )
    with local_redis() as server:
        url = f"redis://{server.address}/0"
        writer = AtpWriter(connect(url), "invsync:", retry_total_s=5.0)
        writer.load_library()
        writer.write([record])
        writer.close()
        admin = Redis.from_url(url)
        admin.function_flush()

        config = str(SAMPLE_CONFIG)
        plain_read = invsync("--config", config, "atp", "SKU-1", "--redis-url", url)
        functions_after_read = admin.function_list()
        loading_read = invsync(
            "--config", config, "atp", "SKU-1", "--redis-url", url, "--load-library"
        )
        functions_after_load = admin.function_list()
        # Without a configuration file, --redis-url still names the server.
        unconfigured_read = invsync("atp", "SKU-1", "--redis-url", url)
        admin.close()

    assert plain_read.returncode == 1
    assert plain_read.stdout == ""
    assert plain_read.stderr == (
        "Redis has no function library 'invsync', so network ATP cannot be read. "
        "`invsync run` loads it when it starts, or pass --load-library\n"
    )
    assert functions_after_read == []
    assert loading_read.returncode == 0, loading_read.stderr
    assert json.loads(loading_read.stdout)["network"]["network"] == 5
    assert len(functions_after_load) == 1
    assert unconfigured_read.returncode == 0, unconfigured_read.stderr
    assert json.loads(unconfigured_read.stdout)["network"]["network"] == 5


def _golden_replay(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> list[str]:
    """Return the replay command of the golden files, up to ``--out``."""
    config = _write(
        _service_config(kafka_brokers, redis_url, topics, redis_prefix),
        tmp_path / "c.yaml",
    )
    golden = write_golden_files(tmp_path / "golden")
    return ["--config", str(config), "replay", str(golden), "--out"]


def test_replay_replace_rebuilds_prefix(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = _golden_replay(tmp_path, kafka_brokers, redis_url, topics, redis_prefix)
    assert main([*command, str(tmp_path / "a.json"), "--redis"]) == 0
    reader = AtpReader(redis_url, redis_prefix)
    replayed = reader.get("SKU-100")
    assert replayed is not None
    # A newer version of a replayed SKU and a SKU the replay does not know.
    newer = replayed.model_copy(
        update={"version": replayed.version.model_copy(update={"counter": 10**6})}
    )
    writer = AtpWriter(connect(redis_url), redis_prefix)
    writer.write([newer, replayed.model_copy(update={"sku": "GHOST-1"})])
    writer.close()
    capsys.readouterr()

    code = main([*command, str(tmp_path / "b.json"), "--redis", "--replace"])

    output = capsys.readouterr().out
    rebuilt = reader.get("SKU-100")
    ghost = reader.get("GHOST-1")
    reader.close()
    assert code == 0
    assert "deleted" in output
    assert rebuilt == replayed
    assert ghost is None


def test_replay_refuses_prefix_with_atp(
    tmp_path: Path,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = _golden_replay(tmp_path, kafka_brokers, redis_url, topics, redis_prefix)

    first = main([*command, str(tmp_path / "a.json"), "--redis"])
    capsys.readouterr()
    second = main([*command, str(tmp_path / "b.json"), "--redis"])
    refused = capsys.readouterr().err
    replaced = main([*command, str(tmp_path / "c.json"), "--redis", "--replace"])

    assert first == 0
    assert second == 2
    assert f"already contains ATP records under key prefix {redis_prefix!r}" in refused
    assert "pass --replace to overwrite them" in refused
    assert not (tmp_path / "b.json").exists()
    assert replaced == 0
