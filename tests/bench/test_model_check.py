"""The benchmark's check of the replay against the reference model."""

from __future__ import annotations

from bench.harness import compare_with_model
from bench.workload import WorkloadSpec, generate
from dataflows.replay import replay_events
from invsync.config import InvsyncConfig
from invsync.events import AtpRecord
from operators.reference import ReferenceResult, reference


def replay_and_model() -> tuple[dict[str, AtpRecord], ReferenceResult]:
    events = generate(WorkloadSpec(events=3_000, skus=500))
    return replay_events(InvsyncConfig(), events).atp, reference(
        InvsyncConfig(), events
    )


def test_replay_matches_model() -> None:
    replayed, modelled = replay_and_model()
    assert compare_with_model(replayed, modelled) == "passed"


def test_changed_atp_fails_the_check() -> None:
    replayed, modelled = replay_and_model()
    sku = sorted(replayed)[0]
    record = replayed[sku]
    first = record.warehouses[0].model_copy(
        update={"atp": record.warehouses[0].atp + 1}
    )
    replayed[sku] = record.model_copy(
        update={"warehouses": [first, *record.warehouses[1:]]}
    )
    verdict = compare_with_model(replayed, modelled)
    assert verdict.startswith("failed: 1 SKU x warehouse rows differ")
