"""Order line state held per SKU: versions, shipments and the reservation left open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from invsync.events import OrderLine
from operators.pickling import TupleState

Version = tuple[datetime, int]


@dataclass
class LineState(TupleState):
    """One order line of one SKU, merged from every source that reports on it.

    ``priority`` orders lines for backorders: the (event time, event id) of the
    earliest version seen, so a replay in another order gives the same result.
    """

    order_id: str
    line_id: str
    warehouse: str | None = None
    allocated_warehouse: str | None = None
    ordered: int = 0
    cancelled: int = 0
    source_shipped: int = 0
    warehouse_shipped: int = 0
    spread_shipped: int = 0
    channel_fulfilled: dict[str, int] = field(default_factory=dict)
    version: Version | None = None
    priority: tuple[datetime, str] | None = None
    last_event_time: datetime | None = None
    backordered: int = 0

    @property
    def shipped(self) -> int:
        """Shipped quantity: the largest figure any source reports for the line."""
        return max(
            self.source_shipped,
            self.warehouse_shipped + self.spread_shipped,
            sum(self.channel_fulfilled.values()),
        )

    @property
    def reserved(self) -> int:
        """Open reservation: max(0, ordered - cancelled - shipped)."""
        return max(0, self.ordered - self.cancelled - self.shipped)

    @property
    def location(self) -> str | None:
        """Warehouse the reservation counts against, or None for unallocated demand."""
        return self.warehouse or self.allocated_warehouse

    def touch(self, event_time: datetime) -> None:
        """Record that an event changed the line at the given event time."""
        if self.last_event_time is None or event_time > self.last_event_time:
            self.last_event_time = event_time

    def note_priority(self, event_time: datetime, event_id: str) -> None:
        """Keep the earliest (event time, event id) seen for the line."""
        candidate = (event_time, event_id)
        if self.priority is None or candidate < self.priority:
            self.priority = candidate

    def apply_version(self, event: OrderLine) -> bool:
        """Apply an order version; an older or repeated version changes nothing."""
        version = (event.version_time, event.version_rank)
        self.note_priority(event.event_time, event.event_id)
        if self.version is not None and version <= self.version:
            return False
        self.version = version
        self.ordered = event.ordered_quantity
        self.cancelled = min(event.cancelled_quantity, event.ordered_quantity)
        self.source_shipped = event.shipped_quantity
        self.warehouse = event.warehouse
        return True


def line_id_key(line_id: str) -> tuple[int, int, str]:
    """Sort key of line ids: numeric ids in numeric order, before other ids."""
    if line_id.isdigit():
        return (0, int(line_id), line_id)
    return (1, 0, line_id)
