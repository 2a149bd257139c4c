"""The order step, keyed by order: turns lines that vanish from a version into zeros.

Order sources that send whole orders (an EDI 850 replacement, a Shopify order
payload) list every line of a version in ``OrderLine.order_line_ids``. A line of
an earlier version missing from that list was removed, and its SKU's state must
hear so even though no event names it. This step remembers the SKU of every line
of an order and emits an explicit zero ``OrderLine`` at the newer version for each
removed line. Its output is re-keyed by SKU.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from bytewax.operators import StatefulBatchLogic

from invsync.events import OrderAction, OrderLine
from operators.order_lines import Version
from sources.base import stable_id


@dataclass
class OrderVersions:
    """What the order step keeps for one order."""

    line_skus: dict[str, str] = field(default_factory=dict)
    latest: Version | None = None
    latest_lines: frozenset[str] = frozenset()
    latest_event: OrderLine | None = None
    zeroed: set[tuple[str, Version]] = field(default_factory=set)


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
    """Bytewax logic of the order step."""

    def __init__(self, resume: OrderVersions | None) -> None:
        self._state = resume or OrderVersions()

    def on_batch(self, values: list[OrderLine]) -> tuple[Iterable[OrderLine], bool]:
        """Pass each line through, with zeros for removed lines."""
        outputs: list[OrderLine] = []
        for event in values:
            outputs.extend(apply_order_line(self._state, event))
        return outputs, StatefulBatchLogic.RETAIN

    def snapshot(self) -> OrderVersions:
        """Return an independent copy of the state for recovery."""
        return copy.deepcopy(self._state)
