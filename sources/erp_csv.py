"""ERP balance exports in CSV: one ``ErpBalanceSnapshot`` per data row.

The first line is the header. Column names, delimiter, decimal separator, the
stock-type names and the zone of times without an offset come from the
``erp_csv`` configuration section. A bad row becomes a dead letter holding that
row's bytes, and the other rows still go through.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from invsync.catalog import Catalog, MappingError
from invsync.config import ErpCsvConfig
from invsync.events import ErpBalanceSnapshot, Source, StockStatus
from invsync.logs import origin_fields
from sources.base import AdapterInput, AdapterOutput, dead_letter, stable_id

logger = logging.getLogger(__name__)

SOURCE_FORMAT = "erp-csv"
_BOM = b"\xef\xbb\xbf"


class _RowError(ValueError):
    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def parse(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
    """Parse an ERP balance export, one dead letter per bad row.

    Blank lines are skipped. A row's dead-letter origin is ``<origin>:<line>``.
    Quoted fields must not contain line breaks, because each line is one row.
    """
    config = catalog.config.erp_csv
    output = AdapterOutput()
    lines = item.data.removeprefix(_BOM).split(b"\n")
    header_line = lines[0].removesuffix(b"\r") if lines else b""
    try:
        columns = _header(header_line, config)
    except _RowError as exc:
        logger.warning(
            "dead letter %s for %s: %s",
            exc.error_class,
            item.origin,
            exc,
            extra={**origin_fields(item.origin), "error_class": exc.error_class},
        )
        output.dead_letters.append(
            dead_letter(
                item,
                error_class=exc.error_class,
                message=str(exc),
                source_format=SOURCE_FORMAT,
            )
        )
        return output

    for number, raw in enumerate(lines[1:], start=2):
        line = raw.removesuffix(b"\r")
        if not line.strip():
            continue
        row_item = replace(item, data=line, origin=f"{item.origin}:{number}")
        try:
            output.events.append(_parse_row(row_item, columns, config, catalog))
        except _RowError as exc:
            logger.warning(
                "dead letter %s for %s: %s",
                exc.error_class,
                row_item.origin,
                exc,
                extra={
                    **origin_fields(row_item.origin),
                    "error_class": exc.error_class,
                },
            )
            output.dead_letters.append(
                dead_letter(
                    row_item,
                    error_class=exc.error_class,
                    message=str(exc),
                    source_format=SOURCE_FORMAT,
                )
            )
    logger.info(
        "%s: %d ERP balances, %d dead letters",
        item.origin,
        len(output.events),
        len(output.dead_letters),
        extra=origin_fields(item.origin),
    )
    return output


def _split(line: bytes, config: ErpCsvConfig) -> list[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"the line is not UTF-8: byte {exc.start} is invalid"
        raise _RowError("invalid_encoding", msg) from exc
    try:
        rows = list(csv.reader([text], delimiter=config.delimiter, strict=True))
    except csv.Error as exc:
        msg = f"the line is not valid CSV: {exc}"
        raise _RowError("invalid_record", msg) from exc
    return [cell.strip() for cell in rows[0]] if rows else []


def _header(line: bytes, config: ErpCsvConfig) -> dict[str, int]:
    names = _split(line, config)
    columns = {name: index for index, name in enumerate(names)}
    required = [
        config.sku_column,
        config.warehouse_column,
        config.quantity_column,
        config.as_of_column,
    ]
    missing = [name for name in required if name not in columns]
    if missing:
        msg = (
            f"the header has no column {', '.join(missing)} (found "
            f"{', '.join(names) or 'none'}); set the column names under erp_csv "
            "in the config"
        )
        raise _RowError("invalid_header", msg)
    return columns


def _cell(cells: list[str], columns: dict[str, int], name: str | None) -> str:
    if name is None or name not in columns:
        return ""
    index = columns[name]
    return cells[index] if index < len(cells) else ""


def _parse_row(
    item: AdapterInput,
    columns: dict[str, int],
    config: ErpCsvConfig,
    catalog: Catalog,
) -> ErpBalanceSnapshot:
    cells = _split(item.data, config)
    if len(cells) != len(columns):
        msg = f"the row has {len(cells)} cells; the header has {len(columns)}"
        raise _RowError("invalid_record", msg)

    try:
        sku = catalog.require_item([("SKU", _cell(cells, columns, config.sku_column))])
    except MappingError as exc:
        raise _RowError(exc.error_class, str(exc)) from exc
    warehouse = _cell(cells, columns, config.warehouse_column)
    if warehouse not in catalog.config.warehouses:
        msg = (
            f"warehouse {warehouse!r} is not configured; use an internal code from "
            f"the warehouses section ({', '.join(catalog.config.warehouses)})"
        )
        raise _RowError("unmapped_party", msg)

    status = _status(_cell(cells, columns, config.status_column), config)
    quantity = _quantity(sku, cells, columns, config, catalog)
    as_of = _as_of(_cell(cells, columns, config.as_of_column), config)
    sequence = _sequence(_cell(cells, columns, config.sequence_column))

    status_name = status.value if status is not None else "TOTAL"
    try:
        return ErpBalanceSnapshot(
            event_id=stable_id(
                SOURCE_FORMAT, sku, warehouse, status_name, as_of.isoformat(), quantity
            ),
            source=Source.ERP,
            event_time=as_of,
            ingest_time=item.ingest_time,
            sku=sku,
            warehouse=warehouse,
            stock_status=status,
            quantity=quantity,
            as_of=as_of,
            last_applied_sequence=sequence,
        )
    except ValidationError as exc:
        msg = f"invalid ErpBalanceSnapshot: {exc.errors()[0]['msg']}"
        raise _RowError("invalid_record", msg) from exc


def _status(value: str, config: ErpCsvConfig) -> StockStatus | None:
    if not value:
        return None
    name = config.statuses.get(value.upper(), value.upper())
    try:
        return StockStatus(name)
    except ValueError as exc:
        known = ", ".join([*config.statuses, *(s.value for s in StockStatus)])
        msg = f"stock type {value!r} is not known; expected one of {known}"
        raise _RowError("invalid_status", msg) from exc


def _quantity(
    sku: str,
    cells: list[str],
    columns: dict[str, int],
    config: ErpCsvConfig,
    catalog: Catalog,
) -> int:
    text = _cell(cells, columns, config.quantity_column)
    if config.decimal_separator != ".":
        if "." in text:
            msg = (
                f"quantity {text!r} contains '.', but the decimal separator is "
                f"{config.decimal_separator!r}"
            )
            raise _RowError("invalid_quantity", msg)
        text = text.replace(config.decimal_separator, ".")
    unit = _cell(cells, columns, config.unit_column) or "EA"
    try:
        return catalog.to_base_units(sku, text, unit)
    except MappingError as exc:
        raise _RowError(exc.error_class, str(exc)) from exc


def _as_of(value: str, config: ErpCsvConfig) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"as_of {value!r} is not an ISO 8601 time"
        raise _RowError("invalid_time", msg) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(config.timezone))
    return parsed


def _sequence(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        msg = f"last applied sequence {value!r} is not a whole number"
        raise _RowError("invalid_record", msg)
    return int(value)
