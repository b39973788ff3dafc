"""The file blob store's group commit: concurrent puts are written as one batch, and each put still
returns only once its own blob is durable, or fails alone."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

import plumbing.blobs as blobs
from plumbing.blobs import FileBlobStore, blob_ref


async def test_concurrent_puts_are_all_stored_whole_and_once(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    datas = [os.urandom(100) for _ in range(50)] + [b"same"] * 5
    refs = await asyncio.gather(*(store.put(data) for data in datas))
    for data, ref in zip(datas, refs, strict=True):
        assert ref.sha256 == hashlib.sha256(data).hexdigest()
        assert await store.get(ref.sha256) == data
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 51  # the five equal blobs are one file
    assert not any(path.name.startswith(".incoming") for path in files)


async def test_a_blob_that_cannot_be_written_fails_alone(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    bad = os.urandom(8)
    prefix = blob_ref(bad).sha256[:2]
    (tmp_path / "sha256").mkdir()
    (tmp_path / "sha256" / prefix).write_bytes(b"a file where a folder should be")
    good = [data for data in (os.urandom(100) for _ in range(10)) if blob_ref(data).sha256[:2] != prefix]

    puts = [store.put(bad), *(store.put(data) for data in good)]
    results = await asyncio.gather(*puts, return_exceptions=True)

    assert isinstance(results[0], OSError)
    assert not any(isinstance(result, BaseException) for result in results[1:])
    for data in good:
        assert await store.get(blob_ref(data).sha256) == data


async def test_a_cancelled_caller_does_not_break_the_batch_it_was_in(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    cancelled = asyncio.ensure_future(store.put(b"one"))
    kept = asyncio.ensure_future(store.put(b"two"))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await kept == blob_ref(b"two")
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    later = await store.put(b"three")
    assert await store.get(later.sha256) == b"three"


def test_one_store_serves_one_event_loop_after_another(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    first = asyncio.run(store.put(b"a"))
    second = asyncio.run(store.put(b"b"))
    assert asyncio.run(store.get(first.sha256)) == b"a"
    assert asyncio.run(store.get(second.sha256)) == b"b"


def test_every_blob_file_is_fsynced_before_its_put_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(blobs.os, "fsync", recording_fsync)
    store = FileBlobStore(tmp_path)

    async def put_four() -> list[str]:
        return [ref.sha256 for ref in await asyncio.gather(*(store.put(os.urandom(10)) for _ in range(4)))]

    names = asyncio.run(put_four())
    temporaries = [path for path in synced if "/.incoming-" in path]
    assert len(temporaries) == 4  # each blob's bytes, before its rename into place
    folders = {str(store.path_of(name).parent) for name in names}
    assert folders <= set(synced)  # and the folder holding each new name
