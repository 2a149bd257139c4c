"""Logging setup: plain or JSON lines, secrets masked, repeated messages limited.

``configure_logging`` installs one stderr handler on the root logger with two
filters. ``SecretFilter`` masks configured secrets (the Kafka SASL password,
the Redis password) and any password in a ``scheme://user:password@host`` URL,
in the message and in its arguments. ``RepeatFilter`` lets a message template
from one logger through a few times per interval and reports how many it held
back. With JSON on, each record is one object with the context fields below
when a call passes them in ``extra``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from invsync.avro import DecodeError, decode
from invsync.config import InvsyncConfig
from invsync.events import CanonicalEvent, DeadLetter

logger = logging.getLogger(__name__)

CONTEXT_FIELDS = (
    "topic",
    "partition",
    "offset",
    "origin",
    "partner",
    "sku",
    "warehouse",
    "event_id",
    "order_id",
    "posting_id",
    "alert_id",
    "posting_ids",
    "exception_id",
    "dead_letter_id",
    "error_class",
    "attempt",
    "step_id",
    "worker",
)
"""Fields a log call may pass in ``extra`` and the JSON output carries.

``docs/operations.md`` describes each field.
"""

MASK = "***"
_HANDLER_NAME = "invsync"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
# redis-py also takes the password as a URL query parameter.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#\s'\"]+", re.IGNORECASE)
_SECRET_KEYS = ("password", "secret", "token", "sasl.oauthbearer.config")


def secrets_of(config: InvsyncConfig) -> set[str]:
    """Return the secret values of a configuration: passwords in Kafka and Redis."""
    found = {
        value
        for key, value in config.kafka.client_config.items()
        if any(word in key.lower() for word in _SECRET_KEYS) and value
    }
    parts = urlsplit(config.redis.url)
    passwords = [parts.password] + [
        value for name, value in parse_qsl(parts.query) if name == "password"
    ]
    for password in passwords:
        if password:
            found.add(password)
            found.add(unquote(password))
    return found


class SecretFilter(logging.Filter):
    """Mask secrets in log messages before any handler formats them."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Mask each of ``secrets`` (values shorter than 4 characters are ignored)."""
        super().__init__()
        self._secrets = sorted((s for s in secrets if len(s) >= 4), key=len)[::-1]

    def mask(self, text: str) -> str:
        """Return ``text`` with secrets and URL passwords replaced by ``***``."""
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
        text = _QUERY_PASSWORD.sub(rf"\g<head>{MASK}", text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message with its arguments, mask it and keep the record."""
        message = record.getMessage()
        masked = self.mask(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        record.msg = masked
        record.args = None
        return True


class RepeatFilter(logging.Filter):
    """Pass at most ``limit`` records per logger and message template per interval.

    The first record let through after a held-back run reports how many were held
    back, so nothing disappears without a count. Errors and critical records
    are limited like the rest.
    """

    def __init__(
        self,
        limit: int = 5,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Allow ``limit`` records of one template per ``interval_s`` seconds."""
        super().__init__()
        self._limit = limit
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Count the record and decide whether it passes."""
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            start, passed, held = self._windows.get(key, (now, 0, 0))
            if now - start >= self._interval_s:
                start, passed = now, 0
            if passed >= self._limit:
                self._windows[key] = (start, passed, held + 1)
                return False
            self._windows[key] = (start, passed + 1, 0)
        if held:
            record.msg = f"{record.msg} (held back {held} repeats of this message)"
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's time, level, logger, message and context fields."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                data[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str)


def origin_fields(origin: str) -> dict[str, Any]:
    """Return topic, partition and offset of a ``topic/partition/offset`` origin.

    Origins that are files (adapters, replay) return ``{"origin": origin}``.
    """
    parts = origin.rsplit("/", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return {"topic": parts[0], "partition": int(parts[1]), "offset": int(parts[2])}
    return {"origin": origin}


def dead_letter_fields(letter: DeadLetter) -> dict[str, Any]:
    """Return the log context of a dead letter.

    The context is its id, class and origin, plus partner, event id and SKU
    when the letter has them.
    """
    fields: dict[str, Any] = {
        "dead_letter_id": letter.dead_letter_id,
        "error_class": letter.error_class,
    }
    if letter.origin:
        fields.update(origin_fields(letter.origin))
    if letter.partner is not None:
        fields["partner"] = letter.partner
    if letter.event_id is not None:
        fields["event_id"] = letter.event_id
    if letter.sku is not None:
        fields["sku"] = letter.sku
    return fields


def event_fields(event: CanonicalEvent) -> dict[str, Any]:
    """Return the log context of an event: its id, plus partner, SKU and warehouse.

    Partner, SKU and warehouse are left out when the event has none.
    """
    fields: dict[str, Any] = {"event_id": event.event_id}
    for name in ("partner", "sku", "warehouse"):
        value = getattr(event, name, None)
        if value is not None:
            fields[name] = value
    return fields


_RECORD_ID_FIELDS = (
    "posting_id",
    "alert_id",
    "exception_id",
    "dead_letter_id",
    "event_id",
    "order_id",
    "sku",
    "warehouse",
)


def record_fields(value: bytes | None) -> dict[str, Any]:
    """Return the ids of an Avro-encoded invsync record, for a log about it.

    Decodes the record, so it is meant for rare logs such as a failed delivery.
    Bytes that are not an invsync record return no fields.
    """
    if not value:
        return {}
    try:
        record = decode(value)
    except DecodeError:
        return {}
    fields: dict[str, Any] = {}
    for name in _RECORD_ID_FIELDS:
        found = getattr(record, name, None)
        if isinstance(found, str):
            fields[name] = found
    return fields


def configure_logging(
    level: str = "INFO",
    *,
    json_lines: bool = False,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    repeat_limit: int = 5,
    repeat_interval_s: float = 60.0,
) -> logging.Handler:
    """Install one masked, rate-limited stderr handler on the root logger.

    A handler installed by an earlier call is replaced; other handlers stay.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    handler.addFilter(RepeatFilter(repeat_limit, repeat_interval_s))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def env_flag(name: str, environ: dict[str, str] | None = None) -> bool:
    """Return whether an environment variable is set to 1, true, yes or on."""
    env = os.environ if environ is None else environ
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def configure_from_env(config: InvsyncConfig) -> logging.Handler:
    """Configure logging from ``INVSYNC_LOG_LEVEL`` and ``INVSYNC_LOG_JSON``.

    For processes started by ``python -m bytewax.run``, which has no logging
    options of its own.
    """
    return configure_logging(
        os.environ.get("INVSYNC_LOG_LEVEL", "INFO"),
        json_lines=env_flag("INVSYNC_LOG_JSON"),
        secrets=secrets_of(config),
    )
