"""An export's readable copy is proven against the hash chain, offline and without a key: changing any
readable byte of a line (an amount, an opened personal value, a salt, a timestamp...) and recomputing
every unkeyed hash fails with the line named; erased values and events sealed before commitments are
counted, not failed. Synthetic exports of events sealed exactly as the store seals them (no database)."""

from __future__ import annotations

import base64
import copy
import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import IdentityKind, Money, PurchaseLine, PurchaseRecorded, Sender, normalise_identity
from contracts.customer import customer_stream
from contracts.personal import ERASED
from plumbing.eventstore import sealing
from plumbing.eventstore.sealing import (
    SEALED,
    CustomerKey,
    Sealable,
    commitment,
    open_with,
    split_commitments,
)
from plumbing.export_verify import VerifyReport, verify_export
from tests.support.export_files import GENESIS, forge_line, stored_record, with_opened, write_export

pytestmark = pytest.mark.unit

T0 = datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
CUSTOMER = uuid4()
STREAM = customer_stream(CUSTOMER)


def _key() -> CustomerKey:
    # the store makes and wraps keys in the database; the wrapping is the same here, the row is not
    return CustomerKey(uuid4(), CUSTOMER, sealing._wrap(CUSTOMER, AESGCM.generate_key(bit_length=256)))


KEY = _key()
KEYS = {KEY.key_id: KEY}


def _purchase(amount: str) -> dict[str, Any]:
    money = Money(amount=Decimal(amount), currency="USD")
    event = PurchaseRecorded(
        event_id=uuid4(),
        occurred_at=T0,
        received_at=T0,
        correlation_id="c",
        provider="shopify",
        provider_message_id=f"order-{uuid4()}",
        sender=Sender(
            identities=(normalise_identity(IdentityKind.PHONE, "+14155550123"),), display_name="Ann Smith"
        ),
        summary="#1001: 1 x Tea",
        order_id="4711",
        lines=(PurchaseLine(name="Tea", quantity=Decimal(1), unit_price=money, total=money),),
        total=money,
    )
    return event.model_dump(mode="json")


def _sealed(data: dict[str, Any], metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` and ``metadata`` as the store writes them (the sealing the append path runs)."""
    event = sealing._sealed(Sealable(UUID(data["event_id"]), data["event_type"], data, metadata), KEY)
    return event.data, event.metadata


def _sealed_format_1(data: dict[str, Any], metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """As a store sealed before commitments (no salt, no ``v``): AES-GCM of the value's JSON alone."""
    cipher = KEY.cipher()
    assert cipher is not None
    in_data, in_meta = sealing._personal_leaves(data["event_type"], data, metadata)
    targets = [*in_data, *((f"metadata.{path}", leaf, slot) for path, leaf, slot in in_meta)]
    for where, container, slot in targets:
        nonce = os.urandom(12)
        plain = json.dumps(container[slot], separators=(",", ":")).encode()
        token = nonce + cipher.encrypt(nonce, plain, f"{data['event_id']}/{where}".encode())
        container[slot] = base64.urlsafe_b64encode(token).decode()
    metadata = {
        **metadata,
        SEALED: {
            "key": str(KEY.key_id),
            "data": [leaf[0] for leaf in in_data],
            "metadata": [leaf[0] for leaf in in_meta],
        },
    }
    return data, metadata


def _records(
    seal: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]] = _sealed,
    keys: dict[UUID, CustomerKey] = KEYS,
) -> list[dict[str, Any]]:
    """Three events of one stream: a plain one, a sealed purchase, a sealed purchase with a staff reason."""
    meta = {"customer_id": str(CUSTOMER)}
    plain = {"event_id": str(uuid4()), "event_type": "sales.deal.won", "schema_version": 1, "amount": "7"}
    events = [
        (plain, dict(meta)),
        seal(_purchase("30.00"), dict(meta)),
        seal(_purchase("12.50"), {**meta, "reason": "asked on the phone by Ann"}),
    ]
    records, previous = [], GENESIS
    for version, (data, metadata) in enumerate(events):
        record = stored_record(version + 1, STREAM, version, previous, data, metadata)
        records.append(with_opened(record, keys) if SEALED in metadata else record)
        previous = record["hash"]
    return records


def _sealed_fields(records: list[dict[str, Any]]) -> int:
    marks = [json.loads(record["content"])[7].get(SEALED) for record in records]
    return sum(len(mark["data"]) + len(mark["metadata"]) for mark in marks if mark)


def _problems_of_line(report: VerifyReport, number: int) -> list[str]:
    return [problem for problem in report.problems if problem.startswith(f"line {number} ")]


def test_an_export_of_sealed_events_verifies_and_proves_every_opened_value(tmp_path: Path) -> None:
    records = _records()
    folder = write_export(tmp_path / "export", records)

    report = verify_export(folder)

    assert report.ok, report.problems
    assert _sealed_fields(records) >= 7  # each purchase: phone, name, summary...; a metadata reason
    assert (report.proven_fields, report.erased_fields, report.unprovable_events) == (
        _sealed_fields(records),
        0,
        0,
    )
    opened = json.loads((folder / "events.jsonl").read_text().splitlines()[2])["opened"]
    assert opened["metadata"]["reason"] == "asked on the phone by Ann"
    assert set(opened["salts"]["metadata"]) == {"reason"}


def test_the_issues_attack_an_amount_changed_in_the_readable_copy_and_rehashed_fails_naming_the_line(
    tmp_path: Path,
) -> None:
    folder = write_export(tmp_path / "export", _records())

    def cheaper(record: dict[str, Any]) -> None:
        record["opened"]["data"]["total"]["amount"] = "3.00"

    forge_line(folder, 2, cheaper)
    report = verify_export(folder)

    (problem,) = report.problems
    assert problem.startswith("line 2 (position 2, event ")
    assert problem.endswith(": opened.data differs from the hashed content outside the sealed fields")


def _set(*path: str | int, to: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        node: Any = record
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = to

    return change


def _swap_salts(record: dict[str, Any]) -> None:
    salts = record["opened"]["salts"]["data"]
    salts["summary"], salts["sender.display_name"] = salts["sender.display_name"], salts["summary"]


def _swap_values(record: dict[str, Any]) -> None:
    _swap_salts(record)
    data = record["opened"]["data"]
    data["summary"], data["sender"]["display_name"] = data["sender"]["display_name"], data["summary"]


def _drop_salt(record: dict[str, Any]) -> None:
    del record["opened"]["salts"]["data"]["summary"]


def _add_field(record: dict[str, Any]) -> None:
    record["note"] = "refund approved"


READABLE_CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "an amount in opened.data": _set("opened", "data", "total", "amount", to="3.00"),
    "a line total in opened.data": _set("opened", "data", "lines", 0, "total", "amount", to="0.01"),
    "a plain id in opened.data": _set("opened", "data", "order_id", to="4712"),
    "an opened personal value": _set("opened", "data", "summary", to="#1001: 9 x Tea"),
    "an opened identity": _set("opened", "data", "sender", "identities", 0, "value", to="+14155550199"),
    "an opened metadata value": _set("opened", "metadata", "reason", to="asked by e-mail"),
    "a key added to opened.metadata": _set("opened", "metadata", "actor", to="boss"),
    "the seal mark put into opened.metadata": _set("opened", "metadata", SEALED, to={"v": 2}),
    "a salt": _set("opened", "salts", "data", "summary", to=base64.urlsafe_b64encode(bytes(16)).decode()),
    "two salts swapped": _swap_salts,
    "two opened values swapped with their salts": _swap_values,
    "a salt removed from a shown value": _drop_salt,
    "an amount in data": _set("data", "total", "amount", to="3.00"),
    "an amount turned from text into a number": _set("data", "total", "amount", to=12.5),
    "the schema version turned into true": _set("schema_version", to=True),
    "recorded_at": _set("recorded_at", to="2025-06-09T12:00:01.000000Z"),
    "the position": _set("position", to=4),
    "the event type": _set("event_type", to="interaction.pos.refund"),
    "the hashed content": _set("content", to="[]"),
    "the hash": _set("hash", to="ab" * 32),
    "a field the chain does not cover": _add_field,
}


@pytest.mark.parametrize("change", READABLE_CHANGES.values(), ids=READABLE_CHANGES.keys())
def test_changing_a_readable_part_of_a_line_and_rehashing_fails_naming_the_line(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    folder = write_export(tmp_path / "export", _records())

    forge_line(folder, 3, change)
    report = verify_export(folder)

    assert not report.ok
    assert _problems_of_line(report, 3), report.problems


def _paths(node: Any, here: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in a line's JSON (objects' keys and lists' items, nested), the line's own keys included."""
    found: list[tuple[str | int, ...]] = [here] if here else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for step, child in items:
        found += _paths(child, (*here, step))
    return found


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)
LINES = _records()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=st.sampled_from([1, 2, 3]), data=st.data())
def test_any_single_change_to_a_line_is_found_after_rehashing(line: int, data: st.DataObject) -> None:
    record = LINES[line - 1]
    where = data.draw(st.sampled_from(_paths(record)), label="where")
    action = data.draw(st.sampled_from(["replace", "delete", "add a key"]), label="action")
    value = data.draw(JSON_VALUES, label="value")

    def change(found: dict[str, Any]) -> None:
        parent: Any = found
        for step in where[:-1]:
            parent = parent[step]
        target = parent[where[-1]]
        if action == "add a key" and isinstance(target, dict):
            target[f"extra-{len(target)}"] = value
        elif action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = value

    changed = copy.deepcopy(record)
    change(changed)
    if json.dumps(changed, sort_keys=True) == json.dumps(record, sort_keys=True):
        return  # the draw changed nothing a reader could see (the same value again)
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_export(Path(scratch) / "export", copy.deepcopy(LINES))
        forge_line(folder, line, change)
        report = verify_export(folder)
    assert _problems_of_line(report, line), (where, action, value)


def test_values_of_a_forgotten_customer_read_erased_carry_no_salt_and_are_counted(tmp_path: Path) -> None:
    records = _records(keys={})  # the key is destroyed
    folder = write_export(tmp_path / "export", records)

    report = verify_export(folder)

    assert report.ok, report.problems
    assert (report.proven_fields, report.erased_fields, report.unprovable_events) == (
        0,
        _sealed_fields(records),
        0,
    )
    opened = json.loads((folder / "events.jsonl").read_text().splitlines()[1])["opened"]
    assert opened["data"]["summary"] == ERASED and opened["salts"] == {"data": {}, "metadata": {}}


def test_a_value_shown_in_place_of_an_erased_one_is_refused(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", _records(keys={}))

    forge_line(folder, 2, _set("opened", "data", "summary", to="#1001: 9 x Tea"))
    report = verify_export(folder)

    assert [p.split(": ", 1)[1] for p in _problems_of_line(report, 2)] == [
        "opened.data.summary shows a value without the salt that proves it"
    ]


def test_events_sealed_before_commitments_verify_with_their_readable_copy_counted_as_not_provable(
    tmp_path: Path,
) -> None:
    records = _records(seal=_sealed_format_1)
    folder = write_export(tmp_path / "export", records)

    report = verify_export(folder)

    assert report.ok, report.problems
    assert (report.proven_fields, report.unprovable_events) == (0, 2)
    assert records[1]["opened"]["data"]["summary"] == "#1001: 1 x Tea"  # old tokens still open

    forge_line(folder, 2, _set("opened", "data", "total", "amount", to="3.00"))  # outside the sealed fields
    assert _problems_of_line(verify_export(folder), 2)


def test_format_2_opens_as_before_and_each_salt_reproduces_its_commitment_in_the_mark() -> None:
    data = _purchase("30.00")
    stored, metadata = _sealed(copy.deepcopy(data), {"customer_id": str(CUSTOMER), "reason": "by phone"})
    mark = copy.deepcopy(metadata[SEALED])
    salts: dict[UUID, sealing.Salts] = {}

    open_with([(UUID(data["event_id"]), stored, metadata)], KEYS, salts)

    assert stored == data and metadata == {"customer_id": str(CUSTOMER), "reason": "by phone"}
    (found,) = salts.values()
    assert mark["v"] == sealing.SEAL_FORMAT and list(found["data"]) == mark["data"]
    assert mark["metadata"] == ["reason"] and list(found["metadata"]) == ["reason"]
    committed = split_commitments(mark["commitments"], len(mark["data"]) + 1)
    assert committed is not None
    values = [_at(data, path) for path in mark["data"]] + ["by phone"]
    shown = [*found["data"].values(), *found["metadata"].values()]
    for value, salt, expected in zip(values, shown, committed, strict=True):
        assert commitment(base64.urlsafe_b64decode(salt), value) == expected
        assert commitment(base64.urlsafe_b64decode(salt), "another value") != expected
    assert len(set(shown)) == len(shown)  # a salt per field: showing one proves nothing about another


def test_a_destroyed_key_yields_no_salts() -> None:
    data = _purchase("30.00")
    stored, metadata = _sealed(copy.deepcopy(data), {"customer_id": str(CUSTOMER)})
    salts: dict[UUID, sealing.Salts] = {}

    open_with([(UUID(data["event_id"]), stored, metadata)], {}, salts)

    assert salts == {UUID(data["event_id"]): {"data": {}, "metadata": {}}}
    assert stored["summary"] == ERASED


def _at(data: dict[str, Any], path: str) -> Any:
    container, slot = sealing.locate(data, path)
    return container[slot]
