"""Format detection and dispatch to the adapters.

The format of an input is taken from ``hints["format"]`` when given, else from
its content: X12 starts with an ISA segment (after an optional byte-order mark
and white space), WMS files are JSON lines whose objects name a canonical event
``type``, and any other JSON object is a Shopify webhook delivery.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from invsync.catalog import Catalog
from sources.base import Adapter, AdapterInput, AdapterOutput, dead_letter

logger = logging.getLogger(__name__)

FORMATS = ("x12", "shopify", "wms-jsonl")
_BOM = b"\xef\xbb\xbf"


def detect_format(item: AdapterInput) -> str | None:
    """Return the adapter format of an input, or None when it is not recognised."""
    explicit = item.hints.get("format")
    if explicit:
        return explicit
    head = item.data[:4096].removeprefix(_BOM).lstrip()
    if head.startswith(b"ISA"):
        return "x12"
    if item.origin.endswith((".jsonl", ".ndjson")):
        return "wms-jsonl"
    if head.startswith(b"{"):
        first_line = head.split(b"\n", 1)[0]
        try:
            first = json.loads(first_line)
        except ValueError:
            return "shopify"
        if isinstance(first, dict) and isinstance(first.get("type"), str):
            return "wms-jsonl"
        return "shopify"
    return None


def parse_input(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
    """Parse one input with the adapter of its format."""
    fmt = detect_format(item)
    if fmt == "shopify" and "topic" not in item.hints:
        from sources.shopify import topic_from_filename

        topic = topic_from_filename(Path(item.origin).name)
        if topic is not None:
            item = replace(item, hints={**item.hints, "topic": topic})
    adapter = _adapter(fmt)
    if adapter is not None:
        return adapter(item, catalog)
    message = (
        f"{item.origin}: format not recognised (expected X12 starting with ISA, "
        "WMS JSON lines or a Shopify webhook JSON object); pass the format "
        "explicitly if the file is one of these"
    )
    logger.warning("dead letter unknown_format: %s", message)
    return AdapterOutput(
        dead_letters=[
            dead_letter(
                item,
                error_class="unknown_format",
                message=message,
                source_format=fmt or "unknown",
            )
        ]
    )


def _adapter(fmt: str | None) -> Adapter | None:
    # Imported on use, so parsing one format does not load the others.
    if fmt == "x12":
        from sources.x12 import parse as parse_x12

        return parse_x12
    if fmt == "shopify":
        from sources.shopify import parse as parse_shopify

        return parse_shopify
    if fmt == "wms-jsonl":
        from sources.wms import parse as parse_wms

        return parse_wms
    return None


def read_inputs(
    paths: list[Path], hints: dict[str, str] | None = None
) -> list[AdapterInput]:
    """Read files, and every file under directories, as adapter inputs in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file())
        else:
            files.append(path)
    inputs = []
    for file in files:
        file_hints = dict(hints or {})
        inputs.append(
            AdapterInput(data=file.read_bytes(), origin=str(file), hints=file_hints)
        )
    return inputs
