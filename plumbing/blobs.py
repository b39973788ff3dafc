"""A content-addressed blob store: raw webhook deliveries, attachments, evidence for auditors.

Bytes are named by their SHA-256, so storing the same delivery twice (a provider's retry) stores
it once, a reference can never point at different bytes than it was made for, and a reader can
check what it got. ``put`` returns only once the bytes are durable (written, fsynced, renamed into
place, directory fsynced): the ingress acknowledges a webhook only after its evidence is safe.

The file layout is ``<root>/sha256/<ab>/<cd>/<hex>``; blobs are never changed by the hub, and deleted
only when the customer they belong to is forgotten (``plumbing.erasure``; other retention is an
operator's decision, like the event store's).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from pydantic import Field

from contracts import BlobRef
from plumbing.settings import HubSettings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(LookupError):
    """No blob has this hash."""


class BlobCorrupted(RuntimeError):
    """The stored bytes no longer hash to their name: the store was tampered with or damaged."""


class BlobStore(Protocol):
    """Where evidence bytes live; every implementation is content-addressed by SHA-256."""

    async def put(self, data: bytes) -> BlobRef:
        """Store ``data`` durably (idempotent) and return its reference."""
        ...

    async def get(self, sha256: str) -> bytes:
        """The bytes named ``sha256``, checked against the name; raises :class:`BlobNotFound`."""
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether a blob named ``sha256`` is stored."""
        ...

    async def delete(self, sha256: str) -> None:
        """Remove the blob (erasure of a forgotten customer's evidence); raises :class:`BlobNotFound`."""
        ...


class BlobSettings(HubSettings):
    """``HUB_BLOB_DIR``: the folder of the file blob store (``<state dir>/blobs`` locally)."""

    blob_dir: Path = Field(default=Path(".state/blobs"))


def blob_ref(data: bytes) -> BlobRef:
    """The reference ``data`` gets in any blob store."""
    return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


class FileBlobStore:
    """Blobs as files under ``root``; safe for several processes sharing the folder.

    Each write goes to a temporary file in the target folder and is renamed into place, so a
    reader sees a whole blob or none, and a crash leaves at most a stray temporary file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives; refuses anything but 64 lowercase hex digits."""
        if not _HEX64.match(sha256):
            raise ValueError("a blob name is 64 lowercase hexadecimal digits")
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes) -> BlobRef:
        ref = blob_ref(data)
        await asyncio.to_thread(self._write, self.path_of(ref.sha256), data)
        return ref

    async def get(self, sha256: str) -> bytes:
        data = await asyncio.to_thread(self._read, self.path_of(sha256))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(f"blob {sha256} does not match its hash")
        return data

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    async def delete(self, sha256: str) -> None:
        path = self.path_of(sha256)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {sha256}") from None
        await asyncio.to_thread(_fsync_dir, path.parent)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.is_file() and path.stat().st_size == len(data):
            return  # content-addressed: same name, same bytes
        new_folders = [folder for folder in (path.parent, path.parent.parent) if not folder.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for folder in [path.parent, *(new.parent for new in new_folders)]:
            _fsync_dir(folder)

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {path.name}") from None


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable: on Linux a new directory entry needs its directory fsynced."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
