"""SkuLogic: when the stateful step emits the SKU's ATP record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from invsync.events import (
    AtpRecord,
    InventoryMovement,
    MovementType,
    Source,
)
from operators.sku_logic import SkuLogic, SkuLogicSettings, SkuOutput
from operators.sku_state import SkuState, StateSettings

SKU = "SKU-1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def receipt(event_id: str, quantity: int, minute: float = 0) -> InventoryMovement:
    """Build a RECEIPT of SKU into W1."""
    when = T0 + timedelta(minutes=minute)
    return InventoryMovement(
        event_id=event_id,
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=SKU,
        warehouse="W1",
        movement_type=MovementType.RECEIPT,
        quantity=quantity,
    )


def new_logic(clock: FakeClock, resume: SkuState | bytes | None = None) -> SkuLogic:
    """Return the logic of one SKU with a hand-moved clock."""
    settings = SkuLogicSettings(
        state=StateSettings(
            dedup_retention=timedelta(minutes=60),
            max_snapshot_lateness=timedelta(minutes=30),
        ),
        republish_interval=INTERVAL,
        clock=clock,
    )
    return SkuLogic(settings, resume)


def records(outputs: Iterable[SkuOutput]) -> list[AtpRecord]:
    """Return the ATP records among a batch's outputs."""
    return [item for item in outputs if isinstance(item, AtpRecord)]


def test_applied_batch_emits_record() -> None:
    logic = new_logic(FakeClock())
    outputs, _ = logic.on_batch([receipt("r1", 10), receipt("r2", 5, 1)])
    found = records(outputs)
    assert len(found) == 1
    assert found[0].version.counter == 2
    assert found[0].warehouses[0].on_hand == 15


def test_duplicate_only_batch_emits_nothing() -> None:
    logic = new_logic(FakeClock())
    logic.on_batch([receipt("r1", 10)])
    outputs, _ = logic.on_batch([receipt("r1", 10)])
    assert list(outputs) == []


def test_too_late_only_batch_emits_no_record() -> None:
    logic = new_logic(FakeClock())
    logic.on_batch([receipt("r1", 10, 100)])
    outputs, _ = logic.on_batch([receipt("r0", 3, 10)])
    assert records(outputs) == []
    assert len(list(outputs)) == 1


def test_each_applied_batch_emits_record() -> None:
    logic = new_logic(FakeClock())
    logic.on_batch([receipt("r1", 10)])
    outputs, _ = logic.on_batch([receipt("r1", 10), receipt("r2", 1, 1)])
    found = records(outputs)
    assert len(found) == 1
    assert found[0].version.counter == 2


def test_resumed_state_publishes_first_batch() -> None:
    clock = FakeClock()
    resume = SkuState(sku=SKU)
    resume.apply_all([receipt("r1", 10)])
    logic = new_logic(clock, resume)
    outputs, _ = logic.on_batch([receipt("r1", 10)])
    found = records(outputs)
    assert len(found) == 1
    assert found[0].version.counter == 1


def test_batch_after_interval_republishes() -> None:
    clock = FakeClock()
    logic = new_logic(clock)
    logic.on_batch([receipt("r1", 10)])
    clock.now = T0 + INTERVAL
    outputs, _ = logic.on_batch([receipt("r1", 10)])
    found = records(outputs)
    assert len(found) == 1
    assert found[0].version.counter == 1


def test_notify_at_follows_interval() -> None:
    clock = FakeClock()
    logic = new_logic(clock)
    before = logic.notify_at()
    logic.on_batch([receipt("r1", 10)])
    assert before is None
    assert logic.notify_at() == T0 + INTERVAL


def test_snapshot_resumes_same_state() -> None:
    logic = new_logic(FakeClock())
    logic.on_batch([receipt("r1", 10), receipt("r2", 5, 1)])

    saved = logic.snapshot()
    logic.on_batch([receipt("r3", 7, 2)])
    resumed = new_logic(FakeClock(), saved)
    outputs, _ = resumed.on_batch([receipt("r2", 5, 1)])

    assert isinstance(saved, bytes)
    found = records(outputs)
    assert len(found) == 1
    assert found[0].version.counter == 2
    assert found[0].warehouses[0].on_hand == 15


def test_snapshot_is_none_without_recovery() -> None:
    settings = SkuLogicSettings(
        state=StateSettings(), republish_interval=INTERVAL, snapshots=False
    )
    logic = SkuLogic(settings, None)
    outputs, _ = logic.on_batch([receipt("r1", 10)])

    assert logic.snapshot() is None
    assert records(outputs)[0].warehouses[0].on_hand == 10
