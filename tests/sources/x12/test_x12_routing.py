"""Interchanges between us and a partner, checked against the configured self_ids."""

from __future__ import annotations

from pathlib import Path

from invsync.catalog import Catalog
from invsync.config import load_config
from invsync.golden import at, interchange
from sources.base import AdapterInput
from sources.x12 import parse

CONFIG = Path(__file__).resolve().parents[3] / "samples" / "config.yaml"
RECEIPT = [
    "W17*F*20260302*RCV-9*DO-1",
    "N1*WH*THIRD PARTY DC*92*3PL01",
    "W07*10*EA**VN*W-100",
    "W14*10",
]


def _parse(sender: str, receiver: str) -> tuple[int, list[str]]:
    text = interchange(sender, receiver, at(9), 77, "RE", [("944", RECEIPT)])
    catalog = Catalog(load_config(CONFIG))
    output = parse(AdapterInput(data=text.encode(), origin="944.edi"), catalog)
    return len(output.events), [d.error_class for d in output.dead_letters]


def test_addressed_to_us_is_applied() -> None:
    assert _parse("TPL1EDI", "INVSYNCDIST") == (1, [])


def test_addressed_to_someone_else_is_misrouted() -> None:
    events, classes = _parse("TPL1EDI", "OTHERCLIENT")

    assert events == 0
    assert classes == ["misrouted"]


def test_unknown_sender_to_partner_is_misrouted() -> None:
    # Addressed to our 3PL by an unknown sender: not a document we send.
    events, classes = _parse("STRANGER", "TPL1EDI")

    assert events == 0
    assert classes == ["misrouted"]
