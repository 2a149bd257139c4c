"""Configuration: who is the source of truth, the alias maps, and where to connect.

Loaded from one YAML or JSON file and validated by pydantic. The rules it encodes:

- every partner, and every (partner, transaction set), has a role: customer,
  supplier, third-party warehouse (3PL) or sales channel;
- every warehouse has exactly one on-hand source: its WMS or one 3PL partner;
- items and parties that the maps do not name become dead letters, never guesses.
"""

from __future__ import annotations

import json
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class PartnerRole(str, Enum):
    """What a partner's documents mean for our stock."""

    CUSTOMER = "customer"
    SUPPLIER = "supplier"
    THIRD_PARTY_WAREHOUSE = "3pl"
    SALES_CHANNEL = "sales_channel"


WMS_SOURCE = "wms"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class RedisConfig(_Strict):
    """Redis connection and the ATP record versioning."""

    url: str = Field(default="redis://127.0.0.1:6379/0")
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


class InvsyncConfig(_Strict):
    """The whole configuration file."""

    partners: dict[str, PartnerConfig] = Field(default_factory=dict)
    warehouses: dict[str, WarehouseConfig] = Field(default_factory=dict)
    items: dict[str, ItemConfig] = Field(default_factory=dict)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    state: StateConfig = Field(default_factory=StateConfig)

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
        return self


def load_config(path: str | Path) -> InvsyncConfig:
    """Load and validate a configuration file (YAML or JSON)."""
    text = Path(path).read_text()
    data: Any = (
        json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    )
    return InvsyncConfig.model_validate(data or {})
