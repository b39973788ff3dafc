"""Loads the sales configuration files the API decides against (read once, when the app is built)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from contracts.sales_config import (
    ConfigError,
    default_pipelines_file,
    default_staff_file,
    parse_pipelines,
    parse_staff,
)
from services.api.sales_commands import DEFAULT_KEY_TTL
from services.api.sales_deals import Rules


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def load_rules(
    pipelines_file: Path | None = None,
    staff_file: Path | None = None,
    idempotency_ttl: timedelta = DEFAULT_KEY_TTL,
) -> Rules:
    """Pipelines and staff from the given files, else from deploy/ of this checkout; :class:`ConfigError`
    stops the start when either is missing or inconsistent."""
    return Rules(
        pipelines=parse_pipelines(_read(pipelines_file or default_pipelines_file())),
        staff=parse_staff(_read(staff_file or default_staff_file())),
        idempotency_ttl=idempotency_ttl,
    )
