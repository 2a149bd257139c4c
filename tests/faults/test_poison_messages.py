"""Poison records on an input topic become dead letters and the flow continues."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from invsync.avro import MAGIC, encode
from invsync.cluster import start_cluster
from invsync.events import InventoryMovement, MovementType, Source
from invsync.topics import Topics

pytestmark = pytest.mark.fault

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SKU = "SKU-P"
RUN_TIMEOUT_S = 120.0


def movement(event_id: str, kind: MovementType, quantity: int) -> InventoryMovement:
    return InventoryMovement(
        event_id=event_id,
        source=Source.WMS,
        event_time=T0,
        ingest_time=T0,
        sku=SKU,
        warehouse="W1",
        movement_type=kind,
        quantity=quantity,
    )


def negative_shipment() -> bytes:
    """Encode a SHIP of -5 units, which validation rejects, bypassing validation."""
    fields = movement("ship-bad", MovementType.SHIP, 5).model_dump()
    fields["quantity"] = -5
    return encode(InventoryMovement.model_construct(**fields))


def test_poison_records_become_dead_letters(
    tmp_path: Path,
    kit: ModuleType,
    kafka_brokers: list[str],
    redis_url: str,
    topics: Topics,
    redis_prefix: str,
) -> None:
    poison = {
        "not_avro": b"this is not Avro",
        "unknown_schema": MAGIC + bytes(range(1, 9)) + b"\x02\x04",
        "invalid_record": negative_shipment(),
    }
    key = SKU.encode()
    batch: list[tuple[bytes | None, bytes]] = [(key, v) for v in poison.values()]
    batch.append((key, encode(movement("receipt-ok", MovementType.RECEIPT, 7))))
    kit.produce_raw(kafka_brokers, {topics.wms: batch})
    config = kit.write_run_config(
        tmp_path / "config.yaml", kafka_brokers, topics, redis_url, redis_prefix
    )

    run = start_cluster(config, 1, tmp_path / "logs", ["--until-eof"])
    codes = run.wait(RUN_TIMEOUT_S)

    assert codes == [0], run.log_tail()
    letters = {d.error_class: d for d in kit.read_dead_letters(kafka_brokers, topics)}
    assert sorted(letters) == sorted(poison)
    for error_class, value in poison.items():
        assert letters[error_class].original == value
        assert letters[error_class].origin.startswith(f"{topics.wms}/")
    assert "quantity" in letters["invalid_record"].message
    atp = kit.read_atp(redis_url, redis_prefix, [SKU])
    assert atp == {SKU: {"W1": (7, 0, 7)}}
