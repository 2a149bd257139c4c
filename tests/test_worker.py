"""Cycle collector settings of dataflow worker processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from invsync.config import InvsyncConfig, WorkerConfig
from invsync.worker import configure_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_configure_gc_sets_thresholds_and_freezes(restored_gc):
    startup_objects = [object() for _ in range(10)]

    configure_gc(WorkerConfig(gc_thresholds=(12_345, 6, 7)))

    assert gc.get_threshold() == (12_345, 6, 7)
    assert gc.get_freeze_count() >= len(startup_objects)


def test_default_thresholds_collect_less_often_than_python():
    young, middle, old = InvsyncConfig().worker.gc_thresholds

    assert young > 700
    assert young * middle * old > 700 * 10 * 10


@pytest.mark.parametrize("thresholds", [[0, 10, 10], [700, -1, 10]])
def test_non_positive_thresholds_are_rejected(thresholds):
    with pytest.raises(ValidationError, match="gc thresholds must be positive"):
        InvsyncConfig.model_validate({"worker": {"gc_thresholds": thresholds}})
