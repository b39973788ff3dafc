"""Which sources this process follows, given its settings: a provider without credentials is skipped
(once, with a log line saying which variable is missing), so the demo runs without provider accounts."""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from services.media.download import Downloader, classify, classify_cdn
from services.media.follower import Source
from services.media.providers import MediaFetcher, TelegramFetcher, UrlFetcher, WhatsAppFetcher
from services.media.settings import MediaSettings
from services.media.sources import MessageMediaSource, RecordingSource
from services.media.twilio import RecordingFetcher

log = structlog.get_logger()

TELEGRAM = frozenset({"telegram"})
WHATSAPP = frozenset({"meta_whatsapp"})
META_LINKS = frozenset({"meta_messenger", "meta_instagram"})
VK = frozenset({"vk"})


def sources(settings: MediaSettings, client: httpx.AsyncClient) -> list[Source[Any]]:
    """Every source that can run with these settings, sharing ``client``."""
    found: list[Source[Any]] = []
    recordings = _recordings(settings, client)
    if recordings is not None:
        found.append(recordings)
    found.extend(_messages(settings, client))
    return found


def _recordings(settings: MediaSettings, client: httpx.AsyncClient) -> RecordingSource | None:
    credentials = settings.credentials()
    if credentials is None:
        log.warning("recordings_not_fetched", reason="no Twilio credentials configured (HUB_TWILIO_*)")
        return None
    downloader = Downloader(
        client,
        allowed=settings.recording_allowed_origins,
        max_bytes=settings.recording_max_bytes,
        attempts=settings.recording_fetch_attempts,
        max_wait_s=settings.recording_retry_max_wait_s,
        redirects_anywhere=True,  # Twilio may redirect to signed storage; credentials stay behind
        timeout_s=settings.recording_timeout_s,
    )
    fetcher = RecordingFetcher(downloader, *credentials, media_format=settings.recording_media_format)
    return RecordingSource(fetcher, not_found_grace_s=settings.recording_not_found_grace_s)


def _downloader(
    settings: MediaSettings, client: httpx.AsyncClient, allowed: tuple[str, ...], *, cdn: bool
) -> Downloader:
    return Downloader(
        client,
        allowed=allowed,
        max_bytes=settings.media_max_bytes,
        classifier=classify_cdn if cdn else classify,
        attempts=settings.media_fetch_attempts,
        max_wait_s=settings.media_retry_max_wait_s,
        timeout_s=settings.media_timeout_s,
    )


def _messages(settings: MediaSettings, client: httpx.AsyncClient) -> list[MessageMediaSource]:
    def source(name: str, providers: frozenset[str], fetcher: MediaFetcher) -> MessageMediaSource:
        return MessageMediaSource(
            name,
            providers,
            fetcher,
            max_bytes=settings.media_max_bytes,
            not_found_grace_s=settings.media_not_found_grace_s,
        )

    found: list[MessageMediaSource] = []
    if settings.telegram_bot_token is None:
        log.warning("media_not_fetched", provider="telegram", reason="HUB_TELEGRAM_BOT_TOKEN is not set")
    else:
        allowed = settings.media_telegram_allowed_origins
        downloader = _downloader(settings, client, allowed, cdn=False)
        fetcher = TelegramFetcher(downloader, settings.telegram_bot_token, settings.telegram_api_url)
        found.append(source("telegram", TELEGRAM, fetcher))
    if settings.meta_access_token is None:
        log.warning("media_not_fetched", provider="meta_whatsapp", reason="HUB_META_ACCESS_TOKEN is not set")
    else:
        allowed = settings.media_whatsapp_allowed_origins
        downloader = _downloader(settings, client, allowed, cdn=False)
        whatsapp = WhatsAppFetcher(downloader, settings.meta_access_token, settings.whatsapp_graph_url)
        found.append(source("whatsapp", WHATSAPP, whatsapp))
    if not settings.media_fetch_links:
        log.warning("media_not_fetched", provider="meta_messenger,meta_instagram,vk", reason="disabled")
        return found
    meta = UrlFetcher(_downloader(settings, client, settings.media_meta_allowed_origins, cdn=True))
    vk = UrlFetcher(_downloader(settings, client, settings.media_vk_allowed_origins, cdn=True))
    return [*found, source("meta", META_LINKS, meta), source("vk", VK, vk)]
