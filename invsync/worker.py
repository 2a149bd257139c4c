"""Process-wide settings of a dataflow worker process."""

from __future__ import annotations

import gc
import logging

from invsync.config import WorkerConfig

logger = logging.getLogger(__name__)


def configure_gc(settings: WorkerConfig) -> None:
    """Set the cycle collector's thresholds and freeze what exists so far.

    Objects alive before the dataflow starts (modules, configuration, the
    built flow) move to the collector's permanent generation, so full
    collections no longer walk them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.gc_thresholds)
    logger.info(
        "cycle collector thresholds %s, %d startup objects frozen",
        settings.gc_thresholds,
        gc.get_freeze_count(),
    )
