"""Format detection and dispatch to the adapters.

The format of an input is ``hints["format"]`` when given. Otherwise it is
detected from the content. X12 starts with an ISA segment, after an optional
byte-order mark and white space. WMS files are JSON lines whose objects name a
canonical event ``type``. Any other JSON object is a Shopify webhook delivery.
A file named ``*.csv`` is an ERP balance export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from invsync.catalog import Catalog
from invsync.logs import origin_fields
from sources.base import Adapter, AdapterInput, AdapterOutput, dead_letter

logger = logging.getLogger(__name__)

# Files in an input directory with these suffixes are configuration or notes,
# never partner documents; a file named on the command line is always read.
NOT_INPUT_SUFFIXES = frozenset({".yaml", ".yml", ".md", ".toml"})

FORMATS = ("x12", "shopify", "wms-jsonl", "erp-csv")
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
    if item.origin.lower().endswith(".csv"):
        return "erp-csv"
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
        try:
            return adapter(item, catalog)
        except Exception as exc:  # an adapter bug must not stop the other inputs
            logger.exception(
                "adapter %s failed on %s",
                fmt,
                item.origin,
                extra={**origin_fields(item.origin), "error_class": "adapter_error"},
            )
            message = (
                f"{item.origin}: the {fmt} adapter failed with "
                f"{type(exc).__name__}: {exc}; the input is kept for re-drive"
            )
            return AdapterOutput(
                dead_letters=[
                    dead_letter(
                        item,
                        error_class="adapter_error",
                        message=message,
                        source_format=fmt or "unknown",
                    )
                ]
            )
    message = (
        f"{item.origin}: format not recognised (expected X12 starting with ISA, "
        "WMS JSON lines, a Shopify webhook JSON object or an ERP CSV export); "
        "pass the format "
        "explicitly if the file is one of these"
    )
    logger.warning(
        "dead letter unknown_format: %s",
        message,
        extra={**origin_fields(item.origin), "error_class": "unknown_format"},
    )
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
    if fmt == "erp-csv":
        from sources.erp_csv import parse as parse_erp_csv

        return parse_erp_csv
    return None


def read_inputs(
    paths: list[Path], hints: dict[str, str] | None = None
) -> list[AdapterInput]:
    """Read files, and every file under directories, as adapter inputs in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() not in NOT_INPUT_SUFFIXES
                and not p.name.startswith(".")
            )
        elif not path.is_file():
            msg = f"input file not found: {path}"
            raise FileNotFoundError(msg)
        else:
            files.append(path)
    inputs = []
    for file in files:
        file_hints = dict(hints or {})
        inputs.append(
            AdapterInput(data=file.read_bytes(), origin=str(file), hints=file_hints)
        )
    return inputs
