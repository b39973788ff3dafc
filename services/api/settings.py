"""Settings of the read API."""

from __future__ import annotations

from pydantic import Field

from plumbing.settings import StoreSettings


class ApiSettings(StoreSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_pool_size: int = Field(default=8, ge=1)
