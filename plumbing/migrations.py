"""Versioned schema migrations with yoyo: each package ships its own folder of SQL files.

Migration ids are file names, so every package prefixes its files with its own name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from yoyo import get_backend, read_migrations


def _yoyo_dsn(dsn: str) -> str:
    """yoyo picks its driver from the URL scheme; we use psycopg 3."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError("expected a postgresql:// URL for migrations")
    return f"postgresql+psycopg://{rest}"


def apply_migrations(dsn: str, *folders: Path) -> None:
    """Apply every migration not applied yet, under yoyo's lock (safe with concurrent starters)."""
    backend = get_backend(_yoyo_dsn(dsn))
    migrations = read_migrations(*(str(folder) for folder in folders))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(migrations))


async def apply_migrations_async(dsn: str, *folders: Path) -> None:
    """:func:`apply_migrations` off the event loop."""
    await asyncio.to_thread(apply_migrations, dsn, *folders)
