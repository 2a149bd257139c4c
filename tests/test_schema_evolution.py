"""Schema evolution: older and newer writer schemas, history files, git HEAD check."""

from __future__ import annotations

import copy
import io
import json
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

from dataflows.records import RawRecord, decode_record
from invsync import avro
from invsync.avro import (
    ALL_RECORD_TYPES,
    HISTORY_DIR,
    MAGIC,
    SCHEMA_DIR,
    DecodeError,
    archive_schema,
    decode,
    fingerprint_of,
    register_writer_schema,
    schema_path,
    writer_fingerprints,
)
from invsync.events import DeadLetter, Source, WarehouseSetting

REPO = SCHEMA_DIR.parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SAMPLES_PER_SCHEMA = 40
SETTING = WarehouseSetting(
    event_id="evt-1",
    source=Source.CONFIG,
    partner=None,
    event_time=T0,
    ingest_time=T0,
    warehouse="W1",
    active=True,
)


@pytest.fixture(autouse=True)
def _restore_registry() -> Iterator[None]:
    """Undo writer schemas that a test registers."""
    registry = avro._by_fingerprint()
    before = dict(registry)
    yield
    registry.clear()
    registry.update(before)


def current_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    return loaded


def encode_with(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """Single-object encode a record with an arbitrary writer schema."""
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(fingerprint_of(schema))
    schemaless_writer(buffer, parse_schema(schema), record)
    return buffer.getvalue()


def incompatibility(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Return why records of ``old`` cannot be read as ``new``, or None.

    Writes seeded random records with the old schema and reads each with the new
    one through Avro schema resolution.
    """
    random.seed(20260302)
    writer = parse_schema(copy.deepcopy(old))
    reader = parse_schema(copy.deepcopy(new))
    for record in generate_many(copy.deepcopy(old), SAMPLES_PER_SCHEMA):
        buffer = io.BytesIO()
        schemaless_writer(buffer, writer, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, writer, reader)
        except SchemaResolutionError as exc:
            return str(exc)
    return None


def test_newer_writer_added_optional_field_decodes() -> None:
    newer = current_schema("WarehouseSetting")
    newer["fields"].append(
        {"name": "reason", "type": ["null", "string"], "default": None}
    )
    register_writer_schema(newer)
    record = SETTING.model_dump(mode="python") | {"reason": "stocktake"}

    decoded = decode(encode_with(newer, record))

    assert decoded == SETTING


def test_older_writer_without_optional_field_decodes() -> None:
    older = current_schema("WarehouseSetting")
    older["fields"] = [f for f in older["fields"] if f["name"] != "partner"]
    register_writer_schema(older)
    record = SETTING.model_dump(mode="python")
    del record["partner"]

    decoded = decode(encode_with(older, record))

    assert decoded == SETTING


def test_incompatible_writer_raises_incompatible_schema() -> None:
    changed = current_schema("WarehouseSetting")
    for field in changed["fields"]:
        if field["name"] == "active":
            field["type"] = "string"
    register_writer_schema(changed)
    record = SETTING.model_dump(mode="python") | {"active": "yes"}

    with pytest.raises(DecodeError) as caught:
        decode(encode_with(changed, record))

    assert caught.value.error_class == "incompatible_schema"


def test_incompatible_writer_becomes_dead_letter() -> None:
    changed = current_schema("WarehouseSetting")
    changed["fields"].append({"name": "site", "type": "string"})
    changed["fields"] = [f for f in changed["fields"] if f["name"] != "warehouse"]
    register_writer_schema(changed)
    record = SETTING.model_dump(mode="python") | {"site": "W1"}
    del record["warehouse"]
    value = encode_with(changed, record)

    letter = decode_record(RawRecord(value=value, origin="settings/0/7"))

    assert isinstance(letter, DeadLetter)
    assert letter.error_class == "incompatible_schema"
    assert letter.original == value
    assert letter.origin == "settings/0/7"


def test_unregistered_newer_writer_is_unknown_schema() -> None:
    newer = current_schema("WarehouseSetting")
    newer["fields"].append({"name": "reason", "type": ["null", "string"]})
    record = SETTING.model_dump(mode="python") | {"reason": None}

    with pytest.raises(DecodeError) as caught:
        decode(encode_with(newer, record))

    assert caught.value.error_class == "unknown_schema"


def test_register_rejects_unknown_record_name() -> None:
    schema = {"type": "record", "name": "Nothing", "fields": []}

    with pytest.raises(ValueError, match="Nothing"):
        register_writer_schema(schema)


def test_incompatibility_detects_type_change() -> None:
    old = current_schema("WarehouseSetting")
    new = copy.deepcopy(old)
    for field in new["fields"]:
        if field["name"] == "warehouse":
            field["type"] = "int"

    assert incompatibility(old, new) is not None
    assert incompatibility(old, old) is None


def test_incompatibility_detects_required_field_added() -> None:
    old = current_schema("WarehouseSetting")
    new = copy.deepcopy(old)
    new["fields"].append({"name": "site", "type": "string"})

    assert incompatibility(old, new) is not None


def test_archive_schema_skips_doc_only_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(avro, "HISTORY_DIR", tmp_path)
    old = current_schema("WarehouseSetting")
    new = copy.deepcopy(old)
    new["doc"] = "Another description."

    assert archive_schema(json.dumps(old), json.dumps(new)) is None
    assert list(tmp_path.iterdir()) == []


def test_archive_schema_keeps_replaced_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(avro, "HISTORY_DIR", tmp_path)
    old = current_schema("WarehouseSetting")
    new = copy.deepcopy(old)
    new["fields"].append(
        {"name": "reason", "type": ["null", "string"], "default": None}
    )
    old_text = json.dumps(old)

    path = archive_schema(old_text, json.dumps(new))

    expected = tmp_path / f"WarehouseSetting.{fingerprint_of(old).hex()}.avsc"
    assert path == expected
    assert expected.read_text() == old_text


def history_files() -> list[Path]:
    return sorted(HISTORY_DIR.glob("*.avsc"))


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.name)
def test_history_version_reads_as_current(path: Path) -> None:
    old = json.loads(path.read_text())
    name, hex_fingerprint, _ = path.name.split(".")

    assert old["name"] == name
    assert fingerprint_of(old).hex() == hex_fingerprint
    assert incompatibility(old, current_schema(name)) is None


def committed_schema(path: Path) -> dict[str, Any] | None:
    """Return the version of a schema file at git HEAD, or None if it is new."""
    relative = path.relative_to(REPO).as_posix()
    shown = subprocess.run(
        ["git", "-C", str(REPO), "show", f"HEAD:{relative}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        return None
    loaded: dict[str, Any] = json.loads(shown.stdout)
    return loaded


def inside_git_checkout() -> bool:
    try:
        probe = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--verify", "HEAD"],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return False
    return probe.returncode == 0


@pytest.mark.parametrize("model", ALL_RECORD_TYPES, ids=lambda m: m.__name__)
def test_schema_reads_committed_version(model: type) -> None:
    if not inside_git_checkout():
        pytest.skip("not a git checkout with a HEAD commit; no committed schemas")
    path = schema_path(model)
    old = committed_schema(path)
    if old is None:
        pytest.skip(f"{path.name} is not committed yet")
    new = json.loads(path.read_text())

    assert incompatibility(old, new) is None
    assert fingerprint_of(old) in writer_fingerprints(model)
