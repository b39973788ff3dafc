"""Proof that what a reader reads in an export line is what the hash chain covers (pure, no I/O, no key).

A line's ``content`` is the text the chain hashes. Its ``data`` and ``metadata`` must say exactly what
``content`` says. A sealed event's ``opened`` shows them with the personal fields opened: every value
outside the sealed paths must equal ``content`` too, and each opened value must be the plaintext of the
ciphertext the chain covers. Events sealed in format 2 record, in the chain-covered seal mark, a
commitment ``sha256(salt || canonical value)`` per field, and the line carries each opened field's salt:
recomputing the commitment proves the value. A field that reads ``[erased]`` without a salt claims
nothing (its customer was forgotten) and is counted; an event sealed in format 1 (before commitments)
has its opened values counted as not provable, its other bytes still checked.

Values are compared as canonical JSON bytes, never with ``==``: ``1``, ``1.0`` and ``true`` are equal
in Python and different to a reader.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from dataclasses import dataclass, field
from typing import Any, Final

from contracts.personal import ERASED
from plumbing.eventstore.sealing import SEAL_FORMAT, SEALED, commitment, locate, split_commitments

_OPENED_KEYS: Final = frozenset({"data", "metadata", "salts"})
_SECTIONS: Final = ("data", "metadata")
_SALT_BYTES: Final = 16


def canonical(value: Any) -> str:
    """A JSON value as canonical text (sorted keys, no spaces): how readable values are compared."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class OpenedProof:
    """What the check of one line's ``opened`` found."""

    problems: list[str] = field(default_factory=list)
    proven: int = 0  # opened values whose commitment matches
    erased: int = 0  # values read as erased (no salt: they claim nothing)
    unprovable: int = 0  # opened values of an event sealed before commitments (format 1)


def prove_opened(content_data: Any, content_metadata: Any, opened: Any) -> OpenedProof:
    """Check ``opened`` against the chain-covered ``data`` and ``metadata`` of the line's ``content``."""
    proof = OpenedProof()
    mark = content_metadata.get(SEALED) if isinstance(content_metadata, dict) else None
    if not isinstance(mark, dict):
        proof.problems.append("has an opened copy but the chain does not mark the event sealed")
        return proof
    if not isinstance(opened, dict) or not set(opened) <= _OPENED_KEYS or not set(_SECTIONS) <= set(opened):
        proof.problems.append(
            "opened must hold data, metadata (and salts if sealed with commitments), nothing else"
        )
        return proof
    version = mark.get("v", 1)
    if version not in (1, SEAL_FORMAT):
        proof.problems.append(f"the seal mark has an unknown format {version!r}")
        return proof
    salts = _salts_shown(opened, version == SEAL_FORMAT)
    if salts is None:
        proof.problems.append(
            "opened.salts must hold data and metadata if the event is sealed with commitments, else be absent"
        )
        return proof
    paths = {section: mark.get(section, []) for section in _SECTIONS}
    if not all(
        isinstance(found, list) and all(isinstance(p, str) for p in found) for found in paths.values()
    ):
        proof.problems.append("the seal mark's paths are malformed")
        return proof
    count = len(paths["data"]) + len(paths["metadata"])
    committed = (
        split_commitments(mark.get("commitments"), count) if version == SEAL_FORMAT else [None] * count
    )
    if committed is None:
        proof.problems.append("the seal mark's commitments do not match its paths")
        return proof
    split = len(paths["data"])
    for section, content, commitments in (
        ("data", content_data, committed[:split]),
        ("metadata", content_metadata, committed[split:]),
    ):
        found = _Section(proof, section, mark, salts.get(section, {}), paths[section], commitments)
        found.check(content, opened[section])
    return proof


@dataclass
class _Section:
    """``opened.data`` or ``opened.metadata`` against the chain-covered one."""

    proof: OpenedProof
    name: str
    mark: dict[str, Any]
    salts: Any
    paths: list[str]
    commitments: list[bytes] | list[None]  # one per path; None: sealed before commitments

    def check(self, content: Any, opened: Any) -> None:
        if not isinstance(opened, dict) or not isinstance(self.salts, dict):
            self.proof.problems.append(f"opened.{self.name} is malformed")
            return
        if extra := set(self.salts) - set(self.paths):
            self.proof.problems.append(
                f"opened.salts.{self.name} names fields that are not sealed: {sorted(extra)}"
            )
        rest = copy.deepcopy(opened)
        if self.name == "metadata":
            if SEALED in rest:
                self.proof.problems.append(
                    f"opened.metadata carries {SEALED}, which a reader would take as said"
                )
            rest[SEALED] = self.mark  # the mark is chain-covered; the opened copy omits it
        for path, committed in zip(self.paths, self.commitments, strict=True):
            sealed_in, sealed_slot = _locate(content, path)
            shown_in, shown_slot = _locate(rest, path)
            if sealed_in is None or shown_in is None:
                continue  # an absent field on either side makes the comparison below fail
            value = shown_in[shown_slot]
            shown_in[shown_slot] = sealed_in[sealed_slot]  # put the ciphertext back: the rest must be equal
            self._value(path, value, committed)
        if canonical(rest) != canonical(content):
            self.proof.problems.append(
                f"opened.{self.name} differs from the hashed content outside the sealed fields"
            )

    def _value(self, path: str, value: Any, committed: bytes | None) -> None:
        where = f"opened.{self.name}.{path}"
        salt_text = self.salts.get(path)
        if salt_text is None:
            if value == ERASED:
                self.proof.erased += 1
            elif committed is not None:
                self.proof.problems.append(f"{where} shows a value without the salt that proves it")
            else:
                self.proof.unprovable += 1
            return
        salt = _salt(salt_text)
        if salt is None:
            self.proof.problems.append(f"{where}: its salt is not {_SALT_BYTES} bytes of URL-safe base64")
        elif commitment(salt, value) != committed:
            self.proof.problems.append(f"{where} is not the value the chain sealed (commitment differs)")
        else:
            self.proof.proven += 1


def _salts_shown(opened: dict[str, Any], committed: bool) -> dict[str, Any] | None:
    """``opened.salts`` when it has the shape the exporter writes (sections data and metadata for an event
    sealed with commitments, none otherwise), else None."""
    if not committed:
        return None if "salts" in opened else {section: {} for section in _SECTIONS}
    salts = opened.get("salts")
    return salts if isinstance(salts, dict) and set(salts) == set(_SECTIONS) else None


def _locate(root: Any, path: str) -> tuple[Any, Any]:
    try:
        return locate(root, path)
    except ValueError:  # not a path the sealer writes (a list index that is not a number)
        return None, None


def _salt(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == _SALT_BYTES else None
