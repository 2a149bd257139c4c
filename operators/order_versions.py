"""The order step, keyed by order: turns lines that vanish from a version into zeros.

Order sources that send whole orders (an EDI 850 replacement, a Shopify order
payload) list every line of a version in ``OrderLine.order_line_ids``. A line of
an earlier version missing from that list was removed, and its SKU's state must
hear so even though no event names it. This step remembers the SKU of every line
of an order and emits an explicit zero ``OrderLine`` at the newer version for each
removed line. Its output is re-keyed by SKU.

Retention: Bytewax keeps state per key, and an order that is finished receives no
more events, so its state cannot see time pass through its own events. Every
order's logic therefore shares one ``OrderRetention`` per process that records
the newest event time the step has seen on any order. Each logic requests a
callback from Bytewax (``notify_at``) every ``check_interval`` of wall-clock time.
When the order's newest event is more than ``retention`` (the configured
``state.dedup_retention``) behind that newest time, the logic discards the order's
state. A line of a discarded order that arrives later starts a new state; the
SKU step turns it into a ``too_late`` dead letter when it is older than the same
retention behind that SKU's own newest event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from invsync.events import OrderAction, OrderLine
from operators.order_lines import Version
from sources.base import stable_id

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DEFAULT_CHECK_INTERVAL = timedelta(minutes=1)
"""Wall-clock time between two retention checks of one order's state."""


@dataclass
class OrderVersions:
    """State of the order step for one order."""

    line_skus: dict[str, str] = field(default_factory=dict)
    latest: Version | None = None
    latest_lines: frozenset[str] = frozenset()
    latest_event: OrderLine | None = None
    zeroed: set[tuple[str, Version]] = field(default_factory=set)
    # Snapshots taken before this field existed fall back to the class default.
    newest_event_time: datetime | None = None


def _system_clock() -> datetime:
    return datetime.now(UTC)


class OrderRetention:
    """The order step's event-time clock and retention, shared by one process.

    ``newest`` is the newest event time of any order line the step has seen in
    this process since it started. It is not part of the recovery snapshot, so
    after a restart orders are dropped only once newer events arrive again.
    """

    def __init__(
        self,
        retention: timedelta,
        *,
        check_interval: timedelta = DEFAULT_CHECK_INTERVAL,
        clock: Clock = _system_clock,
    ) -> None:
        self.retention = retention
        self.check_interval = check_interval
        self.clock = clock
        self._newest: datetime | None = None
        self._lock = threading.Lock()

    @property
    def newest(self) -> datetime | None:
        """Newest event time seen by the step in this process."""
        return self._newest

    def observe(self, event_time: datetime) -> None:
        """Advance the step's event time; worker threads share this object."""
        with self._lock:
            if self._newest is None or event_time > self._newest:
                self._newest = event_time

    def is_expired(self, state: OrderVersions) -> bool:
        """Return whether an order's newest event is older than the retention."""
        newest = self._newest
        last = state.newest_event_time
        return (
            newest is not None and last is not None and last < newest - self.retention
        )


def order_key(event: OrderLine) -> str:
    """Return the key of the order step: the channel or partner, then the order id."""
    return f"{event.channel or event.partner or ''}\x1f{event.order_id}"


def removed_line(template: OrderLine, line_id: str, sku: str) -> OrderLine:
    """Build the explicit zero for a line that a newer order version no longer lists."""
    return template.model_copy(
        update={
            "event_id": stable_id(
                "removed-line",
                template.channel or template.partner or "",
                template.order_id,
                line_id,
                template.version_time,
                template.version_rank,
            ),
            "sku": sku,
            "line_id": line_id,
            "action": OrderAction.CHANGED,
            "ordered_quantity": 0,
            "cancelled_quantity": 0,
            "shipped_quantity": 0,
        }
    )


def apply_order_line(state: OrderVersions, event: OrderLine) -> list[OrderLine]:
    """Pass an order line through and add zeros for lines removed by a newer version."""
    outputs = [event]
    if state.newest_event_time is None or event.event_time > state.newest_event_time:
        state.newest_event_time = event.event_time
    state.line_skus.setdefault(event.line_id, event.sku)
    version = (event.version_time, event.version_rank)
    if event.order_line_ids and (state.latest is None or version > state.latest):
        state.latest = version
        state.latest_lines = frozenset(event.order_line_ids)
        state.latest_event = event
    if state.latest is None or state.latest_event is None:
        return outputs
    for line_id, sku in state.line_skus.items():
        if line_id in state.latest_lines or (line_id, state.latest) in state.zeroed:
            continue
        state.zeroed.add((line_id, state.latest))
        outputs.append(removed_line(state.latest_event, line_id, sku))
    return outputs


class OrderVersionsLogic(StatefulBatchLogic[OrderLine, OrderLine, OrderVersions]):
    """Bytewax logic of the order step, with event-time retention."""

    def __init__(
        self, resume: OrderVersions | None, retention: OrderRetention | None = None
    ) -> None:
        self._state = resume or OrderVersions()
        self._retention = retention
        self._check_due = self._next_check()

    def on_batch(self, values: list[OrderLine]) -> tuple[Iterable[OrderLine], bool]:
        """Pass each line through, with zeros for removed lines."""
        outputs: list[OrderLine] = []
        for event in values:
            outputs.extend(apply_order_line(self._state, event))
            if self._retention is not None:
                self._retention.observe(event.event_time)
        return outputs, self._keep_or_discard()

    def on_notify(self) -> tuple[Iterable[OrderLine], bool]:
        """Discard the order's state once it is older than the retention."""
        self._check_due = self._next_check()
        return [], self._keep_or_discard()

    def notify_at(self) -> datetime | None:
        """Return when the retention is checked next, or None without retention."""
        return self._check_due

    def snapshot(self) -> OrderVersions:
        """Return an independent copy of the state for recovery.

        The mutable containers are copied. The ``OrderLine`` is shared, because
        the step never changes an event (it builds new ones with ``model_copy``)
        and a deep copy of a pydantic model costs more than the rest of the step.
        """
        state = self._state
        return OrderVersions(
            line_skus=dict(state.line_skus),
            latest=state.latest,
            latest_lines=state.latest_lines,
            latest_event=state.latest_event,
            zeroed=set(state.zeroed),
            newest_event_time=state.newest_event_time,
        )

    def _next_check(self) -> datetime | None:
        if self._retention is None:
            return None
        return self._retention.clock() + self._retention.check_interval

    def _keep_or_discard(self) -> bool:
        if self._retention is None or not self._retention.is_expired(self._state):
            return StatefulBatchLogic.RETAIN
        latest = self._state.latest_event
        logger.debug(
            "dropping order state: last event %s, step at %s",
            self._state.newest_event_time,
            self._retention.newest,
            extra={"order_id": None if latest is None else latest.order_id},
        )
        return StatefulBatchLogic.DISCARD


def order_versions_builder(
    retention: OrderRetention | None,
) -> Callable[[OrderVersions | None], OrderVersionsLogic]:
    """Return the builder Bytewax calls for each order key, with its resume state."""

    def build(resume: OrderVersions | None) -> OrderVersionsLogic:
        return OrderVersionsLogic(resume, retention)

    return build
