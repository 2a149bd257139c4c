"""The golden scenario: one day of a distributor's traffic, as partner files.

Three warehouses (WH-EAST and WH-WEST on their own WMS, WH-3PL run by the 3PL
partner TPL1), a Shopify web channel (WEB), an EDI customer (CUST1) and a
supplier (SUPP1), on 2026-03-02 (UTC). The files are generated so that the demo
and the tests ingest the same bytes; the expected final ATP, postings and open
backorders are written out by hand in ``tests/test_golden.py`` and in
``docs/golden.md``, which walks through the arithmetic.

The partners, warehouses and items used here are configured in
``samples/config.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAY = datetime(2026, 3, 2, tzinfo=UTC)
OUR_ISA_ID = "INVSYNCDIST"
SHOP = "invsync-golden.myshopify.com"


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    """Return a time of the scenario's day (UTC)."""
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# WMS JSON lines.


def _wms(
    event_id: str, event_type: str, when: datetime, **fields: Any
) -> dict[str, Any]:
    return {
        "type": event_type,
        "event_id": event_id,
        "source": "WMS",
        "event_time": _iso(when),
        **fields,
    }


def wms_events() -> list[dict[str, Any]]:
    """Return the WMS events of WH-EAST and WH-WEST, in event-time order."""
    count = "InventorySnapshot"
    move = "InventoryMovement"
    morning = at(6)
    return [
        _wms(
            "g-wms-001",
            count,
            morning,
            sku="SKU-100",
            warehouse="WH-EAST",
            snapshot_kind="CYCLE_COUNT",
            as_of=_iso(morning),
            balances=[{"stock_status": "AVAILABLE", "quantity": 100}],
        ),
        _wms(
            "g-wms-002",
            count,
            morning,
            sku="SKU-200",
            warehouse="WH-EAST",
            snapshot_kind="CYCLE_COUNT",
            as_of=_iso(morning),
            balances=[{"stock_status": "AVAILABLE", "quantity": 40}],
        ),
        _wms(
            "g-wms-003",
            count,
            morning,
            sku="SKU-100",
            warehouse="WH-WEST",
            snapshot_kind="CYCLE_COUNT",
            as_of=_iso(morning),
            balances=[{"stock_status": "AVAILABLE", "quantity": 30}],
        ),
        _wms(
            "g-wms-004",
            count,
            morning,
            sku="SKU-300",
            warehouse="WH-WEST",
            snapshot_kind="CYCLE_COUNT",
            as_of=_iso(morning),
            balances=[{"stock_status": "AVAILABLE", "quantity": 5}],
        ),
        _wms(
            "g-wms-005",
            "SafetyStockSetting",
            at(6, 5),
            sku="SKU-100",
            warehouse="WH-EAST",
            quantity=10,
        ),
        _wms(
            "g-wms-006", "WarehouseSetting", at(6, 5), warehouse="WH-EAST", active=True
        ),
        _wms(
            "g-wms-007", "WarehouseSetting", at(6, 5), warehouse="WH-WEST", active=True
        ),
        _wms(
            "g-wms-008", "WarehouseSetting", at(6, 5), warehouse="WH-3PL", active=True
        ),
        _wms(
            "g-wms-009",
            move,
            at(9, 30),
            sku="SKU-100",
            warehouse="WH-EAST",
            movement_type="STATUS_CHANGE",
            quantity=3,
            stock_status="AVAILABLE",
            to_status="DAMAGED",
            reason_code="FORKLIFT",
        ),
        _wms(
            "g-wms-010",
            move,
            at(11),
            sku="SKU-200",
            warehouse="WH-EAST",
            movement_type="RECEIPT",
            quantity=24,
            document_id="ASN-7001",
        ),
        _wms(
            "g-wms-011",
            move,
            at(13),
            sku="SKU-100",
            warehouse="WH-EAST",
            movement_type="TRANSFER_OUT",
            quantity=20,
            transfer_id="T-1",
            other_warehouse="WH-WEST",
        ),
        _wms(
            "g-wms-012",
            move,
            at(16),
            sku="SKU-100",
            warehouse="WH-WEST",
            movement_type="TRANSFER_IN",
            quantity=18,
            transfer_id="T-1",
            other_warehouse="WH-EAST",
        ),
        _wms(
            "g-wms-013",
            move,
            at(17),
            sku="SKU-300",
            warehouse="WH-WEST",
            movement_type="ADJUSTMENT",
            quantity=-1,
            reason_code="BROKEN",
        ),
        _wms(
            "g-wms-014",
            move,
            at(18),
            sku="SKU-100",
            warehouse="WH-EAST",
            movement_type="SHIP",
            quantity=2,
            order_id="5001",
            line_id="9001",
        ),
        # A count of WH-WEST taken at noon and sent in the evening: the
        # adjustment at 17:00 still applies on top of it.
        _wms(
            "g-wms-015",
            count,
            at(20),
            sku="SKU-300",
            warehouse="WH-WEST",
            snapshot_kind="CYCLE_COUNT",
            as_of=_iso(at(12)),
            balances=[{"stock_status": "AVAILABLE", "quantity": 6}],
        ),
        _wms(
            "g-wms-016",
            move,
            at(5, day=1),
            sku="SKU-300",
            warehouse="WH-WEST",
            movement_type="PICK",
            quantity=3,
        ),
    ]


# Shopify deliveries.


def _line(
    line_id: int,
    variant: int,
    sku: str,
    quantity: int,
    current: int | None = None,
    fulfillable: int | None = None,
) -> dict[str, Any]:
    current = quantity if current is None else current
    return {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "variant_id": variant,
        "sku": sku,
        "quantity": quantity,
        "current_quantity": current,
        "fulfillable_quantity": current if fulfillable is None else fulfillable,
    }


def _order(
    order_id: int,
    updated: datetime,
    lines: list[dict[str, Any]],
    cancelled: datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "created_at": _iso(updated),
        "updated_at": _iso(updated),
        "cancelled_at": None if cancelled is None else _iso(cancelled),
        "line_items": lines,
    }


def _delivery(
    topic: str, webhook_id: str, when: datetime, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "topic": topic,
        "headers": {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Triggered-At": _iso(when),
        },
        "body": body,
    }


def shopify_deliveries() -> list[tuple[str, dict[str, Any]]]:
    """Return (file name, delivery) pairs of the web channel, in delivery order."""
    first = _order(
        5001,
        at(8, 15),
        [
            _line(9001, 41000000100, "SKU-100", 2),
            _line(9002, 41000000300, "SKU-300", 4),
        ],
    )
    edited = _order(
        5001,
        at(10),
        [
            _line(9001, 41000000100, "SKU-100", 2),
            _line(9002, 41000000300, "SKU-300", 4, current=3),
        ],
    )
    second = _order(5002, at(12), [_line(9003, 41000000300, "SKU-300", 2)])
    second_cancelled = _order(
        5002, at(12), [_line(9003, 41000000300, "SKU-300", 2)], cancelled=at(12)
    )
    third = _order(5003, at(21), [_line(9004, 41000000300, "SKU-300", 4)])
    fulfillment = {
        "id": 6001,
        "admin_graphql_api_id": "gid://shopify/Fulfillment/6001",
        "order_id": 5001,
        "location_id": 7001,
        "status": "success",
        "created_at": _iso(at(18, 5)),
        "updated_at": _iso(at(18, 5)),
        "line_items": [_line(9001, 41000000100, "SKU-100", 2, fulfillable=0)],
    }
    level = {
        "inventory_item_id": 43000000300,
        "location_id": 7002,
        "available": 1,
        "updated_at": _iso(at(19)),
        "admin_graphql_api_id": "gid://shopify/InventoryLevel/7002?inventory_item_id=43000000300",
    }
    return [
        (
            "10-orders-create-5001.json",
            _delivery("orders/create", "wh-0001", at(8, 15), first),
        ),
        # The same webhook delivered twice: it must change nothing.
        (
            "11-orders-create-5001-again.json",
            _delivery("orders/create", "wh-0001", at(8, 15), first),
        ),
        (
            "12-orders-updated-5001.json",
            _delivery("orders/updated", "wh-0002", at(10), edited),
        ),
        (
            "13-orders-create-5002.json",
            _delivery("orders/create", "wh-0003", at(12), second),
        ),
        (
            "14-orders-cancelled-5002.json",
            _delivery("orders/cancelled", "wh-0004", at(12), second_cancelled),
        ),
        (
            "15-fulfillments-create-6001.json",
            _delivery("fulfillments/create", "wh-0005", at(18, 5), fulfillment),
        ),
        (
            "16-inventory-levels-update.json",
            _delivery("inventory_levels/update", "wh-0006", at(19), level),
        ),
        (
            "17-orders-create-5003.json",
            _delivery("orders/create", "wh-0007", at(21), third),
        ),
    ]


# X12 documents.


def _isa_field(value: str, width: int) -> str:
    return value.ljust(width)[:width]


def interchange(
    sender: str,
    receiver: str,
    when: datetime,
    control: int,
    functional_code: str,
    sets: Iterable[tuple[str, list[str]]],
) -> str:
    """Build one X12 004010 interchange with one group and correct control counts.

    ``sets`` contains (transaction set id, segments between ST and SE) pairs.
    """
    date6, date8, time4 = (
        when.strftime("%y%m%d"),
        when.strftime("%Y%m%d"),
        when.strftime("%H%M"),
    )
    segments = [
        "ISA*00*"
        + " " * 10
        + "*00*"
        + " " * 10
        + "*ZZ*"
        + _isa_field(sender, 15)
        + "*ZZ*"
        + _isa_field(receiver, 15)
        + f"*{date6}*{time4}*U*00401*"
        + f"{control:09d}*0*P*>",
        f"GS*{functional_code}*{sender}*{receiver}*{date8}*{time4}*{control}*X*004010",
    ]
    count = 0
    for index, (set_id, body) in enumerate(sets, start=1):
        st02 = f"{index:04d}"
        segments.append(f"ST*{set_id}*{st02}")
        segments.extend(body)
        segments.append(f"SE*{len(body) + 2}*{st02}")
        count += 1
    segments.append(f"GE*{count}*{control}")
    segments.append(f"IEA*1*{control:09d}")
    return "~\n".join(segments) + "~\n"


def x12_documents() -> list[tuple[str, str]]:
    """Return (file name, interchange) pairs of the EDI partners, in order."""
    po = interchange(
        "CUST1EDI",
        OUR_ISA_ID,
        at(7, 30),
        101,
        "PO",
        [
            (
                "850",
                [
                    "BEG*00*SA*PO-4500001**20260302",
                    "N1*ST*CUSTOMER ONE DC*92*C1-DC",
                    "PO1*1*2*CA*12.50**UP*012345678905",
                    "PO1*2*10*EA*4.00**VN*G-200",
                    "CTT*2",
                ],
            )
        ],
    )
    unmapped = interchange(
        "CUST1EDI",
        OUR_ISA_ID,
        at(7, 45),
        102,
        "PO",
        [
            (
                "850",
                [
                    "BEG*00*SA*PO-4500002**20260302",
                    "PO1*1*5*EA*1.00**VN*NOT-IN-CATALOG",
                    "CTT*1",
                ],
            )
        ],
    )
    asn = interchange(
        "SUPP1EDI",
        OUR_ISA_ID,
        at(7),
        201,
        "SH",
        [
            (
                "856",
                [
                    "BSN*00*ASN-7001*20260302*0700",
                    "DTM*017*20260302",
                    "HL*1**S",
                    "N1*ST*INVSYNC EAST*92*EAST01",
                    "HL*2*1*O",
                    "PRF*PO-SUPP-1",
                    "HL*3*2*I",
                    "LIN**VN*G-200",
                    "SN1**24*EA",
                    "CTT*3",
                ],
            ),
            (
                "856",
                [
                    "BSN*00*ASN-7002*20260302*0700",
                    "DTM*017*20260304",
                    "HL*1**S",
                    "N1*ST*INVSYNC WEST*92*WEST01",
                    "HL*2*1*O",
                    "PRF*PO-SUPP-2",
                    "HL*3*2*I",
                    "LIN**VN*Z-300",
                    "SN1**12*EA",
                    "CTT*3",
                ],
            ),
        ],
    )
    stock = interchange(
        "TPL1EDI",
        OUR_ISA_ID,
        at(6),
        301,
        "IB",
        [
            (
                "846",
                [
                    "BIA*00*MM*INV-0302*20260302*0600",
                    "N1*WH*THIRD PARTY DC*92*3PL01",
                    "LIN**VN*W-100",
                    "QTY*17*50*EA",
                    "QTY*QH*2*EA",
                ],
            )
        ],
    )
    shipping_order = interchange(
        OUR_ISA_ID,
        "TPL1EDI",
        at(8),
        401,
        "OW",
        [
            (
                "940",
                [
                    "W05*N*DO-1*PO-4500001",
                    "N1*WH*THIRD PARTY DC*92*3PL01",
                    "G62*10*20260302",
                    "LX*1",
                    "W01*24*EA**VN*W-100",
                    "W76*24",
                ],
            )
        ],
    )
    shipped = interchange(
        "TPL1EDI",
        OUR_ISA_ID,
        at(15),
        302,
        "SW",
        [
            (
                "945",
                [
                    "W06*N*DO-1*20260302*SHP-1**PO-4500001",
                    "N1*WH*THIRD PARTY DC*92*3PL01",
                    "G62*11*20260302*8*1500",
                    "LX*1",
                    "W12*CC*24*24*0*EA**VN*W-100",
                    "W03*24",
                ],
            )
        ],
    )
    adjusted = interchange(
        "TPL1EDI",
        OUR_ISA_ID,
        at(16, 30),
        303,
        "AW",
        [
            (
                "947",
                [
                    "W15*20260302*ADJ-1",
                    "N1*WH*THIRD PARTY DC*92*3PL01",
                    "G62*07*20260302*8*1630",
                    "LX*1",
                    "W19*AV*-1*EA**VN*W-100",
                ],
            )
        ],
    )
    return [
        ("20-846-stock.edi", stock),
        ("21-856-asn.edi", asn),
        ("22-850-po.edi", po),
        ("23-850-unmapped-item.edi", unmapped),
        ("24-940-shipping-order.edi", shipping_order),
        ("25-945-shipped.edi", shipped),
        ("26-947-adjusted.edi", adjusted),
    ]


# ERP balance export.

ERP_AS_OF = at(18, 30)
ERP_CSV_HEADER = "sku,warehouse,stock_status,quantity,unit,as_of,last_applied_sequence"


def erp_balance_rows() -> list[str]:
    """Return the ERP's balances as of 18:30, as rows of its CSV export.

    SKU-100 at WH-EAST agrees once the 18:00 shipment still in flight is
    counted. At WH-WEST the ERP has not applied the 16:00 transfer receipt,
    which is stuck. SKU-200 at WH-EAST is 4 short with no explanation, and
    SKU-300 at WH-WEST is 1 short, within the tolerance of 2 units.
    """
    as_of = _iso(ERP_AS_OF)
    return [
        f"SKU-100,WH-EAST,UNRESTRICTED,77,EA,{as_of},2",
        f"SKU-100,WH-EAST,BLOCKED,3,EA,{as_of},2",
        f"SKU-100,WH-WEST,UNRESTRICTED,30,EA,{as_of},0",
        f"SKU-200,WH-EAST,,60,EA,{as_of},1",
        f"SKU-300,WH-WEST,,4,EA,{as_of},1",
    ]


def write_golden_files(directory: Path) -> Path:
    """Write the scenario's partner files into a directory and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(event) for event in wms_events()]
    # A line with an impossible value: the WMS adapter must dead-letter it.
    lines.append(
        json.dumps(
            _wms(
                "g-wms-bad",
                "InventoryMovement",
                at(12),
                sku="SKU-100",
                warehouse="WH-EAST",
                movement_type="SHIP",
                quantity=-5,
            )
        )
    )
    (directory / "00-wms.jsonl").write_text("\n".join(lines) + "\n")
    for name, delivery in shopify_deliveries():
        (directory / name).write_text(json.dumps(delivery, indent=2) + "\n")
    for name, text in x12_documents():
        (directory / name).write_text(text)
    erp_lines = [ERP_CSV_HEADER, *erp_balance_rows()]
    (directory / "30-erp-balances.csv").write_text("\n".join(erp_lines) + "\n")
    return directory
