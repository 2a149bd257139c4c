"""Stated outcome of every public X12 file in the real-cases folder.

Each file under ``x12-*`` has its exact canonical events or its dead letters
below, parsed with ``tests/realcases/config.yaml``. A new X12 file without a
stated outcome fails ``test_every_x12_file_has_an_outcome``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from invsync.catalog import Catalog
from invsync.config import load_config
from invsync.events import (
    InventoryMovement,
    InventorySnapshot,
    OrderAllocation,
    OrderLine,
    SupplyAdvice,
)
from sources import x12
from sources.base import AdapterInput, AdapterOutput

CONFIG_PATH = Path(__file__).resolve().parents[2] / "realcases" / "config.yaml"
INGEST = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)

UNSUPPORTED_855 = (
    "Transaction set 855 is not supported and has no canonical event. Supported "
    "sets are 846, 850, 856, 940, 943, 944, 945, 947."
)


def summary(event: Any) -> tuple[Any, ...]:
    """Return the fields of an event that its stated outcome fixes."""
    if isinstance(event, OrderLine):
        return (
            "OrderLine",
            event.sku,
            event.order_id,
            event.line_id,
            event.action.value,
            event.ordered_quantity,
            event.cancelled_quantity,
            event.warehouse,
        )
    if isinstance(event, OrderAllocation):
        return (
            "OrderAllocation",
            event.sku,
            event.warehouse,
            event.order_id,
            event.line_id,
            event.quantity,
            event.document_id,
        )
    if isinstance(event, SupplyAdvice):
        return (
            "SupplyAdvice",
            event.sku,
            event.warehouse,
            event.document_id,
            event.action.value,
            event.quantity,
            event.expected_date,
        )
    if isinstance(event, InventoryMovement):
        return (
            "InventoryMovement",
            event.movement_type.value,
            event.sku,
            event.warehouse,
            event.quantity,
            event.document_id,
            event.lot,
            event.order_id,
        )
    if isinstance(event, InventorySnapshot):
        return ("InventorySnapshot", event.sku, event.warehouse)
    return (type(event).__name__,)


def order_line(sku: str, order: str, line: str, quantity: int) -> tuple[Any, ...]:
    """Return the summary of a PLACED order line without warehouse."""
    return ("OrderLine", sku, order, line, "PLACED", quantity, 0, None)


BOOKS = [
    ("BOOK-0835209881", 12),
    ("BOOK-0835210022", 23),
    ("BOOK-0835210456", 32),
    ("BOOK-0835210979", 34),
    ("BOOK-0835211614", 20),
    ("BOOK-0835212653", 40),
    ("BOOK-0835209784", 34),
    ("BOOK-0835213153", 18),
]
WIDGETS = [
    ("WIDGET-SMALL", 120),
    ("WIDGET-MEDIUM", 220),
    ("WIDGET-LARGE", 126),
    ("WIDGET-NANO", 76),
    ("WIDGET-BLUE", 72),
    ("WIDGET-ORANGE", 696),
]
WIDGET_LINES = [
    order_line(sku, "08292233294", str(n), qty)
    for n, (sku, qty) in enumerate(WIDGETS, 1)
]
DEC0199_ALLOCATION = (
    "OrderAllocation",
    "DEC0199",
    "WH-TPL940",
    "538686",
    "1",
    144,
    "538686",
)
CROSSDOCK_EXPECTED = datetime(2009, 9, 25, tzinfo=UTC)
ELLIPSIS_EXPECTED = datetime(2005, 4, 12, 20, 52, tzinfo=UTC)

# Events (as summaries) and dead letters (class, message) of each file.
OUTCOMES: dict[str, tuple[list[tuple[Any, ...]], list[tuple[str, str]]]] = {
    # The seller XYZ Corporation reports its own stock: information only.
    "x12-846/oopfactory__846_Example1.txt": ([], []),
    # Hard-wrapped file. The first set orders in CR (cubic meters), which has
    # no configured conversion; the second set goes through on its own.
    "x12-850/bots__850-004010.16.x12": (
        [
            order_line(sku, "PONUM-1234567", str(n), qty)
            for n, (sku, qty) in enumerate(BOOKS, 1)
        ],
        [
            (
                "unknown_unit",
                "850 set ST02 0007 in interchange ISA13 000000010 (GS06 8) "
                "rejected. PO1 line 0001: PO102: unit 'CR' of LOCK-GEAR-8-0 has "
                "no conversion; add it under items.LOCK-GEAR-8-0.units in the "
                "config. PO1 line 0002: PO102: unit 'CR' of LOCK-SHOOT-BOLT has "
                "no conversion; add it under items.LOCK-SHOOT-BOLT.units in the "
                "config.",
            )
        ],
    ),
    # The same interchange twice: the copy repeats the event ids.
    "x12-850/nodex12__850_fat.edi": (WIDGET_LINES + WIDGET_LINES, []),
    # GS01 OW around an 850 and zero-padded quantities are accepted.
    "x12-850/stedi-bootstrap__5010_850_input.edi": (
        [
            order_line("ANVIL-400", "365465413", "item-1", 8),
            order_line("DETONATOR", "365465413", "item-2", 4),
        ],
        [],
    ),
    # Unpadded ISA broken across lines, six-digit dates.
    "x12-850/stupidedi__003050_PO850_fail_1.edi": (
        [order_line("STOPPER-ASSY-8", "NP00001234", "1", 3)],
        [],
    ),
    "x12-855/nodex12__855.edi": (
        [],
        [
            (
                "unsupported_document",
                "855 set ST02 0005 in interchange ISA13 000000005 (GS06 5) "
                f"rejected. {UNSUPPORTED_855}",
            )
        ],
    ),
    "x12-855/oopfactory__855SSimmons.txt": (
        [],
        [
            (
                "unsupported_document",
                "855 set ST02 0001 in interchange ISA13 000076417 (GS06 76417) "
                f"rejected. {UNSUPPORTED_855}",
            ),
            (
                "unsupported_document",
                "855 set ST02 0002 in interchange ISA13 000076417 (GS06 76417) "
                f"rejected. {UNSUPPORTED_855}",
            ),
        ],
    ),
    # One SKU packed in two orders: 12 + 12.
    "x12-856/edienginetestdata__856.Crossdock.OK.edi": (
        [
            (
                "SupplyAdvice",
                sku,
                "DC-RETAIL",
                "000009",
                "ADVISED",
                qty,
                CROSSDOCK_EXPECTED,
            )
            for sku, qty in [
                ("ITEM-642", 24),
                ("ITEM-831", 12),
                ("ITEM-283", 12),
                ("ITEM-203", 12),
            ]
        ],
        [],
    ),
    # Three-byte terminator; the expected date falls back to DTM*011.
    "x12-856/oopfactory__856_Example3_ellipsis_terminator.txt": (
        [
            (
                "SupplyAdvice",
                sku,
                "WH-ZFIT",
                "146940",
                "ADVISED",
                qty,
                ELLIPSIS_EXPECTED,
            )
            for sku, qty in [
                ("PART-260056524", 1596),
                ("PART-260120524", 1152),
                ("PART-260121524", 1440),
            ]
        ],
        [],
    ),
    "x12-856/stupidedi__004010_SH856_fail_2.edi": (
        [],
        [
            (
                "invalid_envelope",
                "interchange ISA13 000000089 rejected. Segment N1 at position 12 "
                "contains a line break, so it does not end with the ISA terminator "
                "'$' (mixed segment terminators). SE01 expected 22, found '25' "
                "(segments ST..SE of set 856 ST02 0000001).",
            )
        ],
    ),
    # Two interchanges, four groups, six 940s; IEA02 unpadded is accepted.
    "x12-940/edienginetestdata__MultipleInterchangesAndGroups.edi": (
        [DEC0199_ALLOCATION] * 6,
        [],
    ),
    "x12-940/oopfactory__940_simplot.txt": (
        [],
        [
            (
                "invalid_envelope",
                "interchange ISA13 398161180 rejected. GE02 expected '177818711' "
                "(GS06), found '940001777'. IEA02 expected '398161180' (ISA13), "
                "found '940001777'.",
            )
        ],
    ),
    "x12-943/stupidedi__004010_AR943_pass_1.edi": (
        [("SupplyAdvice", "ITEM123", "ACME01", "DO12345", "ADVISED", 100, None)],
        [],
    ),
    # The receipt names the 943's depositor order, so it closes that advice.
    "x12-944/stupidedi__004010_RE944_pass_1.edi": (
        [
            (
                "InventoryMovement",
                "RECEIPT",
                "ITEM123",
                "ACME01",
                100,
                "DO12345",
                "LOT456",
                None,
            )
        ],
        [],
    ),
    "x12-945/edifabric__WarehouseShippingAdvice.txt": (
        [],
        [
            (
                "invalid_envelope",
                "interchange ISA13 000000263 rejected. GE01 expected 1, found '2' "
                "(transaction sets (ST) in group GS06 000000001).",
            )
        ],
    ),
    "x12-947/babelway-page__edi-947-sample.txt": (
        [],
        [
            (
                "invalid_envelope",
                "interchange ISA13 982634811 rejected. GE02 expected '982634833' "
                "(GS06), found '982634811'.",
            )
        ],
    ),
}


@pytest.fixture(scope="module")
def realcases_catalog() -> Catalog:
    """Provide the catalog of the real-cases configuration."""
    return Catalog(load_config(CONFIG_PATH))


def parse_bytes(data: bytes, catalog: Catalog, origin: str) -> AdapterOutput:
    """Parse bytes with the real-cases catalog."""
    return x12.parse(
        AdapterInput(data=data, origin=origin, ingest_time=INGEST), catalog
    )


def parse_file(realcases_dir: Path, name: str, catalog: Catalog) -> AdapterOutput:
    """Parse one real-cases file."""
    path = realcases_dir / name
    return parse_bytes(path.read_bytes(), catalog, str(path))


def test_every_x12_file_has_an_outcome(realcases_dir: Path) -> None:
    found = {
        path.relative_to(realcases_dir).as_posix()
        for path in realcases_dir.glob("x12-*/*")
        if path.is_file()
    }

    assert sorted(found - OUTCOMES.keys()) == []
    assert sorted(OUTCOMES.keys() - found) == []


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_realcase_outcome(
    realcases_dir: Path, realcases_catalog: Catalog, name: str
) -> None:
    expected_events, expected_letters = OUTCOMES[name]
    data = (realcases_dir / name).read_bytes()

    output = parse_file(realcases_dir, name, realcases_catalog)

    assert [summary(event) for event in output.events] == expected_events
    assert [(d.error_class, d.message) for d in output.dead_letters] == (
        expected_letters
    )
    for letter in output.dead_letters:
        assert letter.source_format == "x12"
        assert letter.original.startswith(b"ISA")
        assert letter.original in data


def test_replayed_interchange_repeats_event_ids(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    output = parse_file(
        realcases_dir, "x12-850/nodex12__850_fat.edi", realcases_catalog
    )

    ids = [event.event_id for event in output.events]
    assert ids[:6] == ids[6:]
    assert len(set(ids[:6])) == 6


def test_850_times_use_partner_zone(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    output = parse_file(
        realcases_dir, "x12-850/nodex12__850_fat.edi", realcases_catalog
    )

    first = output.events[0]
    # BEG05 20101127 and GS 20101127 1719 in America/New_York (EST).
    assert first.event_time == datetime(2010, 11, 27, 5, 0, tzinfo=UTC)
    assert first.version_time == datetime(2010, 11, 27, 22, 19, tzinfo=UTC)
    assert first.partner == "XYZ-RETAIL"


def test_six_identical_allocations_share_id(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    # The six 940s repeat one shipping order (W05 538686) byte for byte under
    # different control numbers, so they are one document sent six times.
    name = "x12-940/edienginetestdata__MultipleInterchangesAndGroups.edi"

    output = parse_file(realcases_dir, name, realcases_catalog)

    assert len(output.events) == 6
    assert len({event.event_id for event in output.events}) == 1
    assert {event.partner for event in output.events} == {"TPL-940"}


def test_wrapped_file_dead_letter_keeps_raw_bytes(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    name = "x12-850/bots__850-004010.16.x12"
    data = (realcases_dir / name).read_bytes()

    output = parse_file(realcases_dir, name, realcases_catalog)

    (letter,) = output.dead_letters
    assert letter.original == data[: data.rindex(b"~") + 1]
    again = parse_bytes(letter.original, realcases_catalog, "redrive")
    assert [e.event_id for e in again.events] == [e.event_id for e in output.events]
    assert again.dead_letters[0].dead_letter_id == letter.dead_letter_id


def test_945_fixed_count_has_invalid_date(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    data = (
        realcases_dir / "x12-945/edifabric__WarehouseShippingAdvice.txt"
    ).read_bytes()
    fixed = data.replace(b"GE*2*000000001", b"GE*1*000000001")

    output = parse_bytes(fixed, realcases_catalog, "945-fixed")

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_date"
    assert letter.partner == "EDIFABRIC-3PL"
    assert letter.message == (
        "945 set ST02 0001 in interchange ISA13 000000263 (GS06 000000001) "
        "rejected. W06-03 'CCYYMMDD' is not a date in CCYYMMDD or YYMMDD form. "
        "W03 (segment 21 of the set): W03-01 states 240, but the W12-03 "
        "quantities sum to 144."
    )


def test_945_fixed_date_has_wrong_w03(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    # The file's W03-01 of 240 disagrees with its two W12-03 of 72 each.
    data = (
        realcases_dir / "x12-945/edifabric__WarehouseShippingAdvice.txt"
    ).read_bytes()
    fixed = data.replace(b"GE*2*000000001", b"GE*1*000000001").replace(
        b"*CCYYMMDD*", b"*20071216*"
    )

    output = parse_bytes(fixed, realcases_catalog, "945-fixed")

    assert output.events == []
    (letter,) = output.dead_letters
    assert letter.error_class == "invalid_control_total"
    assert letter.message == (
        "945 set ST02 0001 in interchange ISA13 000000263 (GS06 000000001) "
        "rejected. W03 (segment 21 of the set): W03-01 states 240, but the "
        "W12-03 quantities sum to 144."
    )


def test_945_fixed_ships_two_lots(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    data = (
        realcases_dir / "x12-945/edifabric__WarehouseShippingAdvice.txt"
    ).read_bytes()
    fixed = (
        data.replace(b"GE*2*000000001", b"GE*1*000000001")
        .replace(b"*CCYYMMDD*", b"*20071216*")
        .replace(b"W03*240*", b"W03*144*")
    )

    output = parse_bytes(fixed, realcases_catalog, "945-fixed")

    assert output.dead_letters == []
    assert [summary(event) for event in output.events] == [
        (
            "InventoryMovement",
            "SHIP",
            "FRIES-16458",
            "WH-123456",
            432,
            "123456",
            lot,
            "12345",
        )
        for lot in ("40550", "40551")
    ]
    first, second = output.events
    assert first.event_id != second.event_id
    assert first.line_id == "1000"


def test_947_fixed_control_adjusts(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    data = (realcases_dir / "x12-947/babelway-page__edi-947-sample.txt").read_bytes()
    fixed = data.replace(b"GE~1~982634811", b"GE~1~982634833")

    output = parse_bytes(fixed, realcases_catalog, "947-fixed")

    assert output.dead_letters == []
    (movement,) = output.events
    assert summary(movement) == (
        "InventoryMovement",
        "ADJUSTMENT",
        "E662255",
        "WH-1510",
        1,
        "3PL_Man_Tran_N",
        None,
        None,
    )
    assert movement.reason_code == "AH"
    assert movement.event_time == datetime(2013, 7, 4, tzinfo=UTC)


def test_940_fixed_controls_allocate_by_po(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    data = (realcases_dir / "x12-940/oopfactory__940_simplot.txt").read_bytes()
    fixed = data.replace(b"GE*1*940001777", b"GE*1*177818711").replace(
        b"IEA*1*940001777", b"IEA*1*398161180"
    )

    output = parse_bytes(fixed, realcases_catalog, "940-fixed")

    assert output.dead_letters == []
    assert [summary(event) for event in output.events] == [
        (
            "OrderAllocation",
            "FRIES-WEDGE",
            "WH-708090",
            "3353558",
            "1000",
            5832,
            "01235639",
        ),
        (
            "OrderAllocation",
            "FRIES-BATRBITES",
            "WH-708090",
            "3353558",
            "2000",
            1134,
            "01235639",
        ),
    ]
    assert {event.partner for event in output.events} == {"COMPANY-C"}


def tampered_letters(
    realcases_dir: Path,
    catalog: Catalog,
    name: str,
    replacements: list[tuple[bytes, bytes]],
) -> list[tuple[str, str]]:
    """Parse a real file after exact byte replacements; return its dead letters.

    Each replacement must occur exactly once, so a test changes what it names.
    """
    data = (realcases_dir / name).read_bytes()
    for old, new in replacements:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    output = parse_bytes(data, catalog, "tampered")
    return [(d.error_class, d.message) for d in output.dead_letters]


def test_tampered_850_fails_ctt02(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-850/bots__850-004010.16.x12",
        [(b"PO1*3*32*UN", b"PO1*3*33*UN")],
    )

    # The first set fails on its units as before, the second on its total.
    assert [letter[0] for letter in letters] == [
        "unknown_unit",
        "invalid_control_total",
    ]
    assert letters[1][1] == (
        "850 set ST02 0001 in interchange ISA13 000000010 (GS06 8) rejected. "
        "CTT (segment 25 of the set): CTT02 states the hash total 213, but the "
        "PO102 values hash to 214."
    )


def test_tampered_850_count_fails_ctt01(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-850/stedi-bootstrap__5010_850_input.edi",
        [(b"CTT*2", b"CTT*3")],
    )

    assert letters == [
        (
            "invalid_control_total",
            "850 set ST02 000000057 in interchange ISA13 000000057 (GS06 "
            "000000057) rejected. CTT (segment 14 of the set): CTT01 states 3 "
            "line items, but the set has 2 PO1 segments.",
        )
    ]


def test_tampered_856_fails_ctt02(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-856/oopfactory__856_Example3_ellipsis_terminator.txt",
        [(b"SN1**1152*EA", b"SN1**1153*EA")],
    )

    assert letters == [
        (
            "invalid_control_total",
            "856 set ST02 0022 in interchange ISA13 000000027 (GS06 25) "
            "rejected. CTT (segment 31 of the set): CTT02 states the hash total "
            "4188, but the SN102 values hash to 4189.",
        )
    ]


def test_tampered_940_fails_w76(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-940/oopfactory__940_simplot.txt",
        [
            (b"GE*1*940001777", b"GE*1*177818711"),
            (b"IEA*1*940001777", b"IEA*1*398161180"),
            (b"W01*972*CA", b"W01*971*CA"),
        ],
    )

    assert letters == [
        (
            "invalid_control_total",
            "940 set ST02 0001 in interchange ISA13 398161180 (GS06 177818711) "
            "rejected. W76 (segment 26 of the set): W76-01 states the hash total "
            "1161, but the W01-01 values hash to 1160.",
        )
    ]


def test_tampered_943_fails_w03(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-943/stupidedi__004010_AR943_pass_1.edi",
        [(b"W04*100*EA", b"W04*10*EA")],
    )

    assert letters == [
        (
            "invalid_control_total",
            "943 set ST02 0001 in interchange ISA13 000000001 (GS06 1) "
            "rejected. W03 (segment 8 of the set): W03-01 states 100, but the "
            "W04-01 quantities sum to 10.",
        )
    ]


def test_tampered_944_fails_w14(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-944/stupidedi__004010_RE944_pass_1.edi",
        [(b"W07*100*EA", b"W07*99*EA")],
    )

    assert letters == [
        (
            "invalid_control_total",
            "944 set ST02 0001 in interchange ISA13 000000001 (GS06 1) "
            "rejected. W14 (segment 7 of the set): W14-01 states 100, but the "
            "W07-01 quantities sum to 99.",
        )
    ]


def test_tampered_945_fails_w03(
    realcases_dir: Path, realcases_catalog: Catalog
) -> None:
    letters = tampered_letters(
        realcases_dir,
        realcases_catalog,
        "x12-945/edifabric__WarehouseShippingAdvice.txt",
        [
            (b"GE*2*000000001", b"GE*1*000000001"),
            (b"*CCYYMMDD*", b"*20071216*"),
            (b"W03*240*", b"W03*144*"),
            (
                b"W12*CC*72*72**CA*007117901645*UK*10071179016458*40551",
                b"W12*CC*72*71**CA*007117901645*UK*10071179016458*40551",
            ),
        ],
    )

    assert letters == [
        (
            "invalid_control_total",
            "945 set ST02 0001 in interchange ISA13 000000263 (GS06 000000001) "
            "rejected. W03 (segment 21 of the set): W03-01 states 144, but the "
            "W12-03 quantities sum to 143.",
        )
    ]
