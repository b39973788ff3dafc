"""A content-addressed blob store: raw webhook deliveries, attachments, evidence for auditors.

Bytes are named by their SHA-256, so storing the same delivery twice (a provider's retry) stores
it once, a reference can never point at different bytes than it was made for, and a reader can
check what it got. ``put`` returns only once the bytes are durable (written, fsynced, renamed into
place, directory fsynced): the ingress acknowledges a webhook only after its evidence is safe.

Concurrent ``put`` calls are written as one batch (group commit): one worker-thread hop per batch
instead of one per blob, and each folder of the batch fsynced once. A thread hop per blob, with its
wake-ups and GIL hand-overs against a busy event loop, cost more than the writes themselves.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import Field

from contracts import BlobRef
from plumbing.settings import HubSettings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_T = TypeVar("_T")


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
        # Puts waiting for the batch being written to finish, per event loop (an entry exists only
        # while that loop has a batch in flight), and the tasks writing them.
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Put]] = {}
        self._committers: set[asyncio.Task[None]] = set()

    def path_of(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives; refuses anything but 64 lowercase hex digits."""
        if not _HEX64.match(sha256):
            raise ValueError("a blob name is 64 lowercase hexadecimal digits")
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes) -> BlobRef:
        ref = blob_ref(data)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        waiting = self._waiting.get(loop)
        if waiting is None:
            waiting = self._waiting[loop] = []
            committer = loop.create_task(self._commit(loop, waiting))
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        waiting.append(_Put(self.path_of(ref.sha256), data, done))
        await done
        return ref

    async def _commit(self, loop: asyncio.AbstractEventLoop, waiting: list[_Put]) -> None:
        """Write what is waiting as one batch, again and again until nothing is left waiting."""
        batch: list[_Put] = []
        try:
            while waiting:
                batch = waiting[:]
                waiting.clear()
                blobs = [(put.path, put.data) for put in batch]
                try:
                    failures: list[Exception | None] = list(await asyncio.to_thread(_write_batch, blobs))
                except Exception as exc:  # not the disk (that is per blob): every put of the batch fails
                    failures = [exc] * len(batch)
                for put, failure in zip(batch, failures, strict=True):
                    _settle(put.done, failure)
                batch = []
        finally:
            del self._waiting[loop]
            for put in [*batch, *waiting]:  # only when cancelled (the loop is closing)
                put.done.cancel()

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
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {path.name}") from None


@dataclass(frozen=True)
class _Put:
    path: Path
    data: bytes
    done: asyncio.Future[None]


def _settle(done: asyncio.Future[None], failure: Exception | None) -> None:
    if done.done():  # the caller was cancelled; the blob is stored all the same
        return
    if failure is None:
        done.set_result(None)
    else:
        done.set_exception(failure)


def _write_batch(blobs: list[tuple[Path, bytes]]) -> list[OSError | None]:
    """Store every blob durably; per blob, the error that kept it from being stored (or ``None``).

    Each blob is written to a temporary file in its folder, fsynced, and renamed into place (a reader
    sees a whole blob or none; a crash leaves at most a stray temporary file); then every folder that
    gained an entry is fsynced, once, and only then is any blob of the batch reported stored. The
    fsyncs of each step are issued together: the file system commits concurrent fsyncs together.
    """
    failures: list[OSError | None] = [None] * len(blobs)
    changed: set[Path] = set()  # folders with new entries: renamed blobs, new subfolders
    written: list[tuple[int, int, str]] = []  # blob number, open temporary file, its path
    for n, (path, data) in enumerate(blobs):
        try:
            if _stored(path, len(data)):
                continue  # content-addressed: same name, same bytes
            changed.update(_make_folder(path.parent))
            written.append((n, *_write_temporary(path.parent, data)))
        except OSError as exc:
            failures[n] = exc
    synced = _all_at_once(os.fsync, [descriptor for _, descriptor, _ in written])
    for (n, descriptor, temporary), failure in zip(written, synced, strict=True):
        try:
            os.close(descriptor)
            if failure is not None:
                raise failure
            os.replace(temporary, blobs[n][0])
        except OSError as exc:
            failures[n] = exc
            Path(temporary).unlink(missing_ok=True)
            continue
        changed.add(blobs[n][0].parent)
    folder_failure = next((f for f in _all_at_once(_fsync_dir, list(changed)) if f is not None), None)
    if folder_failure is not None:  # a blob found already there may be one placed above: fail them all
        failures = [failure or folder_failure for failure in failures]
    return failures


_SYNCERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-fsync")


def _all_at_once(sync: Callable[[_T], None], items: list[_T]) -> list[OSError | None]:
    """``sync`` of every item, concurrently (this thread takes the first); per item, its error or ``None``."""
    if not items:
        return []
    others = [_SYNCERS.submit(_attempt, sync, item) for item in items[1:]]
    return [_attempt(sync, items[0]), *(other.result() for other in others)]


def _attempt(sync: Callable[[_T], None], item: _T) -> OSError | None:
    try:
        sync(item)
    except OSError as exc:
        return exc
    return None


def _stored(path: Path, size: int) -> bool:
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the folders that gained an entry by it."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        return []
    except FileNotFoundError:
        gained = _make_folder(folder.parent)
        try:
            os.mkdir(folder)
        except FileExistsError:  # another writer made it meanwhile
            return gained
        return [*gained, folder.parent]
    return [folder.parent]


def _write_temporary(folder: Path, data: bytes) -> tuple[int, str]:
    """A new temporary file in ``folder`` holding ``data`` (not yet fsynced), still open."""
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    except BaseException:
        os.close(descriptor)
        Path(temporary).unlink(missing_ok=True)
        raise
    return descriptor, temporary


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable: on Linux a new directory entry needs its directory fsynced."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
