"""Re-drive dead letters: parse their original bytes again and publish what succeeds.

Operations staff fix the configuration (a missing item alias, an unmapped
partner), then run ``invsync redrive``. Each selected dead letter's original is
parsed again with the current configuration. Events that now succeed go to the
input topics. Their event ids are deterministic, so the dataflow drops again the
parts of a document that had already gone through. Letters that still fail
are counted and left where they are: they are already on the dead-letter topic.

Dead letters of Avro records (decode failures at the dataflow) are re-published
unchanged to the topic they came from, which helps after deploying a schema the
dataflow did not know yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from invsync.avro import DecodeError, decode_as
from invsync.catalog import Catalog
from invsync.config import InvsyncConfig
from invsync.events import DeadLetter
from invsync.publish import publish_adapter_output
from invsync.topic_reader import read_topic
from invsync.topics import Topics
from sinks.kafka_checked import CheckedKafkaProducer
from sources.base import AdapterInput, AdapterOutput
from sources.registry import parse_input

logger = logging.getLogger(__name__)


@dataclass
class RedriveSummary:
    """Counts of one re-drive run."""

    read: int = 0
    selected: int = 0
    republished_events: int = 0
    republished_records: int = 0
    still_failing: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    # Distinct dead letters read, by error class and by source format.
    classes_read: dict[str, int] = field(default_factory=dict)
    formats_read: dict[str, int] = field(default_factory=dict)

    def unmatched(self, error_classes: set[str], source_formats: set[str]) -> list[str]:
        """Describe each requested class or format that no dead letter has."""
        problems = []
        for name, requested, found in (
            ("error class", error_classes, self.classes_read),
            ("source format", source_formats, self.formats_read),
        ):
            present = ", ".join(f"{k} ({v})" for k, v in sorted(found.items()))
            for missing in sorted(requested - found.keys()):
                problems.append(
                    f"no dead letter has {name} {missing!r}; the topic has "
                    f"{present or 'none'}"
                )
        return problems

    def __str__(self) -> str:
        failing = ", ".join(f"{k}={v}" for k, v in sorted(self.still_failing.items()))
        verb = "would re-publish" if self.dry_run else "re-published"
        return (
            f"read {self.read} dead letters, selected {self.selected}, "
            f"{verb} {self.republished_events} events and "
            f"{self.republished_records} records; still failing: {failing or 'none'}"
        )


def read_dead_letters(
    config: InvsyncConfig, timeout_s: float = 10.0
) -> list[DeadLetter]:
    """Read and decode the whole dead-letter topic from the beginning."""
    topic = Topics(config.kafka.topic_prefix).dead_letters
    letters: list[DeadLetter] = []
    records = read_topic(
        config.kafka.brokers,
        topic,
        timeout_s=timeout_s,
        client_config=config.kafka.client_config,
    )
    for record in records:
        try:
            letters.append(decode_as(record.value, DeadLetter))
        except DecodeError as exc:
            logger.error(
                "undecodable record on %s at partition %d offset %d: %s; skipped",
                topic,
                record.partition,
                record.offset,
                exc,
                extra={
                    "topic": topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error_class": exc.error_class,
                },
            )
    return letters


def redrive(
    config: InvsyncConfig,
    *,
    error_classes: set[str] | None = None,
    source_formats: set[str] | None = None,
    dry_run: bool = False,
    timeout_s: float = 10.0,
) -> RedriveSummary:
    """Re-parse selected dead letters and publish what now succeeds."""
    summary = RedriveSummary(dry_run=dry_run)
    catalog = Catalog(config)
    seen: set[str] = set()
    for letter in read_dead_letters(config, timeout_s):
        summary.read += 1
        if letter.dead_letter_id in seen:
            continue
        seen.add(letter.dead_letter_id)
        classes = summary.classes_read
        classes[letter.error_class] = classes.get(letter.error_class, 0) + 1
        formats = summary.formats_read
        formats[letter.source_format] = formats.get(letter.source_format, 0) + 1
        if error_classes and letter.error_class not in error_classes:
            continue
        if source_formats and letter.source_format not in source_formats:
            continue
        summary.selected += 1
        if letter.source_format == "avro":
            _republish_record(config, letter, summary, dry_run)
            continue
        hints = dict(letter.hints)
        hints.setdefault("format", letter.source_format)
        item = AdapterInput(
            data=letter.original, origin=letter.origin or "dead-letter", hints=hints
        )
        output = parse_input(item, catalog)
        for failed in output.dead_letters:
            summary.still_failing[failed.error_class] = (
                summary.still_failing.get(failed.error_class, 0) + 1
            )
        if output.events and not dry_run:
            publish_adapter_output(config, AdapterOutput(events=output.events))
        summary.republished_events += len(output.events)
    logger.info("redrive finished: %s", summary)
    return summary


def _republish_record(
    config: InvsyncConfig, letter: DeadLetter, summary: RedriveSummary, dry_run: bool
) -> None:
    topic = (letter.origin or "").split("/", 1)[0]
    if topic not in Topics(config.kafka.topic_prefix).inputs():
        summary.still_failing["no_input_topic"] = (
            summary.still_failing.get("no_input_topic", 0) + 1
        )
        return
    if not dry_run:
        producer = CheckedKafkaProducer(
            config.kafka.brokers,
            topic,
            role="redrive",
            add_config=config.kafka.client_config,
        )
        try:
            producer.produce_batch(
                [(letter.sku.encode() if letter.sku else None, letter.original)]
            )
        finally:
            producer.close()
    summary.republished_records += 1
