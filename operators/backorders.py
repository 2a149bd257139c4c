"""Backorder settlement of the open order lines at one location.

Lines are served greedily in priority order: each takes what it has reserved
while capacity lasts, so at most one line is served in part and every line
after it is backordered in full. ``LocationQueue`` keeps the open lines of one
warehouse (or of unallocated demand) sorted, with the point where the last
settlement ran out, so a settlement walks only from that point on:

- when capacity and lines are unchanged, nothing moves and nothing is walked;
- when every changed line lies at or after that point and capacity still
  covers the lines before it, those lines keep their service and the walk
  starts at the point;
- once capacity is used up, the walk visits only the changed lines later in
  the queue, because the others were already backordered in full;
- otherwise the whole queue is walked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from operators.order_lines import LineState

LineKey = tuple[str, str]
# Backorder priority of a line: (event time, event id, order id, line id).
Priority = tuple[datetime, str, str, str]
# Called with (line, new backordered quantity) when a line's backorder changes.
OnChange = Callable[[LineState, int], None]


def key_of(priority: Priority) -> LineKey:
    """Return the line key a priority ends with."""
    return (priority[2], priority[3])


@dataclass
class LocationQueue:
    """Open lines of one location, their totals and the last settlement."""

    entries: list[Priority] = field(default_factory=list)
    reserved: int = 0
    backordered: int = 0
    # Entries added or removed since the last settlement, and the lowest of them.
    changed: set[Priority] = field(default_factory=set)
    changed_from: Priority | None = None
    # The last settlement: its capacity, its last entry, the first line it did
    # not serve in full (None when it served all) and the reservations before it.
    capacity: int | None = None
    last_entry: Priority | None = None
    short_at: Priority | None = None
    served_before: int = 0

    def add(self, priority: Priority) -> None:
        """List an open line."""
        insort(self.entries, priority)
        self._note(priority)

    def remove(self, priority: Priority) -> None:
        """Unlist a line under the priority it was listed with."""
        del self.entries[bisect_left(self.entries, priority)]
        self._note(priority)

    def _note(self, priority: Priority) -> None:
        if self.changed_from is None or priority < self.changed_from:
            self.changed_from = priority
        self.changed.add(priority)

    def settle(
        self, capacity: int, lines: dict[LineKey, LineState], on_change: OnChange
    ) -> list[LineKey]:
        """Serve the lines with ``capacity`` and return the keys of closed lines.

        ``on_change`` is called for each line whose backorder changes, before
        the line's ``backordered`` is updated.
        """
        if self.changed_from is None and capacity == self.capacity:
            return []
        if self.backordered == 0 and self.reserved <= capacity:
            # Every line is served in full, as it already was.
            self._settled(capacity, None, self.reserved)
            return []
        start, remaining, floor = self._start(capacity)
        changed = self.changed
        entries = self.entries
        closed: list[LineKey] = []
        prefix = capacity - remaining
        short_at: Priority | None = None
        served_before = 0
        index = start
        while index < len(entries):
            if remaining == 0 and short_at is not None and index >= floor:
                break
            priority = entries[index]
            line = lines[key_of(priority)]
            reserved = line.reserved
            served = min(reserved, remaining)
            remaining -= served
            if served < reserved and short_at is None:
                short_at, served_before = priority, prefix
            prefix += reserved
            self._set(line, reserved - served, on_change, closed)
            index += 1
        else:
            self._settled(
                capacity, short_at, prefix if short_at is None else served_before
            )
            return closed
        # Capacity ran out past the old short line: later lines that did not
        # change stay backordered in full, and changed ones are now.
        last_walked = entries[index - 1]
        for priority in changed:
            if priority <= last_walked:
                continue
            found = bisect_left(entries, priority)
            if found < len(entries) and entries[found] == priority:
                line = lines[key_of(priority)]
                self._set(line, line.reserved, on_change, closed)
        self._settled(capacity, short_at, served_before)
        return closed

    def _settled(
        self, capacity: int, short_at: Priority | None, served_before: int
    ) -> None:
        self.changed, self.changed_from = set(), None
        self.capacity = capacity
        self.last_entry = self.entries[-1] if self.entries else None
        self.short_at = short_at
        self.served_before = served_before

    def drop(self, priority: Priority) -> None:
        """Unlist a line that settlement closed (nothing reserved or backordered).

        It counted for nothing in the settlement, so the settlement stays valid.
        """
        del self.entries[bisect_left(self.entries, priority)]

    def _start(self, capacity: int) -> tuple[int, int, int]:
        """Return (start index, capacity left there, floor index).

        Lines before the start keep their service. From the floor on, lines
        that did not change were backordered in full by the last settlement.
        """
        entries = self.entries
        if self.capacity is None:
            return (0, capacity, len(entries))
        changed_from = self.changed_from
        short_at = self.short_at
        if short_at is None:
            # The last settlement served every line, so lines added after its
            # last entry can be settled without walking the others.
            after_last = self.last_entry is None or (
                changed_from is not None and changed_from > self.last_entry
            )
            if after_last and capacity >= self.served_before:
                assert changed_from is not None or self.last_entry is None
                start = (
                    0 if changed_from is None else bisect_left(entries, changed_from)
                )
                return (start, capacity - self.served_before, len(entries))
            return (0, capacity, len(entries))
        floor = bisect_right(entries, short_at)
        if (
            changed_from is not None and changed_from < short_at
        ) or capacity < self.served_before:
            return (0, capacity, floor)
        return (bisect_left(entries, short_at), capacity - self.served_before, floor)

    def _set(
        self,
        line: LineState,
        backordered: int,
        on_change: OnChange,
        closed: list[LineKey],
    ) -> None:
        if backordered == line.backordered:
            return
        on_change(line, backordered)
        self.backordered += backordered - line.backordered
        line.backordered = backordered
        if line.reserved == 0 and backordered == 0:
            closed.append((line.order_id, line.line_id))
