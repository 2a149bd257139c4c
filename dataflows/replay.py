"""Replay: the main dataflow over partner files instead of Kafka.

Files go through the same adapters as ``invsync ingest``. Their events are Avro
encoded and fed to the same decode, order and SKU-state steps, in file order,
on one worker. The outputs are collected in memory. ``invsync replay --redis``
then writes the final ATP records with the writer the Redis sink uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

import bytewax.operators as op
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from dataflows.flow import FlowSinks, build_core, new_flow
from dataflows.records import RawRecord
from invsync.avro import encode
from invsync.catalog import Catalog
from invsync.config import InvsyncConfig
from invsync.events import (
    AlertState,
    AtpRecord,
    CanonicalEvent,
    DeadLetter,
    ErpPosting,
    InventoryException,
    VarianceAlert,
    WarehouseSetting,
)
from invsync.topics import Topics, event_key
from operators.sku_logic import SkuLogicSettings
from operators.sku_state import StateSettings
from operators.variance import VarianceSettings, alert_key
from sources.base import AdapterInput
from sources.registry import parse_input

logger = logging.getLogger(__name__)

T = TypeVar("T")
_BATCH = 500


class _ListPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, records: list[RawRecord], resume: int | None) -> None:
        self._records = records
        self._next = resume or 0

    def next_batch(self) -> list[RawRecord]:
        if self._next >= len(self._records):
            raise StopIteration
        batch = self._records[self._next : self._next + _BATCH]
        self._next += len(batch)
        return batch

    def snapshot(self) -> int:
        return self._next


class RecordListSource(FixedPartitionedSource[RawRecord, int]):
    """A source of encoded records held in memory, read in order by one worker."""

    def __init__(self, records: list[RawRecord]) -> None:
        self._records = records

    def list_parts(self) -> list[str]:
        """Return the single partition."""
        return ["records"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _ListPartition:
        """Build the partition, resuming at a record index."""
        return _ListPartition(self._records, resume_state)


class _CollectPartition(StatelessSinkPartition[T], Generic[T]):
    def __init__(self, target: list[T]) -> None:
        self._target = target

    def write_batch(self, items: list[T]) -> None:
        self._target.extend(items)


class CollectSink(DynamicSink[T], Generic[T]):
    """A sink that appends every item to a list (single-process runs only)."""

    def __init__(self) -> None:
        self.items: list[T] = []

    def build(
        self, step_id: str, worker_index: int, worker_count: int
    ) -> _CollectPartition[T]:
        """Build a partition writing into the shared list."""
        return _CollectPartition(self.items)


@dataclass
class ReplayResult:
    """Everything a replay produced."""

    atp: dict[str, AtpRecord] = field(default_factory=dict)
    postings: list[ErpPosting] = field(default_factory=list)
    exceptions: list[InventoryException] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    warehouse_settings: dict[str, WarehouseSetting] = field(default_factory=dict)
    variance_alerts: list[VarianceAlert] = field(default_factory=list)
    events: int = 0

    def open_variances(self) -> list[VarianceAlert]:
        """Return the latest record of each alert key that is not RESOLVED."""
        latest: dict[str, VarianceAlert] = {}
        for alert in self.variance_alerts:
            latest[alert_key(alert)] = alert
        return [
            latest[key]
            for key in sorted(latest)
            if latest[key].state is not AlertState.RESOLVED
        ]

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON-ready data, with stable ordering."""
        return {
            "atp": {
                sku: self.atp[sku].model_dump(mode="json") for sku in sorted(self.atp)
            },
            "postings": [p.model_dump(mode="json") for p in self.postings],
            "exceptions": [e.model_dump(mode="json") for e in self.exceptions],
            "dead_letters": [
                d.model_dump(mode="json", exclude={"original"})
                | {"original": d.original.decode("utf-8", "replace")}
                for d in self.dead_letters
            ],
            "warehouses": {
                code: {"active": s.active, "event_time": s.event_time.isoformat()}
                for code, s in sorted(self.warehouse_settings.items())
            },
            "variance_alerts": [
                a.model_dump(mode="json") for a in self.variance_alerts
            ],
            "counts": {
                "events": self.events,
                "skus": len(self.atp),
                "postings": len(self.postings),
                "exceptions": len(self.exceptions),
                "dead_letters": len(self.dead_letters),
                "variance_alerts": len(self.variance_alerts),
            },
        }


def parse_all(
    inputs: Iterable[AdapterInput], catalog: Catalog
) -> tuple[list[CanonicalEvent], list[DeadLetter]]:
    """Run every input through its adapter, keeping input order."""
    events: list[CanonicalEvent] = []
    dead_letters: list[DeadLetter] = []
    for item in inputs:
        output = parse_input(item, catalog)
        events.extend(output.events)
        dead_letters.extend(output.dead_letters)
    return events, dead_letters


def encode_events(events: Iterable[CanonicalEvent], origin: str) -> list[RawRecord]:
    """Encode events as the input records the dataflow reads from Kafka."""
    topics = Topics()
    return [
        RawRecord(
            value=encode(event),
            origin=f"{origin}:{topics.for_event(event)}:{index}",
            key=event_key(event).encode(),
        )
        for index, event in enumerate(events)
    ]


def settings_from_config(config: InvsyncConfig) -> SkuLogicSettings:
    """Return the SKU step settings of a configuration."""
    return SkuLogicSettings(
        state=StateSettings(
            dedup_retention=config.state.dedup_retention,
            max_snapshot_lateness=config.state.max_snapshot_lateness,
            max_future_skew=config.state.max_future_skew,
            generation=config.redis.generation,
            variance=VarianceSettings.from_config(config.variance),
        ),
        republish_interval=config.redis.republish_interval,
    )


def replay(config: InvsyncConfig, inputs: list[AdapterInput]) -> ReplayResult:
    """Run the dataflow over files and return what it produced."""
    catalog = Catalog(config)
    events, adapter_dead_letters = parse_all(inputs, catalog)
    return replay_events(config, events, adapter_dead_letters)


def replay_events(
    config: InvsyncConfig,
    events: list[CanonicalEvent],
    adapter_dead_letters: list[DeadLetter] | None = None,
) -> ReplayResult:
    """Run the dataflow over canonical events, in the given order."""
    records = encode_events(events, "replay")
    adapter_dead_letters = adapter_dead_letters or []
    logger.info(
        "replay: %d events, %d adapter dead letters",
        len(events),
        len(adapter_dead_letters),
    )

    atp = CollectSink[AtpRecord]()
    warehouses = CollectSink[WarehouseSetting]()
    postings = CollectSink[ErpPosting]()
    exceptions = CollectSink[InventoryException]()
    dead_letters = CollectSink[DeadLetter]()
    variance_alerts = CollectSink[VarianceAlert]()
    flow = new_flow("invsync-replay")
    raw = op.input("replay_in", flow, RecordListSource(records))
    build_core(
        raw,
        settings_from_config(config),
        FlowSinks(
            atp=atp,
            warehouse_settings=warehouses,
            postings=postings,
            exceptions=exceptions,
            dead_letters=dead_letters,
            variance_alerts=variance_alerts,
        ),
    )
    run_main(flow, epoch_interval=timedelta(seconds=1))  # type: ignore[no-untyped-call]

    result = ReplayResult(events=len(events))
    for record in atp.items:
        current = result.atp.get(record.sku)
        if current is None or _version(record) >= _version(current):
            result.atp[record.sku] = record
    result.postings = postings.items
    result.exceptions = exceptions.items
    result.dead_letters = adapter_dead_letters + dead_letters.items
    result.variance_alerts = variance_alerts.items
    for setting in warehouses.items:
        known = result.warehouse_settings.get(setting.warehouse)
        if known is None or setting.event_time >= known.event_time:
            result.warehouse_settings[setting.warehouse] = setting
    return result


def _version(record: AtpRecord) -> tuple[int, int]:
    return (record.version.generation, record.version.counter)
