"""The Shopify samples under samples/shopify/ and what each one yields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.avro import decode, encode
from invsync.catalog import Catalog
from invsync.config import InvsyncConfig, load_config
from invsync.events import CanonicalEvent
from sources import shopify
from sources.base import AdapterInput, AdapterOutput

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "shopify"
SAMPLE_SHOP = "invsync-demo.myshopify.com"
INGEST = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)

# The part of samples/config.yaml that the Shopify samples need.
SAMPLE_CONFIG = InvsyncConfig.model_validate(
    {
        "partners": {
            "WEBSHOP": {
                "role": "sales_channel",
                "ids": [{"qualifier": "shopify_shop", "value": SAMPLE_SHOP}],
            },
            "TPL1": {"role": "3pl"},
        },
        "warehouses": {
            "WH-EAST": {
                "locations": [{"qualifier": "shopify_location", "value": "655441491"}]
            },
            "WH-WEST": {
                "locations": [{"qualifier": "shopify_location", "value": "655441492"}]
            },
            "WH-3PL": {"on_hand_source": "TPL1"},
        },
        "items": {
            "TEE-RED-M": {
                "aliases": [
                    {"qualifier": "shopify_variant", "value": "41234567890001"},
                    {"qualifier": "shopify_inventory_item", "value": "43210987654321"},
                ]
            },
            "TEE-BLUE-M": {"aliases": [{"qualifier": "SK", "value": "TEE-BLUE-M"}]},
            "MUG-WHITE": {
                "aliases": [{"qualifier": "shopify_variant", "value": "41234567890003"}]
            },
        },
    }
)

ORDER = "5871234567890"
RED_LINE = "13571113171901"
BLUE_LINE = "13571113171902"
LINE_IDS = [RED_LINE, BLUE_LINE]
CREATED = datetime(2024, 5, 1, 14, 15, tzinfo=UTC)
UPDATED = datetime(2024, 5, 1, 20, 40, tzinfo=UTC)

EXPECTED: dict[str, list[dict[str, Any]]] = {
    "orders-create.json": [
        {
            "type": "OrderLine",
            "sku": "TEE-RED-M",
            "line_id": RED_LINE,
            "order_id": ORDER,
            "action": "PLACED",
            "version_time": CREATED,
            "version_rank": 0,
            "ordered_quantity": 2,
            "cancelled_quantity": 0,
            "shipped_quantity": 0,
            "warehouse": None,
            "order_line_ids": LINE_IDS,
        },
        {
            "type": "OrderLine",
            "sku": "TEE-BLUE-M",
            "line_id": BLUE_LINE,
            "order_id": ORDER,
            "action": "PLACED",
            "version_time": CREATED,
            "version_rank": 0,
            "ordered_quantity": 1,
            "cancelled_quantity": 0,
            "shipped_quantity": 0,
            "warehouse": None,
            "order_line_ids": LINE_IDS,
        },
    ],
    # The red line shipped from WH-EAST; an edit removed the blue line.
    "orders-updated.json": [
        {
            "type": "OrderLine",
            "sku": "TEE-RED-M",
            "line_id": RED_LINE,
            "order_id": ORDER,
            "action": "CHANGED",
            "version_time": UPDATED,
            "version_rank": 1,
            "ordered_quantity": 2,
            "cancelled_quantity": 0,
            "shipped_quantity": 2,
            "warehouse": "WH-EAST",
            "order_line_ids": LINE_IDS,
        },
        {
            "type": "OrderLine",
            "sku": "TEE-BLUE-M",
            "line_id": BLUE_LINE,
            "order_id": ORDER,
            "action": "CHANGED",
            "version_time": UPDATED,
            "version_rank": 1,
            "ordered_quantity": 1,
            "cancelled_quantity": 1,
            "shipped_quantity": 0,
            "warehouse": None,
            "order_line_ids": LINE_IDS,
        },
    ],
    "orders-cancelled.json": [
        {
            "type": "OrderLine",
            "sku": "MUG-WHITE",
            "line_id": "13571113172001",
            "order_id": "5871234567891",
            "action": "CANCELLED",
            "version_time": datetime(2024, 5, 2, 15, 20, tzinfo=UTC),
            "version_rank": 2,
            "ordered_quantity": 3,
            "cancelled_quantity": 3,
            "shipped_quantity": 0,
            "warehouse": None,
            "order_line_ids": ["13571113172001"],
        }
    ],
    "fulfillments-create.json": [
        {
            "type": "OrderFulfillment",
            "sku": "TEE-RED-M",
            "order_id": ORDER,
            "line_id": RED_LINE,
            "fulfillment_id": "4987654321001",
            "quantity": 2,
            "warehouse": "WH-EAST",
            "event_time": datetime(2024, 5, 1, 20, 35, tzinfo=UTC),
        }
    ],
    "refunds-create.json": [
        {
            "type": "SupplyAdvice",
            "sku": "TEE-RED-M",
            "warehouse": "WH-WEST",
            "document_id": "refund:998877665544",
            "quantity": 1,
            "event_time": datetime(2024, 5, 3, 13, 10, tzinfo=UTC),
        }
    ],
    "inventory-levels-update.json": [
        {
            "type": "ChannelInventoryLevel",
            "sku": "TEE-RED-M",
            "warehouse": "WH-EAST",
            "location_id": "655441491",
            "available": 45,
            "event_time": datetime(2024, 5, 1, 20, 36, tzinfo=UTC),
        }
    ],
}


def parse_sample(name: str, catalog: Catalog) -> AdapterOutput:
    """Parse one sample file, with its topic hint taken from the file name."""
    path = SAMPLES / name
    topic = shopify.topic_from_filename(name)
    hints = {} if topic is None else {"topic": topic}
    item = AdapterInput(
        data=path.read_bytes(), origin=str(path), hints=hints, ingest_time=INGEST
    )
    return shopify.parse(item, catalog)


def summarize(event: CanonicalEvent, keys: list[str]) -> dict[str, Any]:
    """Return the type name and the given fields of an event, enums as values."""
    summary: dict[str, Any] = {"type": type(event).__name__}
    for key in keys:
        if key != "type":
            value = getattr(event, key)
            summary[key] = getattr(value, "value", value)
    return summary


def test_every_sample_has_expectation() -> None:
    names = {path.name for path in SAMPLES.glob("*.json")}

    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_events(name: str) -> None:
    output = parse_sample(name, Catalog(SAMPLE_CONFIG))

    assert output.dead_letters == []
    expected = EXPECTED[name]
    keys = list(expected[0])
    assert [summarize(event, keys) for event in output.events] == expected
    assert {event.partner for event in output.events} == {"WEBSHOP"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_events_encode(name: str) -> None:
    for event in parse_sample(name, Catalog(SAMPLE_CONFIG)).events:
        assert decode(encode(event)) == event


def test_samples_with_sample_config() -> None:
    config_path = REPO / "samples" / "config.yaml"
    if not config_path.is_file():
        pytest.skip(f"{config_path} is not present")
    catalog = Catalog(load_config(config_path))

    for name in sorted(EXPECTED):
        output = parse_sample(name, catalog)
        assert output.dead_letters == [], (name, output.dead_letters[:1])
