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
                                                  |-> variance alert sinks
                                                  +-> dead letters sink
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.outputs import Sink

from dataflows.records import InputRecord, decode_record
from invsync.events import (
    AtpRecord,
    CanonicalEvent,
    DeadLetter,
    ErpPosting,
    InventoryException,
    OrderLine,
    VarianceAlert,
    WarehouseFreshness,
    WarehouseHeartbeat,
    WarehouseSetting,
)
from invsync.metrics import (
    observe_atps,
    observe_dead_letter,
    observe_decode_failure,
    observe_events,
    observe_exceptions,
    observe_freshness,
)
from invsync.topics import event_key
from operators.freshness import (
    FreshnessSettings,
    freshness_builder,
    warehouse_of,
    with_start_markers,
)
from operators.order_versions import (
    OrderRetention,
    order_key,
    order_versions_builder,
)
from operators.sku_logic import SkuLogicSettings, SkuOutput, sku_logic_builder

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class FlowSinks:
    """Sinks of the dataflow's outputs, one per output record type."""

    atp: Sink[AtpRecord]
    warehouse_settings: Sink[WarehouseSetting]
    postings: Sink[ErpPosting]
    exceptions: Sink[InventoryException]
    dead_letters: Sink[DeadLetter]
    # Variance alerts go to the alert topic and to the open-alert store (Redis);
    # a flow without these sinks drops them.
    variance_alerts: Sink[VarianceAlert] | None = None
    open_variances: Sink[VarianceAlert] | None = None
    # Freshness changes go to the freshness topic and the stale flags in Redis.
    freshness: Sink[WarehouseFreshness] | None = None
    stale_flags: Sink[WarehouseFreshness] | None = None


def _is_whole_order_line(event: CanonicalEvent) -> bool:
    return isinstance(event, OrderLine) and bool(event.order_line_ids)


def build_core(
    raw: Stream[InputRecord],
    settings: SkuLogicSettings,
    sinks: FlowSinks,
    extra_dead_letters: Stream[DeadLetter] | None = None,
    order_retention: OrderRetention | None = None,
    freshness: FreshnessSettings | None = None,
) -> None:
    """Add the decode, order, SKU-state and output steps to a flow.

    With ``freshness`` set, a step keyed by warehouse tracks each warehouse's
    silence (``operators.freshness``).

    ``order_retention`` defaults to the SKU step's dedup retention, checked once
    a minute of wall-clock time.
    """
    if order_retention is None:
        order_retention = OrderRetention(settings.state.dedup_retention)
    decoded = op.flat_map_batch("decode", raw, decode_batch)
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

    if freshness is not None:
        _add_freshness(events, freshness, sinks)
    # Heartbeats only reset the silence clock; they carry no SKU.
    sku_input = op.filter(
        "drop_heartbeats",
        by_kind.falses,
        lambda e: not isinstance(e, WarehouseHeartbeat),
    )
    orders = op.branch("split_whole_orders", sku_input, _is_whole_order_line)
    by_order = op.key_on(
        "key_by_order", cast(Stream[OrderLine], orders.trues), order_key
    )
    order_lines = op.key_rm(
        "unkey_order",
        op.stateful_batch(
            "order_versions", by_order, order_versions_builder(order_retention)
        ),
    )
    sku_events = op.merge("sku_events", orders.falses, order_lines)
    by_sku = op.key_on("key_by_sku", sku_events, event_key)
    outputs = op.key_rm(
        "unkey_sku",
        op.stateful_batch("sku_state", by_sku, sku_logic_builder(settings)),
    )
    _route_outputs(outputs, decode_failures, extra_dead_letters, sinks)


def decode_batch(
    records: list[InputRecord],
) -> list[CanonicalEvent | DeadLetter]:
    """Decode a batch of input records and count them in the metrics."""
    decoded = [decode_record(record) for record in records]
    events: list[CanonicalEvent] = []
    for item in decoded:
        if isinstance(item, DeadLetter):
            observe_decode_failure(item)
        else:
            events.append(item)
    observe_events(events)
    return decoded


def _add_freshness(
    events: Stream[CanonicalEvent], settings: FreshnessSettings, sinks: FlowSinks
) -> None:
    named = op.filter("freshness_events", events, lambda e: warehouse_of(e) is not None)
    # Start markers make warehouses without events since the start go stale too.
    marked = with_start_markers(named, settings)
    by_warehouse = op.key_on(
        "key_by_warehouse", marked, lambda e: warehouse_of(e) or ""
    )
    changes = op.key_rm(
        "unkey_freshness",
        op.stateful_batch("freshness", by_warehouse, freshness_builder(settings)),
    )
    op.inspect("observe_freshness", changes, lambda _s, c: observe_freshness(c))
    if sinks.freshness is not None:
        op.output("freshness_out", changes, sinks.freshness)
    if sinks.stale_flags is not None:
        op.output("stale_flags_out", changes, sinks.stale_flags)


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
    _observe_batches("observe_atp", cast(Stream[AtpRecord], atp.trues), observe_atps)

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
    _observe_batches(
        "observe_exceptions",
        cast(Stream[InventoryException], exceptions.trues),
        observe_exceptions,
    )

    variances = op.branch(
        "split_variances", exceptions.falses, lambda r: isinstance(r, VarianceAlert)
    )
    alerts = cast(Stream[VarianceAlert], variances.trues)
    if sinks.variance_alerts is not None:
        op.output("variance_alerts_out", alerts, sinks.variance_alerts)
    if sinks.open_variances is not None:
        op.output("open_variances_out", alerts, sinks.open_variances)

    streams: list[Stream[Any]] = [variances.falses, decode_failures]
    if extra_dead_letters is not None:
        streams.append(extra_dead_letters)
    dead_letters = op.merge("dead_letters", *streams)
    op.inspect(
        "observe_dead_letters",
        cast(Stream[DeadLetter], dead_letters),
        lambda _s, d: observe_dead_letter(d),
    )
    op.output(
        "dead_letters_out", cast(Stream[DeadLetter], dead_letters), sinks.dead_letters
    )


def _observe_batches(
    step_id: str, stream: Stream[ItemT], observe: Callable[[list[ItemT]], None]
) -> None:
    """Pass each batch of a stream to a metrics function.

    Bytewax's ``inspect`` calls Python once per item. A batch step calls it
    once per batch, so counters move once per label set.
    """

    def observed(items: list[ItemT]) -> list[ItemT]:
        observe(items)
        return items

    op.flat_map_batch(step_id, stream, observed)


def new_flow(name: str = "invsync") -> Dataflow:
    """Return an empty dataflow with the project's flow id."""
    return Dataflow(name)
