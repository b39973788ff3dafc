"""The hub's Kafka topics, defined once: partitions, replication, retention and key.

| role | name (setting ``HUB_TOPICS__<ROLE>``) | partitions | replicas / min ISR | retention | key |
|---|---|---|---|---|---|
| interactions | ``hub.interactions.v1`` | 6 | 3 / 2 | 7 days (gone in 8) | the sender's first identity |
| dead_letter | ``hub.interactions.dlq.v1`` | 3 | 3 / 2 | 30 days (gone in 31) | as it came |
| timeline | ``hub.timeline.v2`` | 6 (``HUB_TIMELINE_PARTITIONS``) | 3 / 2 | 7 days (gone in 8) | customer |

The key keeps one sender's (interactions) or one customer's (timeline) records in one partition, in order.
Why these numbers: partitions bound how many consumers of one group work at once (six timeline writers),
and adding partitions later moves keys between partitions, so per-key order holds only for records written
after the change; pick them for the largest group you expect. Retention is not the archive (the event
store is): seven days cover a consumer outage over a long weekend, thirty let a person look at poison.
Retention is also what bounds personal data a forget cannot reach: the interactions and dead-letter topics
hold what providers sent, in clear, until it expires (the timeline topic carries sealed fields, see
:mod:`services.relay`). Kafka deletes whole segments only, once their newest record is past ``retention.ms``,
so every topic rolls a segment daily (``segment.ms``): a record is gone at most a day (plus the broker's
five-minute retention check) after its retention, instead of up to a default segment's week later.
Every topic gets ``min.insync.replicas=2`` and no unclean leader election (``plumbing.kafka.DURABLE_TOPIC``)
so an ``acks=all`` write survives the loss of any one broker; a development node gets one replica.

The production manifests (``deploy/k8s/kafka-topics.yaml``, ``deploy/compose.yaml``) restate these values
and ``tests/unit/test_deploy_manifests.py`` fails when they drift.
"""

from __future__ import annotations

from plumbing.kafka import TopicSpec
from plumbing.settings import Topics

DAY_MS = 24 * 3600 * 1000
INTERACTIONS_PARTITIONS = 6
TIMELINE_PARTITIONS = 6
REPLICATION = 3


#: How often a topic rolls a new segment: what a record may outlive its retention by (see above).
SEGMENT_MS = DAY_MS


def _retention(days: int) -> tuple[tuple[str, str], ...]:
    return (
        ("retention.ms", str(days * DAY_MS)),
        ("segment.ms", str(SEGMENT_MS)),
        ("cleanup.policy", "delete"),
    )


def hub_topics(topics: Topics, *, timeline_partitions: int = TIMELINE_PARTITIONS) -> dict[str, TopicSpec]:
    """Every topic of the hub by role (``interactions``, ``dead_letter``, ``timeline``), under the names
    ``topics`` gives them."""
    return {
        "interactions": TopicSpec(topics.interactions, INTERACTIONS_PARTITIONS, REPLICATION, _retention(7)),
        "dead_letter": TopicSpec(topics.dead_letter, 3, REPLICATION, _retention(30)),
        "timeline": TopicSpec(topics.timeline, timeline_partitions, REPLICATION, _retention(7)),
    }
