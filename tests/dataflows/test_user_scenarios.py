"""Scenarios users report, each through the whole dataflow with exact results.

Each test feeds canonical events (or partner files through the adapters) to
``replay_events`` and checks the final ATP record and the postings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dataflows.replay import ReplayResult, replay_events
from invsync.catalog import Catalog
from invsync.config import InvsyncConfig, load_config
from invsync.events import (
    CanonicalEvent,
    ChannelInventoryLevel,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderLine,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    WarehouseAtp,
)
from invsync.golden import at, interchange
from sources.base import AdapterInput
from sources.registry import parse_input

CONFIG = Path(__file__).resolve().parents[2] / "samples" / "config.yaml"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SKU = "SKU-1"


def _header(event_id: str, minute: float, source: Source) -> dict[str, Any]:
    when = T0 + timedelta(minutes=minute)
    return {
        "event_id": event_id,
        "source": source,
        "event_time": when,
        "ingest_time": when,
    }


def receipt(event_id: str, quantity: int, minute: float = 0) -> InventoryMovement:
    """Build a receipt into W1."""
    return InventoryMovement(
        **_header(event_id, minute, Source.WMS),
        sku=SKU,
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=quantity,
    )


def order(
    event_id: str,
    order_id: str,
    ordered: int,
    version_minute: float,
    *,
    action: OrderAction = OrderAction.PLACED,
    rank: int = 0,
    cancelled: int = 0,
    shipped: int = 0,
    minute: float | None = None,
    channel: str = "WEB",
) -> OrderLine:
    """Build one order line of SKU in W1 at a version."""
    return OrderLine(
        **_header(
            event_id, version_minute if minute is None else minute, Source.SHOPIFY
        ),
        sku=SKU,
        warehouse="W1",
        order_id=order_id,
        line_id="1",
        action=action,
        ordered_quantity=ordered,
        cancelled_quantity=cancelled,
        shipped_quantity=shipped,
        version_time=T0 + timedelta(minutes=version_minute),
        version_rank=rank,
        channel=channel,
    )


def run(*events: CanonicalEvent) -> tuple[WarehouseAtp, ReplayResult]:
    """Replay events and return W1's ATP entry and the whole result."""
    result = replay_events(InvsyncConfig(), list(events))
    entries = {entry.warehouse: entry for entry in result.atp[SKU].warehouses}
    return entries["W1"], result


def test_same_order_webhook_twice() -> None:
    placed = order("o1", "A", 3, 1)
    entry, result = run(receipt("r1", 10), placed, placed)

    assert entry.reserved == 3
    assert entry.atp == 7
    assert result.atp[SKU].version.counter == 2


def test_update_before_create() -> None:
    entry, _ = run(
        receipt("r1", 10),
        order("o2", "A", 2, 5, action=OrderAction.CHANGED, rank=1),
        order("o1", "A", 4, 1),
    )

    assert entry.reserved == 2
    assert entry.atp == 8


def test_cancel_before_create() -> None:
    entry, _ = run(
        receipt("r1", 10),
        order("o2", "A", 4, 1, action=OrderAction.CANCELLED, rank=2, cancelled=4),
        order("o1", "A", 4, 1),
    )

    assert entry.reserved == 0
    assert entry.atp == 10


def test_cancellation_delivered_twice() -> None:
    cancel = order("o2", "A", 4, 3, action=OrderAction.CANCELLED, rank=2, cancelled=4)
    entry, result = run(receipt("r1", 10), order("o1", "A", 4, 1), cancel, cancel)

    assert entry.reserved == 0
    assert result.atp[SKU].version.counter == 3


def test_two_channels_last_unit_same_second() -> None:
    # Both lines are placed in the same second; the smaller event id is served.
    first = order("e-1", "WEB-9", 1, 1, channel="WEB")
    second = order("e-2", "AMZ-9", 1, 1, channel="AMAZON")
    for events in ((first, second), (second, first)):
        entry, result = run(receipt("r1", 1), *events)
        backorders = {
            (e.order_id, e.quantity)
            for e in result.exceptions
            if e.kind.value == "BACKORDER" and e.quantity > 0
        }

        assert entry.reserved == 2
        assert entry.atp == -1
        assert entry.backordered == 1
        assert backorders == {("AMZ-9", 1)}


def test_coalesced_inventory_level_webhooks() -> None:
    # Two channel updates that both report the final value: recorded once,
    # and on hand does not change.
    def level(event_id: str, minute: float) -> ChannelInventoryLevel:
        return ChannelInventoryLevel(
            **_header(event_id, minute, Source.SHOPIFY),
            sku=SKU,
            warehouse="W1",
            available=6,
        )

    entry, _ = run(receipt("r1", 10), level("l1", 2), level("l2", 3))

    assert entry.channel_available == 6
    assert entry.on_hand == 10


def test_snapshot_older_than_applied_movements() -> None:
    # A count as of minute 2 arrives after receipts at minutes 1 and 3: the
    # receipt at 3 applies on top of the count, the one at 1 is inside it.
    count = InventorySnapshot(
        **_header("n1", 4, Source.WMS),
        sku=SKU,
        warehouse="W1",
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=T0 + timedelta(minutes=2),
        balances=[StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=50)],
    )
    entry, result = run(receipt("r1", 10, 1), receipt("r2", 5, 3), count)

    assert entry.on_hand == 55
    assert len(result.postings) == 2


def test_short_shipment() -> None:
    ship = InventoryMovement(
        **_header("s1", 2, Source.WMS),
        sku=SKU,
        warehouse="W1",
        movement_type=MovementType.SHIP,
        quantity=8,
        order_id="A",
        line_id="1",
    )
    entry, result = run(receipt("r1", 20), order("o1", "A", 10, 1), ship)

    assert entry.on_hand == 12
    assert entry.reserved == 2
    assert entry.atp == 10
    assert [p.quantity for p in result.postings] == [20, -8]


def test_edi_interchange_resent() -> None:
    config = load_config(CONFIG)
    catalog = Catalog(config)
    body = [
        "W06*N*DO-1*20260302*SHP-1**PO-4500001",
        "N1*WH*THIRD PARTY DC*92*3PL01",
        "G62*11*20260302*8*1500",
        "LX*1",
        "W12*CC*24*24*0*EA**VN*W-100",
        "W03*24",
    ]
    events: list[CanonicalEvent] = []
    for control in (302, 302, 999):
        text = interchange(
            "TPL1EDI", "INVSYNCDIST", at(15), control, "SW", [("945", body)]
        )
        output = parse_input(
            AdapterInput(data=text.encode(), origin="945.edi"), catalog
        )
        assert output.dead_letters == []
        events.extend(output.events)

    result = replay_events(config, events)
    entries = {entry.warehouse: entry for entry in result.atp["SKU-100"].warehouses}

    assert len(events) == 3
    assert entries["WH-3PL"].on_hand == -24
    assert [p.quantity for p in result.postings] == [-24]
