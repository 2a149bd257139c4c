"""Read-path latency and the pickled size of the per-SKU state."""

from __future__ import annotations

import copy
import logging
import pickle
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from invsync.events import CanonicalEvent
from invsync.topics import event_key
from operators.sku_state import SkuState
from sinks.atp_reader import AtpReader

logger = logging.getLogger(__name__)

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values (``fraction`` in 0..1)."""
    if not values:
        msg = "percentile of an empty list"
        raise ValueError(msg)
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _timed_ms(call: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@dataclass(frozen=True)
class ReadLatency:
    """Read-path latency samples in milliseconds."""

    one_sku_ms: list[float]
    many_skus_ms: list[float]
    batch: int


def measure_reads(
    redis_url: str, key_prefix: str, skus: list[str], repeats: int
) -> ReadLatency:
    """Time network ATP reads (``invsync_network_atp`` by FCALL) for 1 and 100 SKUs.

    Raises:
        LookupError: A read SKU has no ATP record, so the read measured nothing.
    """
    batch = skus[:100]
    with AtpReader(redis_url, key_prefix) as reader:
        if reader.network(skus[0]) is None:
            msg = f"no ATP record for {skus[0]} under {key_prefix}"
            raise LookupError(msg)
        one = _timed_ms(lambda: reader.network(skus[0]), repeats, warmup=50)
        many = _timed_ms(lambda: reader.network_many(batch), repeats // 4, warmup=10)
    logger.info(
        "read p99: 1 SKU %.3f ms, %d SKUs %.3f ms",
        percentile(one, 0.99),
        len(batch),
        percentile(many, 0.99),
    )
    return ReadLatency(one_sku_ms=one, many_skus_ms=many, batch=len(batch))


@dataclass(frozen=True)
class StateSize:
    """Pickled bytes of the per-SKU state, split by part."""

    pairs: int
    bytes_per_pair: float
    dedup_entries: int
    bytes_per_dedup_entry: float
    history_entries: int
    bytes_per_history_entry: float
    skus: int = 0


def build_states(events: list[CanonicalEvent]) -> dict[str, SkuState]:
    """Apply the events per SKU with the operator's pure logic, as the dataflow does."""
    by_sku: dict[str, list[CanonicalEvent]] = defaultdict(list)
    for event in events:
        by_sku[event_key(event)].append(event)
    states: dict[str, SkuState] = {}
    for sku, sku_events in by_sku.items():
        state = SkuState(sku=sku)
        state.apply_all(sku_events)
        states[sku] = state
    return states


def _pickled(states: list[SkuState]) -> int:
    # Bytewax snapshots each key's state on its own, so sizes add per state.
    return sum(len(pickle.dumps(state, pickle.HIGHEST_PROTOCOL)) for state in states)


def measure_state(states: dict[str, SkuState]) -> StateSize:
    """Measure pickled bytes per SKU x warehouse pair, dedup entry and history entry.

    The pair figure is the whole SKU state with no dedup entries, no order
    lines and the movement history folded, divided by its warehouse count. The
    other two are the growth each entry kind adds to the pickled states.
    """
    full = list(states.values())
    no_dedup = [copy.deepcopy(state) for state in full]
    for state in no_dedup:
        state.seen = {}
    folded = [copy.deepcopy(state) for state in no_dedup]
    history = 0
    for state in folded:
        state.lines = {}
        for warehouse in state.warehouses.values():
            for balance in warehouse.balances.values():
                history += len(balance.movements)
                balance.fold_before(_FAR_FUTURE)
    with_history = [copy.deepcopy(state) for state in no_dedup]
    for state in with_history:
        state.lines = {}

    pairs = sum(len(state.warehouses) for state in full)
    dedup = sum(len(state.seen) for state in full)
    full_bytes = _pickled(full)
    no_dedup_bytes = _pickled(no_dedup)
    folded_bytes = _pickled(folded)
    history_bytes = _pickled(with_history)
    return StateSize(
        pairs=pairs,
        bytes_per_pair=folded_bytes / pairs,
        dedup_entries=dedup,
        bytes_per_dedup_entry=(full_bytes - no_dedup_bytes) / max(1, dedup),
        history_entries=history,
        bytes_per_history_entry=(history_bytes - folded_bytes) / max(1, history),
        skus=len(full),
    )


def summary_ms(samples: list[float]) -> tuple[float, float]:
    """Return (p50, p99) of samples."""
    return statistics.median(samples), percentile(samples, 0.99)
