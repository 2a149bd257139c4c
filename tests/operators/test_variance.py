"""ERP/WMS variance through SkuState, case by case, with hand-derived values.

Times are minutes after T0. Posting grace is 60 minutes and transfer grace 120
minutes, so the offsets show each window directly.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from invsync.config import ToleranceRule
from invsync.events import (
    AckStatus,
    AlertState,
    CanonicalEvent,
    ErpBalanceSnapshot,
    ErpPosting,
    ErpPostingAck,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
    VarianceAlert,
    VarianceCause,
)
from operators.sku_state import OutputRecord, SkuState, StateSettings
from operators.variance import VarianceSettings, alert_key
from sources.base import stable_id

SKU = "SKU-1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    """Return T0 plus a number of minutes."""
    return T0 + timedelta(minutes=minute)


def header(event_id: str, minute: float, source: Source) -> dict[str, Any]:
    """Return the fields every canonical event carries."""
    return {
        "event_id": event_id,
        "source": source,
        "event_time": at(minute),
        "ingest_time": at(minute),
    }


def new_state(**variance: Any) -> SkuState:
    """Return an empty state with test windows and the given variance settings."""
    settings = VarianceSettings(
        retention=timedelta(days=1),
        posting_grace=timedelta(minutes=60),
        transfer_grace=timedelta(minutes=120),
        **variance,
    )
    return SkuState(
        sku=SKU,
        settings=StateSettings(
            dedup_retention=timedelta(days=1),
            max_snapshot_lateness=timedelta(days=1),
            variance=settings,
        ),
    )


def movement(
    event_id: str,
    movement_type: MovementType,
    quantity: int,
    minute: float,
    warehouse: str = "W1",
    **fields: Any,
) -> InventoryMovement:
    """Build a WMS movement of SKU."""
    return InventoryMovement(
        **header(event_id, minute, Source.WMS),
        sku=SKU,
        warehouse=warehouse,
        movement_type=movement_type,
        quantity=quantity,
        **fields,
    )


def count(event_id: str, minute: float, **quantities: int) -> InventorySnapshot:
    """Build a WMS cycle count of W1 (keyword = status name)."""
    return InventorySnapshot(
        **header(event_id, minute, Source.WMS),
        sku=SKU,
        warehouse="W1",
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=at(minute),
        balances=[
            StatusQuantity(stock_status=StockStatus(status), quantity=quantity)
            for status, quantity in quantities.items()
        ],
    )


def erp(
    event_id: str,
    minute: float,
    quantity: int,
    status: StockStatus | None = None,
    applied: int | None = None,
    as_of: float | None = None,
) -> ErpBalanceSnapshot:
    """Build an ERP balance of W1 as of a minute (the event minute by default)."""
    return ErpBalanceSnapshot(
        **header(event_id, minute, Source.ERP),
        sku=SKU,
        warehouse="W1",
        stock_status=status,
        quantity=quantity,
        as_of=at(minute if as_of is None else as_of),
        last_applied_sequence=applied,
    )


def ack(event_id: str, minute: float, posting_id: str) -> ErpPostingAck:
    """Build a rejection of a posting of W1."""
    return ErpPostingAck(
        **header(event_id, minute, Source.ERP),
        posting_id=posting_id,
        sku=SKU,
        warehouse="W1",
        status=AckStatus.REJECTED,
        reason="period closed",
    )


def run(state: SkuState, events: Iterable[CanonicalEvent]) -> list[OutputRecord]:
    """Apply events as one batch and return every output."""
    return state.apply_all(list(events))


def alerts_of(outputs: list[OutputRecord]) -> list[VarianceAlert]:
    """Return the variance alerts among outputs."""
    return [o for o in outputs if isinstance(o, VarianceAlert)]


def posting_ids(outputs: list[OutputRecord]) -> list[str]:
    """Return the ids of the postings among outputs."""
    return [o.posting_id for o in outputs if isinstance(o, ErpPosting)]


def stocked(state: SkuState, quantity: int = 100, **extra: int) -> None:
    """Give W1 an opening count of AVAILABLE stock at minute 0."""
    run(state, [count("count-0", 0, AVAILABLE=quantity, **extra)])


def test_unposted_shipment_explains_difference() -> None:
    state = new_state()
    stocked(state)
    run(state, [movement("ship-1", MovementType.SHIP, 10, 5)])

    outputs = run(state, [erp("erp-1", 10, 100, applied=0)])

    assert alerts_of(outputs) == []


def test_unapplied_shipment_after_grace_is_stuck() -> None:
    state = new_state()
    stocked(state)
    shipped = posting_ids(run(state, [movement("ship-1", MovementType.SHIP, 10, 5)]))
    run(state, [erp("erp-1", 10, 100, applied=0)])

    alerts = alerts_of(run(state, [erp("erp-2", 80, 100, applied=0)]))

    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.state is AlertState.OPENED
    assert alert.cause is VarianceCause.IN_FLIGHT_STUCK
    assert alert.erp_quantity == 100
    assert alert.wms_quantity == 90
    assert alert.expected_quantity == 90
    assert alert.variance == 10
    assert alert.percent == 10.0
    assert alert.in_flight_quantity == -10
    assert alert.in_flight_posting_ids == shipped
    assert alert.explaining_posting_ids == shipped
    assert alert.first_seen == at(80)
    assert alert.snapshot_as_of == at(80)
    assert alert.value is None


def test_shipment_before_as_of_without_sequence_counts_applied() -> None:
    state = new_state()
    stocked(state)
    run(state, [movement("ship-1", MovementType.SHIP, 10, 5)])

    alerts = alerts_of(run(state, [erp("erp-1", 10, 100)]))

    assert len(alerts) == 1
    assert alerts[0].cause is VarianceCause.UNEXPLAINED
    assert alerts[0].variance == 10
    assert alerts[0].in_flight_posting_ids == []


def test_shipment_after_as_of_without_sequence_in_flight() -> None:
    state = new_state()
    stocked(state)
    outputs = run(state, [movement("ship-1", MovementType.SHIP, 10, 15)])
    shipped = posting_ids(outputs)

    late = erp("erp-1", 20, 100, as_of=10)
    state.apply(late)
    alerts = state.evaluate_variances()

    assert alerts == []
    assert shipped != []


def test_residual_opens_updates_and_resolves_with_one_id() -> None:
    state = new_state(tolerances=(ToleranceRule(units=2, percent=1.0),))
    stocked(state)

    opened = alerts_of(run(state, [erp("erp-1", 10, 95)]))
    updated = alerts_of(run(state, [erp("erp-2", 15, 93)]))
    unchanged = alerts_of(run(state, [erp("erp-3", 18, 93)]))
    resolved = alerts_of(run(state, [erp("erp-4", 20, 99)]))

    assert [a.state for a in opened] == [AlertState.OPENED]
    assert [a.state for a in updated] == [AlertState.UPDATED]
    assert unchanged == []
    assert [a.state for a in resolved] == [AlertState.RESOLVED]
    assert opened[0].cause is VarianceCause.UNEXPLAINED
    assert opened[0].variance == -5
    assert opened[0].percent == 5.0
    assert updated[0].variance == -7
    assert resolved[0].variance == -1
    assert updated[0].alert_id == opened[0].alert_id
    assert resolved[0].alert_id == opened[0].alert_id
    assert resolved[0].first_seen == at(10)
    assert resolved[0].last_seen == at(20)
    assert alert_key(resolved[0]) == "SKU-1|W1"


def test_new_alert_after_resolve_gets_new_id() -> None:
    state = new_state()
    stocked(state)

    first = alerts_of(run(state, [erp("erp-1", 10, 95)]))
    run(state, [erp("erp-2", 20, 100)])
    second = alerts_of(run(state, [erp("erp-3", 30, 95)]))

    assert first[0].alert_id != second[0].alert_id
    assert second[0].first_seen == at(30)


def test_residual_below_units_tolerance_is_quiet() -> None:
    state = new_state(tolerances=(ToleranceRule(units=5, percent=1.0),))
    stocked(state)

    assert alerts_of(run(state, [erp("erp-1", 10, 96)])) == []


def test_residual_below_percent_tolerance_is_quiet() -> None:
    state = new_state(tolerances=(ToleranceRule(units=2, percent=10.0),))
    stocked(state)

    assert alerts_of(run(state, [erp("erp-1", 10, 94)])) == []


def test_residual_below_value_limit_is_quiet() -> None:
    rule = ToleranceRule(value=20.0)
    state = new_state(tolerances=(rule,), unit_costs={SKU: 2.5})
    stocked(state)

    quiet = alerts_of(run(state, [erp("erp-1", 10, 95)]))
    loud = alerts_of(run(state, [erp("erp-2", 20, 91)]))

    assert quiet == []
    assert len(loud) == 1
    assert loud[0].value == -22.5


def test_late_older_snapshot_is_ignored() -> None:
    state = new_state()
    stocked(state)
    run(state, [erp("erp-1", 20, 100)])

    alerts = alerts_of(run(state, [erp("erp-0", 21, 50, as_of=10)]))

    assert alerts == []
    assert state.variance.warehouses["W1"].erp.as_of == at(20)
    assert state.variance.warehouses["W1"].erp.quantities == {None: 100}


def test_statuses_differ_with_equal_totals() -> None:
    state = new_state()
    stocked(state, 90, HOLD=10)

    alerts = alerts_of(
        run(
            state,
            [
                erp("erp-1", 10, 100, StockStatus.AVAILABLE),
                erp("erp-2", 10, 0, StockStatus.DAMAGED),
            ],
        )
    )

    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.cause is VarianceCause.STATUS_MISMATCH
    assert alert.stock_status is StockStatus.AVAILABLE
    assert alert.erp_quantity == 100
    assert alert.wms_quantity == 90
    assert alert.expected_quantity == 90
    assert alert.variance == 10


def test_rejected_posting_explains_difference() -> None:
    state = new_state()
    stocked(state)
    adjusted = posting_ids(
        run(
            state,
            [movement("adj-1", MovementType.ADJUSTMENT, -5, 5, reason_code="DMG")],
        )
    )
    run(state, [ack("ack-1", 6, adjusted[0])])

    alerts = alerts_of(run(state, [erp("erp-1", 10, 100, applied=1)]))

    assert len(alerts) == 1
    assert alerts[0].cause is VarianceCause.POSTING_REJECTED
    assert alerts[0].variance == 5
    assert alerts[0].explaining_posting_ids == adjusted
    assert alerts[0].in_flight_posting_ids == []


def rejected_after_count(state: SkuState) -> list[str]:
    """Count W1 down by 3 without a posting, then adjust by -5 and reject it."""
    stocked(state)
    run(state, [count("count-1", 3, AVAILABLE=97)])
    adjusted = posting_ids(
        run(state, [movement("adj-1", MovementType.ADJUSTMENT, -5, 5)])
    )
    run(state, [ack("ack-1", 6, adjusted[0])])
    return adjusted


def test_exact_cause_wins_over_others() -> None:
    state = new_state()
    adjusted = rejected_after_count(state)

    alerts = alerts_of(run(state, [erp("erp-1", 10, 97, applied=1)]))

    assert alerts[0].variance == 5
    assert alerts[0].cause is VarianceCause.POSTING_REJECTED
    assert alerts[0].explaining_posting_ids == adjusted


def test_combined_causes_name_the_largest() -> None:
    state = new_state()
    rejected_after_count(state)

    alerts = alerts_of(run(state, [erp("erp-1", 10, 100, applied=1)]))

    assert alerts[0].variance == 8
    assert alerts[0].cause is VarianceCause.POSTING_REJECTED


def test_partly_explained_variance_is_unexplained() -> None:
    state = new_state()
    rejected_after_count(state)

    alerts = alerts_of(run(state, [erp("erp-1", 10, 110, applied=1)]))

    assert alerts[0].variance == 18
    assert alerts[0].cause is VarianceCause.UNEXPLAINED
    assert alerts[0].explaining_posting_ids == []


def test_ack_before_posting_still_counts() -> None:
    state = new_state()
    stocked(state)
    adjust = movement("adj-1", MovementType.ADJUSTMENT, -5, 5)
    run(state, [ack("ack-1", 4, stable_id("posting", "adj-1"))])
    run(state, [adjust])

    alerts = alerts_of(run(state, [erp("erp-1", 10, 100, applied=1)]))

    assert alerts[0].cause is VarianceCause.POSTING_REJECTED


def test_wms_count_without_posting_is_unposted_adjustment() -> None:
    state = new_state()
    stocked(state)
    run(state, [count("count-1", 5, AVAILABLE=97)])

    alerts = alerts_of(run(state, [erp("erp-1", 10, 100)]))

    assert len(alerts) == 1
    assert alerts[0].cause is VarianceCause.UNPOSTED_ADJUSTMENT
    assert alerts[0].variance == 3


def test_persistence_needs_count_and_duration() -> None:
    state = new_state(consecutive_snapshots=2, persistence=timedelta(minutes=30))
    stocked(state)

    first = alerts_of(run(state, [erp("erp-1", 10, 95)]))
    second = alerts_of(run(state, [erp("erp-2", 20, 95)]))
    third = alerts_of(run(state, [erp("erp-3", 45, 95)]))

    assert first == []
    assert second == []
    assert [a.state for a in third] == [AlertState.OPENED]
    assert third[0].first_seen == at(10)
    assert third[0].last_seen == at(45)


def test_persistence_resets_within_tolerance() -> None:
    state = new_state(consecutive_snapshots=2)
    stocked(state)

    run(state, [erp("erp-1", 10, 95)])
    run(state, [erp("erp-2", 20, 100)])
    after_reset = alerts_of(run(state, [erp("erp-3", 30, 95)]))
    confirmed = alerts_of(run(state, [erp("erp-4", 40, 95)]))

    assert after_reset == []
    assert confirmed[0].first_seen == at(30)


def transfer_out(minute: float = 0) -> InventoryMovement:
    """Ship 50 from W1 to W2 on transfer TR-1."""
    return movement(
        "out-1",
        MovementType.TRANSFER_OUT,
        50,
        minute,
        transfer_id="TR-1",
        other_warehouse="W2",
        document_id="SHIP-9",
    )


def transfer_in(
    event_id: str, quantity: int, minute: float, final: bool = False
) -> InventoryMovement:
    """Receive part of TR-1 at W2."""
    return movement(
        event_id,
        MovementType.TRANSFER_IN,
        quantity,
        minute,
        warehouse="W2",
        transfer_id="TR-1",
        other_warehouse="W1",
        document_id=f"RCV-{event_id}",
        final_receipt=final,
    )


def tick(event_id: str, minute: float) -> InventoryMovement:
    """A PICK, which moves event time forward and changes no balance."""
    return movement(event_id, MovementType.PICK, 1, minute)


def test_transfer_received_short_after_grace() -> None:
    state = new_state()
    stocked(state)
    run(state, [transfer_out(), transfer_in("in-1", 48, 10)])

    before_grace = alerts_of(run(state, [tick("tick-1", 129)]))
    after_grace = alerts_of(run(state, [tick("tick-2", 130)]))
    later = alerts_of(run(state, [tick("tick-3", 200)]))

    assert before_grace == []
    assert len(after_grace) == 1
    alert = after_grace[0]
    assert alert.state is AlertState.OPENED
    assert alert.cause is VarianceCause.TRANSFER_DISCREPANCY
    assert alert.warehouse == "W2"
    assert alert.variance == -2
    assert alert.erp_quantity == 50
    assert alert.wms_quantity == 48
    assert alert.transfer_id == "TR-1"
    assert alert.shipment_document_id == "SHIP-9"
    assert alert.receipt_document_id == "RCV-in-1"
    assert alert_key(alert) == "SKU-1|W2|TR-1"
    assert later == []


def test_transfer_final_receipt_completes_at_once() -> None:
    state = new_state()
    stocked(state)

    alerts = alerts_of(
        run(state, [transfer_out(), transfer_in("in-1", 48, 10, final=True)])
    )

    assert [a.variance for a in alerts] == [-2]


def test_transfer_received_in_two_parts_is_quiet() -> None:
    state = new_state()
    stocked(state)

    outputs = run(state, [transfer_out(), transfer_in("in-1", 48, 10)])
    outputs += run(state, [tick("tick-1", 100)])
    outputs += run(state, [transfer_in("in-2", 2, 120)])
    outputs += run(state, [tick("tick-2", 500)])

    assert alerts_of(outputs) == []


def test_transfer_late_receipt_resolves_alert() -> None:
    state = new_state()
    stocked(state)
    opened = alerts_of(
        run(state, [transfer_out(), transfer_in("in-1", 48, 10, final=True)])
    )

    resolved = alerts_of(run(state, [transfer_in("in-2", 2, 300)]))

    assert [a.state for a in resolved] == [AlertState.RESOLVED]
    assert resolved[0].alert_id == opened[0].alert_id


def test_tolerance_most_specific_rule_wins() -> None:
    settings = VarianceSettings(
        tolerances=(
            ToleranceRule(units=1),
            ToleranceRule(warehouse="W1", units=2),
            ToleranceRule(sku_class="A", units=3),
            ToleranceRule(warehouse="W1", sku_class="A", units=4),
        ),
        sku_classes={"SKU-A": "A"},
    )

    assert settings.tolerance("SKU-A", "W1").units == 4
    assert settings.tolerance("SKU-A", "W2").units == 3
    assert settings.tolerance("SKU-B", "W1").units == 2
    assert settings.tolerance("SKU-B", "W2").units == 1


def test_history_pruned_after_retention() -> None:
    state = new_state()
    stocked(state)
    run(state, [movement("ship-1", MovementType.SHIP, 10, 5)])

    run(state, [tick("tick-1", 5 + 24 * 60 + 1)])

    assert state.variance.warehouses["W1"].postings == []


def test_state_pickled_without_variance_restores() -> None:
    state = new_state()
    stocked(state)
    # Snapshots written before variance detection hold a dict without it.
    older = {k: v for k, v in state.__dict__.items() if k != "variance"}
    restored = SkuState.__new__(SkuState)
    restored.__setstate__(older)
    restored = pickle.loads(pickle.dumps(restored))

    assert restored.variance.warehouses == {}
    assert restored.counter == 1


def test_stuck_status_change_on_one_type() -> None:
    state = new_state()
    stocked(state)
    held = posting_ids(
        run(
            state,
            [
                movement(
                    "hold-1",
                    MovementType.STATUS_CHANGE,
                    10,
                    5,
                    to_status=StockStatus.HOLD,
                )
            ],
        )
    )

    alerts = alerts_of(
        run(state, [erp("erp-1", 80, 100, StockStatus.AVAILABLE, applied=0)])
    )

    assert len(alerts) == 1
    assert alerts[0].cause is VarianceCause.IN_FLIGHT_STUCK
    assert alerts[0].stock_status is StockStatus.AVAILABLE
    assert alerts[0].variance == 10
    assert alerts[0].explaining_posting_ids == held
    assert alerts[0].in_flight_quantity == -10
