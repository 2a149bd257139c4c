"""Fixtures of the fault tests: a seeded workload, run configs and output readers.

The fault tests start real dataflow processes (``invsync.cluster``) and break
them or the servers they use. The workload is generated from a fixed seed, so a
failure repeats with the same events, and its expected result comes from the
pure ``SkuState`` applied to the same events in list order with no faults.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from invsync.avro import decode_as, encode
from invsync.config import InvsyncConfig
from invsync.events import (
    CanonicalEvent,
    DeadLetter,
    ErpPosting,
    InventoryMovement,
    MovementType,
    OrderAction,
    OrderLine,
    Source,
)
from invsync.topic_reader import read_topic
from invsync.topics import Topics, event_key
from operators.sku_state import SkuState, StateSettings
from sinks.atp_reader import AtpReader
from sinks.kafka_checked import CheckedKafkaProducer

logger = logging.getLogger(__name__)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WAREHOUSES = ("W1", "W2")
# Seconds of event time between two generated events.
EVENT_SPACING_S = 1
# A resent event repeats one of this many latest events, so it stays well
# inside the dedup retention and is dropped as a duplicate.
RESEND_WINDOW = 500

AtpSummary = dict[str, dict[str, tuple[int, int, int]]]


@dataclass
class Workload:
    """Generated events with duplicates, and what one fault-free run produces."""

    events: list[CanonicalEvent]
    skus: list[str]
    config: InvsyncConfig = field(default_factory=InvsyncConfig)
    _computed: tuple[dict[str, SkuState], dict[str, int]] | None = field(
        default=None, init=False, repr=False
    )

    def expected_atp(self) -> AtpSummary:
        """Return the final ATP of a fault-free run over the events in list order.

        Computed with the pure ``SkuState`` per SKU. The order step is left out
        because every generated order has one line that no version removes, so
        the step passes each order line through unchanged.
        """
        return summarize(state.atp_record() for state in self._states()[0].values())

    def expected_postings(self) -> dict[str, int]:
        """Return the quantity of every posting of a fault-free run."""
        return self._states()[1]

    def _states(self) -> tuple[dict[str, SkuState], dict[str, int]]:
        if self._computed is None:
            settings = StateSettings(
                dedup_retention=self.config.state.dedup_retention,
                max_snapshot_lateness=self.config.state.max_snapshot_lateness,
            )
            states: dict[str, SkuState] = {}
            postings: dict[str, int] = {}
            for event in self.events:
                sku = event_key(event)
                state = states.setdefault(sku, SkuState(sku=sku, settings=settings))
                for output in state.apply_all([event]):
                    if isinstance(output, ErpPosting):
                        postings[output.posting_id] = output.quantity
            self._computed = (states, postings)
        return self._computed


def summarize(records: Any) -> AtpSummary:
    """Return (on hand, reserved, atp) per warehouse of each SKU's record."""
    summary: AtpSummary = {}
    for record in records:
        if record is None:
            continue
        summary[record.sku] = {
            w.warehouse: (w.on_hand, w.reserved, w.atp) for w in record.warehouses
        }
    return summary


def generate_events(count: int, sku_count: int, seed: int) -> list[CanonicalEvent]:
    """Generate receipts, adjustments, orders, cancellations and shipments.

    About 2 % of the positions repeat an earlier event unchanged, as a partner
    that resends would. Event times rise by one second per event.
    """
    rng = random.Random(seed)
    skus = [f"SKU-{i:03d}" for i in range(sku_count)]
    open_orders: list[OrderLine] = []
    events: list[CanonicalEvent] = []
    serial = 0
    while len(events) < count:
        if events and rng.random() < 0.02:
            events.append(rng.choice(events[-RESEND_WINDOW:]))
            continue
        serial += 1
        when = T0 + timedelta(seconds=EVENT_SPACING_S * serial)
        roll = rng.random()
        if roll < 0.30 or (roll >= 0.70 and not open_orders):
            events.append(
                movement(serial, when, rng.choice(skus), rng.choice(WAREHOUSES), rng)
            )
        elif roll < 0.45:
            events.append(adjustment(serial, when, rng.choice(skus), rng))
        elif roll < 0.70:
            order = placed(serial, when, rng.choice(skus), rng)
            open_orders.append(order)
            events.append(order)
        else:
            order = open_orders.pop(rng.randrange(len(open_orders)))
            if rng.random() < 0.4:
                events.append(cancelled(serial, when, order))
            else:
                events.append(shipped(serial, when, order))
    return events


def movement(
    serial: int, when: datetime, sku: str, warehouse: str, rng: random.Random
) -> InventoryMovement:
    return InventoryMovement(
        event_id=f"m-{serial}",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=sku,
        warehouse=warehouse,
        movement_type=MovementType.RECEIPT,
        quantity=rng.randint(1, 20),
    )


def adjustment(
    serial: int, when: datetime, sku: str, rng: random.Random
) -> InventoryMovement:
    return InventoryMovement(
        event_id=f"a-{serial}",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=sku,
        warehouse=rng.choice(WAREHOUSES),
        movement_type=MovementType.ADJUSTMENT,
        quantity=rng.choice([-3, -2, -1, 1, 2, 3]),
    )


def placed(serial: int, when: datetime, sku: str, rng: random.Random) -> OrderLine:
    return OrderLine(
        event_id=f"o-{serial}",
        source=Source.SHOPIFY,
        event_time=when,
        ingest_time=when,
        sku=sku,
        warehouse=rng.choice(WAREHOUSES),
        order_id=f"SO-{serial}",
        line_id="1",
        action=OrderAction.PLACED,
        ordered_quantity=rng.randint(1, 5),
        version_time=when,
        version_rank=0,
        channel="shop",
        order_line_ids=["1"],
    )


def cancelled(serial: int, when: datetime, order: OrderLine) -> OrderLine:
    return order.model_copy(
        update={
            "event_id": f"c-{serial}",
            "event_time": when,
            "ingest_time": when,
            "action": OrderAction.CANCELLED,
            "cancelled_quantity": order.ordered_quantity,
            "version_time": when,
            "version_rank": 2,
        }
    )


def shipped(serial: int, when: datetime, order: OrderLine) -> InventoryMovement:
    assert order.warehouse is not None
    return InventoryMovement(
        event_id=f"s-{serial}",
        source=Source.WMS,
        event_time=when,
        ingest_time=when,
        sku=order.sku,
        warehouse=order.warehouse,
        movement_type=MovementType.SHIP,
        quantity=order.ordered_quantity,
        order_id=order.order_id,
        line_id=order.line_id,
    )


def produce_events(brokers: list[str], topics: Topics, events: list[Any]) -> int:
    """Produce events to their input topics, keyed like ``invsync ingest`` does."""
    batches: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for event in events:
        batches[topics.for_event(event)].append(
            (event_key(event).encode(), encode(event))
        )
    return produce_raw(brokers, batches)


def produce_raw(
    brokers: list[str], batches: dict[str, list[tuple[bytes | None, bytes]]]
) -> int:
    """Produce prepared (key, value) pairs per topic with delivery checks."""
    delivered = 0
    for topic, items in batches.items():
        producer = CheckedKafkaProducer(
            brokers,
            topic,
            role="fault-test",
            add_config={"linger.ms": "20", "batch.num.messages": "5000"},
        )
        try:
            delivered += producer.produce_batch(items)
        finally:
            producer.close()
    return delivered


def write_run_config(
    path: Path,
    brokers: list[str],
    topics: Topics,
    redis_url: str,
    redis_prefix: str,
    **sections: dict[str, Any],
) -> Path:
    """Write the configuration file that the dataflow processes load."""
    data: dict[str, Any] = {
        "kafka": {"brokers": brokers, "topic_prefix": topics.prefix, "partitions": 2},
        "redis": {"url": redis_url, "key_prefix": redis_prefix},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    path.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=str))))
    return path


def read_postings(brokers: list[str], topics: Topics) -> dict[str, set[int]]:
    """Return every quantity seen on the posting topic for each posting id."""
    quantities: dict[str, set[int]] = defaultdict(set)
    for record in read_topic(brokers, topics.postings, timeout_s=60):
        posting = decode_as(record.value, ErpPosting)
        quantities[posting.posting_id].add(posting.quantity)
    return dict(quantities)


def read_dead_letters(brokers: list[str], topics: Topics) -> list[DeadLetter]:
    """Return every dead letter on the dead-letter topic."""
    return [
        decode_as(record.value, DeadLetter)
        for record in read_topic(brokers, topics.dead_letters, timeout_s=30)
    ]


def read_atp(redis_url: str, prefix: str, skus: list[str]) -> AtpSummary:
    """Return the ATP summary of the SKUs as stored in Redis now."""
    with AtpReader(redis_url, prefix) as reader:
        return summarize(reader.get_many(skus).values())


def wait_until(
    condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.5
) -> bool:
    """Poll a condition until it is true or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


FAULT_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``fault``, so ``-m fault`` selects them all."""
    for item in items:
        if FAULT_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.fault)


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """Provide this module's helpers, because test modules cannot import conftest."""
    return sys.modules[__name__]
