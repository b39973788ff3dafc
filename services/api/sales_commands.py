"""The shell every sales command runs in: one transaction holding the event store's append lock.

Inside it, in order: the idempotency key is claimed, the command reads the streams it decides
against, appends, and its answer is stored under the key. So

* a command decides against the state it appends to (the append lock serialises every writer of the
  store, and each append still carries the expected stream version, belt and braces);
* the answer stored under an idempotency key exists exactly when the command's events do (one commit);
* a refused command (any exception) rolls everything back: nothing appended, no key remembered, so a
  corrected retry under the same key is decided afresh.

Keys are per principal. The same key with the same request returns the stored answer; with another
request (method, path or body differ) it is refused with 422, because the key already means something.

Keys expire after their ``ttl`` (``HUB_IDEMPOTENCY_KEY_TTL_S``, a week by default): an expired key is a
new key again, and every command that claims a new key also deletes up to :data:`PURGE_BATCH` expired
ones, oldest first, so the table holds about a TTL's worth of commands without a separate job.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from contracts import keyed_digest
from plumbing.eventstore.postgres import Conn, lock_appends, translated_errors
from services.api.sales_errors import InvalidCommand

MIGRATIONS = Path(__file__).parent / "sales_migrations"
#: What an ``Idempotency-Key`` header may hold: printable, no spaces, at most 200 characters.
KEY_PATTERN = r"^[A-Za-z0-9._:~+/=-]{1,200}$"
#: How long a key means its first request, unless configured otherwise.
DEFAULT_KEY_TTL = timedelta(days=7)
#: Most expired keys one command deletes (bounded work inside the command's transaction).
PURGE_BATCH = 100
log = structlog.get_logger()


@dataclass(frozen=True)
class Answer:
    """What a command answered; ``replayed`` when it came from the idempotency store."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class IdempotencyKey:
    """A principal's key, the fingerprint of the request it was first used with, and how long it lasts."""

    principal_id: str
    key: str
    request_hash: str
    ttl: timedelta = DEFAULT_KEY_TTL


def request_fingerprint(method: str, path: str, body: dict[str, Any]) -> str:
    """A keyed hash (:func:`contracts.keyed_digest`) of the method, the path and the body's canonical JSON
    (key order and spacing do not count). Keyed, because it is stored and a body may be one identity
    (``email:...``): a plain hash of it could be matched against guessed addresses."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return keyed_digest(canonical)


class KeyReused(InvalidCommand):
    code = "idempotency_key_reused"


async def _purge_expired(conn: Conn, key: IdempotencyKey) -> int:
    """Forget this key if it expired (so it is claimed afresh), and a bounded batch of other expired keys."""
    cur = await conn.execute(
        "DELETE FROM sales_command_keys WHERE (principal_id, idempotency_key) IN ("
        "  SELECT principal_id, idempotency_key FROM sales_command_keys WHERE created_at < now() - %(ttl)s"
        "   ORDER BY created_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)"
        " OR (principal_id = %(principal)s AND idempotency_key = %(key)s AND created_at < now() - %(ttl)s)",
        {"ttl": key.ttl, "batch": PURGE_BATCH, "principal": key.principal_id, "key": key.key},
    )
    return cur.rowcount


async def _claim(conn: Conn, key: IdempotencyKey) -> Answer | None:
    """Claim ``key`` for this request; the stored answer if a request already used it (and it has not
    expired)."""
    purged = await _purge_expired(conn, key)
    if purged:
        log.info("idempotency_keys_purged", count=purged)
    cur = await conn.execute(
        "INSERT INTO sales_command_keys (principal_id, idempotency_key, request_hash)"
        " VALUES (%s, %s, %s) ON CONFLICT (principal_id, idempotency_key) DO NOTHING RETURNING 1",
        (key.principal_id, key.key, key.request_hash),
    )
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "SELECT request_hash, status, answer FROM sales_command_keys"
        " WHERE principal_id = %s AND idempotency_key = %s",
        (key.principal_id, key.key),
    )
    row = await cur.fetchone()
    assert row is not None  # the conflict above means the row exists; only expired rows are deleted
    request_hash, status, body = row
    if request_hash != key.request_hash:
        raise KeyReused(f"the Idempotency-Key {key.key!r} was already used for a different request")
    return Answer(status=status, body=body, replayed=True)


async def _remember(conn: Conn, key: IdempotencyKey, answer: Answer) -> None:
    await conn.execute(
        "UPDATE sales_command_keys SET status = %s, answer = %s"
        " WHERE principal_id = %s AND idempotency_key = %s",
        (answer.status, Jsonb(answer.body), key.principal_id, key.key),
    )


Work = Callable[[Conn], Awaitable[Answer]]


async def run_command(pool: AsyncConnectionPool[Conn], key: IdempotencyKey | None, work: Work) -> Answer:
    """Run ``work`` in the command transaction (see the module docstring); its answer, or the stored one."""
    async with translated_errors(), pool.connection() as conn, conn.transaction():
        await lock_appends(conn)
        if key is not None:
            stored = await _claim(conn, key)
            if stored is not None:
                log.info("sales_command_replayed", principal_id=key.principal_id, status=stored.status)
                return stored
        answer = await work(conn)
        if key is not None:
            await _remember(conn, key, answer)
    return answer
