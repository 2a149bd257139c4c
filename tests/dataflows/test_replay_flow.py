"""The whole dataflow run in-process: decode, routing, SKU state and outputs.

Expected values follow docs/semantics.md. Batch boundaries inside the run are
Bytewax's choice, so the checks use only results that do not depend on them.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.testing import run_main
from fastavro import parse_schema, schemaless_writer

from dataflows.flow import FlowSinks, build_core, new_flow
from dataflows.records import RawRecord, decode_record
from dataflows.replay import (
    CollectSink,
    RecordListSource,
    ReplayResult,
    replay_events,
    settings_from_config,
)
from invsync.avro import MAGIC, encode, schema_fingerprint, schema_path
from invsync.config import InvsyncConfig, RedisConfig, StateConfig
from invsync.events import (
    AtpRecord,
    CanonicalEvent,
    DeadLetter,
    ErpPosting,
    ExceptionKind,
    InventoryException,
    InventoryMovement,
    MovementType,
    OrderAction,
    OrderLine,
    PostingType,
    RecordVersion,
    Source,
    WarehouseAtp,
    WarehouseSetting,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIG = InvsyncConfig(
    state=StateConfig(
        dedup_retention=timedelta(minutes=60),
        max_snapshot_lateness=timedelta(minutes=30),
    ),
    redis=RedisConfig(generation=4),
)


def at(minute: float) -> datetime:
    """Return T0 plus a number of minutes."""
    return T0 + timedelta(minutes=minute)


def movement(
    event_id: str,
    movement_type: MovementType,
    quantity: int,
    minute: float = 0,
    *,
    sku: str = "SKU-A",
    warehouse: str = "W1",
    **fields: Any,
) -> InventoryMovement:
    """Build a movement in AVAILABLE."""
    return InventoryMovement(
        event_id=event_id,
        source=Source.WMS,
        event_time=at(minute),
        ingest_time=at(minute),
        sku=sku,
        warehouse=warehouse,
        movement_type=movement_type,
        quantity=quantity,
        **fields,
    )


def order_line(
    event_id: str, order_id: str, ordered: int, minute: float = 0, **fields: Any
) -> OrderLine:
    """Build a PLACED line 1 of SKU-A at W1, versioned at its event time."""
    return OrderLine(
        event_id=event_id,
        source=Source.SHOPIFY,
        event_time=at(minute),
        ingest_time=at(minute),
        sku="SKU-A",
        warehouse="W1",
        order_id=order_id,
        line_id="1",
        action=OrderAction.PLACED,
        ordered_quantity=ordered,
        version_time=at(minute),
        **fields,
    )


def warehouse_setting(event_id: str, active: bool, minute: float) -> WarehouseSetting:
    """Build a warehouse flag for W1."""
    return WarehouseSetting(
        event_id=event_id,
        source=Source.CONFIG,
        event_time=at(minute),
        ingest_time=at(minute),
        warehouse="W1",
        active=active,
    )


def replay(*events: CanonicalEvent) -> ReplayResult:
    """Run the dataflow over events with the short test windows."""
    return replay_events(CONFIG, list(events))


def entry(record: AtpRecord, code: str) -> WarehouseAtp:
    """Return one warehouse's entry of an ATP record."""
    (found,) = [w for w in record.warehouses if w.warehouse == code]
    return found


def last_backorders(result: ReplayResult) -> dict[str, int]:
    """Return the latest backordered quantity reported per order."""
    latest: dict[str, int] = {}
    for record in result.exceptions:
        if record.kind is ExceptionKind.BACKORDER:
            latest[record.order_id or ""] = record.quantity
    return latest


def raw(value: bytes, origin: str = "test:orders:0:7") -> RawRecord:
    """Wrap bytes as an input record."""
    return RawRecord(value=value, origin=origin)


def encode_unchecked(event: InventoryMovement, **overrides: Any) -> bytes:
    """Encode a movement with fastavro directly, so values pydantic rejects pass."""
    data = event.model_dump(mode="python") | overrides
    schema = parse_schema(json.loads(schema_path(InventoryMovement).read_text()))
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(schema_fingerprint(InventoryMovement))
    schemaless_writer(buffer, schema, data)
    return buffer.getvalue()


# Replay over canonical events.


def test_replay_atp_per_sku() -> None:
    result = replay(
        movement("r1", MovementType.RECEIPT, 10),
        order_line("o1", "O1", 4, 1),
        movement("r2", MovementType.RECEIPT, 5, sku="SKU-B", warehouse="W2"),
        movement("s1", MovementType.SHIP, 2, 2, sku="SKU-B", warehouse="W2"),
    )
    sku_a = entry(result.atp["SKU-A"], "W1")
    sku_b = entry(result.atp["SKU-B"], "W2")
    assert set(result.atp) == {"SKU-A", "SKU-B"}
    assert sku_a.on_hand == 10
    assert sku_a.reserved == 4
    assert sku_a.atp == 6
    assert sku_b.on_hand == 3
    assert sku_b.atp == 3
    assert result.atp["SKU-A"].version == RecordVersion(generation=4, counter=2)
    assert result.atp["SKU-B"].version == RecordVersion(generation=4, counter=2)
    assert result.atp["SKU-B"].updated_at == at(2)


def test_replay_duplicate_posts_once() -> None:
    result = replay(
        movement("r1", MovementType.RECEIPT, 10),
        movement("r1", MovementType.RECEIPT, 10),
    )
    assert [p.source_event_id for p in result.postings] == ["r1"]
    assert entry(result.atp["SKU-A"], "W1").on_hand == 10
    assert result.atp["SKU-A"].version.counter == 1


def test_replay_too_late_is_dead_letter() -> None:
    result = replay(
        movement("r1", MovementType.RECEIPT, 10, 100),
        movement("r2", MovementType.RECEIPT, 5, 39),
    )
    assert [(d.error_class, d.event_id) for d in result.dead_letters] == [
        ("too_late", "r2")
    ]
    assert [p.source_event_id for p in result.postings] == ["r1"]
    assert entry(result.atp["SKU-A"], "W1").on_hand == 10
    assert result.atp["SKU-A"].version.counter == 1


def test_replay_same_second_orders_any_arrival() -> None:
    # Both lines at minute 1 ask for the last unit. "ord-a" < "ord-b", so S1 is served.
    receipt = movement("r1", MovementType.RECEIPT, 1)
    shopify = order_line("ord-a", "S1", 1, 1, channel="shopify")
    edi = order_line("ord-b", "E1", 1, 1, channel="edi")
    forward = replay(receipt, shopify, edi)
    backward = replay(receipt, edi, shopify)
    for result in (forward, backward):
        w1 = entry(result.atp["SKU-A"], "W1")
        assert w1.reserved == 2
        assert w1.backordered == 1
        assert w1.atp == -1
        assert w1.available == 0
        assert last_backorders(result) == {"E1": 1}
    assert forward.atp == backward.atp


def test_replay_posting_ids_stable_across_runs() -> None:
    target = movement("r1", MovementType.RECEIPT, 10, 5)
    first = replay(target)
    second = replay(
        movement("r0", MovementType.RECEIPT, 3),
        movement("s0", MovementType.SHIP, 1, 1),
        target,
    )
    (first_posting,) = first.postings
    by_event = {p.source_event_id: p for p in second.postings}
    assert by_event["r1"].posting_id == first_posting.posting_id
    assert by_event["r1"].posting_id != by_event["r0"].posting_id
    assert first_posting.sequence == 1
    assert [p.sequence for p in second.postings] == [1, 2, 3]
    assert [p.posting_type for p in second.postings] == [
        PostingType.GOODS_RECEIPT,
        PostingType.GOODS_ISSUE,
        PostingType.GOODS_RECEIPT,
    ]


def test_replay_routes_warehouse_setting() -> None:
    result = replay(
        warehouse_setting("w1-on", True, 1),
        movement("r1", MovementType.RECEIPT, 10),
        warehouse_setting("w1-off", False, 2),
    )
    assert set(result.warehouse_settings) == {"W1"}
    assert result.warehouse_settings["W1"].active is False
    assert result.warehouse_settings["W1"].event_id == "w1-off"
    assert set(result.atp) == {"SKU-A"}
    assert result.atp["SKU-A"].version.counter == 1
    assert result.dead_letters == []


# Decoding raw records.


def test_decode_valid_record() -> None:
    event = movement("r1", MovementType.RECEIPT, 10)
    assert decode_record(raw(encode(event))) == event


def test_decode_not_avro() -> None:
    value = b'{"sku": "SKU-A", "quantity": 3}'
    letter = decode_record(raw(value))
    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "not_avro"
    assert letter.original == value
    assert letter.origin == "test:orders:0:7"
    assert letter.source_format == "avro"


def test_decode_unknown_schema() -> None:
    body = encode(movement("r1", MovementType.RECEIPT, 10))[10:]
    value = MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + body
    letter = decode_record(raw(value))
    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "unknown_schema"
    assert letter.original == value


def test_decode_negative_ship_quantity() -> None:
    value = encode_unchecked(movement("s1", MovementType.SHIP, 3), quantity=-3)
    letter = decode_record(raw(value))
    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "invalid_record"
    assert letter.original == value


def test_decode_output_record_rejected() -> None:
    posting = ErpPosting(
        posting_id="p1",
        sequence=1,
        sku="SKU-A",
        warehouse="W1",
        posting_type=PostingType.GOODS_RECEIPT,
        quantity=1,
        stock_status="AVAILABLE",
        source_event_id="r1",
        event_time=T0,
    )
    letter = decode_record(raw(encode(posting)))
    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "unexpected_type"


def test_flow_routes_decode_failures() -> None:
    good = encode(movement("r1", MovementType.RECEIPT, 10))
    bad = b"RECEIPT,SKU-A,W1,10"
    records = [raw(bad, "test:wms:0:0"), raw(good, "test:wms:0:1")]
    atp = CollectSink[AtpRecord]()
    dead_letters = CollectSink[DeadLetter]()
    postings = CollectSink[ErpPosting]()
    flow = new_flow("test-decode")
    build_core(
        op.input("in", flow, RecordListSource(records)),
        settings_from_config(CONFIG),
        FlowSinks(
            atp=atp,
            warehouse_settings=CollectSink[WarehouseSetting](),
            postings=postings,
            exceptions=CollectSink[InventoryException](),
            dead_letters=dead_letters,
        ),
    )
    run_main(flow)
    assert [(d.error_class, d.origin) for d in dead_letters.items] == [
        ("not_avro", "test:wms:0:0")
    ]
    assert dead_letters.items[0].original == bad
    assert [p.source_event_id for p in postings.items] == ["r1"]
    assert [record.sku for record in atp.items] == ["SKU-A"]
    assert entry(atp.items[0], "W1").on_hand == 10


def test_replay_counter_counts_applied_events() -> None:
    # Applied: r1, o1, p1. The repeated r1 is not.
    result = replay(
        movement("r1", MovementType.RECEIPT, 10),
        order_line("o1", "O1", 2, 1),
        movement("r1", MovementType.RECEIPT, 10),
        movement("p1", MovementType.PICK, 1, 2),
    )
    assert result.atp["SKU-A"].version.counter == 3
    assert entry(result.atp["SKU-A"], "W1").atp == 8
