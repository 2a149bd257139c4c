"""Freshness of each warehouse: flag it stale when its events stop arriving.

A stateful step keyed by warehouse code. Every event that names the warehouse,
``WarehouseHeartbeat`` included, resets the warehouse's silence clock. When no
event arrives within the warehouse's maximum silence (processing time, read
from an injected clock), the step emits a ``WarehouseFreshness`` record with
state STALE; the next event emits one with state FRESH.

Bytewax builds the step's state only for keys it has seen, so on every start a
small source (``TrackingStartSource``) sends one ``TrackingStart`` marker per
warehouse with a configured maximum silence. A marker starts the silence clock
of a warehouse that has no state yet. A warehouse whose state came from
recovery keeps its recorded ``last_event_at``. A marker is not an event, so it
neither resets the clock nor clears a stale flag.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.operators import StatefulBatchLogic

from invsync.config import FreshnessConfig, InvsyncConfig
from invsync.events import CanonicalEvent, FreshnessState, WarehouseFreshness
from sources.base import stable_id

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FreshnessSettings:
    """Maximum silence per warehouse, the configured warehouses and the clock."""

    config: FreshnessConfig
    clock: Clock = system_clock
    # Codes of the configured warehouses. Those with a maximum silence are
    # tracked from the start of the dataflow, before their first event.
    warehouses: tuple[str, ...] = ()

    @classmethod
    def from_config(
        cls, config: InvsyncConfig, clock: Clock = system_clock
    ) -> FreshnessSettings:
        """Return the settings of a configuration's freshness section."""
        return cls(config.freshness, clock, tuple(config.warehouses))

    def tracked_warehouses(self) -> list[str]:
        """Return the sorted codes of the warehouses that have a maximum silence."""
        codes = set(self.warehouses) | set(self.config.max_silence_by_warehouse)
        return sorted(c for c in codes if self.config.silence_of(c) is not None)


@dataclass(frozen=True)
class TrackingStart:
    """Marker that starts a warehouse's silence clock when the dataflow starts."""

    warehouse: str


FreshnessInput = CanonicalEvent | TrackingStart


@dataclass
class WarehouseClock:
    """Recovery state of one warehouse: when it was last heard from, and its flag."""

    warehouse: str
    last_event_at: datetime
    stale: bool = False


def warehouse_of(event: FreshnessInput) -> str | None:
    """Return the warehouse an event or marker names, or None for unallocated demand."""
    warehouse = getattr(event, "warehouse", None)
    return warehouse if isinstance(warehouse, str) and warehouse else None


class _StartPartition(StatelessSourcePartition[TrackingStart]):
    def __init__(self, markers: list[TrackingStart]) -> None:
        self._markers: list[TrackingStart] | None = markers

    def next_batch(self) -> list[TrackingStart]:
        if self._markers is None:
            raise StopIteration
        batch, self._markers = self._markers, None
        return batch


class TrackingStartSource(DynamicSource[TrackingStart]):
    """Source of one ``TrackingStart`` per tracked warehouse, sent on every start.

    The workers share the warehouses, and each worker's partition ends after
    its one batch. The source keeps no recovery state, so a resumed dataflow
    sends the markers again.
    """

    def __init__(self, warehouses: Sequence[str]) -> None:
        """Send markers for ``warehouses``."""
        self._warehouses = list(warehouses)

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _StartPartition:
        """Return the partition with this worker's share of the markers."""
        mine = self._warehouses[worker_index::worker_count]
        if mine:
            logger.info(
                "step %s worker %d/%d starts the silence clock of warehouses %s",
                step_id,
                worker_index,
                worker_count,
                ",".join(mine),
                extra={"step_id": step_id, "worker": worker_index},
            )
        return _StartPartition([TrackingStart(code) for code in mine])


def with_start_markers(
    events: Stream[CanonicalEvent], settings: FreshnessSettings
) -> Stream[FreshnessInput]:
    """Merge the start markers of the tracked warehouses into the freshness input.

    Adds the input step ``freshness_start`` and the merge step
    ``freshness_inputs`` to the events' dataflow.
    """
    markers = op.input(
        "freshness_start",
        events.flow(),
        TrackingStartSource(settings.tracked_warehouses()),
    )
    return op.merge("freshness_inputs", events, markers)


class FreshnessLogic(
    StatefulBatchLogic[FreshnessInput, WarehouseFreshness, WarehouseClock]
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
        self, values: list[FreshnessInput]
    ) -> tuple[Iterable[WarehouseFreshness], bool]:
        """Reset the silence clock; emit FRESH when the warehouse was stale.

        Start markers only start the clock of a warehouse without state.
        """
        now = self._settings.clock()
        if self._state is None:
            warehouse = warehouse_of(values[0])
            assert warehouse is not None, "the step is keyed by warehouse"
            self._state = WarehouseClock(warehouse=warehouse, last_event_at=now)
        event_count = sum(1 for v in values if not isinstance(v, TrackingStart))
        if event_count == 0:
            return [], StatefulBatchLogic.RETAIN
        outputs = []
        if self._state.stale:
            change = self._change(FreshnessState.FRESH, now)
            outputs.append(change)
            self._state.stale = False
            logger.info(
                "warehouse %s is fresh again: %d event(s) after %s of silence",
                self._state.warehouse,
                event_count,
                now - self._state.last_event_at,
                extra={"warehouse": change.warehouse, "alert_id": change.alert_id},
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
        change = self._change(FreshnessState.STALE, now)
        logger.warning(
            "warehouse %s is stale: no event since %s (maximum silence %s)",
            self._state.warehouse,
            self._state.last_event_at.isoformat(),
            max_silence,
            extra={"warehouse": change.warehouse, "alert_id": change.alert_id},
        )
        return [change], StatefulBatchLogic.RETAIN

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
