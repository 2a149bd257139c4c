"""The Bytewax stateful operator around :class:`SkuState`, keyed by SKU."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from invsync.events import AtpRecord, CanonicalEvent
from operators.sku_state import OutputRecord, SkuState, StateSettings

logger = logging.getLogger(__name__)

SkuOutput = AtpRecord | OutputRecord
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current UTC time; used only to schedule re-publishing."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SkuLogicSettings:
    """Settings of the stateful step that are not part of the state."""

    state: StateSettings
    republish_interval: timedelta = timedelta(minutes=5)
    clock: Clock = system_clock
    # Bytewax calls ``snapshot`` on every key that changed at the end of each
    # epoch, also in a run without a recovery store, which drops the result.
    # Such a run turns this off, so ``snapshot`` returns None without pickling.
    # NOTE: with a recovery store Bytewax would keep that None, so a resumed
    # run would start those SKUs empty. Only a run without one may turn it off.
    snapshots: bool = True


class SkuLogic(StatefulBatchLogic[CanonicalEvent, SkuOutput, bytes | None]):
    """Apply each batch of a SKU's events and emit the records they cause.

    After every batch that changed the SKU it emits the SKU's ATP record. A
    state restored from a recovery snapshot emits its record on the first
    activation, and every state emits it again each ``republish_interval`` of
    wall-clock time, because Redis may have lost the key. Re-publishing does
    not change the record's version, so a guarded write skips it unless the
    key is missing.
    """

    def __init__(
        self, settings: SkuLogicSettings, resume: SkuState | bytes | None
    ) -> None:
        self._settings = settings
        if isinstance(resume, bytes):
            resume = restore_state(resume)
        self._state = resume
        if resume is not None:
            # The generation can change between runs, after a state reset.
            resume.settings = settings.state
        self._publish_due: datetime | None = settings.clock() if resume else None

    def on_batch(
        self, values: list[CanonicalEvent]
    ) -> tuple[Iterable[SkuOutput], bool]:
        """Apply a batch of events in arrival order, then settle backorders."""
        if self._state is None:
            self._state = SkuState(
                sku=_sku_of(values[0]), settings=self._settings.state
            )
        state = self._state
        before = state.counter
        outputs: list[SkuOutput] = list(state.apply_all(values))
        publish_due = (
            self._publish_due is not None
            and self._publish_due <= self._settings.clock()
        )
        if state.counter != before or publish_due:
            outputs.append(self._publish())
        return outputs, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[SkuOutput], bool]:
        """Re-publish the ATP record when the interval has passed."""
        if self._state is None:
            return [], StatefulBatchLogic.RETAIN
        return [self._publish()], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """Return when the record is next re-published."""
        return self._publish_due

    def snapshot(self) -> bytes | None:
        """Return the state pickled for recovery, or None when there is none."""
        assert self._state is not None
        if not self._settings.snapshots:
            return None
        return snapshot_state(self._state)

    def _publish(self) -> AtpRecord:
        assert self._state is not None
        self._publish_due = self._settings.clock() + self._settings.republish_interval
        return self._state.atp_record()


def snapshot_state(state: SkuState) -> bytes:
    """Serialise a state for recovery.

    Pickled bytes are immutable, so Bytewax can keep them while the state
    changes. Pickling once costs far less than a deep copy that Bytewax would
    then pickle again.
    """
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def restore_state(snapshot: bytes) -> SkuState:
    """Load a state serialised by ``snapshot_state``."""
    state = pickle.loads(snapshot)  # noqa: S301 (our own recovery store)
    if not isinstance(state, SkuState):
        msg = f"recovery snapshot holds {type(state).__name__}, not SkuState"
        raise TypeError(msg)
    return state


def _sku_of(event: CanonicalEvent) -> str:
    sku = getattr(event, "sku", None)
    if not isinstance(sku, str):
        msg = f"{type(event).__name__} {event.event_id} has no SKU"
        raise TypeError(msg)
    return sku


def sku_logic_builder(
    settings: SkuLogicSettings,
) -> Callable[[bytes | None], SkuLogic]:
    """Return the builder Bytewax calls for each SKU key, with its resume state."""

    def build(resume: bytes | None) -> SkuLogic:
        return SkuLogic(settings, resume)

    return build
