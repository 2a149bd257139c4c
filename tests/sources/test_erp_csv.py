"""Unit tests of the ERP balance CSV adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.catalog import Catalog
from invsync.cli import main
from invsync.config import InvsyncConfig
from invsync.events import ErpBalanceSnapshot, Source, StockStatus
from invsync.topics import Topics
from sources import erp_csv, wms
from sources.base import AdapterInput, AdapterOutput
from sources.registry import detect_format, parse_input

SAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "samples" / "config.yaml"
INGEST = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AS_OF = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def catalog(**erp_csv_section: Any) -> Catalog:
    """Return a catalog with one SKU (case of 12) and two warehouses."""
    return Catalog(
        InvsyncConfig.model_validate(
            {
                "warehouses": {"WH-EAST": {}, "WH-WEST": {}},
                "items": {"SKU-RED": {"units": {"EA": 1, "CA": 12}}},
                "erp_csv": erp_csv_section,
            }
        )
    )


def parse(text: str, found: Catalog | None = None) -> AdapterOutput:
    """Parse CSV text as an export file."""
    item = AdapterInput(data=text.encode(), origin="balances.csv", ingest_time=INGEST)
    return erp_csv.parse(item, found or catalog())


def only(output: AdapterOutput) -> ErpBalanceSnapshot:
    """Return the single event of an output."""
    assert len(output.events) == 1
    event = output.events[0]
    assert isinstance(event, ErpBalanceSnapshot)
    return event


HEADER = "sku,warehouse,stock_status,quantity,unit,as_of,last_applied_sequence\n"


def test_row_becomes_balance() -> None:
    output = parse(HEADER + "SKU-RED,WH-EAST,UNRESTRICTED,95,EA,2026-03-02T06:00Z,4\n")

    event = only(output)
    assert event.sku == "SKU-RED"
    assert event.warehouse == "WH-EAST"
    assert event.stock_status is StockStatus.AVAILABLE
    assert event.quantity == 95
    assert event.as_of == AS_OF
    assert event.event_time == AS_OF
    assert event.ingest_time == INGEST
    assert event.last_applied_sequence == 4
    assert event.source is Source.ERP
    assert output.dead_letters == []


def test_empty_status_is_total_and_units_convert() -> None:
    event = only(parse(HEADER + "SKU-RED,WH-EAST,,2,CA,2026-03-02T06:00Z,\n"))

    assert event.stock_status is None
    assert event.quantity == 24
    assert event.last_applied_sequence is None


def test_configured_columns_delimiter_and_decimal() -> None:
    found = catalog(
        delimiter=";",
        decimal_separator=",",
        sku_column="Material",
        warehouse_column="Plant",
        status_column="Stock type",
        quantity_column="Qty",
        unit_column="UoM",
        as_of_column="Date",
        sequence_column=None,
        timezone="Europe/Berlin",
    )
    text = (
        "Material;Plant;Stock type;Qty;UoM;Date\n"
        "SKU-RED;WH-WEST;Blocked;1,5;CA;2026-03-02T07:00:00\n"
    )

    event = only(parse(text, found))

    assert event.warehouse == "WH-WEST"
    assert event.stock_status is StockStatus.HOLD
    assert event.quantity == 18
    assert event.as_of == AS_OF


def test_bad_rows_dead_letter_with_row_bytes() -> None:
    rows = [
        "SKU-RED,WH-EAST,UNRESTRICTED,95,EA,2026-03-02T06:00Z,",
        "SKU-BLUE,WH-EAST,UNRESTRICTED,1,EA,2026-03-02T06:00Z,",
        "SKU-RED,WH-NORTH,UNRESTRICTED,1,EA,2026-03-02T06:00Z,",
        "SKU-RED,WH-EAST,SCRAP,1,EA,2026-03-02T06:00Z,",
        "SKU-RED,WH-EAST,,1.5,EA,2026-03-02T06:00Z,",
        "SKU-RED,WH-EAST,,1,EA,yesterday,",
        "SKU-RED,WH-EAST,,1,EA",
    ]

    output = parse(HEADER + "\n".join(rows) + "\n")

    assert len(output.events) == 1
    classes = [d.error_class for d in output.dead_letters]
    assert classes == [
        "unmapped_item",
        "unmapped_party",
        "invalid_status",
        "invalid_quantity",
        "invalid_time",
        "invalid_record",
    ]
    assert output.dead_letters[0].original == rows[1].encode()
    assert output.dead_letters[0].origin == "balances.csv:3"
    assert output.dead_letters[5].original == rows[6].encode()


def test_missing_column_dead_letters_file() -> None:
    text = "sku,warehouse,quantity\nSKU-RED,WH-EAST,1\n"

    output = parse(text)

    assert output.events == []
    assert [d.error_class for d in output.dead_letters] == ["invalid_header"]
    assert output.dead_letters[0].original == text.encode()


def test_period_rejected_with_comma_decimal() -> None:
    found = catalog(decimal_separator=",")
    text = 'sku,warehouse,quantity,as_of\nSKU-RED,WH-EAST,"1.000",2026-03-02T06:00Z\n'

    output = parse(text, found)

    assert [d.error_class for d in output.dead_letters] == ["invalid_quantity"]


def test_same_row_twice_has_one_event_id() -> None:
    row = "SKU-RED,WH-EAST,UNRESTRICTED,95,EA,2026-03-02T06:00Z,\n"

    first = only(parse(HEADER + row))
    second = only(parse(HEADER + row))

    assert first.event_id == second.event_id


def test_registry_detects_csv_by_name_and_hint() -> None:
    by_name = AdapterInput(data=HEADER.encode(), origin="export.CSV")
    by_hint = AdapterInput(
        data=HEADER.encode(), origin="export.txt", hints={"format": "erp-csv"}
    )
    row = "SKU-RED,WH-EAST,QUALITY,3,EA,2026-03-02T06:00Z,\n"

    parsed = parse_input(
        AdapterInput(data=(HEADER + row).encode(), origin="x.csv"), catalog()
    )

    assert detect_format(by_name) == "erp-csv"
    assert detect_format(by_hint) == "erp-csv"
    assert only(parsed).stock_status is StockStatus.QC


def test_parse_command_reads_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "balances.txt"
    export.write_text(HEADER + "SKU-100,WH-WEST,,2,CA,2026-03-02T06:00Z,3\n")

    code = main(
        ["--config", str(SAMPLE_CONFIG), "parse", "--format", "erp-csv", str(export)]
    )

    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["type"] == "ErpBalanceSnapshot"
    assert lines[0]["quantity"] == 24
    assert lines[0]["last_applied_sequence"] == 3


def test_canonical_erp_records_as_json_lines() -> None:
    lines = [
        {
            "type": "ErpPostingAck",
            "event_id": "ack-1",
            "source": "ERP",
            "event_time": "2026-03-02T06:00:00Z",
            "posting_id": "p-1",
            "sku": "SKU-RED",
            "warehouse": "WH-EAST",
            "status": "REJECTED",
            "reason": "period closed",
        },
        {
            "type": "ErpBalanceSnapshot",
            "event_id": "bal-1",
            "source": "ERP",
            "event_time": "2026-03-02T06:00:00Z",
            "sku": "SKU-RED",
            "warehouse": "WH-EAST",
            "quantity": 7,
            "as_of": "2026-03-02T06:00:00Z",
        },
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()

    output = wms.parse(AdapterInput(data=data, origin="erp.jsonl"), catalog())

    assert output.dead_letters == []
    assert [type(e).__name__ for e in output.events] == [
        "ErpPostingAck",
        "ErpBalanceSnapshot",
    ]
    assert Topics().for_event(output.events[0]) == "invsync.erp"
