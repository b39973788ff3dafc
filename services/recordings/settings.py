"""Settings of the recordings fetcher (``HUB_TWILIO_*`` credentials, ``HUB_RECORDING_*`` tuning).

The Twilio credentials have no defaults: without them the deployable starts, logs that recordings are
not fetched and idles, so a stack without a Twilio account (the local demo) still runs. Credentials are
either an API key (``HUB_TWILIO_API_KEY_SID`` + ``HUB_TWILIO_API_KEY_SECRET``, Twilio's recommendation)
or the account's ``HUB_TWILIO_ACCOUNT_SID`` + ``HUB_TWILIO_AUTH_TOKEN``; half a pair is refused.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from plumbing.blobs import BlobSettings
from plumbing.settings import StoreSettings


class RecordingsSettings(StoreSettings, BlobSettings):
    """PostgreSQL (log and checkpoint), the blob folder, Twilio credentials and download limits."""

    twilio_account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr | None = None
    twilio_api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    twilio_api_key_secret: SecretStr | None = None
    recording_media_format: Literal["mp3", "wav"] = "mp3"
    recording_allowed_origins: tuple[str, ...] = Field(
        default=("https://api.twilio.com",),
        description="scheme://host[:port] the credentials may be sent to; other recording URLs are refused",
    )
    recording_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="larger media is refused")
    recording_timeout_s: float = Field(default=60.0, gt=0, description="per HTTP request")
    recording_fetch_attempts: int = Field(default=5, ge=1, le=20, description="per recording, per batch")
    recording_retry_max_wait_s: float = Field(default=30.0, ge=0, description="cap of the backoff between")
    recording_not_found_grace_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="a 404 for a call older than this means the recording was deleted, not that it is not"
        " ready yet: it is then recorded as unavailable instead of being retried",
    )
    recording_batch_size: int = Field(default=100, ge=1, le=10_000)
    recording_idle_timeout_s: float = Field(
        default=2.0, gt=0, description="poll interval if a NOTIFY is missed"
    )

    @model_validator(mode="after")
    def _whole_pairs(self) -> Self:
        if (self.twilio_api_key_sid is None) != (self.twilio_api_key_secret is None):
            raise ValueError("set both HUB_TWILIO_API_KEY_SID and HUB_TWILIO_API_KEY_SECRET, or neither")
        if (self.twilio_auth_token is not None) and self.twilio_account_sid is None:
            raise ValueError("HUB_TWILIO_AUTH_TOKEN needs HUB_TWILIO_ACCOUNT_SID")
        return self

    def credentials(self) -> tuple[str, SecretStr] | None:
        """Basic-auth user and password for Twilio's media URLs, or None when none are configured."""
        if self.twilio_api_key_sid is not None and self.twilio_api_key_secret is not None:
            return self.twilio_api_key_sid, self.twilio_api_key_secret
        if self.twilio_account_sid is not None and self.twilio_auth_token is not None:
            return self.twilio_account_sid, self.twilio_auth_token
        return None
