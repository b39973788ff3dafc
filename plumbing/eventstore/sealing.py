"""Crypto-shredding at the event store seam: personal fields are sealed with a per-customer key.

Why here: the hash chain is computed by the database over the stored row, so sealing before the insert
makes the chain cover ciphertext; destroying a customer's key later erases their personal data without
touching a single event, and ``hub audit verify`` stays green. Every read function of the PostgreSQL
adapter opens the rows it returns, so projections, re-folds, replays and exports of readable data work
unchanged; a field whose key is destroyed reads as :data:`contracts.personal.ERASED`.

* Which fields are personal: :mod:`contracts.personal` (explicit per event type).
* Whose key: the customer of the stream (``customer-<uuid>``), else the ``customer_id`` of the store
  metadata (deal, note, task streams), else the event's own ``customer_id``; an event without a
  customer is stored as it is.
* Each field is AES-256-GCM sealed on its own, with the event id and the field's path as associated
  data, so a ciphertext cannot be moved to another event or field. The data key of a customer is
  random, stored wrapped (AES-GCM) by the master key ``HUB_MASTER_KEY`` in ``customer_keys``.
* A sealed event says so in its metadata (``_sealed``: key id and sealed paths); rows without it,
  written before sealing existed, are returned as stored (plaintext).
* Format 2 (``"v": 2`` in the mark) also commits to each sealed value: the mark, which the chain
  covers, records ``sha256(r || canonical value)`` (first 128 bits) per field, where the 16-byte salt
  ``r`` is derived from the customer's key (keyed BLAKE2b of the field's event id and path, under a key
  derived from the data key). An export that shows a field opened also shows its ``r``, so an auditor proves
  offline, without any key, that the readable value is the plaintext the chain sealed; ``r`` of other
  fields stays secret, and dies with the customer's key, so a commitment tells nothing about an erased
  or unshown value. Ciphertexts are as in format 1, so reading costs what it did (no salt to strip,
  nothing hashed). Marks without ``v`` (format 1, no commitments) open as before.
* Without ``HUB_MASTER_KEY`` a customer's event is refused (:class:`SealingNotConfigured`): personal
  data is never written in clear by accident.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.customer import stream_customer
from contracts.personal import ERASED, PERSONAL_METADATA, leaves, personal_paths
from plumbing import fast_json
from plumbing.eventstore.errors import EventStoreError
from plumbing.eventstore.listen import Conn

#: The metadata key a sealed event carries: ``{"v": 2, "key": key id, "data": [paths], "metadata": [paths],
#: "commitments": base64}`` (format 1, before commitments: no ``v``, no ``commitments``).
SEALED: Final = "_sealed"
#: The seal mark's format: 2 = a commitment to each sealed value in the mark (see above).
SEAL_FORMAT: Final = 2
_NONCE = 12
_KEY = 32
_COMMITMENT = 16  # bytes of each commitment, and of each salt
_SALT_KEY_CONTEXT = b"interaction-hub/seal-commitment-salts"


class SealingNotConfigured(EventStoreError):
    """``HUB_MASTER_KEY`` is not set, so personal data could only be written in clear: refused."""


class SealingError(EventStoreError):
    """A key or a field cannot be opened with this master key (a wrong key, or a tampered row)."""


class SealingSettings(BaseSettings):
    """``HUB_MASTER_KEY``: 32 random bytes, URL-safe base64 (``hub`` makes one in the state dir)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", hide_input_in_errors=True)

    master_key: SecretStr | None = None


def generate_master_key() -> str:
    """A fresh master key in the form ``HUB_MASTER_KEY`` takes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY)).decode("ascii")


def _decode_master(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SealingNotConfigured("HUB_MASTER_KEY is not URL-safe base64") from exc
    if len(raw) != _KEY:
        raise SealingNotConfigured(f"HUB_MASTER_KEY must be {_KEY} bytes, base64-encoded")
    return raw


@functools.cache
def _master() -> AESGCM:
    configured = SealingSettings().master_key
    if configured is None:
        raise SealingNotConfigured(
            "HUB_MASTER_KEY is not set: customers' personal data cannot be sealed or opened"
        )
    return AESGCM(_decode_master(configured.get_secret_value()))


def forget_master_key() -> None:
    """Read ``HUB_MASTER_KEY`` again on next use (tests that change it)."""
    _master.cache_clear()
    _data_key.cache_clear()
    _data_cipher.cache_clear()
    _salt_key.cache_clear()


def _wrap(customer_id: UUID, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + _master().encrypt(nonce, data_key, customer_id.bytes)


@functools.lru_cache(maxsize=4096)
def _data_key(customer_id: UUID, wrapped: bytes) -> bytes:
    """The customer's data key, unwrapped once per process and wrapped value (cheap to repeat)."""
    try:
        return _master().decrypt(wrapped[:_NONCE], wrapped[_NONCE:], customer_id.bytes)
    except InvalidTag as exc:
        raise SealingError(
            f"the data key of customer {customer_id} does not open with HUB_MASTER_KEY"
        ) from exc


@functools.lru_cache(maxsize=4096)
def _data_cipher(customer_id: UUID, wrapped: bytes) -> AESGCM:
    return AESGCM(_data_key(customer_id, wrapped))


@functools.lru_cache(maxsize=4096)
def _salt_key(customer_id: UUID, wrapped: bytes) -> bytes:
    """The key commitment salts are derived with: not the data key itself (one key, one purpose)."""
    return hmac.digest(_data_key(customer_id, wrapped), _SALT_KEY_CONTEXT, "sha256")


@dataclass(frozen=True)
class CustomerKey:
    """A customer's data key as the store holds it: ``wrapped`` is None once destroyed."""

    key_id: UUID
    customer_id: UUID
    wrapped: bytes | None

    def cipher(self) -> AESGCM | None:
        return None if self.wrapped is None else _data_cipher(self.customer_id, self.wrapped)

    def salt_key(self) -> bytes | None:
        return None if self.wrapped is None else _salt_key(self.customer_id, self.wrapped)


def subject_customer(stream_id: str, metadata: Mapping[str, Any], data: Mapping[str, Any]) -> UUID | None:
    """Whose personal data an event holds (see the module docstring for the order)."""
    try:
        customer = stream_customer(stream_id)
    except ValueError:  # "customer-" and no uuid: not a stream the hub names, so fall back to the rest
        customer = None
    if customer is not None:
        return customer
    for source in (metadata, data):
        value = source.get("customer_id")
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                return None
    return None


def _aad(event_id: UUID, path: str) -> bytes:
    return f"{event_id}/{path}".encode()


def _seal_value(
    cipher: AESGCM, salt_key: bytes, aad: bytes, value: Any, nonce: bytes | None = None
) -> tuple[str, bytes]:
    """The token a field stores (``nonce || AES-GCM(canonical value)``, ``aad`` from :func:`_aad`) and
    the value's commitment (see the module docstring). ``nonce``: a fresh random one, when the caller
    drew the nonces of several fields at once (one system call per event, not per field)."""
    nonce, plain = nonce or os.urandom(_NONCE), canonical_value(value)
    token = base64.urlsafe_b64encode(nonce + cipher.encrypt(nonce, plain, aad)).decode()
    return token, hashlib.sha256(_salt_of(salt_key, aad) + plain).digest()[:_COMMITMENT]


def _open_value(cipher: AESGCM, event_id: UUID, path: str, token: Any, aad: bytes) -> Any:
    """``aad`` is :func:`_aad` of ``event_id`` and ``path``, made by the caller (once per event's id)."""
    try:
        raw = base64.urlsafe_b64decode(str(token).encode("ascii"))
        return fast_json.loads(cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad))
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SealingError(f"field {path} of event {event_id} does not open (altered?)") from exc


def canonical_value(value: Any) -> bytes:
    """The bytes a value is committed as: JSON, keys sorted, no spaces, UTF-8 (orjson: the same bytes as
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, several times faster
    on the writer's hot path; ``tests/unit/test_sealing_canonical.py`` holds them equal)."""
    return fast_json.dumps_sorted(value)


def commitment(salt: bytes, value: Any) -> bytes:
    """A seal mark's commitment to ``value``: the first 128 bits of ``sha256(salt || canonical value)``.
    Checking one needs no key, only the salt an export shows."""
    return hashlib.sha256(salt + canonical_value(value)).digest()[:_COMMITMENT]


def _salt_of(salt_key: bytes, aad: bytes) -> bytes:
    """The salt of the field ``aad`` (:func:`_aad`) names: keyed BLAKE2b, secret without the data key."""
    return hashlib.blake2b(aad, key=salt_key, digest_size=_COMMITMENT).digest()


def split_commitments(text: Any, count: int) -> list[bytes] | None:
    """A mark's ``commitments`` (URL-safe base64 of 16 bytes per sealed field, data paths then metadata
    paths) as a list, or None when it is not ``count`` of them."""
    try:
        raw = base64.urlsafe_b64decode(str(text).encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != count * _COMMITMENT:
        return None
    return [raw[at : at + _COMMITMENT] for at in range(0, len(raw), _COMMITMENT)]


Leaves = list[tuple[str, Any, Any]]
"""Personal leaves of a document: (concrete path, container, key), as :func:`contracts.personal.leaves`."""


def _personal_leaves(
    event_type: str, data: dict[str, Any], metadata: dict[str, Any]
) -> tuple[Leaves, Leaves]:
    in_data = [leaf for path in personal_paths(event_type, data) for leaf in leaves(data, path)]
    in_meta = [leaf for path in PERSONAL_METADATA for leaf in leaves(metadata, path)]
    return in_data, in_meta


async def _customer_keys(conn: Conn, customers: Iterable[UUID]) -> dict[UUID, CustomerKey]:
    """The key of each customer, made (and wrapped) for those who have none yet, in one round trip."""
    wanted = sorted(set(customers))
    fresh = [(uuid4(), customer, _wrap(customer, AESGCM.generate_key(bit_length=256))) for customer in wanted]
    cur = await conn.execute(
        "WITH made AS (INSERT INTO customer_keys (key_id, customer_id, wrapped_key)"
        "  SELECT * FROM unnest(%(ids)b::uuid[], %(customers)b::uuid[], %(keys)b::bytea[])"
        "  ON CONFLICT (customer_id) DO NOTHING RETURNING key_id, customer_id, wrapped_key)"
        " SELECT key_id, customer_id, wrapped_key FROM made"
        " UNION ALL SELECT key_id, customer_id, wrapped_key FROM customer_keys"
        " WHERE customer_id = ANY(%(customers)b::uuid[])",
        {
            "ids": [key_id for key_id, _, _ in fresh],
            "customers": wanted,
            "keys": [wrapped for _, _, wrapped in fresh],
        },
    )
    return {row[1]: CustomerKey(row[0], row[1], _bytes(row[2])) for row in await cur.fetchall()}


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


@dataclass(frozen=True)
class Sealable:
    """One event on its way into the store: the JSON that will be inserted."""

    event_id: UUID
    event_type: str
    data: dict[str, Any]
    metadata: dict[str, Any]


async def seal(conn: Conn, events: Sequence[tuple[str, Sealable]]) -> list[Sealable]:
    """``events`` (each with the stream it goes to) with their personal fields sealed under their
    customer's key (made on first use), in one round trip however many customers; for a customer
    whose key is destroyed the fields are written erased. Others pass unchanged.

    Each ``data`` is sealed in place (the caller hands over a fresh dump); ``metadata`` is copied.
    """
    subjects: dict[UUID, tuple[UUID, Leaves]] = {}  # event id -> (its customer, its data's personal leaves)
    prepared: dict[UUID, _Prepared] = {}  # customer -> its key made ready once for the batch
    for stream_id, event in events:
        customer = subject_customer(stream_id, event.metadata, event.data)
        if customer is None:
            continue
        in_data, in_meta = _personal_leaves(event.event_type, event.data, event.metadata)
        if in_data or in_meta:
            subjects[event.event_id] = (customer, in_data)
    if not subjects:
        return [event for _, event in events]
    _master()  # refuse before touching the database when no master key is configured
    keys = await _customer_keys(conn, (customer for customer, _ in subjects.values()))
    sealed: list[Sealable] = []
    for _, event in events:
        subject = subjects.get(event.event_id)
        if subject is None:
            sealed.append(event)
        else:
            customer, in_data = subject
            ready = prepared.get(customer)
            if ready is None:
                ready = prepared[customer] = _Prepared.of(keys[customer])
            sealed.append(_sealed(event, keys[customer], in_data, ready))
    return sealed


@dataclass(frozen=True)
class _Prepared:
    """What sealing with one key needs, looked up once per key of a batch rather than once per event."""

    cipher: AESGCM | None
    salt_key: bytes | None
    key_id: str

    @classmethod
    def of(cls, key: CustomerKey) -> _Prepared:
        return cls(key.cipher(), key.salt_key(), str(key.key_id))


def _sealed(
    event: Sealable, key: CustomerKey, in_data: Leaves | None = None, ready: _Prepared | None = None
) -> Sealable:
    """``event`` sealed with ``key``; ``in_data``: the personal leaves of its data, when already found
    (the walk is a visible part of the writer's cost, so :func:`seal` does it once); ``ready``: ``key``
    prepared (:class:`_Prepared`), when the caller seals several events with it."""
    data, metadata = event.data, dict(event.metadata)  # data is the caller's fresh dump; metadata is shared
    if in_data is None:
        in_data, in_meta = _personal_leaves(event.event_type, data, metadata)
    else:
        in_meta = [leaf for path in PERSONAL_METADATA for leaf in leaves(metadata, path)]  # on the copy
    ready = ready or _Prepared.of(key)
    cipher, salt_key, commitments = ready.cipher, ready.salt_key, bytearray()
    if cipher is None or salt_key is None:
        for _, container, slot in (*in_data, *in_meta):
            container[slot] = ERASED
        return Sealable(event.event_id, event.event_type, data, metadata)
    aad_prefix = f"{event.event_id}/"  # _aad(event_id, where), without formatting the id per field
    fields = [*in_data, *((f"metadata.{path}", c, s) for path, c, s in in_meta)]
    nonces = os.urandom(_NONCE * len(fields))
    for at, (where, container, slot) in enumerate(fields):
        container[slot], committed = _seal_value(
            cipher,
            salt_key,
            (aad_prefix + where).encode(),
            container[slot],
            nonces[at * _NONCE : (at + 1) * _NONCE],
        )
        commitments += committed
    metadata[SEALED] = {
        "v": SEAL_FORMAT,
        "key": ready.key_id,
        "data": [path for path, _, _ in in_data],
        "metadata": [path for path, _, _ in in_meta],
        "commitments": base64.urlsafe_b64encode(commitments).decode(),
    }
    return Sealable(event.event_id, event.event_type, data, metadata)


def is_sealed(metadata: Any) -> bool:
    """Whether a stored event's metadata says personal fields of it are sealed."""
    return _seal_mark(metadata) is not None


def _seal_mark(metadata: Any) -> dict[str, Any] | None:
    mark = metadata.get(SEALED) if isinstance(metadata, dict) else None
    return mark if isinstance(mark, dict) else None


Row = tuple[UUID, dict[str, Any], dict[str, Any]]
"""A stored event as :func:`open_sealed` takes it: (event id, data, metadata)."""

#: Reads the keys with these ids (one query); a synchronous reader passes its own (tests, tools).
KEYS_QUERY: Final = "SELECT key_id, customer_id, wrapped_key FROM customer_keys WHERE key_id = ANY(%s)"


def needed_keys(rows: Sequence[Row]) -> set[UUID]:
    """The ids of the keys that open ``rows`` (each parsed once, however many rows it sealed)."""
    return set(map(UUID, {mark["key"] for _, _, metadata in rows if (mark := _seal_mark(metadata))}))


def key_of(row: Sequence[Any]) -> CustomerKey:
    """A :data:`KEYS_QUERY` row as a key."""
    return CustomerKey(row[0], row[1], _bytes(row[2]))


Salts = dict[str, dict[str, str]]
"""The salts of one event's sealed fields: ``{"data": {path: salt}, "metadata": {path: salt}}``, each
URL-safe base64; none once the key is destroyed. An export shows them next to the opened values."""


def open_with(
    rows: Sequence[Row], keys: Mapping[UUID, CustomerKey], salts: dict[UUID, Salts] | None = None
) -> None:
    """Open the sealed fields of ``rows`` in place with ``keys`` (pure: no I/O); a missing or destroyed
    key leaves :data:`ERASED`. Rows without a seal mark (plaintext, older stores) are left alone.
    ``salts``, when given, receives the salts of each format-2 row (see :data:`Salts`).

    Every read of the log goes through here, so the work per field is kept to the decryption: the
    cipher is looked up once per key of the batch, not once per row; salts are derived only when asked."""
    ciphers: dict[str, AESGCM | None] = {}
    for event_id, data, metadata in rows:
        mark = _seal_mark(metadata)
        if mark is None:
            continue
        key_text = mark["key"]
        if key_text not in ciphers:
            key = keys.get(UUID(key_text))
            ciphers[key_text] = key.cipher() if key is not None else None
        cipher = ciphers[key_text]
        if salts is not None and mark.get("v") == SEAL_FORMAT:
            salts[event_id] = _salts(keys.get(UUID(key_text)), event_id, mark)
        _open_paths(cipher, event_id, data, mark.get("data", []), "")
        _open_paths(cipher, event_id, metadata, mark.get("metadata", []), "metadata.")
        del metadata[SEALED]


def _salts(key: CustomerKey | None, event_id: UUID, mark: dict[str, Any]) -> Salts:
    salt_key = None if key is None else key.salt_key()
    if salt_key is None:
        return {"data": {}, "metadata": {}}  # erased: nothing to prove

    def encoded(path: str) -> str:
        return base64.urlsafe_b64encode(_salt_of(salt_key, _aad(event_id, path))).decode()

    return {
        "data": {path: encoded(path) for path in mark.get("data", [])},
        "metadata": {path: encoded(f"metadata.{path}") for path in mark.get("metadata", [])},
    }


async def open_sealed(
    conn: Conn,
    rows: Sequence[Row],
    known: dict[UUID, CustomerKey] | None = None,
    salts: dict[UUID, Salts] | None = None,
) -> None:
    """:func:`open_with` the keys read from the store: one query for the whole batch (none for keys
    already in ``known``, which a long reader such as an export keeps); ``salts`` as there."""
    keys = {} if known is None else known
    wanted = needed_keys(rows) - keys.keys()
    if wanted:
        cur = await conn.execute(KEYS_QUERY, (list(wanted),))
        keys.update((key.key_id, key) for key in map(key_of, await cur.fetchall()))
    open_with(rows, keys, salts)


def _open_paths(
    cipher: AESGCM | None, event_id: UUID, root: dict[str, Any], paths: list[str], prefix: str
) -> None:
    aad_prefix = f"{event_id}/{prefix}"  # _aad(event_id, prefix + path), without formatting the id per field
    for path in paths:
        container, slot = locate(root, path)
        if container is None:
            continue
        token = container[slot]
        container[slot] = (
            ERASED
            if cipher is None
            else _open_value(cipher, event_id, prefix + path, token, (aad_prefix + path).encode())
        )


@functools.lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[str | int, ...]:
    """A concrete path's steps: keys, and list indexes as ints (parsed once per path, not per event)."""
    return tuple(
        int(step[1:-1]) if step.startswith("[") else step for step in path.replace("[", ".[").split(".")
    )


def locate(root: Any, path: str) -> tuple[Any, Any]:
    """The container and key of a concrete path (``a.b[2].c``), or (None, None) when it is not there."""
    node: Any = root
    *walk, last = _steps(path)
    for step in walk:
        node = _step(node, step)
        if node is None:
            return None, None
    if isinstance(last, int):
        return (node, last) if isinstance(node, list) and last < len(node) else (None, None)
    return (node, last) if isinstance(node, dict) and last in node else (None, None)


def _step(node: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return node[step] if isinstance(node, list) and step < len(node) else None
    return node.get(step) if isinstance(node, dict) else None


async def destroy_keys(conn: Conn, customers: Iterable[UUID]) -> int:
    """Destroy the data keys of ``customers`` (made if missing, so later appends are written erased).

    Returns how many keys were destroyed now. Irreversible: the wrapped key is overwritten with NULL.
    """
    wanted = sorted(set(customers))
    await conn.execute(
        "INSERT INTO customer_keys (key_id, customer_id, wrapped_key, destroyed_at)"
        " SELECT gen_random_uuid(), c, NULL, now() FROM unnest(%s::uuid[]) AS c"
        " ON CONFLICT (customer_id) DO NOTHING",
        (wanted,),
    )
    cur = await conn.execute(
        "UPDATE customer_keys SET wrapped_key = NULL, destroyed_at = now()"
        " WHERE customer_id = ANY(%s) AND wrapped_key IS NOT NULL",
        (wanted,),
    )
    return cur.rowcount


async def destroyed(conn: Conn, customers: Iterable[UUID]) -> set[UUID]:
    """Which of ``customers`` have been forgotten (their key destroyed)."""
    cur = await conn.execute(
        "SELECT customer_id FROM customer_keys WHERE customer_id = ANY(%s) AND wrapped_key IS NULL",
        (list(customers),),
    )
    return {row[0] for row in await cur.fetchall()}
