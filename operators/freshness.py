"""Freshness of each warehouse: flag it stale when its events stop arriving.

A stateful step keyed by warehouse code. Every event that names the warehouse,
``WarehouseHeartbeat`` included, resets the warehouse's silence clock. When no
event arrives within the warehouse's maximum silence (processing time, read
from an injected clock), the step emits a ``WarehouseFreshness`` record with
state STALE; the next event emits one with state FRESH.

A warehouse is tracked from its first event on, because the step keeps state
only for keys it has seen. After a restart the state comes from recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from invsync.config import FreshnessConfig
from invsync.events import CanonicalEvent, FreshnessState, WarehouseFreshness
from sources.base import stable_id

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FreshnessSettings:
    """Maximum silence per warehouse and the clock that measures it."""

    config: FreshnessConfig
    clock: Clock = system_clock


@dataclass
class WarehouseClock:
    """Recovery state of one warehouse: when it was last heard from, and its flag."""

    warehouse: str
    last_event_at: datetime
    stale: bool = False


def warehouse_of(event: CanonicalEvent) -> str | None:
    """Return the warehouse an event names, or None for unallocated demand."""
    warehouse = getattr(event, "warehouse", None)
    return warehouse if isinstance(warehouse, str) and warehouse else None


class FreshnessLogic(
    StatefulBatchLogic[CanonicalEvent, WarehouseFreshness, WarehouseClock]
):
    """Silence clock of one warehouse."""

    def __init__(
        self, settings: FreshnessSettings, resume: WarehouseClock | None
    ) -> None:
        """Start from a recovery snapshot, or empty until the first event."""
        self._settings = settings
        self._state = resume

    def _max_silence(self) -> timedelta | None:
        assert self._state is not None
        return self._settings.config.silence_of(self._state.warehouse)

    def on_batch(
        self, values: list[CanonicalEvent]
    ) -> tuple[Iterable[WarehouseFreshness], bool]:
        """Reset the silence clock; emit FRESH when the warehouse was stale."""
        now = self._settings.clock()
        if self._state is None:
            warehouse = warehouse_of(values[0])
            assert warehouse is not None, "the step is keyed by warehouse"
            self._state = WarehouseClock(warehouse=warehouse, last_event_at=now)
        outputs = []
        if self._state.stale:
            outputs.append(self._change(FreshnessState.FRESH, now))
            self._state.stale = False
            logger.info(
                "warehouse %s is fresh again: %d event(s) after %s of silence",
                self._state.warehouse,
                len(values),
                now - self._state.last_event_at,
            )
        self._state.last_event_at = now
        return outputs, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[WarehouseFreshness], bool]:
        """Flag the warehouse stale once its maximum silence has passed."""
        if self._state is None or self._state.stale:
            return [], StatefulBatchLogic.RETAIN
        max_silence = self._max_silence()
        now = self._settings.clock()
        if max_silence is None or now - self._state.last_event_at < max_silence:
            return [], StatefulBatchLogic.RETAIN
        self._state.stale = True
        logger.warning(
            "warehouse %s is stale: no event since %s (maximum silence %s)",
            self._state.warehouse,
            self._state.last_event_at.isoformat(),
            max_silence,
        )
        return [self._change(FreshnessState.STALE, now)], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """Return when the warehouse becomes stale, unless it is already."""
        if self._state is None or self._state.stale:
            return None
        max_silence = self._max_silence()
        if max_silence is None:
            return None
        return self._state.last_event_at + max_silence

    def snapshot(self) -> WarehouseClock:
        """Return a copy of the state for recovery."""
        assert self._state is not None
        return WarehouseClock(
            warehouse=self._state.warehouse,
            last_event_at=self._state.last_event_at,
            stale=self._state.stale,
        )

    def _change(self, state: FreshnessState, now: datetime) -> WarehouseFreshness:
        assert self._state is not None
        max_silence = self._max_silence() or timedelta(0)
        warehouse = self._state.warehouse
        last = self._state.last_event_at
        return WarehouseFreshness(
            alert_id=stable_id("freshness", warehouse, state.value, last.isoformat()),
            warehouse=warehouse,
            state=state,
            last_event_at=last,
            detected_at=now,
            max_silence_seconds=max_silence.total_seconds(),
        )


def freshness_builder(
    settings: FreshnessSettings,
) -> Callable[[WarehouseClock | None], FreshnessLogic]:
    """Return the builder Bytewax calls for each warehouse key."""

    def build(resume: WarehouseClock | None) -> FreshnessLogic:
        return FreshnessLogic(settings, resume)

    return build
