"""Format detection, dispatch and the safety net around the adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

import sources.wms
from invsync.catalog import Catalog
from invsync.config import InvsyncConfig
from sources.base import AdapterInput, AdapterOutput
from sources.registry import detect_format, parse_input, read_inputs


def _item(data: bytes, origin: str = "input") -> AdapterInput:
    return AdapterInput(data=data, origin=origin)


@pytest.mark.parametrize(
    ("data", "origin", "expected"),
    [
        (b"\xef\xbb\xbf  ISA*00*", "a.edi", "x12"),
        (b'{"type": "InventoryMovement"}\n', "a.txt", "wms-jsonl"),
        (b"{}", "a.jsonl", "wms-jsonl"),
        (b'{"topic": "orders/create", "body": {}}', "a.json", "shopify"),
        (b"garbage", "a.bin", None),
    ],
)
def test_detect_format(data: bytes, origin: str, expected: str | None) -> None:
    assert detect_format(_item(data, origin)) == expected


def test_unknown_format_is_dead_letter() -> None:
    output = parse_input(_item(b"\x00\x01garbage", "x.bin"), Catalog(InvsyncConfig()))

    assert output.events == []
    assert [d.error_class for d in output.dead_letters] == ["unknown_format"]
    assert output.dead_letters[0].original == b"\x00\x01garbage"


def test_adapter_crash_is_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(item: AdapterInput, catalog: Catalog) -> AdapterOutput:
        raise OverflowError("int too large")

    monkeypatch.setattr(sources.wms, "parse", broken)
    data = b'{"type": "InventoryMovement"}\n'

    output = parse_input(_item(data, "w.jsonl"), Catalog(InvsyncConfig()))

    assert output.events == []
    letter = output.dead_letters[0]
    assert letter.error_class == "adapter_error"
    assert "OverflowError: int too large" in letter.message
    assert letter.original == data


def test_read_inputs_skips_config_files(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("partners: {}\n")
    (tmp_path / "notes.md").write_text("# notes\n")
    (tmp_path / ".hidden.edi").write_text("ISA")
    (tmp_path / "b.edi").write_text("ISA")
    (tmp_path / "a.json").write_text("{}")

    names = [Path(item.origin).name for item in read_inputs([tmp_path])]

    assert names == ["a.json", "b.edi"]


def test_read_inputs_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="input file not found"):
        read_inputs([tmp_path / "nope.edi"])
