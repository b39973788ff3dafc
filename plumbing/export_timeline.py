"""The raw timeline auditors read: every stored event of a customer, merged-in streams included, in store
order, with what proves each one (evidence reference and hash, signature verification, actor, merge
rule, the event's link in its stream's hash chain).

Merged-in streams are found by following ``customer.absorbed`` on the customer's stream to the
absorbed customers' streams, recursively. An absorbed stream counts up to the ``customer.unmerged``
that undid its merge (if any): after that its events are the restored customer's again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from contracts import customer_stream
from plumbing.eventstore.postgres import Conn
from plumbing.eventstore.sealing import open_sealed

_MERGED_STREAMS = """
WITH RECURSIVE merged(stream_id, until_position) AS (
    SELECT %(stream)s::text, NULL::bigint
    UNION
    SELECT 'customer-' || (a.data->>'absorbed_id'),
           (SELECT min(u.position) FROM events u
             WHERE u.stream_id = a.stream_id AND u.event_type = 'customer.unmerged'
               AND u.data->>'restored_id' = a.data->>'absorbed_id' AND u.position > a.position)
      FROM events a JOIN merged m ON a.stream_id = m.stream_id
     WHERE a.event_type = 'customer.absorbed' AND (m.until_position IS NULL OR a.position <= m.until_position)
)
SELECT stream_id, until_position FROM merged WHERE stream_id IN (SELECT stream_id FROM streams)
"""

#: The WHERE clause selecting the events of :func:`customer_streams`' answer (``streams``, ``untils``).
IN_CUSTOMER_STREAMS = """
e.stream_id = ANY(%(streams)s::text[])
AND EXISTS (SELECT 1 FROM unnest(%(streams)s::text[], %(untils)s::bigint[]) AS m(stream_id, until_position)
             WHERE m.stream_id = e.stream_id AND (m.until_position IS NULL OR e.position <= m.until_position))
"""

_TIMELINE = sql.SQL("""
SELECT e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data,
       e.metadata, e.recorded_at, encode(e.hash, 'hex') AS chain_hash
  FROM events e
 WHERE {in_streams} AND e.position > %(after)s
 ORDER BY e.position
 LIMIT %(limit)s
""").format(in_streams=sql.SQL(IN_CUSTOMER_STREAMS))


async def customer_streams(conn: Conn, customer_id: UUID) -> dict[str, Any]:
    """Parameters for :data:`IN_CUSTOMER_STREAMS`: the customer's stream and the streams merged into it
    (recursively), each with the position its merge was undone at (None: still merged); both lists are
    empty when the store has no stream of that customer."""
    cur = await conn.execute(_MERGED_STREAMS, {"stream": customer_stream(customer_id)})
    rows = await cur.fetchall()
    return {"streams": [row[0] for row in rows], "untils": [row[1] for row in rows]}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvidenceRef(_Model):
    """The raw delivery behind an interaction: the blob's hash and size, and how it was proven authentic."""

    sha256: str
    size_bytes: int
    content_type: str | None = None
    endpoint: str | None = None
    verification: dict[str, Any] | None = None


class MergeFacts(_Model):
    """Why customers became one (or stopped being one): the rule, its evidence and who decided."""

    rule: str | None = None
    absorbed_id: UUID | None = None
    survivor_id: UUID | None = None
    restored_id: UUID | None = None
    evidence_event_id: UUID | None = None
    shared_identities: list[dict[str, Any]] = []


class AuditEvent(_Model):
    """One stored event as an auditor sees it; ``data`` and ``metadata`` as stored, with sealed personal
    fields opened (erased for a forgotten customer); ``chain_hash`` is the hash of the stored row."""

    position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    recorded_at: datetime
    occurred_at: datetime | None
    received_at: datetime | None
    provider: str | None
    provider_message_id: str | None
    evidence: EvidenceRef | None
    actor: str | None
    merge: MergeFacts | None
    chain_hash: str
    data: dict[str, Any]
    metadata: dict[str, Any]


_MERGE_TYPES = {"customer.absorbed", "customer.merged_into", "customer.unmerged", "customer.restored"}


def _evidence(data: dict[str, Any]) -> EvidenceRef | None:
    evidence = data.get("evidence")
    if not isinstance(evidence, dict) or not isinstance(evidence.get("body"), dict):
        return None
    body = evidence["body"]
    return EvidenceRef(
        sha256=body["sha256"],
        size_bytes=body["size_bytes"],
        content_type=evidence.get("content_type"),
        endpoint=evidence.get("endpoint"),
        verification=evidence.get("verification"),
    )


def _merge(event_type: str, data: dict[str, Any]) -> MergeFacts | None:
    if event_type not in _MERGE_TYPES and event_type != "customer.identity.linked":
        return None
    undone = event_type in {"customer.unmerged", "customer.restored"}
    identities = data.get("shared_identities") or ([data["identity"]] if "identity" in data else [])
    return MergeFacts(
        rule=data.get("rule") or ("staff" if undone else None),
        absorbed_id=data.get("absorbed_id"),
        survivor_id=data.get("survivor_id"),
        restored_id=data.get("restored_id"),
        evidence_event_id=data.get("evidence_event_id"),
        shared_identities=list(identities),
    )


def audit_event(row: dict[str, Any]) -> AuditEvent:
    """The auditor's view of one ``events`` row (with ``chain_hash`` as hex)."""
    data: dict[str, Any] = row["data"]
    metadata: dict[str, Any] = row["metadata"]
    actor = metadata.get("actor") or data.get("actor")
    return AuditEvent(
        **{key: row[key] for key in ("position", "event_id", "stream_id", "stream_version", "event_type")},
        schema_version=row["schema_version"],
        recorded_at=row["recorded_at"],
        occurred_at=data.get("occurred_at"),
        received_at=data.get("received_at"),
        provider=data.get("provider"),
        provider_message_id=data.get("provider_message_id"),
        evidence=_evidence(data),
        actor=actor if isinstance(actor, str) else None,
        merge=_merge(row["event_type"], data),
        chain_hash=row["chain_hash"],
        data=data,
        metadata=metadata,
    )


async def customer_timeline(
    conn: Conn, customer_id: UUID, *, after_position: int = 0, limit: int = 1000
) -> list[AuditEvent]:
    """The customer's events (merged-in streams included) with ``position > after_position``, oldest
    first, at most ``limit``; empty when the store has no stream of that customer."""
    streams = await customer_streams(conn, customer_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_TIMELINE, {**streams, "after": after_position, "limit": limit})
        rows = await cur.fetchall()
    await open_sealed(conn, [(row["event_id"], row["data"], row["metadata"]) for row in rows])
    return [audit_event(row) for row in rows]
