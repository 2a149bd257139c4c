"""On-hand balance of one SKU in one warehouse and stock status, with re-baselining.

A balance is a base quantity from the latest absolute snapshot plus the signed
movements after that snapshot's as-of time. Movements stay listed for the
configured maximum snapshot lateness, so a snapshot that arrives late still
re-baselines correctly. Older movements are folded into a running sum.

Every listed movement is later than the base's as-of time (older ones are
dropped by ``rebaseline`` or never added), so ``pending``, the sum of the listed
deltas, is kept as each movement arrives and reading the quantity walks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from operators.pickling import TupleState


@dataclass
class Movement(TupleState):
    """A signed change of one balance at one event time."""

    event_time: datetime
    delta: int


@dataclass
class Balance(TupleState):
    """On hand in one stock status of one warehouse."""

    base: int = 0
    base_as_of: datetime | None = None
    folded: int = 0
    movements: list[Movement] = field(default_factory=list)
    pending: int = 0

    def __setstate__(self, state: tuple[object, ...] | dict[str, object]) -> None:
        """Restore a pickled balance; one pickled without ``pending`` gets it summed."""
        super().__setstate__(state)
        if isinstance(state, dict) and "pending" not in state:
            self.pending = sum(m.delta for m in self.movements)

    def quantity(self) -> int:
        """Return the current on-hand quantity."""
        return self.base + self.folded + self.pending

    def add(self, event_time: datetime, delta: int) -> None:
        """Apply a movement. One at or before the snapshot time is already counted."""
        if self.base_as_of is not None and event_time <= self.base_as_of:
            return
        self.movements.append(Movement(event_time, delta))
        self.pending += delta

    def rebaseline(self, as_of: datetime, quantity: int) -> bool:
        """Apply an absolute count as of a time; return False when it is not newer."""
        if self.base_as_of is not None and as_of <= self.base_as_of:
            return False
        self.base = quantity
        self.base_as_of = as_of
        self.folded = 0
        self.movements = [m for m in self.movements if m.event_time > as_of]
        self.pending = sum(m.delta for m in self.movements)
        return True

    def fold_before(self, horizon: datetime) -> None:
        """Fold movements older than the horizon into the running sum.

        No snapshot older than the horizon is accepted any more, so these
        movements can never fall inside a future snapshot.
        """
        keep: list[Movement] = []
        for movement in self.movements:
            if movement.event_time < horizon:
                self.folded += movement.delta
                self.pending -= movement.delta
            else:
                keep.append(movement)
        self.movements = keep
