"""Unit tests of the Shopify webhook adapter, one topic and rule at a time."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from invsync.catalog import MAX_QUANTITY, Catalog
from invsync.config import InvsyncConfig
from invsync.events import (
    ChannelInventoryLevel,
    OrderAction,
    OrderFulfillment,
    OrderLine,
    Source,
    SupplyAdvice,
)
from sources import shopify
from sources.base import AdapterInput, AdapterOutput, stable_id

SHOP = "demo-store.myshopify.com"
INGEST = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
UPDATED_AT = "2024-05-01T09:30:00-04:00"
UPDATED_UTC = datetime(2024, 5, 1, 13, 30, tzinfo=UTC)

# Shopify ids above 2**53 lose their last digits in a float64; the numeric
# fields below carry such rounded values and the GIDs carry the exact ids.
ORDER_GID = "gid://shopify/Order/820982911946154508"
ORDER_ID = "820982911946154508"
ROUNDED_ORDER_ID = 820982911946154500
RED_GID = "gid://shopify/LineItem/487817672276298554"
RED_LINE = "487817672276298554"
BLUE_GID = "gid://shopify/LineItem/976318377106520349"
BLUE_LINE = "976318377106520349"
RED_VARIANT = 44000000000000001
INVENTORY_ITEM = "271878346596884015"

CONFIG = InvsyncConfig.model_validate(
    {
        "partners": {
            "SHOP": {
                "role": "sales_channel",
                "ids": [{"qualifier": "shopify_shop", "value": SHOP}],
            },
            "ACME": {
                "role": "customer",
                "ids": [{"qualifier": "shopify_shop", "value": "acme.myshopify.com"}],
            },
            "TPL1": {"role": "3pl"},
        },
        "warehouses": {
            "WH-EAST": {
                "locations": [{"qualifier": "shopify_location", "value": "1001"}]
            },
            "WH-WEST": {
                "locations": [{"qualifier": "shopify_location", "value": "1002"}]
            },
            "WH-3PL": {"on_hand_source": "TPL1"},
        },
        "items": {
            "SKU-RED": {
                "aliases": [
                    {"qualifier": "shopify_variant", "value": str(RED_VARIANT)},
                    {"qualifier": "SK", "value": "RED-TEE"},
                ]
            },
            "SKU-BLUE": {
                "aliases": [
                    {"qualifier": "SK", "value": "BLUE-TEE"},
                    {"qualifier": "shopify_inventory_item", "value": INVENTORY_ITEM},
                ]
            },
            "SKU-MUG": {
                "aliases": [
                    {"qualifier": "shopify_product", "value": "788032119674292901"}
                ]
            },
            "SKU-SIX": {
                "aliases": [{"qualifier": "SK", "value": "SIX-PACK"}],
                "units": {"EA": 6},
            },
        },
    }
)
CATALOG = Catalog(CONFIG)


def wrap(topic: str, body: dict[str, Any], shop: str | None = SHOP) -> bytes:
    """Return a delivery in the documented wrapper layout."""
    headers = {
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": "2024-05-01T13:30:01.123Z",
    }
    if shop is not None:
        headers["X-Shopify-Shop-Domain"] = shop
    return json.dumps({"topic": topic, "headers": headers, "body": body}).encode()


def run(data: bytes, hints: dict[str, str] | None = None) -> AdapterOutput:
    """Parse bytes with the test catalog."""
    item = AdapterInput(
        data=data, origin="delivery.json", hints=hints or {}, ingest_time=INGEST
    )
    return shopify.parse(item, CATALOG)


def deliver(topic: str, body: dict[str, Any], shop: str | None = SHOP) -> AdapterOutput:
    """Parse one wrapped delivery."""
    return run(wrap(topic, body, shop))


def order_body(**changes: Any) -> dict[str, Any]:
    """Return an open order with a red line of 2 and a blue line of 1."""
    body: dict[str, Any] = {
        "id": ROUNDED_ORDER_ID,
        "admin_graphql_api_id": ORDER_GID,
        "name": "#1001",
        "created_at": UPDATED_AT,
        "updated_at": UPDATED_AT,
        "cancelled_at": None,
        "fulfillments": [],
        "line_items": [
            {
                "id": 487817672276298560,
                "admin_graphql_api_id": RED_GID,
                "title": "Red tee",
                "variant_id": RED_VARIANT,
                "product_id": None,
                "sku": "RED-TEE",
                "quantity": 2,
                "current_quantity": 2,
                "fulfillable_quantity": 2,
            },
            {
                "id": 976318377106520300,
                "admin_graphql_api_id": BLUE_GID,
                "title": "Blue tee",
                "variant_id": None,
                "product_id": None,
                "sku": "BLUE-TEE",
                "quantity": 1,
                "current_quantity": 1,
                "fulfillable_quantity": 1,
            },
        ],
    }
    body.update(changes)
    return body


def lines_by_id(output: AdapterOutput) -> dict[str, OrderLine]:
    """Return the order lines of an output by line id, checking their type."""
    result: dict[str, OrderLine] = {}
    for event in output.events:
        assert isinstance(event, OrderLine)
        result[event.line_id] = event
    return result


def only_dead_letter(output: AdapterOutput) -> tuple[str, str]:
    """Return (error class, message) of an output that is one dead letter."""
    assert output.events == []
    assert len(output.dead_letters) == 1
    letter = output.dead_letters[0]
    return letter.error_class, letter.message


# Topics and layouts.


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("orders-create.json", "orders/create"),
        ("orders_cancelled.json", "orders/cancelled"),
        ("orders-updated.json", "orders/updated"),
        ("fulfillments-create.json", "fulfillments/create"),
        ("refunds_create.json", "refunds/create"),
        ("inventory-levels-update.json", "inventory_levels/update"),
        (
            "gadget__metadatas_2024-04_inventory_levels_update.json",
            "inventory_levels/update",
        ),
        ("/var/spool/shop/2024-05-01_orders-create.json", "orders/create"),
        ("orders-edited.json", "orders/edited"),
        ("gadget__exemplars_2025-04_refunds_2.json", None),
        ("preorders_create.json", None),
        ("orders_create_then_orders_updated.json", None),
        ("notes.json", None),
    ],
)
def test_topic_from_filename(name: str, topic: str | None) -> None:
    assert shopify.topic_from_filename(name) == topic


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("orders/create", "orders/create"),
        ("ORDERS_CREATE", "orders/create"),
        ("INVENTORY_LEVELS_UPDATE", "inventory_levels/update"),
        (" Refunds/Create ", "refunds/create"),
    ],
)
def test_normalize_topic_forms(text: str, topic: str) -> None:
    assert shopify.normalize_topic(text) == topic


def test_wrapper_topic_from_header() -> None:
    document = {
        "headers": {"x-shopify-topic": "orders/updated", "x-shopify-shop-domain": SHOP},
        "body": order_body(),
    }
    output = run(json.dumps(document).encode())

    assert output.dead_letters == []
    ranks = {line.version_rank for line in lines_by_id(output).values()}
    assert ranks == {1}


def test_metadata_wrapper_with_name() -> None:
    document = {"name": "orders/create", "description": "x", "response": order_body()}
    output = run(json.dumps(document).encode(), {"shop_domain": SHOP})

    assert output.dead_letters == []
    assert sorted(lines_by_id(output)) == sorted([RED_LINE, BLUE_LINE])


def test_metadata_wrapper_with_webhook_topic() -> None:
    document = {"webhook_topic": "orders/cancelled", "response": order_body()}
    output = run(json.dumps(document).encode(), {"shop_domain": SHOP})

    assert output.dead_letters == []
    actions = {line.action for line in lines_by_id(output).values()}
    assert actions == {OrderAction.CANCELLED}


def test_bare_body_with_hints() -> None:
    output = run(
        json.dumps(order_body()).encode(),
        {"topic": "orders/create", "shop_domain": SHOP},
    )

    assert output.dead_letters == []
    assert len(output.events) == 2


def test_bare_body_without_topic() -> None:
    output = run(json.dumps(order_body()).encode(), {"shop_domain": SHOP})

    error_class, message = only_dead_letter(output)
    assert error_class == "invalid_payload"
    assert "'topic' hint" in message


def test_wrapper_topic_wins_over_hint() -> None:
    output = run(wrap("orders/cancelled", order_body()), {"topic": "orders/create"})

    assert output.dead_letters == []
    ranks = {line.version_rank for line in lines_by_id(output).values()}
    assert ranks == {2}


def test_dead_letter_keeps_bytes_and_hints() -> None:
    data = wrap("orders/create", order_body(updated_at=None))
    output = run(data, {"format": "shopify"})

    letter = output.dead_letters[0]
    assert letter.original == data
    assert letter.hints == {
        "format": "shopify",
        "topic": "orders/create",
        "shop_domain": SHOP,
    }
    assert letter.source_format == "shopify"
    assert letter.partner == "SHOP"
    assert letter.origin == "delivery.json"
    assert letter.failed_at == INGEST


def test_invalid_json() -> None:
    error_class, message = only_dead_letter(run(b'{"topic": "orders/create", '))

    assert error_class == "invalid_json"
    assert "not valid JSON" in message


def test_invalid_utf8() -> None:
    error_class, _ = only_dead_letter(run(b'{"topic": "\xff"}'))

    assert error_class == "invalid_json"


def test_nan_is_invalid_json() -> None:
    body = json.dumps(order_body()).replace('"quantity": 2', '"quantity": NaN')
    error_class, message = only_dead_letter(
        run(body.encode(), {"topic": "orders/create", "shop_domain": SHOP})
    )

    assert error_class == "invalid_json"
    assert "NaN" in message


def test_utf8_bom_is_accepted() -> None:
    output = run(b"\xef\xbb\xbf" + wrap("orders/create", order_body()))

    assert output.dead_letters == []
    assert len(output.events) == 2


def test_array_document_is_invalid() -> None:
    error_class, message = only_dead_letter(run(b"[1, 2]", {"topic": "orders/create"}))

    assert error_class == "invalid_payload"
    assert message == "document must be a JSON object, got array"


def test_unsupported_topic() -> None:
    error_class, message = only_dead_letter(deliver("products/update", {"id": 1}))

    assert error_class == "unsupported_topic"
    assert message.startswith("topic products/update is not supported")


def test_orders_edited_rejected() -> None:
    body = {"order_edit": {"line_items": {"additions": [{"delta": 2, "id": 1}]}}}
    output = deliver("orders/edited", body)

    error_class, message = only_dead_letter(output)
    assert error_class == "unsupported_topic"
    assert "deltas" in message
    assert "orders/updated carries the absolute state" in message
    assert output.dead_letters[0].hints["topic"] == "orders/edited"


# Shop and partner.


def test_unmapped_shop() -> None:
    error_class, message = only_dead_letter(
        deliver("orders/create", order_body(), shop="other.myshopify.com")
    )

    assert error_class == "unmapped_party"
    assert "shopify_shop:other.myshopify.com" in message


def test_missing_shop() -> None:
    error_class, message = only_dead_letter(
        deliver("orders/create", order_body(), shop=None)
    )

    assert error_class == "unmapped_party"
    assert "X-Shopify-Shop-Domain" in message


def test_shop_of_customer_partner() -> None:
    error_class, message = only_dead_letter(
        deliver("orders/create", order_body(), shop="acme.myshopify.com")
    )

    assert error_class == "wrong_role"
    assert "ACME" in message
    assert "sales_channel" in message


def test_shop_domain_header_case_insensitive() -> None:
    document = {
        "topic": "orders/create",
        "headers": {"x-shopify-shop-domain": SHOP},
        "body": order_body(),
    }
    output = run(json.dumps(document).encode())

    assert output.dead_letters == []
    assert {event.partner for event in output.events} == {"SHOP"}


# Orders.


def test_order_create_lines() -> None:
    output = deliver("orders/create", order_body())

    assert output.dead_letters == []
    lines = lines_by_id(output)
    assert sorted(lines) == sorted([RED_LINE, BLUE_LINE])
    red = lines[RED_LINE]
    assert red.event_id == stable_id(
        "shopify", ORDER_GID, UPDATED_UTC.isoformat(), 0, RED_GID
    )
    assert red.source is Source.SHOPIFY
    assert red.partner == "SHOP"
    assert red.channel == "SHOP"
    assert red.event_time == UPDATED_UTC
    assert red.ingest_time == INGEST
    assert red.sku == "SKU-RED"
    assert red.warehouse is None
    assert red.order_id == ORDER_ID
    assert red.action is OrderAction.PLACED
    assert red.ordered_quantity == 2
    assert red.cancelled_quantity == 0
    assert red.shipped_quantity == 0
    assert red.version_time == UPDATED_UTC
    assert red.version_rank == 0
    assert red.order_line_ids == [RED_LINE, BLUE_LINE]
    blue = lines[BLUE_LINE]
    assert blue.sku == "SKU-BLUE"
    assert blue.ordered_quantity == 1
    assert blue.order_line_ids == [RED_LINE, BLUE_LINE]


def test_order_ids_from_gids() -> None:
    output = deliver("orders/create", order_body())

    lines = lines_by_id(output)
    assert {line.order_id for line in lines.values()} == {ORDER_ID}
    assert str(ROUNDED_ORDER_ID) != ORDER_ID
    assert "487817672276298560" not in lines


def test_order_replay_same_ids() -> None:
    first = deliver("orders/create", order_body())
    second = deliver("orders/create", order_body())

    assert [e.event_id for e in first.events] == [e.event_id for e in second.events]


def test_order_update_rank_and_quantities() -> None:
    body = order_body(updated_at="2024-05-01T10:00:00-04:00")
    red, blue = body["line_items"]
    red.update(quantity=3, current_quantity=1, fulfillable_quantity=1)
    blue.update(current_quantity=0, fulfillable_quantity=0)
    output = deliver("orders/updated", body)

    lines = lines_by_id(output)
    assert lines[RED_LINE].version_rank == 1
    assert lines[RED_LINE].action is OrderAction.CHANGED
    assert lines[RED_LINE].version_time == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    assert lines[RED_LINE].ordered_quantity == 3
    assert lines[RED_LINE].cancelled_quantity == 2
    assert lines[RED_LINE].shipped_quantity == 0
    # A line removed by an edit stays listed with current_quantity 0.
    assert lines[BLUE_LINE].ordered_quantity == 1
    assert lines[BLUE_LINE].cancelled_quantity == 1
    assert lines[BLUE_LINE].shipped_quantity == 0
    assert lines[BLUE_LINE].order_line_ids == [RED_LINE, BLUE_LINE]


def test_order_update_shipped_quantity() -> None:
    body = order_body()
    body["line_items"][0].update(quantity=3, current_quantity=3, fulfillable_quantity=1)
    output = deliver("orders/updated", body)

    red = lines_by_id(output)[RED_LINE]
    assert red.ordered_quantity == 3
    assert red.shipped_quantity == 2
    assert red.cancelled_quantity == 0


def test_order_without_current_quantity() -> None:
    body = order_body()
    del body["line_items"][0]["current_quantity"]
    body["line_items"][0].update(quantity=4, fulfillable_quantity=1)
    output = deliver("orders/updated", body)

    red = lines_by_id(output)[RED_LINE]
    assert red.cancelled_quantity == 0
    assert red.shipped_quantity == 3


def test_order_without_fulfillable_quantity() -> None:
    body = order_body()
    del body["line_items"][0]["fulfillable_quantity"]
    output = deliver("orders/updated", body)

    assert lines_by_id(output)[RED_LINE].shipped_quantity == 0


def test_order_cancelled_topic() -> None:
    output = deliver("orders/cancelled", order_body())

    lines = lines_by_id(output)
    for line in lines.values():
        assert line.version_rank == 2
        assert line.action is OrderAction.CANCELLED
        assert line.cancelled_quantity == line.ordered_quantity
    assert lines[RED_LINE].cancelled_quantity == 2


def test_cancelled_create_is_rank_two() -> None:
    body = order_body(cancelled_at=UPDATED_AT)
    created = deliver("orders/create", body)
    cancelled = deliver("orders/cancelled", body)

    assert {e.version_rank for e in lines_by_id(created).values()} == {2}
    assert {e.action for e in lines_by_id(created).values()} == {OrderAction.CANCELLED}
    # The same order version from two topics is the same event.
    assert [e.event_id for e in created.events] == [
        e.event_id for e in cancelled.events
    ]


def test_cancel_after_partial_shipment() -> None:
    body = order_body(cancelled_at=UPDATED_AT)
    body["line_items"][0].update(quantity=3, current_quantity=3, fulfillable_quantity=1)
    output = deliver("orders/cancelled", body)

    red = lines_by_id(output)[RED_LINE]
    assert red.shipped_quantity == 2
    assert red.cancelled_quantity == 1


def test_rank_separates_event_ids() -> None:
    created = lines_by_id(deliver("orders/create", order_body()))
    updated = lines_by_id(deliver("orders/updated", order_body()))

    assert created[RED_LINE].event_id != updated[RED_LINE].event_id


def test_warehouse_from_fulfillment_location() -> None:
    body = order_body(
        fulfillments=[
            {
                "status": "cancelled",
                "location_id": 1001,
                "line_items": [{"admin_graphql_api_id": RED_GID}],
            },
            {
                "status": "success",
                "location_id": 1002,
                "line_items": [{"admin_graphql_api_id": RED_GID}],
            },
        ]
    )
    output = deliver("orders/updated", body)

    lines = lines_by_id(output)
    assert lines[RED_LINE].warehouse == "WH-WEST"
    assert lines[BLUE_LINE].warehouse is None


def test_warehouse_from_origin_location() -> None:
    body = order_body()
    body["line_items"][0]["origin_location"] = {"id": 1001, "name": "East"}
    body["line_items"][1]["origin_location"] = {"id": 9999, "name": "Store"}
    output = deliver("orders/create", body)

    lines = lines_by_id(output)
    assert lines[RED_LINE].warehouse == "WH-EAST"
    assert lines[BLUE_LINE].warehouse is None


def test_variant_beats_sku() -> None:
    body = order_body()
    body["line_items"][0]["sku"] = "BLUE-TEE"
    output = deliver("orders/create", body)

    assert lines_by_id(output)[RED_LINE].sku == "SKU-RED"


def test_sku_when_variant_unmapped() -> None:
    body = order_body()
    body["line_items"][0]["variant_id"] = 12345
    body["line_items"][0]["sku"] = "BLUE-TEE"
    output = deliver("orders/create", body)

    assert lines_by_id(output)[RED_LINE].sku == "SKU-BLUE"


def test_product_id_fallback() -> None:
    body = order_body()
    body["line_items"][1].update(sku=None, product_id=788032119674292901)
    output = deliver("orders/create", body)

    assert lines_by_id(output)[BLUE_LINE].sku == "SKU-MUG"


def test_unmapped_item_rejects_delivery() -> None:
    body = order_body()
    body["line_items"][1].update(sku="GREEN-TEE", product_id=5)
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "unmapped_item"
    assert f"line item {BLUE_LINE} (Blue tee)" in message
    assert "line_items[1]" in message
    assert "SK:GREEN-TEE, shopify_product:5" in message


def test_unit_conversion() -> None:
    body = order_body()
    body["line_items"][1].update(
        sku="SIX-PACK", quantity=2, current_quantity=2, fulfillable_quantity=1
    )
    output = deliver("orders/updated", body)

    six = lines_by_id(output)[BLUE_LINE]
    assert six.sku == "SKU-SIX"
    assert six.ordered_quantity == 12
    assert six.shipped_quantity == 6
    assert six.cancelled_quantity == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"updated_at": None}, "updated_at is null"),
        ({"updated_at": "2024-05-01T09:30:00"}, "updated_at has no UTC offset"),
        ({"updated_at": "yesterday"}, "updated_at is not an ISO 8601 timestamp"),
        ({"admin_graphql_api_id": "gid://shopify/Customer/1"}, "admin_graphql_api_id"),
        ({"line_items": []}, "line_items is empty"),
        ({"line_items": {"a": 1}}, "line_items must be a JSON array, got object"),
        ({"fulfillments": "none"}, "fulfillments must be a JSON array"),
    ],
)
def test_order_invalid_fields(change: dict[str, Any], field: str) -> None:
    error_class, message = only_dead_letter(
        deliver("orders/create", order_body(**change))
    )

    assert error_class == "invalid_payload"
    assert field in message


def test_order_missing_updated_at() -> None:
    body = order_body()
    del body["updated_at"]
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_payload"
    assert message == "updated_at is missing"


@pytest.mark.parametrize(
    ("line_change", "field"),
    [
        ({"quantity": "2"}, "line_items[0].quantity must be an integer, got string"),
        ({"quantity": 2.0}, "line_items[0].quantity must be an integer, got number"),
        ({"quantity": -1}, "line_items[0].quantity is -1"),
        ({"current_quantity": 3}, "line_items[0].current_quantity is 3"),
        ({"fulfillable_quantity": 5}, "line_items[0].fulfillable_quantity is 5"),
        ({"admin_graphql_api_id": None}, "line_items[0].admin_graphql_api_id is null"),
        ({"variant_id": 4.4e16}, "line_items[0].variant_id must be a numeric id"),
        ({"sku": 7}, "line_items[0].sku must be a string"),
    ],
)
def test_order_invalid_line_fields(line_change: dict[str, Any], field: str) -> None:
    body = order_body()
    body["line_items"][0].update(line_change)
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_payload"
    assert field in message


def test_order_duplicate_line() -> None:
    body = order_body()
    body["line_items"].append(copy.deepcopy(body["line_items"][0]))
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_payload"
    assert message == f"line_items lists line {RED_LINE} more than once"


# Fulfillments.


def fulfillment_body(**changes: Any) -> dict[str, Any]:
    """Return a successful fulfillment of the red line (2) from location 1001."""
    body: dict[str, Any] = {
        "id": 4213857714393000,
        "admin_graphql_api_id": "gid://shopify/Fulfillment/4213857714393001",
        "order_id": int(ORDER_ID),
        "status": "success",
        "created_at": "2024-05-02T08:00:00-04:00",
        "updated_at": "2024-05-02T08:00:05-04:00",
        "location_id": 1001,
        "line_items": [
            {
                "id": 487817672276298560,
                "admin_graphql_api_id": RED_GID,
                "variant_id": RED_VARIANT,
                "sku": "RED-TEE",
                "quantity": 2,
            }
        ],
    }
    body.update(changes)
    return body


def test_fulfillment_events() -> None:
    output = deliver("fulfillments/create", fulfillment_body())

    assert output.dead_letters == []
    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, OrderFulfillment)
    assert event.event_id == stable_id(
        "shopify", "gid://shopify/Fulfillment/4213857714393001", RED_GID
    )
    assert event.source is Source.SHOPIFY
    assert event.partner == "SHOP"
    assert event.event_time == datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
    assert event.sku == "SKU-RED"
    assert event.warehouse == "WH-EAST"
    assert event.order_id == ORDER_ID
    assert event.line_id == RED_LINE
    assert event.fulfillment_id == "4213857714393001"
    assert event.quantity == 2


def test_fulfillment_order_gid() -> None:
    output = deliver("fulfillments/create", fulfillment_body(order_id=ORDER_GID))

    event = output.events[0]
    assert isinstance(event, OrderFulfillment)
    assert event.order_id == ORDER_ID


def test_fulfillment_unmapped_location() -> None:
    output = deliver("fulfillments/create", fulfillment_body(location_id=4242))

    event = output.events[0]
    assert isinstance(event, OrderFulfillment)
    assert event.warehouse is None


@pytest.mark.parametrize("status", ["pending", "open", "cancelled", "failure"])
def test_fulfillment_not_shipped(status: str) -> None:
    output = deliver("fulfillments/create", fulfillment_body(status=status))

    assert output.events == []
    assert output.dead_letters == []


def test_fulfillment_missing_order_id() -> None:
    error_class, message = only_dead_letter(
        deliver("fulfillments/create", fulfillment_body(order_id=None))
    )

    assert error_class == "invalid_payload"
    assert message == "order_id is null"


def test_fulfillment_unmapped_item() -> None:
    body = fulfillment_body()
    body["line_items"][0].update(variant_id=None, sku="GREEN-TEE")
    error_class, message = only_dead_letter(deliver("fulfillments/create", body))

    assert error_class == "unmapped_item"
    assert f"line item {RED_LINE}" in message


# Refunds.


def refund_body(*lines: dict[str, Any]) -> dict[str, Any]:
    """Return a refund with the given refund line items."""
    return {
        "id": 890088186047892400,
        "admin_graphql_api_id": "gid://shopify/Refund/890088186047892319",
        "order_id": ROUNDED_ORDER_ID,
        "created_at": "2024-05-03T10:00:00-04:00",
        "refund_line_items": list(lines),
        "transactions": [],
    }


def refund_line(
    restock_type: str, location_id: int | None, quantity: int = 1, gid: str = RED_GID
) -> dict[str, Any]:
    """Return one refund line item of the red tee."""
    return {
        "id": 1,
        "quantity": quantity,
        "line_item_id": 487817672276298560,
        "location_id": location_id,
        "restock_type": restock_type,
        "line_item": {
            "admin_graphql_api_id": gid,
            "variant_id": RED_VARIANT,
            "sku": "RED-TEE",
            "title": "Red tee",
        },
    }


def test_refund_return_advice() -> None:
    output = deliver("refunds/create", refund_body(refund_line("return", 1002, 2)))

    assert output.dead_letters == []
    assert len(output.events) == 1
    advice = output.events[0]
    assert isinstance(advice, SupplyAdvice)
    assert advice.event_id == stable_id(
        "shopify", "gid://shopify/Refund/890088186047892319", "SKU-RED", "WH-WEST"
    )
    assert advice.source is Source.SHOPIFY
    assert advice.partner == "SHOP"
    assert advice.event_time == datetime(2024, 5, 3, 14, 0, tzinfo=UTC)
    assert advice.sku == "SKU-RED"
    assert advice.warehouse == "WH-WEST"
    assert advice.document_id == "refund:890088186047892319"
    assert advice.quantity == 2
    assert advice.expected_date is None


def test_refund_lines_summed() -> None:
    body = refund_body(
        refund_line("return", 1002, 1),
        refund_line("return", 1002, 2, gid="gid://shopify/LineItem/5"),
        refund_line("return", 1001, 1),
    )
    output = deliver("refunds/create", body)

    quantities: dict[str, int] = {}
    for event in output.events:
        assert isinstance(event, SupplyAdvice)
        quantities[event.warehouse] = event.quantity
    assert quantities == {"WH-EAST": 1, "WH-WEST": 3}


@pytest.mark.parametrize(
    "line",
    [
        refund_line("cancel", 1001),
        refund_line("no_restock", None),
        refund_line("legacy_restock", 1001),
        refund_line("return", None),
        refund_line("return", 4242),
    ],
    ids=["cancel", "no_restock", "legacy_restock", "no_location", "unmapped_location"],
)
def test_refund_without_advice(line: dict[str, Any]) -> None:
    output = deliver("refunds/create", refund_body(line))

    assert output.events == []
    assert output.dead_letters == []


def test_refund_money_only() -> None:
    body = refund_body()
    body["admin_graphql_api_id"] = "https://www.example.com/"
    output = deliver("refunds/create", body)

    assert output.events == []
    assert output.dead_letters == []


def test_refund_unknown_restock_type() -> None:
    error_class, message = only_dead_letter(
        deliver("refunds/create", refund_body(refund_line("exchange", 1001)))
    )

    assert error_class == "invalid_payload"
    assert "refund_line_items[0].restock_type is 'exchange'" in message


def test_refund_unmapped_returned_item() -> None:
    line = refund_line("return", 1001)
    line["line_item"].update(variant_id=None, sku="GREEN-TEE")
    error_class, message = only_dead_letter(
        deliver("refunds/create", refund_body(line))
    )

    assert error_class == "unmapped_item"
    assert "refund_line_items[0].line_item" in message


# Inventory levels.


def level_body(**changes: Any) -> dict[str, Any]:
    """Return an inventory level update of the blue tee at location 1001."""
    body: dict[str, Any] = {
        "inventory_item_id": 271878346596884000,
        "location_id": 1001,
        "available": 7,
        "updated_at": "2021-12-31T19:00:00-05:00",
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/1001?inventory_item_id={INVENTORY_ITEM}"
        ),
    }
    body.update(changes)
    return body


def test_inventory_level_event() -> None:
    output = deliver("inventory_levels/update", level_body())

    assert output.dead_letters == []
    assert len(output.events) == 1
    level = output.events[0]
    assert isinstance(level, ChannelInventoryLevel)
    assert level.sku == "SKU-BLUE"
    assert level.warehouse == "WH-EAST"
    assert level.location_id == "1001"
    assert level.available == 7
    assert level.event_time == datetime(2022, 1, 1, 0, 0, tzinfo=UTC)
    assert level.source is Source.SHOPIFY
    assert level.partner == "SHOP"


def test_inventory_level_null_available() -> None:
    output = deliver("inventory_levels/update", level_body(available=None))

    level = output.events[0]
    assert isinstance(level, ChannelInventoryLevel)
    assert level.available is None


def test_inventory_level_ignores_rounded_item_id() -> None:
    # Only the exact id from the GID is configured; the rounded numeric field
    # would map to nothing.
    assert CATALOG.resolve_item("shopify_inventory_item", "271878346596884000") is None
    output = deliver("inventory_levels/update", level_body())

    assert [event.sku for event in output.events] == ["SKU-BLUE"]


def test_inventory_level_unmapped_location() -> None:
    output = deliver("inventory_levels/update", level_body(location_id=4242))

    level = output.events[0]
    assert isinstance(level, ChannelInventoryLevel)
    assert level.warehouse is None
    assert level.location_id == "4242"


def test_inventory_level_ids_differ_by_value() -> None:
    seven = deliver("inventory_levels/update", level_body())
    eight = deliver("inventory_levels/update", level_body(available=8))

    assert seven.events[0].event_id != eight.events[0].event_id


def test_inventory_level_missing_available() -> None:
    body = level_body()
    del body["available"]
    error_class, message = only_dead_letter(deliver("inventory_levels/update", body))

    assert error_class == "invalid_payload"
    assert message.startswith("available is missing")


def test_inventory_level_gid_without_item() -> None:
    body = level_body(admin_graphql_api_id="gid://shopify/InventoryLevel/1001")
    error_class, message = only_dead_letter(deliver("inventory_levels/update", body))

    assert error_class == "invalid_payload"
    assert "inventory_item_id parameter" in message


def test_inventory_level_unmapped_item() -> None:
    body = level_body(
        admin_graphql_api_id="gid://shopify/InventoryLevel/1001?inventory_item_id=55"
    )
    error_class, message = only_dead_letter(deliver("inventory_levels/update", body))

    assert error_class == "unmapped_item"
    assert "inventory item 55 at location 1001" in message


# Input that must not make the adapter raise.


def test_deep_nesting_is_invalid_json() -> None:
    error_class, message = only_dead_letter(run(b"[" * 100_000))

    assert error_class == "invalid_json"
    assert message == "the document nests arrays or objects too deeply to decode"


def test_malformed_gid_is_invalid() -> None:
    body = order_body(admin_graphql_api_id="gid://[shopify/Order/1")
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_payload"
    assert message.startswith("admin_graphql_api_id must be a gid://shopify/Order/")


def test_timestamp_out_of_range() -> None:
    body = order_body(updated_at="9999-12-31T23:59:59-23:59")
    error_class, message = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_payload"
    assert message.startswith("updated_at is out of range in UTC")


def test_huge_integer_is_invalid_quantity() -> None:
    error_class, message = only_dead_letter(
        deliver("inventory_levels/update", level_body(available=2**53))
    )

    assert error_class == "invalid_quantity"
    assert message == (
        "available: 9007199254740992 EA of SKU-BLUE is 9007199254740992 base "
        "units, more than the limit of 1000000000000"
    )


# Quantity limits: MAX_QUANTITY base units, as in the X12 and ERP CSV adapters.

LIMIT_TEXT = "more than the limit of 1000000000000"


@pytest.mark.parametrize(
    ("line_change", "message"),
    [
        (
            {"quantity": 6 * 10**18},
            "line_items[0].quantity: 6000000000000000000 EA of SKU-RED is "
            f"6000000000000000000 base units, {LIMIT_TEXT}",
        ),
        (
            {
                "quantity": MAX_QUANTITY + 1,
                "current_quantity": MAX_QUANTITY + 1,
                "fulfillable_quantity": 0,
            },
            "line_items[0].quantity: 1000000000001 EA of SKU-RED is 1000000000001 "
            f"base units, {LIMIT_TEXT}",
        ),
    ],
)
def test_order_quantity_above_limit(line_change: dict[str, Any], message: str) -> None:
    body = order_body()
    body["line_items"][0].update(line_change)
    error_class, found = only_dead_letter(deliver("orders/create", body))

    assert error_class == "invalid_quantity"
    assert found == message


def test_order_quantity_limit_after_conversion() -> None:
    body = order_body()
    body["line_items"][1].update(
        sku="SIX-PACK",
        quantity=200_000_000_000,
        current_quantity=None,
        fulfillable_quantity=None,
    )
    error_class, message = only_dead_letter(deliver("orders/updated", body))

    assert error_class == "invalid_quantity"
    assert message == (
        "line_items[1].quantity: 200000000000 EA of SKU-SIX is 1200000000000 "
        f"base units, {LIMIT_TEXT}"
    )


def test_order_quantity_at_limit() -> None:
    body = order_body()
    body["line_items"][0].update(
        quantity=MAX_QUANTITY, current_quantity=MAX_QUANTITY, fulfillable_quantity=1
    )
    output = deliver("orders/create", body)

    assert output.dead_letters == []
    red = lines_by_id(output)[RED_LINE]
    assert red.ordered_quantity == 1_000_000_000_000
    assert red.shipped_quantity == 999_999_999_999


def test_fulfillment_quantity_above_limit() -> None:
    body = fulfillment_body()
    body["line_items"][0]["quantity"] = MAX_QUANTITY + 1
    error_class, message = only_dead_letter(deliver("fulfillments/create", body))

    assert error_class == "invalid_quantity"
    assert message == (
        "line_items[0].quantity: 1000000000001 EA of SKU-RED is 1000000000001 "
        f"base units, {LIMIT_TEXT}"
    )


def test_refund_quantity_above_limit() -> None:
    body = refund_body(refund_line("return", 1002, 6 * 10**18))
    error_class, message = only_dead_letter(deliver("refunds/create", body))

    assert error_class == "invalid_quantity"
    assert message == (
        "refund_line_items[0].quantity: 6000000000000000000 EA of SKU-RED is "
        f"6000000000000000000 base units, {LIMIT_TEXT}"
    )


def test_inventory_level_negative_above_limit() -> None:
    body = level_body(available=-MAX_QUANTITY - 1)
    error_class, message = only_dead_letter(deliver("inventory_levels/update", body))

    assert error_class == "invalid_quantity"
    assert message == (
        "available: -1000000000001 EA of SKU-BLUE is -1000000000001 base units, "
        f"{LIMIT_TEXT} in magnitude"
    )
