"""Compact pickling of the event models, as Bytewax pickles items and state."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from invsync.catalog import Catalog
from invsync.config import load_config
from invsync.events import (
    CanonicalEvent,
    InventorySnapshot,
    OrderLine,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
)
from invsync.golden import write_golden_files
from invsync.model_pickle import CompactPickle
from sources.registry import parse_input, read_inputs

REPO = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _golden_events(tmp_path: Path) -> list[CanonicalEvent]:
    catalog = Catalog(load_config(REPO / "samples" / "config.yaml"))
    events: list[CanonicalEvent] = []
    for item in read_inputs([write_golden_files(tmp_path)]):
        events.extend(parse_input(item, catalog).events)
    return events


def _round_trip(event: CanonicalEvent) -> CanonicalEvent:
    loaded = pickle.loads(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(loaded, CanonicalEvent)
    return loaded


def _order_line(**changes: object) -> OrderLine:
    fields: dict[str, object] = {
        "event_id": "E-1",
        "source": Source.SHOPIFY,
        "event_time": WHEN,
        "ingest_time": WHEN,
        "sku": "SKU-1",
        "order_id": "O-1",
        "line_id": "1",
        "action": "PLACED",
        "ordered_quantity": 3,
        "version_time": WHEN,
    }
    fields.update(changes)
    return OrderLine.model_validate(fields)


def test_golden_events_round_trip(tmp_path):
    events = _golden_events(tmp_path)
    kinds = {type(event) for event in events}

    loaded = [_round_trip(event) for event in events]

    assert len(kinds) >= 5
    for before, after in zip(events, loaded, strict=True):
        assert type(after) is type(before)
        assert after == before
        assert after.model_fields_set == before.model_fields_set


def test_unset_fields_stay_unset():
    line = _order_line()

    loaded = _round_trip(line)

    assert "channel" not in loaded.model_fields_set
    assert loaded.model_dump(exclude_unset=True) == line.model_dump(exclude_unset=True)


def test_times_load_as_utc_to_the_microsecond():
    loaded = _round_trip(_order_line(version_time=WHEN + timedelta(microseconds=1)))

    assert loaded.event_time == WHEN
    assert loaded.event_time.tzinfo is UTC
    assert loaded.version_time == WHEN + timedelta(microseconds=1)


def test_enums_load_as_members():
    loaded = _round_trip(_order_line())

    assert loaded.source is Source.SHOPIFY


def test_nested_models_round_trip():
    snapshot = InventorySnapshot(
        event_id="S-1",
        source=Source.WMS,
        event_time=WHEN,
        ingest_time=WHEN,
        sku="SKU-1",
        warehouse="WH-1",
        snapshot_kind=SnapshotKind.CYCLE_COUNT,
        as_of=WHEN,
        balances=[StatusQuantity(stock_status=StockStatus.QC, quantity=4)],
    )

    loaded = _round_trip(snapshot)

    assert loaded == snapshot
    assert isinstance(loaded, InventorySnapshot)
    assert loaded.balances[0].stock_status is StockStatus.QC


def test_other_timezone_kept():
    line = _order_line()
    # Validation converts to UTC; an object built around it keeps its zone.
    eastern = timezone(timedelta(hours=-5))
    line.__dict__["version_time"] = WHEN.astimezone(eastern)

    loaded = _round_trip(line)

    assert loaded.version_time == WHEN
    assert loaded.version_time.tzinfo == eastern


def test_pickle_smaller_than_pydantic(monkeypatch):
    line = _order_line()
    compact = pickle.dumps(line, protocol=pickle.HIGHEST_PROTOCOL)
    monkeypatch.delattr(CompactPickle, "__reduce__")

    default = pickle.dumps(line, protocol=pickle.HIGHEST_PROTOCOL)

    assert len(compact) < len(default)


def test_pydantic_pickles_still_load(monkeypatch):
    line = _order_line()
    monkeypatch.delattr(CompactPickle, "__reduce__")
    old_format = pickle.dumps(line, protocol=pickle.HIGHEST_PROTOCOL)
    monkeypatch.undo()

    loaded = pickle.loads(old_format)

    assert b"ordered_quantity" in old_format
    assert loaded == line


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_every_pickle_protocol(protocol):
    line = _order_line()

    loaded = pickle.loads(pickle.dumps(line, protocol=protocol))

    assert loaded == line


def _older_layout(line: OrderLine, drop: str, extra: dict[str, object]) -> bytes:
    """Pickle ``line`` as a class without ``drop`` and with ``extra`` would."""
    function, (name, layout, values, _) = line.__reduce__()
    names = layout.split(",")
    remaining = [(n, v) for n, v in zip(names, values, strict=True) if n != drop]
    remaining += list(extra.items())
    old_layout = ",".join(n for n, _ in remaining)
    state = (name, old_layout, tuple(v for _, v in remaining), 0)
    return pickle.dumps((function, state))


def test_pickle_without_added_field_loads_default():
    function, state = pickle.loads(_older_layout(_order_line(), "channel", {}))

    loaded = function(*state)

    assert isinstance(loaded, OrderLine)
    assert loaded.channel is None
    assert "channel" not in loaded.model_fields_set
    assert loaded.ordered_quantity == 3
    assert loaded.version_time == WHEN


def test_pickle_with_removed_field_drops_it():
    data = _older_layout(_order_line(), "", {"retired_field": "x"})
    function, state = pickle.loads(data)

    loaded = function(*state)

    assert loaded == _order_line()
    assert not hasattr(loaded, "retired_field")


def test_pickle_without_required_field_is_rejected():
    function, state = pickle.loads(_older_layout(_order_line(), "order_id", {}))

    with pytest.raises(ValueError, match="lacks field 'order_id'"):
        function(*state)
