"""Settings of the media fetcher: Twilio recordings (``HUB_TWILIO_*`` credentials, ``HUB_RECORDING_*``
tuning) and the files of chat and social messages (``HUB_TELEGRAM_BOT_TOKEN``, ``HUB_META_ACCESS_TOKEN``,
``HUB_MEDIA_*`` tuning).

Credentials have no defaults: a provider without them is skipped (logged once at start), so a stack
without provider accounts (the local demo) still runs. Messenger, Instagram and VK need none: their
webhooks carry links that are their own authorisation (``HUB_MEDIA_FETCH_LINKS=false`` skips them).
Every provider has an allow-list of ``scheme://host[:port]`` origins (``*.`` for subdomains) the
fetcher may connect to; tests point them at a local server. Twilio credentials are
either an API key (``HUB_TWILIO_API_KEY_SID`` + ``HUB_TWILIO_API_KEY_SECRET``, Twilio's recommendation)
or the account's ``HUB_TWILIO_ACCOUNT_SID`` + ``HUB_TWILIO_AUTH_TOKEN``; half a pair is refused.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from plumbing.blobs import BlobSettings
from plumbing.settings import StoreSettings


class MediaSettings(StoreSettings, BlobSettings):
    """PostgreSQL (log and checkpoints), the blob folder, provider credentials and download limits."""

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
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    meta_access_token: SecretStr | None = Field(
        default=None, description="WhatsApp Cloud API access token (a system user's), to read media objects"
    )
    whatsapp_graph_url: str = "https://graph.facebook.com/v21.0"
    media_fetch_links: bool = Field(default=True, description="fetch Messenger, Instagram and VK file links")
    media_telegram_allowed_origins: tuple[str, ...] = ("https://api.telegram.org",)
    media_whatsapp_allowed_origins: tuple[str, ...] = (
        "https://graph.facebook.com",
        "https://lookaside.fbsbx.com",
    )
    media_meta_allowed_origins: tuple[str, ...] = (
        "https://*.fbcdn.net",
        "https://*.fbsbx.com",
        "https://*.cdninstagram.com",
    )
    media_vk_allowed_origins: tuple[str, ...] = (
        "https://vk.com",
        "https://*.vk.com",
        "https://*.vk.me",
        "https://*.userapi.com",
        "https://*.vkuserphoto.ru",
    )
    media_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="larger files are refused")
    media_timeout_s: float = Field(default=60.0, gt=0, description="per HTTP request")
    media_fetch_attempts: int = Field(default=5, ge=1, le=20, description="per file, per batch")
    media_retry_max_wait_s: float = Field(default=30.0, ge=0, description="cap of the backoff between")
    media_not_found_grace_s: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="an API's 404 (Telegram, WhatsApp) this long after the message is final; CDN 404s"
        " (expired links) are final at once",
    )
    media_batch_size: int = Field(default=100, ge=1, le=10_000)
    media_idle_timeout_s: float = Field(default=2.0, gt=0, description="poll interval if a NOTIFY is missed")

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
