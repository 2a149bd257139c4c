"""The reference model, rule by rule, with values derived by hand.

Times are minutes after T0. The configuration keeps the default windows except
a posting grace of 60 minutes, so the offsets show each window directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from invsync.config import InvsyncConfig
from invsync.events import (
    AckStatus,
    AdviceAction,
    AlertState,
    CanonicalEvent,
    ErpBalanceSnapshot,
    ErpPostingAck,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderAllocation,
    OrderFulfillment,
    OrderLine,
    SafetyStockSetting,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    SupplyAdvice,
    VarianceCause,
)
from operators.reference import AlertOutcome, AtpRow, reference
from sources.base import stable_id

SKU = "SKU-1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def config(**variance: Any) -> InvsyncConfig:
    return InvsyncConfig.model_validate(
        {"variance": {"posting_grace": "PT60M", **variance}}
    )


def header(event_id: str, minute: float, source: Source = Source.WMS) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": source,
        "event_time": at(minute),
        "ingest_time": at(minute),
    }


def move(
    event_id: str,
    kind: MovementType,
    quantity: int,
    minute: float,
    warehouse: str = "W1",
    **fields: Any,
) -> InventoryMovement:
    return InventoryMovement(
        **header(event_id, minute),
        sku=SKU,
        warehouse=warehouse,
        movement_type=kind,
        quantity=quantity,
        **fields,
    )


def count(
    event_id: str,
    minute: float,
    as_of: float,
    available: int,
    warehouse: str = "W1",
    **statuses: int,
) -> InventorySnapshot:
    balances = [StatusQuantity(stock_status=StockStatus.AVAILABLE, quantity=available)]
    balances += [
        StatusQuantity(stock_status=StockStatus(name), quantity=quantity)
        for name, quantity in statuses.items()
    ]
    return InventorySnapshot(
        **header(event_id, minute),
        sku=SKU,
        warehouse=warehouse,
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=at(as_of),
        balances=balances,
    )


def line(
    event_id: str,
    minute: float,
    ordered: int,
    *,
    line_id: str = "1",
    order_id: str = "SO-1",
    rank: int = 0,
    warehouse: str | None = "W1",
    **fields: Any,
) -> OrderLine:
    action = [OrderAction.PLACED, OrderAction.CHANGED, OrderAction.CANCELLED][rank]
    return OrderLine(
        **header(event_id, minute, Source.SHOPIFY),
        sku=SKU,
        warehouse=warehouse,
        channel="shop",
        order_id=order_id,
        line_id=line_id,
        action=action,
        ordered_quantity=ordered,
        version_time=at(minute),
        version_rank=rank,
        **fields,
    )


def erp(
    event_id: str,
    as_of: float,
    quantity: int,
    warehouse: str = "W1",
    **fields: Any,
) -> ErpBalanceSnapshot:
    return ErpBalanceSnapshot(
        **header(event_id, as_of, Source.ERP),
        sku=SKU,
        warehouse=warehouse,
        quantity=quantity,
        as_of=at(as_of),
        **fields,
    )


def rejected(event_id: str, minute: float, movement_id: str) -> ErpPostingAck:
    return ErpPostingAck(
        **header(event_id, minute, Source.ERP),
        posting_id=stable_id("posting", movement_id),
        sku=SKU,
        warehouse="W1",
        status=AckStatus.REJECTED,
    )


def row(events: list[CanonicalEvent], warehouse: str = "W1") -> AtpRow:
    return reference(config(), events).atp[(SKU, warehouse)]


def balance_alert(as_of: float, warehouse: str = "W1") -> str:
    return stable_id("variance", SKU, warehouse, at(as_of).isoformat())


# On hand.


def test_on_hand_count_plus_later_movements() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move("s1", MovementType.SHIP, 3, 5),
        # The count as of minute 6 already contains r1 and s1.
        count("c1", 8, 6, 20),
        move("r2", MovementType.RECEIPT, 4, 7),
        move("a1", MovementType.ADJUSTMENT, -1, 9),
    ]
    assert row(events).on_hand == 23


def test_on_hand_late_movement_inside_count() -> None:
    # A movement at or before the count's as_of changes no on-hand quantity,
    # wherever it sits in the log.
    events: list[CanonicalEvent] = [
        count("c1", 10, 6, 20),
        move("r1", MovementType.RECEIPT, 10, 6),
        move("r2", MovementType.RECEIPT, 1, 11),
    ]
    assert row(events).on_hand == 21


def test_on_hand_newest_as_of_wins() -> None:
    events: list[CanonicalEvent] = [
        count("c1", 10, 8, 20),
        count("c2", 12, 4, 99),
        move("r1", MovementType.RECEIPT, 2, 6),
    ]
    assert row(events).on_hand == 20


def test_count_keeps_unlisted_status() -> None:
    events: list[CanonicalEvent] = [
        move("q1", MovementType.RECEIPT, 4, 1, stock_status=StockStatus.QC),
        count("c1", 5, 4, 10),
    ]
    figures = row(events)
    assert figures.on_hand == 14
    assert figures.held == 4


def test_status_change_moves_to_held() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move(
            "h1",
            MovementType.STATUS_CHANGE,
            3,
            2,
            stock_status=StockStatus.AVAILABLE,
            to_status=StockStatus.HOLD,
        ),
    ]
    figures = row(events)
    assert figures.on_hand == 10
    assert figures.held == 3
    assert figures.atp == 7


def test_pick_changes_nothing() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 5, 1),
        move("p1", MovementType.PICK, 2, 2),
    ]
    result = reference(config(), events)
    assert result.atp[(SKU, "W1")].on_hand == 5
    assert stable_id("posting", "p1") not in result.postings


# Postings.


def test_postings_signed_by_type() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 5, 1),
        move("t1", MovementType.RETURN, 1, 2),
        move("s1", MovementType.SHIP, 2, 3),
        move("a1", MovementType.ADJUSTMENT, -4, 4),
        move(
            "o1", MovementType.TRANSFER_OUT, 3, 5, transfer_id="T", other_warehouse="W2"
        ),
        move("i1", MovementType.TRANSFER_IN, 3, 6, warehouse="W2", transfer_id="T"),
    ]
    postings = reference(config(), events).postings
    assert postings == {
        stable_id("posting", "r1"): 5,
        stable_id("posting", "t1"): 1,
        stable_id("posting", "s1"): -2,
        stable_id("posting", "a1"): -4,
        stable_id("posting", "o1"): -3,
        stable_id("posting", "i1"): 3,
    }


def test_status_change_posts_across_types_only() -> None:
    events: list[CanonicalEvent] = [
        move(
            "x1",
            MovementType.STATUS_CHANGE,
            2,
            1,
            stock_status=StockStatus.AVAILABLE,
            to_status=StockStatus.QC,
        ),
        move(
            "x2",
            MovementType.STATUS_CHANGE,
            1,
            2,
            stock_status=StockStatus.DAMAGED,
            to_status=StockStatus.HOLD,
        ),
    ]
    postings = reference(config(), events).postings
    assert postings == {stable_id("posting", "x1"): -2}


# Duplicates, order and limits.


def test_duplicates_and_order_ignored() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        count("c1", 3, 2, 8),
        line("o1", 4, 5),
        move("s1", MovementType.SHIP, 2, 5, order_id="SO-1", line_id="1"),
    ]
    forward = reference(config(), events)
    shuffled = reference(
        config(), [events[3], events[0], events[3], events[2], events[1]]
    )
    assert shuffled.atp == forward.atp
    assert shuffled.postings == forward.postings
    assert forward.atp[(SKU, "W1")] == AtpRow(
        on_hand=6, held=0, reserved=3, inbound=0, safety_stock=0, atp=3, backordered=0
    )


def test_future_event_left_out() -> None:
    future = move("f1", MovementType.RECEIPT, 7, 1).model_copy(
        update={"event_time": at(1) + timedelta(days=2)}
    )
    events: list[CanonicalEvent] = [move("r1", MovementType.RECEIPT, 5, 1), future]
    assert row(events).on_hand == 5


def test_long_log_rejected() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 5, 1),
        move("r2", MovementType.RECEIPT, 5, 60 * 24 * 2 + 1),
    ]
    with pytest.raises(ValueError, match="shortest retention window 2 days"):
        reference(config(), events)


# Order lines.


def test_newest_version_wins() -> None:
    events: list[CanonicalEvent] = [
        line("v2", 5, 4, rank=1),
        line("v1", 1, 9),
    ]
    assert row(events).reserved == 4


def test_cancel_same_time_wins() -> None:
    cancel = line("c", 1, 6, rank=2, cancelled_quantity=6)
    events: list[CanonicalEvent] = [cancel, line("p", 1, 6)]
    assert row(events).reserved == 0


def test_shipped_is_largest_report() -> None:
    fulfillment = OrderFulfillment(
        **header("f1", 3, Source.SHOPIFY),
        sku=SKU,
        order_id="SO-1",
        line_id="1",
        fulfillment_id="F1",
        quantity=4,
    )
    events: list[CanonicalEvent] = [
        line("p", 1, 10, shipped_quantity=1),
        move("s1", MovementType.SHIP, 3, 2, order_id="SO-1", line_id="1"),
        fulfillment,
    ]
    assert row(events).reserved == 6


def test_order_shipment_spread_by_line_id() -> None:
    events: list[CanonicalEvent] = [
        line("l10", 1, 5, line_id="10", warehouse="W2"),
        line("l2", 1, 3, line_id="2"),
        move("s1", MovementType.SHIP, 4, 2, order_id="SO-1"),
    ]
    # Line 2 takes 3, line 10 takes the remaining 1.
    assert row(events, "W1").reserved == 0
    assert row(events, "W2").reserved == 4


def test_removed_line_becomes_zero() -> None:
    ids = ["1", "2"]
    events: list[CanonicalEvent] = [
        line("a1", 1, 3, line_id="1", order_line_ids=ids),
        line("a2", 1, 4, line_id="2", order_line_ids=ids),
        line("b1", 2, 3, line_id="1", rank=1, order_line_ids=["1"]),
    ]
    assert row(events).reserved == 3


def test_unallocated_demand_per_sku() -> None:
    events: list[CanonicalEvent] = [line("p", 1, 5, warehouse=None)]
    result = reference(config(), events)
    assert result.unallocated_demand == {SKU: 5}
    assert result.atp == {}


def test_allocation_sets_location() -> None:
    allocation = OrderAllocation(
        **header("w940", 2, Source.X12),
        sku=SKU,
        warehouse="W2",
        order_id="SO-1",
        line_id="1",
        quantity=5,
    )
    result = reference(config(), [allocation, line("p", 1, 5, warehouse=None)])
    assert result.atp[(SKU, "W2")].reserved == 5
    assert result.unallocated_demand == {SKU: 0}


# Backorders.


def test_last_unit_one_line_backordered() -> None:
    # Two channels order the last unit in the same second: one line is served
    # and the other is backordered, whatever order the log lists them in.
    web = line("o-web", 2, 1, order_id="WEB-1")
    edi = line("o-edi", 2, 1, order_id="EDI-1")
    receipt = move("r1", MovementType.RECEIPT, 1, 1)
    for events in ([receipt, web, edi], [edi, receipt, web]):
        figures = row(events)
        assert figures.reserved == 2
        assert figures.atp == -1
        assert figures.backordered == 1


def test_unallocated_served_from_left_capacity() -> None:
    # W1 has 5 and its own line takes 3. W2 has 1 available and 4 held. The
    # unallocated lines of 2 and 3 share the 3 left, so they lack 2.
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 5, 1),
        move("r2", MovementType.RECEIPT, 1, 1, warehouse="W2"),
        move(
            "r3",
            MovementType.RECEIPT,
            4,
            1,
            warehouse="W2",
            stock_status=StockStatus.QC,
        ),
        line("a", 2, 3, order_id="SO-A"),
        line("b", 3, 2, order_id="SO-B", warehouse=None),
        line("c", 4, 3, order_id="SO-C", warehouse=None),
    ]
    result = reference(config(), events)
    assert result.atp[(SKU, "W1")].backordered == 0
    assert result.atp[(SKU, "W2")].backordered == 0
    assert result.unallocated_demand == {SKU: 5}
    assert result.unallocated_backordered == {SKU: 2}


# Inbound, safety stock and ATP.


def test_inbound_advice_minus_receipts() -> None:
    advice = SupplyAdvice(
        **header("asn", 1, Source.X12),
        sku=SKU,
        warehouse="W1",
        document_id="ASN-1",
        quantity=10,
    )
    withdrawn = SupplyAdvice(
        **header("asn-2", 2, Source.X12),
        sku=SKU,
        warehouse="W1",
        document_id="ASN-2",
        action=AdviceAction.CANCELLED,
        quantity=8,
    )
    events: list[CanonicalEvent] = [
        advice,
        withdrawn,
        move("r1", MovementType.RECEIPT, 3, 3, document_id="ASN-1"),
    ]
    assert row(events).inbound == 7


def test_transfer_in_transit_at_destination() -> None:
    events: list[CanonicalEvent] = [
        move(
            "o1", MovementType.TRANSFER_OUT, 5, 1, transfer_id="T", other_warehouse="W2"
        ),
        move("i1", MovementType.TRANSFER_IN, 2, 3, warehouse="W2", transfer_id="T"),
    ]
    assert row(events, "W2").inbound == 3
    assert row(events, "W1").inbound == 0


def test_latest_safety_stock_and_atp() -> None:
    def setting(event_id: str, minute: float, quantity: int) -> SafetyStockSetting:
        return SafetyStockSetting(
            **header(event_id, minute, Source.CONFIG),
            sku=SKU,
            warehouse="W1",
            quantity=quantity,
        )

    events: list[CanonicalEvent] = [
        setting("s2", 5, 2),
        setting("s1", 1, 9),
        move("r1", MovementType.RECEIPT, 4, 2),
        line("p", 3, 5),
    ]
    assert row(events) == AtpRow(
        on_hand=4, held=0, reserved=5, inbound=0, safety_stock=2, atp=-3, backordered=3
    )


# Variance.


def test_rejected_posting_cause() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move("r2", MovementType.RECEIPT, 3, 2),
        rejected("k1", 4, "r2"),
        erp("e1", 5, 10),
    ]
    alerts = reference(config(), events).alerts
    assert alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.OPENED, VarianceCause.POSTING_REJECTED, -3
        )
    }


def test_rejected_after_as_of_in_flight() -> None:
    # Without a sequence, a posting after as_of is in flight even if rejected.
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move("r2", MovementType.RECEIPT, 3, 6),
        rejected("k1", 7, "r2"),
        erp("e1", 5, 10).model_copy(update={"event_time": at(8)}),
    ]
    assert reference(config(), events).alerts == {}


def test_stuck_posting_cause() -> None:
    # The ERP applied sequence 1. r2 (sequence 2) is 90 minutes old and stuck.
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 0),
        move("r2", MovementType.RECEIPT, 4, 10),
        move("r3", MovementType.RECEIPT, 1, 95),
        erp("e1", 100, 10, last_applied_sequence=1),
    ]
    alerts = reference(config(), events).alerts
    assert alerts == {
        balance_alert(100): AlertOutcome(
            AlertState.OPENED, VarianceCause.IN_FLIGHT_STUCK, -4
        )
    }


def test_count_is_unposted_adjustment() -> None:
    # The first count is the opening balance, and the second lowers on hand by 2.
    events: list[CanonicalEvent] = [
        count("c1", 1, 0.5, 10),
        count("c2", 3, 2.5, 8),
        erp("e1", 5, 10),
    ]
    alerts = reference(config(), events).alerts
    assert alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.OPENED, VarianceCause.UNPOSTED_ADJUSTMENT, 2
        )
    }


def test_count_after_as_of_expected() -> None:
    # The count after the balance's as_of explains the whole difference.
    events: list[CanonicalEvent] = [
        count("c1", 1, 0.5, 10),
        count("c2", 9, 8.5, 8),
        erp("e1", 5, 10),
    ]
    assert reference(config(), events).alerts == {}


def test_count_at_as_of_before_balance() -> None:
    # A count as of the balance's own as_of is inside the ERP's figure.
    events: list[CanonicalEvent] = [
        count("c1", 1, 0.5, 10),
        count("c2", 6, 5, 8),
        erp("e1", 5, 10).model_copy(update={"event_time": at(7)}),
    ]
    assert reference(config(), events).alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.OPENED, VarianceCause.UNPOSTED_ADJUSTMENT, 2
        )
    }


def test_status_mismatch_rows_together() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move("q1", MovementType.RECEIPT, 4, 2, stock_status=StockStatus.QC),
        erp("e1", 5, 12, stock_status=StockStatus.AVAILABLE),
        erp("e2", 5, 2, stock_status=StockStatus.QC).model_copy(
            update={"event_id": "e2", "event_time": at(5.5)}
        ),
    ]
    alerts = reference(config(), events).alerts
    assert alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.OPENED, VarianceCause.STATUS_MISMATCH, 2
        )
    }


def test_consecutive_snapshots_then_resolved() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        erp("e1", 5, 7),
        erp("e2", 6, 6),
        erp("e3", 7, 10),
    ]
    alerts = reference(config(consecutive_snapshots=2), events).alerts
    # The alert opens on e2 with the id of the streak's first snapshot, e1,
    # and e3 resolves it with the cause of the alert it closes.
    assert alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.RESOLVED, VarianceCause.UNEXPLAINED, 0
        )
    }


def test_older_balance_ignored() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        erp("e1", 8, 10),
        erp("e2", 5, 0).model_copy(update={"event_time": at(9)}),
    ]
    assert reference(config(), events).alerts == {}


def test_most_specific_tolerance() -> None:
    tolerances = [
        {"units": 100},
        {"warehouse": "W1", "units": 5},
        {"warehouse": "W1", "sku_class": "fast", "units": 1},
    ]
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        erp("e1", 5, 8),
    ]
    loose = config(tolerances=tolerances[:2])
    strict = config(tolerances=tolerances, sku_classes={SKU: "fast"})
    assert reference(loose, events).alerts == {}
    assert reference(strict, events).alerts == {
        balance_alert(5): AlertOutcome(AlertState.OPENED, VarianceCause.UNEXPLAINED, -2)
    }


def test_percent_tolerance() -> None:
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 100, 1),
        erp("e1", 5, 95),
    ]
    # 5 of 100 is 5 percent: within a 5 percent limit, beyond 4 percent.
    assert reference(config(tolerances=[{"percent": 5}]), events).alerts == {}
    assert reference(config(tolerances=[{"percent": 4}]), events).alerts == {
        balance_alert(5): AlertOutcome(AlertState.OPENED, VarianceCause.UNEXPLAINED, -5)
    }


def test_transfer_short_final_receipt() -> None:
    events: list[CanonicalEvent] = [
        move(
            "o1",
            MovementType.TRANSFER_OUT,
            50,
            1,
            transfer_id="T",
            other_warehouse="W2",
        ),
        move(
            "i1",
            MovementType.TRANSFER_IN,
            48,
            3,
            warehouse="W2",
            transfer_id="T",
            final_receipt=True,
        ),
    ]
    alerts = reference(config(), events).alerts
    assert alerts == {
        stable_id("transfer-variance", SKU, "T"): AlertOutcome(
            AlertState.OPENED, VarianceCause.TRANSFER_DISCREPANCY, -2
        )
    }


def test_transfer_balanced_no_alert() -> None:
    events: list[CanonicalEvent] = [
        move(
            "o1",
            MovementType.TRANSFER_OUT,
            50,
            1,
            transfer_id="T",
            other_warehouse="W2",
        ),
        move("i1", MovementType.TRANSFER_IN, 48, 3, warehouse="W2", transfer_id="T"),
        move("i2", MovementType.TRANSFER_IN, 2, 60, warehouse="W2", transfer_id="T"),
        move("r1", MovementType.RECEIPT, 1, 60 * 25),
    ]
    assert reference(config(), events).alerts == {}


def test_transfer_complete_after_grace() -> None:
    events: list[CanonicalEvent] = [
        move(
            "o1",
            MovementType.TRANSFER_OUT,
            50,
            1,
            transfer_id="T",
            other_warehouse="W2",
        ),
        move("i1", MovementType.TRANSFER_IN, 48, 3, warehouse="W2", transfer_id="T"),
    ]
    # The SKU's latest event time must reach the last receipt plus 24 hours.
    early = move("r1", MovementType.RECEIPT, 1, 2 + 60 * 24)
    assert reference(config(), [*events, early]).alerts == {}
    alerts = reference(
        config(), [*events, early.model_copy(update={"event_time": at(3 + 60 * 24)})]
    ).alerts
    assert alerts == {
        stable_id("transfer-variance", SKU, "T"): AlertOutcome(
            AlertState.OPENED, VarianceCause.TRANSFER_DISCREPANCY, -2
        )
    }


def test_same_as_of_not_new_snapshot() -> None:
    # An acknowledgment between the rows splits their evaluation, and the
    # second evaluation of the same as_of does not extend the streak.
    events: list[CanonicalEvent] = [
        move("r1", MovementType.RECEIPT, 10, 1),
        move("q1", MovementType.RECEIPT, 4, 2, stock_status=StockStatus.QC),
        erp("e1", 5, 7, stock_status=StockStatus.AVAILABLE),
        rejected("k1", 5.2, "unknown"),
        erp("e2", 5, 4, stock_status=StockStatus.QC).model_copy(
            update={"event_time": at(5.5)}
        ),
    ]
    assert reference(config(consecutive_snapshots=2), events).alerts == {}
    # With one snapshot enough, e1 opens the alert on the AVAILABLE type and the
    # evaluation of both rows updates it to the total.
    assert reference(config(), events).alerts == {
        balance_alert(5): AlertOutcome(
            AlertState.UPDATED, VarianceCause.UNEXPLAINED, -3
        )
    }
