"""Seeded benchmark workload: Zipf-popular SKUs in five warehouses, in Avro on Kafka.

The mix is mostly order lines, then WMS movements, snapshots and safety stock
settings. The generator keeps to the subset of the semantics that the
hand-written baselines also implement, so every system can be checked against
the replay result on the fields it keeps:

- movements are RECEIPT, SHIP (no order) and ADJUSTMENT of AVAILABLE stock;
- snapshots count AVAILABLE stock as of their own event time;
- order lines are placed once and some are cancelled later in full, with or
  without a warehouse;
- event times increase by one step per event, so the whole run spans minutes
  and nothing falls outside the dedup or snapshot windows.

ERP balance snapshots are not generated, because they change no ATP figure and
the baselines keep no ERP balance. Warehouse settings are left out because the
baselines do not implement network ATP.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from invsync.avro import encode
from invsync.events import (
    CanonicalEvent,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    OrderAction,
    OrderLine,
    SafetyStockSetting,
    SnapshotKind,
    Source,
    StatusQuantity,
    StockStatus,
)
from invsync.topics import Topics, event_key
from sinks.kafka_checked import CheckedKafkaProducer

logger = logging.getLogger(__name__)

WAREHOUSES = ("WH-1", "WH-2", "WH-3", "WH-4", "WH-5")
START_TIME = datetime(2026, 3, 1, tzinfo=UTC)
EVENT_STEP = timedelta(milliseconds=10)

# Shares of the event kinds. Order lines dominate, as on a promotion day.
MIX = (("order", 0.60), ("movement", 0.25), ("snapshot", 0.08), ("safety", 0.07))
CANCEL_SHARE = 0.2
"""Share of order events that cancel an earlier open line instead of placing one."""
UNALLOCATED_SHARE = 0.1
"""Share of placed lines with no warehouse (network demand)."""


@dataclass(frozen=True)
class WorkloadSpec:
    """Size and shape of one workload."""

    events: int
    skus: int
    zipf_exponent: float = 1.1
    seed: int = 7
    warehouses: tuple[str, ...] = WAREHOUSES


@dataclass
class _OpenLine:
    sku: str
    warehouse: str | None
    order_id: str
    quantity: int
    placed_at: datetime


def sku_name(index: int) -> str:
    """Return the SKU code of a popularity rank (0 is the most popular)."""
    return f"SKU-{index:06d}"


class _Generator:
    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        weights = [1.0 / (rank**spec.zipf_exponent) for rank in range(1, spec.skus + 1)]
        self.cum_weights = list(itertools.accumulate(weights))
        self.open_lines: list[_OpenLine] = []
        self.kinds = [kind for kind, _ in MIX]
        self.kind_weights = [share for _, share in MIX]

    def pick_sku(self) -> str:
        rank = self.rng.choices(range(self.spec.skus), cum_weights=self.cum_weights)
        return sku_name(rank[0])

    def pick_warehouse(self) -> str:
        return self.rng.choice(self.spec.warehouses)

    def event(self, index: int) -> CanonicalEvent:
        when = START_TIME + index * EVENT_STEP
        common = {
            "event_id": f"bench-{self.spec.seed}-{index}",
            "event_time": when,
            "ingest_time": when,
        }
        kind = self.rng.choices(self.kinds, weights=self.kind_weights)[0]
        if kind == "order":
            return self.order(index, when, common)
        if kind == "movement":
            return self.movement(common)
        if kind == "snapshot":
            return InventorySnapshot(
                **common,
                source=Source.WMS,
                sku=self.pick_sku(),
                warehouse=self.pick_warehouse(),
                snapshot_kind=SnapshotKind.CYCLE_COUNT,
                as_of=when,
                balances=[
                    StatusQuantity(
                        stock_status=StockStatus.AVAILABLE,
                        quantity=self.rng.randint(0, 500),
                    )
                ],
            )
        return SafetyStockSetting(
            **common,
            source=Source.CONFIG,
            sku=self.pick_sku(),
            warehouse=self.pick_warehouse(),
            quantity=self.rng.randint(0, 20),
        )

    def movement(self, common: dict[str, object]) -> InventoryMovement:
        roll = self.rng.random()
        if roll < 0.4:
            kind, quantity = MovementType.RECEIPT, self.rng.randint(1, 100)
        elif roll < 0.8:
            kind, quantity = MovementType.SHIP, self.rng.randint(1, 10)
        else:
            kind = MovementType.ADJUSTMENT
            quantity = self.rng.choice([-1, 1]) * self.rng.randint(1, 5)
        return InventoryMovement(
            **common,  # type: ignore[arg-type]
            source=Source.WMS,
            sku=self.pick_sku(),
            warehouse=self.pick_warehouse(),
            movement_type=kind,
            quantity=quantity,
        )

    def order(self, index: int, when: datetime, common: dict[str, object]) -> OrderLine:
        if self.open_lines and self.rng.random() < CANCEL_SHARE:
            slot = self.rng.randrange(len(self.open_lines))
            line = self.open_lines[slot]
            self.open_lines[slot] = self.open_lines[-1]
            self.open_lines.pop()
            return OrderLine(
                **common,  # type: ignore[arg-type]
                source=Source.SHOPIFY,
                sku=line.sku,
                warehouse=line.warehouse,
                order_id=line.order_id,
                line_id="1",
                action=OrderAction.CANCELLED,
                ordered_quantity=line.quantity,
                cancelled_quantity=line.quantity,
                version_time=when,
                version_rank=2,
            )
        warehouse = (
            None if self.rng.random() < UNALLOCATED_SHARE else self.pick_warehouse()
        )
        line = _OpenLine(
            sku=self.pick_sku(),
            warehouse=warehouse,
            order_id=f"O-{self.spec.seed}-{index}",
            quantity=self.rng.randint(1, 5),
            placed_at=when,
        )
        self.open_lines.append(line)
        return OrderLine(
            **common,  # type: ignore[arg-type]
            source=Source.SHOPIFY,
            sku=line.sku,
            warehouse=warehouse,
            order_id=line.order_id,
            line_id="1",
            action=OrderAction.PLACED,
            ordered_quantity=line.quantity,
            version_time=when,
        )


def generate(spec: WorkloadSpec) -> list[CanonicalEvent]:
    """Generate the events in event-time order; equal specs give equal lists."""
    generator = _Generator(spec)
    return [generator.event(index) for index in range(spec.events)]


def preload(
    brokers: list[str], topics: Topics, events: list[CanonicalEvent]
) -> dict[str, int]:
    """Produce events, Avro encoded and keyed like ``invsync ingest``, to their topics.

    Returns the number of records delivered per topic. Raises ``DeliveryError``
    when a delivery failed.
    """
    batches: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for event in events:
        batches[topics.for_event(event)].append(
            (event_key(event).encode(), encode(event))
        )
    delivered: dict[str, int] = {}
    for topic, items in batches.items():
        producer = CheckedKafkaProducer(brokers, topic, role="bench")
        try:
            delivered[topic] = producer.produce_batch(items)
        finally:
            producer.close()
        logger.info("preloaded %d records to %s", delivered[topic], topic)
    return delivered
