"""The main dataflow: decode, order step, per-SKU state, and the output branches.

The same steps run over Kafka (``dataflows.kafka_flow``) and over files
(``invsync replay``); only the input source and the sinks differ.

    raw records -> decode --dead letters------------------------------+
                     |                                                 |
                     +-> WarehouseSetting -> warehouse flag sink       |
                     +-> whole-order lines -> order step (by order) -+ |
                     +-> other events ----------------------------- key by SKU
                                                                      |
                                              SKU state (by SKU) -> ATP sink
                                                  |-> postings sink
                                                  |-> exceptions sink
                                                  +-> dead letters sink
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.outputs import Sink

from dataflows.records import RawRecord, decode_record
from invsync.events import (
    AtpRecord,
    CanonicalEvent,
    DeadLetter,
    ErpPosting,
    InventoryException,
    OrderLine,
    WarehouseSetting,
)
from invsync.topics import event_key
from operators.order_versions import OrderVersionsLogic, order_key
from operators.sku_logic import SkuLogicSettings, SkuOutput, sku_logic_builder


@dataclass(frozen=True)
class FlowSinks:
    """Where each output of the dataflow goes."""

    atp: Sink[AtpRecord]
    warehouse_settings: Sink[WarehouseSetting]
    postings: Sink[ErpPosting]
    exceptions: Sink[InventoryException]
    dead_letters: Sink[DeadLetter]


def _is_whole_order_line(event: CanonicalEvent) -> bool:
    return isinstance(event, OrderLine) and bool(event.order_line_ids)


def build_core(
    raw: Stream[RawRecord],
    settings: SkuLogicSettings,
    sinks: FlowSinks,
    extra_dead_letters: Stream[DeadLetter] | None = None,
) -> None:
    """Add the decode, order, SKU-state and output steps to a flow."""
    decoded = op.map("decode", raw, decode_record)
    split = op.branch("split_decode_failures", decoded, _is_dead_letter)
    decode_failures = cast(Stream[DeadLetter], split.trues)
    events = cast(Stream[CanonicalEvent], split.falses)

    by_kind = op.branch(
        "split_warehouse_settings", events, lambda e: isinstance(e, WarehouseSetting)
    )
    op.output(
        "warehouse_settings_out",
        cast(Stream[WarehouseSetting], by_kind.trues),
        sinks.warehouse_settings,
    )

    orders = op.branch("split_whole_orders", by_kind.falses, _is_whole_order_line)
    by_order = op.key_on(
        "key_by_order", cast(Stream[OrderLine], orders.trues), order_key
    )
    order_lines = op.key_rm(
        "unkey_order",
        op.stateful_batch("order_versions", by_order, OrderVersionsLogic),
    )
    sku_events = op.merge("sku_events", orders.falses, order_lines)
    by_sku = op.key_on("key_by_sku", sku_events, event_key)
    outputs = op.key_rm(
        "unkey_sku",
        op.stateful_batch("sku_state", by_sku, sku_logic_builder(settings)),
    )
    _route_outputs(outputs, decode_failures, extra_dead_letters, sinks)


def _is_dead_letter(item: object) -> bool:
    return isinstance(item, DeadLetter)


def _route_outputs(
    outputs: Stream[SkuOutput],
    decode_failures: Stream[DeadLetter],
    extra_dead_letters: Stream[DeadLetter] | None,
    sinks: FlowSinks,
) -> None:
    atp = op.branch("split_atp", outputs, lambda r: isinstance(r, AtpRecord))
    op.output("atp_out", cast(Stream[AtpRecord], atp.trues), sinks.atp)

    postings = op.branch(
        "split_postings", atp.falses, lambda r: isinstance(r, ErpPosting)
    )
    op.output("postings_out", cast(Stream[ErpPosting], postings.trues), sinks.postings)

    exceptions = op.branch(
        "split_exceptions", postings.falses, lambda r: isinstance(r, InventoryException)
    )
    op.output(
        "exceptions_out",
        cast(Stream[InventoryException], exceptions.trues),
        sinks.exceptions,
    )

    streams: list[Stream[Any]] = [exceptions.falses, decode_failures]
    if extra_dead_letters is not None:
        streams.append(extra_dead_letters)
    dead_letters = op.merge("dead_letters", *streams)
    op.output(
        "dead_letters_out", cast(Stream[DeadLetter], dead_letters), sinks.dead_letters
    )


def new_flow(name: str = "invsync") -> Dataflow:
    """Return an empty dataflow with the project's flow id."""
    return Dataflow(name)
