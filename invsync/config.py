"""Configuration: who is the source of truth, the alias maps, and where to connect.

Loaded from one YAML or JSON file and validated by pydantic. The rules it encodes:

- every partner, and every (partner, transaction set), has a role: customer,
  supplier, third-party warehouse (3PL) or sales channel;
- every warehouse has exactly one on-hand source: its WMS or one 3PL partner;
- items and parties that the maps do not name become dead letters, never guesses.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails


class PartnerRole(str, Enum):
    """Role of a partner, which sets what its documents mean for our stock."""

    CUSTOMER = "customer"
    SUPPLIER = "supplier"
    THIRD_PARTY_WAREHOUSE = "3pl"
    SALES_CHANNEL = "sales_channel"


WMS_SOURCE = "wms"


class _Strict(BaseModel):
    # Inputs stay out of error messages because they may contain passwords.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class PartyId(_Strict):
    """An identifier a partner's documents use for a party or location."""

    qualifier: str = Field(
        default="",
        description="X12 ID code qualifier (ISA05/ISA07, N1 03, W-segment), "
        "'GS' for a GS02/GS03 application id, 'shopify_location' or "
        "'shopify_shop'. Empty matches any qualifier.",
    )
    value: str = Field(min_length=1)


class PartnerConfig(_Strict):
    """One trading partner, channel or 3PL."""

    role: PartnerRole
    roles_by_transaction: dict[str, PartnerRole] = Field(
        default_factory=dict,
        description="Role per X12 transaction set ('850', '856', ...) where it "
        "differs from role.",
    )
    ids: list[PartyId] = Field(
        default_factory=list,
        description="Interchange (ISA), group (GS) and webhook identities that "
        "name this partner as a sender.",
    )
    timezone: str = Field(default="UTC", description="For EDI dates without a zone.")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = (
                f"unknown timezone {value!r}; use an IANA name such as America/Chicago"
            )
            raise ValueError(msg) from exc
        return value

    def role_for(self, transaction_set: str | None) -> PartnerRole:
        """Return the partner's role for one transaction set."""
        if transaction_set is not None and transaction_set in self.roles_by_transaction:
            return self.roles_by_transaction[transaction_set]
        return self.role


class WarehouseConfig(_Strict):
    """One internal warehouse."""

    on_hand_source: str = Field(
        default=WMS_SOURCE,
        description="'wms' for the warehouse's own WMS events, or the id of the "
        "3PL partner whose 944/945/947/846 documents set on hand.",
    )
    active: bool = Field(default=True, description="Initial active flag.")
    locations: list[PartyId] = Field(
        default_factory=list,
        description="Identifiers partners use for this warehouse: N1 or W-segment "
        "ids, Shopify location ids.",
    )


class ItemAlias(_Strict):
    """A (qualifier, id) pair a partner uses for an item."""

    qualifier: str = Field(
        min_length=1,
        description="X12 product id qualifier (UP, VN, BP, EN, IB, SK, UK, ...), "
        "'shopify_variant' or 'shopify_inventory_item'.",
    )
    value: str = Field(min_length=1)


class ItemConfig(_Strict):
    """One internal SKU with its aliases and unit conversions."""

    aliases: list[ItemAlias] = Field(default_factory=list)
    units: dict[str, int] = Field(
        default_factory=lambda: {"EA": 1},
        description="Base units per unit of measure (X12 UOM codes such as EA, "
        "CA, PK). EA is one base unit unless set.",
    )

    @field_validator("units")
    @classmethod
    def _check_units(cls, value: dict[str, int]) -> dict[str, int]:
        for uom, factor in value.items():
            if factor <= 0:
                msg = f"unit {uom!r} has factor {factor}; factors must be positive"
                raise ValueError(msg)
        return value


_RESERVED_PROPERTIES = {
    "bootstrap.servers": "set kafka.brokers instead",
    "enable.partition.eof": "invsync run sets it from --until-eof",
}
"""librdkafka properties that invsync sets itself, with what to do instead."""

_PRODUCER_RESERVED_PROPERTIES = {
    "delivery.report.only.error": "the producers set it, and report every "
    "failed delivery",
}
"""Producer properties that invsync sets itself, with the reason."""


def _reject_properties(
    value: dict[str, str], reserved: dict[str, str]
) -> dict[str, str]:
    for name, reason in reserved.items():
        if name in value:
            msg = f"librdkafka property {name!r} cannot be set here: {reason}"
            raise ValueError(msg)
    return value


class KafkaConfig(_Strict):
    """Kafka connection and topic names."""

    brokers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"])
    topic_prefix: str = Field(default="invsync.")
    partitions: int = Field(default=2, ge=1, description="Partitions per new topic.")
    client_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka properties of every client "
        "(security.protocol, sasl.*).",
    )
    producer_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka properties of the dataflow's producers only "
        "(linger.ms, compression.type, message.timeout.ms).",
    )
    consumer_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka properties of the dataflow's consumers only "
        "(fetch.wait.max.ms, fetch.min.bytes). They override the defaults in "
        "dataflows.kafka_flow.DEFAULT_CONSUMER_CONFIG.",
    )

    @field_validator(
        "client_config", "producer_config", "consumer_config", mode="before"
    )
    @classmethod
    def _properties_as_text(cls, value: object) -> object:
        # librdkafka takes every property as text; YAML reads 50 as a number.
        if not isinstance(value, dict):
            return value
        converted: dict[object, object] = {}
        for name, item in value.items():
            if isinstance(item, bool):
                converted[name] = "true" if item else "false"
            elif isinstance(item, int | float):
                converted[name] = str(item)
            else:
                converted[name] = item
        return converted

    # Producers may name other brokers, to write the outputs to another cluster.
    @field_validator("client_config", "consumer_config")
    @classmethod
    def _check_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        return _reject_properties(value, _RESERVED_PROPERTIES)

    @field_validator("client_config", "producer_config")
    @classmethod
    def _check_producer_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        return _reject_properties(value, _PRODUCER_RESERVED_PROPERTIES)

    startup_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        gt=timedelta(0),
        description="How long `invsync run` waits for the brokers to respond to "
        "a metadata request, and then for Redis to answer a PING, before it exits "
        "with an error.",
    )


# The user information of a URL, which may carry a password, up to its last "@".
_URL_PASSWORD = re.compile(r"//.*@")
# redis-py also takes the password as a URL query parameter.
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def mask_query_password(url: str) -> str:
    """Return a URL with the value of its ``password`` query parameter masked."""
    return _QUERY_PASSWORD.sub(r"\1***", url)


def mask_url_passwords(url: str) -> str:
    """Return a URL with its user information and ``password`` parameter masked."""
    return mask_query_password(_URL_PASSWORD.sub("//***@", url))


def check_redis_url(url: str) -> str:
    """Return the URL if redis-py's ``Redis.from_url`` accepts it.

    The query parameter ``cluster`` is invsync's own (``sinks.redis_layout.connect``).
    The others must be options of redis-py's connections, and ``encoding``
    must be UTF-8, the encoding of the key layout.

    Raises:
        ValueError: When the scheme is not redis, rediss or unix, the port or
            a query argument is invalid, or an option is unknown. The message
            masks the URL's passwords.
    """
    from redis import Redis
    from redis.connection import parse_url

    from sinks.redis_layout import split_cluster_option

    plain_url, _ = split_cluster_option(url)
    hint = "Use redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH/TO/SOCKET"
    masked_url = mask_url_passwords(url)
    try:
        parse_url(plain_url)  # type: ignore[no-untyped-call]
        pool = Redis.from_url(plain_url).connection_pool
        # Building a connection checks its options without connecting.
        pool.connection_class(**pool.connection_kwargs)
    except ValueError as exc:
        msg = f"invalid Redis URL {masked_url!r}: {str(exc).rstrip('.')}. {hint}"
        raise ValueError(msg) from exc
    except TypeError as exc:
        msg = f"invalid Redis URL {masked_url!r}: an option is unknown ({exc})"
        raise ValueError(msg) from exc
    encoding = pool.connection_kwargs.get("encoding", "utf-8")
    try:
        is_utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        is_utf8 = False
    if not is_utf8:
        msg = (
            f"invalid Redis URL {masked_url!r}: encoding {encoding!r} is not "
            "supported, because keys and values are UTF-8; remove the option"
        )
        raise ValueError(msg)
    return url


class RedisConfig(_Strict):
    """Redis connection and the ATP record versioning."""

    url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="redis://, rediss:// (TLS) or unix:// URL, as redis-py's "
        "Redis.from_url accepts it.",
    )
    key_prefix: str = Field(
        default="invsync:",
        description="Prefix of every key invsync writes, so several deployments or "
        "test runs can share one Redis.",
    )
    generation: int = Field(
        default=0,
        ge=0,
        description="Bump after a deliberate state reset so new writes win over "
        "records of the old state.",
    )
    republish_interval: timedelta = Field(
        default=timedelta(minutes=5),
        description="How often every SKU's record is written again, because Redis "
        "may lose keys.",
    )

    @field_validator("key_prefix")
    @classmethod
    def _check_key_prefix(cls, value: str) -> str:
        from sinks.redis_layout import check_key_prefix

        return check_key_prefix(value)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        # redis-py parses the URL only when a client is created, so a bad URL
        # would otherwise fail deep inside a command or a dataflow worker.
        return check_redis_url(value)


class StateConfig(_Strict):
    """Retention of the stateful operator."""

    dedup_retention: timedelta = Field(
        default=timedelta(days=7),
        description="How long event ids and closed order lines are kept. Older "
        "events become too_late dead letters.",
    )
    max_snapshot_lateness: timedelta = Field(
        default=timedelta(days=2),
        description="How long movement history is kept for re-baselining; an "
        "older snapshot becomes a too_late dead letter.",
    )
    max_future_skew: timedelta = Field(
        default=timedelta(days=1),
        description="How far an event time may lie after its ingest time. A later "
        "event becomes a future_event_time dead letter, because one event from a "
        "wrong clock would otherwise make every real event of its SKU too late.",
    )

    @field_validator(
        "dedup_retention", "max_snapshot_lateness", "max_future_skew", mode="before"
    )
    @classmethod
    def _check_duration(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            msg = (
                f"duration {value!r} has no unit; write an ISO 8601 duration such "
                "as P7D or PT12H"
            )
            raise ValueError(msg)
        return value

    @field_validator("dedup_retention", "max_snapshot_lateness", "max_future_skew")
    @classmethod
    def _check_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            msg = f"duration {value} must be positive"
            raise ValueError(msg)
        return value


class RecoveryConfig(_Strict):
    """Bytewax recovery: where state snapshots go and how often they are taken."""

    directory: Path | None = Field(
        default=None,
        description="Directory of the recovery partitions (SQLite files), created "
        "on first start. None runs without recovery.",
    )
    partitions: int = Field(
        default=1,
        ge=1,
        description="Recovery partition count used when the directory is "
        "initialised; fixed afterwards. Use the largest process count you will run.",
    )
    snapshot_interval: timedelta = Field(
        default=timedelta(seconds=10),
        gt=timedelta(0),
        description="Epoch length: how often state is snapshotted, and the most "
        "input a restart replays.",
    )
    backup_interval: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        description="How long superseded snapshots are kept, so a backup of the "
        "partitions taken up to this long ago is still consistent.",
    )

    @field_validator("directory", mode="before")
    @classmethod
    def _reject_empty_directory(cls, value: object) -> object:
        # An empty path would put the partitions in the working directory.
        if isinstance(value, str) and not value.strip():
            msg = "is empty; give a directory path, or leave it out to run without"
            raise ValueError(msg)
        return value


_C_INT_MAX = 2**31 - 1
"""Largest value gc.set_threshold accepts: CPython parses its arguments as C ints."""


class WorkerConfig(_Strict):
    """Settings of each dataflow worker process."""

    gc_thresholds: tuple[int, int, int] = Field(
        default=(50_000, 20, 100),
        description="Thresholds of Python's cycle collector (gc.set_threshold) in "
        "dataflow processes. The operator's state holds no reference cycles and "
        "is freed by reference counting, so the collector only costs time; "
        "Python's own (700, 10, 10) runs it after every 700 net allocations.",
    )

    @field_validator("gc_thresholds")
    @classmethod
    def _check_thresholds(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(part < 1 for part in value):
            msg = f"gc thresholds must be positive: {list(value)}"
            raise ValueError(msg)
        if any(part > _C_INT_MAX for part in value):
            msg = f"gc thresholds must be at most {_C_INT_MAX}: {list(value)}"
            raise ValueError(msg)
        return value


class ToleranceRule(_Strict):
    """Variance tolerance of one warehouse, one SKU class, or both.

    A variance breaks tolerance only when it exceeds every limit set here.
    """

    warehouse: str | None = Field(
        default=None, description="Warehouse code, or null for every warehouse."
    )
    sku_class: str | None = Field(
        default=None, description="SKU class, or null for every class."
    )
    units: int = Field(default=0, ge=0, description="Absolute limit in base units.")
    percent: float = Field(
        default=0.0,
        ge=0.0,
        description="Limit as a percentage of the larger of ERP and expected.",
    )
    value: float | None = Field(
        default=None,
        ge=0.0,
        description="Limit in currency units, applied when the SKU has a unit cost.",
    )


class VarianceConfig(_Strict):
    """ERP/WMS variance detection: tolerances, persistence and history windows."""

    retention: timedelta = Field(
        default=timedelta(days=7),
        gt=timedelta(0),
        description="How long postings, acknowledgments, counts and closed "
        "transfers are kept for explaining variances.",
    )
    posting_grace: timedelta = Field(
        default=timedelta(hours=1),
        ge=timedelta(0),
        description="Normal posting latency. A posting the ERP has not applied "
        "this long after its event time is stuck and no longer explains a "
        "difference.",
    )
    transfer_grace: timedelta = Field(
        default=timedelta(hours=24),
        ge=timedelta(0),
        description="Event time after the last receipt of a transfer before it "
        "counts as complete, unless a receipt is marked final_receipt.",
    )
    consecutive_snapshots: int = Field(
        default=1,
        ge=1,
        description="Breaking ERP snapshots in a row needed to open an alert.",
    )
    persistence: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        description="Event time from the first breaking snapshot to the current "
        "one needed to open an alert; both this and consecutive_snapshots must hold.",
    )
    tolerances: list[ToleranceRule] = Field(
        default_factory=list,
        description="The most specific rule wins: warehouse and class, then "
        "class, then warehouse, then a rule naming neither. Without a match the "
        "tolerance is zero.",
    )
    sku_classes: dict[str, str] = Field(
        default_factory=dict, description="SKU class of each SKU, for tolerances."
    )
    unit_costs: dict[str, float] = Field(
        default_factory=dict, description="Unit cost per SKU, for alert values."
    )


class ErpCsvConfig(_Strict):
    """Columns and number format of ERP balance exports in CSV."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    decimal_separator: str = Field(default=".", min_length=1, max_length=1)
    sku_column: str = Field(default="sku")
    warehouse_column: str = Field(default="warehouse")
    status_column: str | None = Field(
        default="stock_status",
        description="Column of the stock type; null when the export has totals only.",
    )
    quantity_column: str = Field(default="quantity")
    unit_column: str | None = Field(
        default="unit",
        description="Column of the unit of measure, converted with the item's "
        "units; null when quantities are in base units.",
    )
    as_of_column: str = Field(default="as_of", description="ISO 8601 time.")
    sequence_column: str | None = Field(
        default="last_applied_sequence",
        description="Column of the last applied posting sequence, if exported.",
    )
    statuses: dict[str, str] = Field(
        default_factory=lambda: {
            "UNRESTRICTED": "AVAILABLE",
            "QUALITY": "QC",
            "BLOCKED": "HOLD",
        },
        description="ERP stock type names mapped to stock statuses; a stock status "
        "name is accepted as it is.",
    )
    timezone: str = Field(
        default="UTC", description="Zone of as_of values that carry no offset."
    )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown timezone {value!r}; use an IANA name such as Europe/Berlin"
            raise ValueError(msg) from exc
        return value


class StalePolicy(str, Enum):
    """Policy of network ATP toward a warehouse flagged stale."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


class FreshnessConfig(_Strict):
    """Maximum silence per warehouse before its availability is flagged stale."""

    max_silence: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="Default maximum time between two events of a warehouse "
        "(heartbeats count). None turns freshness tracking off for warehouses "
        "without an entry in max_silence_by_warehouse.",
    )
    max_silence_by_warehouse: dict[str, timedelta] = Field(
        default_factory=dict,
        description="Maximum silence of single warehouses, overriding max_silence.",
    )
    stale_policy: StalePolicy = Field(
        default=StalePolicy.INCLUDE,
        description="include: a stale warehouse still counts toward network ATP "
        "and readers see its stale flag; exclude: network ATP leaves it out.",
    )

    def silence_of(self, warehouse: str) -> timedelta | None:
        """Return the warehouse's maximum silence, or None when it is not tracked."""
        return self.max_silence_by_warehouse.get(warehouse, self.max_silence)

    @property
    def enabled(self) -> bool:
        """Whether any warehouse has a maximum silence."""
        return self.max_silence is not None or bool(self.max_silence_by_warehouse)


class InvsyncConfig(_Strict):
    """The whole configuration file."""

    self_ids: list[PartyId] = Field(
        default_factory=list,
        description="The distributor's own EDI identities (ISA and GS ids). When "
        "set, an X12 interchange must be addressed to one of them, or sent from "
        "one of them to a partner; any other interchange is a misrouted dead "
        "letter.",
    )
    partners: dict[str, PartnerConfig] = Field(default_factory=dict)
    warehouses: dict[str, WarehouseConfig] = Field(default_factory=dict)
    items: dict[str, ItemConfig] = Field(default_factory=dict)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    variance: VarianceConfig = Field(default_factory=VarianceConfig)
    erp_csv: ErpCsvConfig = Field(default_factory=ErpCsvConfig)
    freshness: FreshnessConfig = Field(default_factory=FreshnessConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @model_validator(mode="after")
    def _check_sources(self) -> InvsyncConfig:
        for code, warehouse in self.warehouses.items():
            source = warehouse.on_hand_source
            if source == WMS_SOURCE:
                continue
            partner = self.partners.get(source)
            if partner is None:
                msg = (
                    f"warehouse {code!r} takes on hand from partner {source!r}, "
                    "which is not configured"
                )
                raise ValueError(msg)
            if PartnerRole.THIRD_PARTY_WAREHOUSE not in (
                partner.role,
                *partner.roles_by_transaction.values(),
            ):
                msg = (
                    f"warehouse {code!r} takes on hand from partner {source!r}, "
                    "whose role is not 3pl"
                )
                raise ValueError(msg)
        seen: dict[tuple[str, str], str] = {}
        for sku, item in self.items.items():
            for alias in item.aliases:
                key = (alias.qualifier, alias.value)
                if key in seen and seen[key] != sku:
                    msg = (
                        f"item alias {alias.qualifier}:{alias.value} maps to both "
                        f"{seen[key]!r} and {sku!r}"
                    )
                    raise ValueError(msg)
                seen[key] = sku
        _check_unique_ids(
            "partner id",
            {name: partner.ids for name, partner in self.partners.items()},
        )
        _check_unique_ids(
            "warehouse location",
            {code: wh.locations for code, wh in self.warehouses.items()},
        )
        return self


def _check_unique_ids(kind: str, owners: dict[str, list[PartyId]]) -> None:
    """Raise when one identifier names two owners, because lookups would guess."""
    seen: dict[tuple[str, str], str] = {}
    for owner, ids in owners.items():
        for party in ids:
            key = (party.qualifier.upper(), party.value.strip())
            if key in seen and seen[key] != owner:
                msg = (
                    f"{kind} {party.qualifier}:{party.value} names both "
                    f"{seen[key]!r} and {owner!r}"
                )
                raise ValueError(msg)
            seen[key] = owner


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML SafeLoader that rejects a key given twice in one mapping.

    PyYAML keeps the last value of a repeated key, so a second ``warehouses:``
    section would silently replace the first.
    """

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Any, Any]:
        first_marks: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key in first_marks:
                first = first_marks[key]
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}, first given at line {first.line + 1}",
                    key_node.start_mark,
                )
            first_marks[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, rejecting a key given twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            msg = f"duplicate key {key!r} in a JSON object"
            raise ValueError(msg)
        found[key] = value
    return found


def load_config(path: str | Path) -> InvsyncConfig:
    """Load and validate a configuration file (YAML or JSON).

    Raises:
        OSError: When the file cannot be read (FileNotFoundError when it is missing).
        yaml.YAMLError: On a YAML syntax error, with marks that name the file.
        ValueError: On a JSON syntax error, an unset ``${NAME}`` or an invalid
            value (pydantic.ValidationError). describe_config_error turns each of
            these into one line.
    """
    text = expand_env(Path(path).read_text())
    data: Any
    if str(path).endswith(".json"):
        data = json.loads(text, object_pairs_hook=_unique_pairs)
    else:
        # PyYAML takes the name in its error marks from the stream's name.
        stream = io.StringIO(text)
        stream.name = str(path)
        data = yaml.load(stream, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    if not isinstance(data, dict):
        msg = (
            f"configuration {path} must be a mapping with sections such as "
            f"partners, warehouses and items, not {type(data).__name__}"
        )
        raise ValueError(msg)
    return InvsyncConfig.model_validate(data)


def describe_config_error(exc: Exception) -> str:
    """Return a configuration error as one line: key path and message of each error.

    pydantic's own text spans several lines per error and repeats the input, which
    may contain secrets. A YAML error gets its line and column, counted from 1.
    """
    if isinstance(exc, ValidationError):
        return "; ".join(_describe_validation_error(error) for error in exc.errors())
    if isinstance(exc, yaml.MarkedYAMLError):
        return _describe_yaml_error(exc)
    return " ".join(str(exc).split())


def _describe_validation_error(error: ErrorDetails) -> str:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    context = error.get("ctx") or {}
    # ctx["error"] is the message of a validator's ValueError, without the
    # "Value error, " prefix that msg adds.
    if error["type"] == "value_error" and "error" in context:
        message = str(context["error"])
    else:
        message = error["msg"]
    return f"{path}: {message}" if path else message


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> str:
    def at(mark: yaml.Mark | None) -> str:
        if mark is None:
            return ""
        return f" at line {mark.line + 1}, column {mark.column + 1}"

    kind = (
        "YAML error"
        if isinstance(exc, yaml.constructor.ConstructorError)
        else ("YAML syntax error")
    )
    text = f"{kind}{at(exc.problem_mark)}: {exc.problem}"
    if exc.context:
        text += f" ({exc.context}{at(exc.context_mark)})"
    return text


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str) -> str:
    """Replace each ``${NAME}`` in a configuration text with that environment variable.

    Secrets (SASL and Redis passwords) stay out of the file this way; Kubernetes
    sets them from a Secret. A reference to an unset variable raises ValueError.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            msg = f"configuration references ${{{name}}}, which is not set"
            raise ValueError(msg)
        return value

    return _ENV_REFERENCE.sub(substitute, text)
