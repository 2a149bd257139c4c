"""Prometheus metrics of the dataflow that show the business, beside Bytewax's own.

Every metric here is registered in prometheus-client's default registry. Bytewax
0.21.1 serves that registry together with its own metrics at ``/metrics`` of the
dataflow API when ``BYTEWAX_DATAFLOW_API_ENABLED`` is set (port 3030, or
``BYTEWAX_DATAFLOW_API_PORT``), so no second HTTP server is needed.

Labels are low-cardinality only: source, event type, error class, exception
kind and warehouse code; never a SKU. Each process exports what its own workers
saw, so dashboards sum the counters and gauges over processes. The sinks export
their own metrics: ``invsync_redis_*`` in ``sinks/redis_atp.py`` and
``sinks/redis_retry.py``, ``invsync_kafka_*`` in ``sinks/kafka_checked.py``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from invsync.events import (
    AtpRecord,
    CanonicalEvent,
    DeadLetter,
    FreshnessState,
    InventoryException,
    WarehouseFreshness,
)

logger = logging.getLogger(__name__)

DEFAULT_API_PORT = 3030
"""Port of Bytewax's dataflow API when BYTEWAX_DATAFLOW_API_PORT is unset."""

UNALLOCATED = "unallocated"
"""Warehouse label of demand that no warehouse has been allocated yet."""

EVENTS_CONSUMED = Counter(
    "invsync_events_consumed_total",
    "Input events decoded by the dataflow, by source system and event type.",
    ["source", "event_type"],
)
EVENT_LAG = Histogram(
    "invsync_event_lag_seconds",
    "Processing time minus event time of each decoded input event, by source.",
    ["source"],
    # From sub-second WMS scans to EDI documents sent a day or a week late.
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
)
DECODE_FAILURES = Counter(
    "invsync_decode_failures_total",
    "Input records the dataflow could not decode, by error class.",
    ["error_class"],
)
DEAD_LETTERS = Counter(
    "invsync_dead_letters_total",
    "Dead letters the dataflow sent to the dead-letter topic, by error class.",
    ["error_class"],
)
ATP_RECORDS = Counter(
    "invsync_atp_records_total",
    "ATP records handed to the Redis sink (before it coalesces a batch by SKU).",
)
EXCEPTIONS = Counter(
    "invsync_exceptions_total",
    "Inventory exceptions sent to the exceptions topic, by kind "
    "(BACKORDER per backordered order line, OVERSELL).",
    ["kind"],
)
OVERSOLD_PAIRS = Gauge(
    "invsync_oversold_pairs",
    "SKU-warehouse pairs whose latest ATP is below zero, by warehouse.",
    ["warehouse"],
)
BACKORDERED_UNITS = Gauge(
    "invsync_backordered_units",
    "Units reserved beyond what stock can serve, summed over SKUs, by warehouse "
    "('unallocated' for lines with no warehouse).",
    ["warehouse"],
)
WAREHOUSE_LAST_EVENT = Gauge(
    "invsync_warehouse_last_event_timestamp_seconds",
    "Unix time at which this process last processed an event of the warehouse.",
    ["warehouse"],
)
WAREHOUSE_STALE = Gauge(
    "invsync_warehouse_stale",
    "1 while the warehouse is flagged stale (silent past its maximum silence), "
    "else 0; exported by the process that tracks the warehouse.",
    ["warehouse"],
)
FRESHNESS_ALERTS = Counter(
    "invsync_freshness_alerts_total",
    "Freshness changes sent to the freshness topic, by warehouse and state.",
    ["warehouse", "state"],
)


def observe_event(event: CanonicalEvent, now: datetime | None = None) -> None:
    """Count one decoded input event and record its lag and warehouse."""
    observe_events([event], now)


def observe_events(
    events: Iterable[CanonicalEvent], now: datetime | None = None
) -> None:
    """Count a batch of decoded input events and record their lag and warehouses.

    The batch shares one processing time, counters are incremented once per
    label set, and each warehouse's last-event time is set once per batch.
    """
    processed = now or datetime.now(UTC)
    counts: dict[tuple[str, str], int] = {}
    warehouses: set[str] = set()
    for event in events:
        source = event.source.value
        label = (source, type(event).__name__)
        counts[label] = counts.get(label, 0) + 1
        _lag_child(source).observe(
            max(0.0, (processed - event.event_time).total_seconds())
        )
        warehouse = getattr(event, "warehouse", None)
        if warehouse:
            warehouses.add(warehouse)
    for (source, event_type), count in counts.items():
        _consumed_child(source, event_type).inc(count)
    stamp = processed.timestamp()
    for warehouse in warehouses:
        WAREHOUSE_LAST_EVENT.labels(warehouse=warehouse).set(stamp)
        WAREHOUSE_SILENCE.touch(warehouse, stamp)


@cache
def _consumed_child(source: str, event_type: str) -> Counter:
    # Looking up a labelled child costs more than the increment; the label sets
    # are few (sources times event types), so the children are kept.
    return EVENTS_CONSUMED.labels(source=source, event_type=event_type)


@cache
def _lag_child(source: str) -> Histogram:
    return EVENT_LAG.labels(source=source)


def observe_decode_failure(letter: DeadLetter) -> None:
    """Count an input record that failed to decode."""
    DECODE_FAILURES.labels(error_class=letter.error_class).inc()


def observe_dead_letter(letter: DeadLetter) -> None:
    """Count a dead letter on its way to the dead-letter topic."""
    DEAD_LETTERS.labels(error_class=letter.error_class).inc()


def observe_freshness(change: WarehouseFreshness) -> None:
    """Count a freshness change and set the warehouse's stale gauge."""
    FRESHNESS_ALERTS.labels(warehouse=change.warehouse, state=change.state.value).inc()
    stale = 1 if change.state is FreshnessState.STALE else 0
    WAREHOUSE_STALE.labels(warehouse=change.warehouse).set(stale)


def observe_exceptions(exceptions: Iterable[InventoryException]) -> None:
    """Count a batch of inventory exceptions, once per kind."""
    counts: dict[str, int] = {}
    for exception in exceptions:
        kind = exception.kind.value
        counts[kind] = counts.get(kind, 0) + 1
    for kind, count in counts.items():
        _exception_child(kind).inc(count)


@cache
def _exception_child(kind: str) -> Counter:
    return EXCEPTIONS.labels(kind=kind)


@cache
def _oversold_child(warehouse: str) -> Gauge:
    return OVERSOLD_PAIRS.labels(warehouse=warehouse)


@cache
def _backordered_child(warehouse: str) -> Gauge:
    return BACKORDERED_UNITS.labels(warehouse=warehouse)


class AtpTracker:
    """Oversold pairs and backordered units from the latest ATP record of each SKU.

    Only SKUs with something to report are kept, so memory grows with the
    oversold and backordered SKUs, not the catalogue. A restarted process starts
    empty and refills as SKUs are published again (every SKU at least once per
    ``redis.republish_interval``).
    """

    def __init__(self) -> None:
        """Start with nothing oversold or backordered."""
        self._lock = threading.Lock()
        self._oversold: dict[str, set[str]] = {}
        self._backordered: dict[str, dict[str, int]] = {}

    def observe(self, record: AtpRecord) -> None:
        """Replace what the tracker holds for the record's SKU."""
        oversold = {wh.warehouse for wh in record.warehouses if wh.atp < 0}
        backordered = {
            wh.warehouse: wh.backordered
            for wh in record.warehouses
            if wh.backordered > 0
        }
        if record.unallocated_backordered > 0:
            backordered[UNALLOCATED] = record.unallocated_backordered
        sku = record.sku
        # Each SKU belongs to one worker, so no other thread changes its entries.
        if not (
            oversold or backordered or sku in self._oversold or sku in self._backordered
        ):
            return
        with self._lock:
            before_oversold = self._oversold.pop(record.sku, set())
            before_backordered = self._backordered.pop(record.sku, {})
            if oversold:
                self._oversold[record.sku] = oversold
            if backordered:
                self._backordered[record.sku] = backordered
            for warehouse in before_oversold - oversold:
                _oversold_child(warehouse).dec()
            for warehouse in oversold - before_oversold:
                _oversold_child(warehouse).inc()
            for warehouse in before_backordered.keys() | backordered.keys():
                change = backordered.get(warehouse, 0) - before_backordered.get(
                    warehouse, 0
                )
                if change:
                    _backordered_child(warehouse).inc(change)


ATP_TRACKER = AtpTracker()


def observe_atps(records: list[AtpRecord]) -> None:
    """Count a batch of ATP records and update the gauges from each."""
    ATP_RECORDS.inc(len(records))
    for record in records:
        ATP_TRACKER.observe(record)


class WarehouseSilenceCollector(Collector):
    """``invsync_warehouse_seconds_since_last_event``, computed at scrape time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Use ``clock`` (Unix seconds) for the current time."""
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def touch(self, warehouse: str, at: float) -> None:
        """Record an event of ``warehouse`` processed at Unix time ``at``."""
        with self._lock:
            self._last[warehouse] = max(at, self._last.get(warehouse, at))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the seconds since each warehouse's last event."""
        family = GaugeMetricFamily(
            "invsync_warehouse_seconds_since_last_event",
            "Seconds since this process last processed an event of the warehouse.",
            labels=["warehouse"],
        )
        now = self._clock()
        with self._lock:
            last = dict(self._last)
        for warehouse, at in sorted(last.items()):
            family.add_metric([warehouse], max(0.0, now - at))
        yield family


WAREHOUSE_SILENCE = WarehouseSilenceCollector()
REGISTRY.register(WAREHOUSE_SILENCE)

_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_metric_names(collectors: Iterable[Collector] | None = None) -> set[str]:
    """Return every sample name the default registry (or ``collectors``) exports.

    Includes the names of labelled metrics that have no sample yet.
    """
    names: set[str] = set()
    sources = list(collectors) if collectors is not None else [REGISTRY]
    for collector in sources:
        for family in collector.collect():
            for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
            names.update(sample.name for sample in family.samples)
    return names


def enable_dataflow_api(
    base_port: int, process_id: int | None, environ: dict[str, str] | None = None
) -> int:
    """Turn on Bytewax's dataflow API for this process; return its port.

    Process K of a cluster on one host listens on ``base_port + K``. Bytewax
    writes ``dataflow.json`` into ``BYTEWAX_DATAFLOW_API_CACHE_PATH``, or the
    working directory when that is unset, so this points it at the temp dir.
    Must run before the dataflow starts, because Bytewax reads the environment
    when it starts the API server.
    """
    env = os.environ if environ is None else environ
    port = base_port + (process_id or 0)
    env["BYTEWAX_DATAFLOW_API_ENABLED"] = "true"
    env["BYTEWAX_DATAFLOW_API_PORT"] = str(port)
    env.setdefault("BYTEWAX_DATAFLOW_API_CACHE_PATH", tempfile.gettempdir())
    logger.info("dataflow API with /metrics enabled on port %d", port)
    return port
