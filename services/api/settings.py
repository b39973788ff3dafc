"""Settings of the read API: where it listens, PostgreSQL, and access control (policy, JWTs)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from plumbing.access.settings import AccessSettings
from plumbing.settings import StoreSettings


class ApiSettings(StoreSettings, AccessSettings):
    # Both parents read HUB_*; say it once more so neither parent's config silently wins.
    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_pool_size: int = Field(default=8, ge=1)
    pipelines_file: Path | None = Field(default=None, description="default: deploy/pipelines.toml")
    staff_file: Path | None = Field(default=None, description="default: deploy/staff.toml")
    blob_dir: Path = Field(default=Path(".state/blobs"), description="the blob store documents go to")
    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="largest upload (413 above)")
    idempotency_key_ttl_s: float = Field(
        default=7 * 24 * 3600, gt=0, description="how long a sales command's Idempotency-Key is remembered"
    )
