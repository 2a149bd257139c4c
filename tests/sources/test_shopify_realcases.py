"""Stated outcomes of the Shopify adapter on real public webhook examples.

Every file in a ``shopify-*`` folder of the real-cases collection must have an
entry in OUTCOMES; a new file without one fails ``test_every_file_has_outcome``.
The configuration that maps their shop, items and location is
``tests/realcases/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.avro import decode, encode
from invsync.catalog import Catalog
from invsync.config import load_config
from invsync.events import CanonicalEvent
from sources import shopify
from sources.base import AdapterInput, AdapterOutput

CONFIG_PATH = Path(__file__).resolve().parents[1] / "realcases" / "config.yaml"
SHOP_HINT = {"shop_domain": "sample.myshopify.com"}
INGEST = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
# updated_at of the examples, 2021-12-31T19:00:00-05:00, in UTC.
EXAMPLE_TIME = datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
ORDER_ID = "820982911946154508"
ORDER_LINE_IDS = [
    "487817672276298554",
    "789012345678901234",
    "890123456789012345",
    "976318377106520349",
    "315789986012684393",
]
ORDER_SKUS = [
    "SUNGLASSES-AVIATOR",
    "PLAN-LENS-2YR",
    "CASE-LEATHER",
    "LOUNGER-MIDCENTURY",
    "TABLE-COFFEE",
]


def cancelled_order_lines() -> list[dict[str, Any]]:
    """Return the five lines of the docs example order, which is already cancelled."""
    return [
        {
            "type": "OrderLine",
            "sku": sku,
            "warehouse": None,
            "order_id": ORDER_ID,
            "line_id": line_id,
            "action": "CANCELLED",
            "ordered_quantity": 1,
            "cancelled_quantity": 1,
            "shipped_quantity": 0,
            "version_time": EXAMPLE_TIME,
            "version_rank": 2,
            "event_time": EXAMPLE_TIME,
            "partner": "SAMPLE_SHOP",
            "order_line_ids": ORDER_LINE_IDS,
        }
        for sku, line_id in zip(ORDER_SKUS, ORDER_LINE_IDS, strict=True)
    ]


@dataclass(frozen=True)
class Outcome:
    """What the adapter must produce from one file with the given hints."""

    hints: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: str | None = None


OUTCOMES: dict[str, list[Outcome]] = {
    # Metadata wrapper whose topic is in "name"; available is null and the
    # numeric inventory_item_id lost its last digits to a float64.
    "shopify-inventory-levels-update/"
    "gadget__metadatas_2024-04_inventory_levels_update.json": [
        Outcome(
            hints=SHOP_HINT,
            events=[
                {
                    "type": "ChannelInventoryLevel",
                    "sku": "INVENTORY-ITEM-EXAMPLE",
                    "warehouse": "WH-SHOPIFY",
                    "location_id": "24826418",
                    "available": None,
                    "event_time": EXAMPLE_TIME,
                    "partner": "SAMPLE_SHOP",
                }
            ],
        ),
        # The wrapper carries no shop domain.
        Outcome(hints={}, dead_letter="unmapped_party"),
    ],
    # Same body as the orders/create example: a cancelled order at rank 2.
    "shopify-orders-cancelled/gadget__metadatas_2026-04_orders_cancelled.json": [
        Outcome(hints=SHOP_HINT, events=cancelled_order_lines()),
    ],
    # The docs example of orders/create already has cancelled_at set, so the
    # create is a cancellation too.
    "shopify-orders-create/gadget__metadatas_2026-04_orders_create.json": [
        Outcome(hints=SHOP_HINT, events=cancelled_order_lines()),
        Outcome(hints={}, dead_letter="unmapped_party"),
    ],
    # A bare orders/edited body: deltas only, rejected on purpose.
    "shopify-orders-edited/gadget__exemplars_2025-04_orders_2.json": [
        Outcome(hints={"topic": "orders/edited"}, dead_letter="unsupported_topic"),
        Outcome(
            hints={"topic": "orders/edited", **SHOP_HINT},
            dead_letter="unsupported_topic",
        ),
        # A bare body without a topic hint cannot be read.
        Outcome(hints={}, dead_letter="invalid_payload"),
    ],
    # A money-only refund: no refund_line_items, so no events and no dead letter.
    "shopify-refunds-create/gadget__exemplars_2025-04_refunds_2.json": [
        Outcome(hints={"topic": "refunds/create", **SHOP_HINT}),
        Outcome(hints={"topic": "refunds/create"}, dead_letter="unmapped_party"),
    ],
}

CASES = [
    pytest.param(name, outcome, id=f"{name.split('/')[0]}-{index}")
    for name, outcomes in OUTCOMES.items()
    for index, outcome in enumerate(outcomes)
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Provide the catalog of the real-case Shopify configuration."""
    return Catalog(load_config(CONFIG_PATH))


def parse_file(path: Path, hints: dict[str, str], catalog: Catalog) -> AdapterOutput:
    """Parse one real file with the given hints."""
    item = AdapterInput(
        data=path.read_bytes(), origin=str(path), hints=hints, ingest_time=INGEST
    )
    return shopify.parse(item, catalog)


def summarize(event: CanonicalEvent, keys: list[str]) -> dict[str, Any]:
    """Return the type name and the given fields of an event, enums as values."""
    summary: dict[str, Any] = {"type": type(event).__name__}
    for key in keys:
        if key == "type":
            continue
        value = getattr(event, key)
        summary[key] = getattr(value, "value", value)
    return summary


def test_every_file_has_outcome(realcases_dir: Path) -> None:
    files = {
        path.relative_to(realcases_dir).as_posix()
        for path in realcases_dir.glob("shopify-*/*")
        if path.is_file()
    }

    assert files - set(OUTCOMES) == set(), "files without a stated outcome"
    assert set(OUTCOMES) - files == set(), "stated outcomes without a file"


@pytest.mark.parametrize(("name", "outcome"), CASES)
def test_realcase_outcome(
    name: str, outcome: Outcome, realcases_dir: Path, catalog: Catalog
) -> None:
    path = realcases_dir / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    output = parse_file(path, outcome.hints, catalog)

    if outcome.dead_letter is None:
        assert output.dead_letters == []
    else:
        assert [d.error_class for d in output.dead_letters] == [outcome.dead_letter]
        assert output.dead_letters[0].original == path.read_bytes()
    keys = list(outcome.events[0]) if outcome.events else []
    assert [summarize(event, keys) for event in output.events] == outcome.events
    for record in [*output.events, *output.dead_letters]:
        assert decode(encode(record)) == record


def test_create_and_cancel_examples_are_one_version(
    realcases_dir: Path, catalog: Catalog
) -> None:
    created = realcases_dir / "shopify-orders-create"
    cancelled = realcases_dir / "shopify-orders-cancelled"
    create_file = created / "gadget__metadatas_2026-04_orders_create.json"
    cancel_file = cancelled / "gadget__metadatas_2026-04_orders_cancelled.json"
    if not (create_file.is_file() and cancel_file.is_file()):
        pytest.skip("the orders/create and orders/cancelled examples are absent")

    create_ids = [
        e.event_id for e in parse_file(create_file, SHOP_HINT, catalog).events
    ]
    cancel_ids = [
        e.event_id for e in parse_file(cancel_file, SHOP_HINT, catalog).events
    ]

    assert len(create_ids) == 5
    assert create_ids == cancel_ids


def test_unmapped_plan_rejects_example(realcases_dir: Path) -> None:
    path = (
        realcases_dir
        / "shopify-orders-create/gadget__metadatas_2026-04_orders_create.json"
    )
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    config = load_config(CONFIG_PATH)
    items = {k: v for k, v in config.items.items() if k != "PLAN-LENS-2YR"}
    catalog = Catalog(config.model_copy(update={"items": items}))

    output = parse_file(path, SHOP_HINT, catalog)

    assert output.events == []
    assert [d.error_class for d in output.dead_letters] == ["unmapped_item"]
    message = output.dead_letters[0].message
    assert "line item 789012345678901234 (Lens Protection Plan (2 Year))" in message
