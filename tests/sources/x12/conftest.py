"""Fixtures for the X12 adapter tests: a test catalog, a parser and a document builder.

The builder writes interchanges with correct control numbers and counts, so a
test changes exactly the element it is about. Tests reach it through the
``doc`` fixture because the suite imports test modules in importlib mode,
where a test module cannot import a sibling helper module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from invsync.catalog import Catalog
from invsync.config import InvsyncConfig
from sources import x12
from sources.base import AdapterInput, AdapterOutput

INGEST = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

CONFIG = {
    "partners": {
        "CUST1": {
            "role": "customer",
            "timezone": "America/New_York",
            "ids": [
                {"qualifier": "ZZ", "value": "CUST1EDI"},
                {"qualifier": "GS", "value": "CUST1"},
            ],
        },
        "SUPP1": {
            "role": "supplier",
            "timezone": "America/Chicago",
            "ids": [{"qualifier": "ZZ", "value": "SUPP1EDI"}],
        },
        "TPL1": {
            "role": "3pl",
            "ids": [{"qualifier": "ZZ", "value": "TPL1EDI"}],
        },
        "TPL2": {
            "role": "3pl",
            "ids": [{"qualifier": "ZZ", "value": "TPL2EDI"}],
        },
        "TPL3": {
            "role": "3pl",
            "ids": [{"qualifier": "ZZ", "value": "TPL3EDI"}],
        },
    },
    "warehouses": {
        "WH-EAST": {
            "locations": [
                {"qualifier": "92", "value": "EAST"},
                {"qualifier": "92", "value": "SF-EAST"},
            ]
        },
        "WH-3PL": {
            "on_hand_source": "TPL1",
            "locations": [{"qualifier": "91", "value": "DC1"}],
        },
        "WH-A": {
            "on_hand_source": "TPL2",
            "locations": [{"qualifier": "91", "value": "A"}],
        },
        "WH-B": {
            "on_hand_source": "TPL2",
            "locations": [{"qualifier": "91", "value": "B"}],
        },
    },
    "items": {
        "TEE-RED-M": {
            "aliases": [
                {"qualifier": "UP", "value": "012345678905"},
                {"qualifier": "VN", "value": "TR-M"},
                {"qualifier": "BP", "value": "CUST-TRM"},
                {"qualifier": "UA", "value": "001234567890"},
            ],
            "units": {"EA": 1, "CA": 24},
        },
        "TEE-BLUE-M": {
            "aliases": [{"qualifier": "VN", "value": "TB-M"}],
            "units": {"EA": 1, "CA": 24},
        },
        "MUG-WHITE": {
            "aliases": [{"qualifier": "VN", "value": "MW-11"}],
            "units": {"EA": 1, "CA": 12, "PC": 1},
        },
    },
}


@dataclass(frozen=True)
class Party:
    """Interchange (ISA) and group (GS) identity of one side."""

    qualifier: str
    isa_id: str
    gs_id: str


CUST1 = Party("ZZ", "CUST1EDI", "CUST1")
SUPP1 = Party("ZZ", "SUPP1EDI", "SUPP1")
TPL1 = Party("ZZ", "TPL1EDI", "TPL1")
TPL2 = Party("ZZ", "TPL2EDI", "TPL2")
TPL3 = Party("ZZ", "TPL3EDI", "TPL3")
OURS = Party("ZZ", "INVSYNCDIST", "INVSYNC")
STRANGER = Party("ZZ", "NOBODY", "NOBODY")

FUNCTIONAL_CODES = {
    "846": "IB",
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "940": "OW",
    "943": "AR",
    "944": "RE",
    "945": "SW",
    "947": "AW",
}


def isa_segment(
    sender: Party,
    receiver: Party,
    *,
    control: str = "000000001",
    version: str = "00401",
    repetition: str = "U",
    date: str = "240501",
    time: str = "0930",
) -> str:
    """Return a fixed-width ISA with ``*`` separators and ``>`` components."""
    return "*".join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            sender.qualifier,
            sender.isa_id.ljust(15),
            receiver.qualifier,
            receiver.isa_id.ljust(15),
            date,
            time,
            repetition,
            version,
            control,
            "0",
            "P",
            ">",
        ]
    )


def transaction_set(code: str, body: Sequence[str], control: str = "0001") -> list[str]:
    """Return ST, the body and an SE with the right segment count."""
    return [f"ST*{code}*{control}", *body, f"SE*{len(body) + 2}*{control}"]


def group(
    code: str,
    sets: Sequence[list[str]],
    sender: Party,
    receiver: Party,
    *,
    control: str = "1",
    date: str = "20240501",
    time: str = "0930",
    functional_code: str | None = None,
    version: str = "004010",
) -> list[str]:
    """Return GS, the sets and a GE with the right set count."""
    gs01 = functional_code or FUNCTIONAL_CODES.get(code, "XX")
    gs = (
        f"GS*{gs01}*{sender.gs_id}*{receiver.gs_id}*{date}*{time}*{control}*X*{version}"
    )
    segments = [gs]
    for one in sets:
        segments.extend(one)
    segments.append(f"GE*{len(sets)}*{control}")
    return segments


def interchange_segments(
    code: str,
    body: Sequence[str],
    *,
    sender: Party = CUST1,
    receiver: Party = OURS,
    isa13: str = "000000001",
    gs06: str = "1",
    st02: str = "0001",
    gs_date: str = "20240501",
    gs_time: str = "0930",
) -> list[str]:
    """Return the segments of a one-group, one-set interchange."""
    return [
        isa_segment(sender, receiver, control=isa13),
        *group(
            code,
            [transaction_set(code, body, st02)],
            sender,
            receiver,
            control=gs06,
            date=gs_date,
            time=gs_time,
        ),
        f"IEA*1*{isa13}",
    ]


def render(segments: Sequence[str], terminator: str = "~\n") -> bytes:
    """Join segments with a terminator (``~`` and a line break by default)."""
    return "".join(segment + terminator for segment in segments).encode()


class Documents:
    """The builders and parties above, bundled for the ``doc`` fixture."""

    INGEST = INGEST
    CUST1 = CUST1
    SUPP1 = SUPP1
    TPL1 = TPL1
    TPL2 = TPL2
    TPL3 = TPL3
    OURS = OURS
    STRANGER = STRANGER
    isa = staticmethod(isa_segment)
    transaction_set = staticmethod(transaction_set)
    group = staticmethod(group)
    segments = staticmethod(interchange_segments)
    render = staticmethod(render)

    def interchange(self, code: str, body: Sequence[str], **options: Any) -> bytes:
        """Return a rendered one-set interchange; options go to ``segments``."""
        return render(interchange_segments(code, body, **options))


@pytest.fixture
def doc() -> Documents:
    """Provide the X12 document builders."""
    return Documents()


@pytest.fixture
def catalog() -> Catalog:
    """Provide the catalog of the test configuration."""
    return Catalog(InvsyncConfig.model_validate(CONFIG))


@pytest.fixture
def parse_x12(catalog: Catalog) -> Callable[[bytes], AdapterOutput]:
    """Provide a function that parses X12 bytes with the test catalog."""

    def run(data: bytes, origin: str = "test.x12") -> AdapterOutput:
        return x12.parse(
            AdapterInput(data=data, origin=origin, ingest_time=INGEST), catalog
        )

    return run
