"""The peer: the baselines' ATP fields kept with Quix Streams and its Redis sink.

Run by ``bench.peer`` with the interpreter of a separate virtualenv that contains
Quix Streams 3.28.1, because Quix Streams requires confluent-kafka<2.13 and
pydantic<2.14 while invsync pins newer versions. It decodes with
``invsync.avro.decode`` like the other systems, keeps per SKU the same fields as
``bench.baselines`` in Quix's RocksDB state, writes each SKU's fields as one
JSON string through ``quixstreams.sinks.community.redis.RedisSink``, and prints
one JSON line with its timing.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

from quixstreams import Application
from quixstreams.models import TopicConfig
from quixstreams.models.serializers import Deserializer
from quixstreams.sinks.community.redis import RedisSink

from bench.baselines import command_for
from invsync.avro import decode

logger = logging.getLogger(__name__)

# Quix Streams reads each input topic's config from the broker, and its state
# store needs retention.ms there, so the harness creates the input topics with
# these configs. Quix uses this copy only when it creates a topic itself.
TOPIC_EXTRA_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


class AvroEventDeserializer(Deserializer):  # type: ignore[misc]
    """Decode Avro single-object encoded invsync events."""

    def __call__(self, value: bytes, ctx: Any) -> Any:
        """Return the decoded event."""
        return decode(value)


_first_event_at: list[float] = []


def apply_event(event: Any, state: Any) -> dict[str, int]:
    """Apply one event to the SKU's fields in Quix state and return them."""
    if not _first_event_at:
        _first_event_at.append(time.perf_counter())
    fields: dict[str, int] = state.get("fields", {})
    name, _, field, value = command_for(event, "")
    if name == "HINCRBY":
        fields[field] = fields.get(field, 0) + value
    else:
        fields[field] = value
    state.set("fields", fields)
    return fields


def main() -> None:
    """Run the peer to the given event count and print its timing as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated")
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--redis-host", required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--redis-db", type=int, default=0)
    parser.add_argument("--key-prefix", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args()

    app = Application(
        broker_address=args.brokers,
        consumer_group=f"{args.key_prefix}group",
        auto_offset_reset="earliest",
        use_changelog_topics=False,
        state_dir=args.state_dir,
        auto_create_topics=False,
    )
    config = TopicConfig(
        num_partitions=args.partitions,
        replication_factor=1,
        extra_config=TOPIC_EXTRA_CONFIG,
    )
    frames = []
    for name in args.topics.split(","):
        topic = app.topic(
            name,
            key_deserializer="bytes",
            value_deserializer=AvroEventDeserializer(),
            config=config,
        )
        frames.append(app.dataframe(topic))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.concat(other)
    frame = frame.apply(apply_event, stateful=True)
    frame.sink(
        RedisSink(
            host=args.redis_host,
            port=args.redis_port,
            db=args.redis_db,
            value_serializer=json.dumps,
            key_serializer=lambda key, _value: f"{args.key_prefix}{key.decode()}",
        )
    )

    # Wall time runs from the first event applied, because joining the
    # consumer group takes seconds on Tansu and is not processing. CPU time
    # covers the whole run, the join included.
    cpu_before = time.process_time()
    started = time.perf_counter()
    app.run(count=args.events, timeout=args.timeout_s)
    ended = time.perf_counter()
    first = _first_event_at[0] if _first_event_at else started
    print(
        json.dumps(
            {
                "events": args.events,
                "wall_s": ended - first,
                "run_s": ended - started,
                "cpu_s": time.process_time() - cpu_before,
            }
        )
    )


if __name__ == "__main__":
    main()
