"""Incremental backorder settlement against a greedy walk from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from operators.backorders import LineKey, LocationQueue, Priority
from operators.order_lines import LineState

T0 = datetime(2026, 3, 2, tzinfo=UTC)


class Book:
    """Open lines of one location, kept the way ``SkuState`` keeps them."""

    def __init__(self) -> None:
        self.queue = LocationQueue()
        self.lines: dict[LineKey, LineState] = {}
        self.listed: dict[LineKey, Priority] = {}
        self.changes: list[tuple[str, int]] = []

    def priority(self, line: LineState) -> Priority:
        minute = int(line.line_id)
        return (T0 + timedelta(minutes=minute), line.line_id, "O", line.line_id)

    def set_reserved(self, line_id: str, reserved: int) -> None:
        key = ("O", line_id)
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = LineState(order_id="O", line_id=line_id)
        if key in self.listed:
            self.queue.reserved -= line.reserved
            self.queue.backordered -= line.backordered
            self.queue.remove(self.listed.pop(key))
        line.ordered = reserved
        if line.reserved or line.backordered:
            self.queue.reserved += line.reserved
            self.queue.backordered += line.backordered
            priority = self.priority(line)
            self.queue.add(priority)
            self.listed[key] = priority

    def settle(self, capacity: int) -> None:
        def record(line: LineState, backordered: int) -> None:
            self.changes.append((line.line_id, backordered))

        for key in self.queue.settle(capacity, self.lines, record):
            self.queue.drop(self.listed.pop(key))


def greedy(lines: dict[LineKey, LineState], capacity: int) -> dict[str, int]:
    """Return each line's backorder from a walk over every line in priority order."""
    remaining = capacity
    result = {}
    for line in sorted(lines.values(), key=lambda line: int(line.line_id)):
        served = min(line.reserved, remaining)
        remaining -= served
        result[line.line_id] = line.reserved - served
    return result


STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.integers(min_value=0, max_value=12),
            st.integers(min_value=0, max_value=6),
        ),
        st.tuples(
            st.just("settle"),
            st.integers(min_value=0, max_value=30),
            st.just(0),
        ),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_settlement_equals_greedy_walk(steps: list[tuple[str, int, int]]) -> None:
    book = Book()
    for kind, a, b in [*steps, ("settle", 0, 0)]:
        if kind == "set":
            book.set_reserved(str(a), b)
            continue
        book.settle(a)
        expected = greedy(book.lines, a)
        actual = {line.line_id: line.backordered for line in book.lines.values()}
        assert actual == expected
        assert book.queue.backordered == sum(expected.values())
        assert book.queue.reserved == sum(line.reserved for line in book.lines.values())
        listed = sorted(book.listed.values())
        assert book.queue.entries == listed


def test_unchanged_settlement_reports_nothing() -> None:
    book = Book()
    book.set_reserved("1", 4)
    book.set_reserved("2", 4)
    book.settle(5)
    first = list(book.changes)
    book.settle(5)
    assert first == [("2", 3)]
    assert book.changes == first


def test_new_line_after_shortage_is_backordered_in_full() -> None:
    book = Book()
    for line_id in ("1", "2", "3"):
        book.set_reserved(line_id, 2)
    book.settle(3)
    book.set_reserved("4", 5)
    book.settle(3)
    assert book.changes == [("2", 1), ("3", 2), ("4", 5)]


def test_receipt_serves_backorders_in_priority_order() -> None:
    book = Book()
    for line_id in ("1", "2", "3"):
        book.set_reserved(line_id, 2)
    book.settle(1)
    book.changes.clear()
    book.settle(5)
    assert book.changes == [("1", 0), ("2", 0), ("3", 1)]
