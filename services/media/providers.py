"""How each chat and social provider serves a message's files; each turns a :class:`MediaRef` into bytes.

Written from the providers' public documentation and tested against local stand-in servers only:
none has run against the real APIs.

* **Telegram** (Bot API): ``GET <api>/bot<token>/getFile?file_id=…`` answers ``{"ok": true, "result":
  {"file_path": …}}``; the file is then at ``<api>/file/bot<token>/<file_path>`` (valid for an hour).
  Bots may download files of up to 20 MB only. The token is part of both URLs: they are never logged.
* **WhatsApp Cloud API**: ``GET <graph>/<media id>`` with the access token as bearer answers ``{"url",
  "mime_type", "file_size"…}``; the URL (Meta's ``lookaside.fbsbx.com``, valid for minutes) is
  downloaded with the same bearer token.
* **Messenger, Instagram and VK**: the webhook carries the file's URL (Meta's signed CDN links, VK's
  public links), fetched without credentials.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Protocol
from urllib.parse import quote, urlencode

from pydantic import SecretStr

from contracts import MediaRef
from services.media.download import FALLBACK_TYPE, Downloader, Media, Unfetchable

#: Bots cannot download bigger files (Bot API ``getFile``).
TELEGRAM_MAX_BYTES = 20 * 1024 * 1024
#: Cap of the small JSON answers that name a file (``getFile``, the WhatsApp media object).
METADATA_MAX_BYTES = 64 * 1024


class MediaFetcher(Protocol):
    """Downloads the file a message referenced."""

    async def fetch(self, ref: MediaRef) -> Media: ...


def _json_object(media: Media) -> dict[str, object]:
    try:
        value = json.loads(media.data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Unfetchable("bad_response") from None
    if not isinstance(value, dict):
        raise Unfetchable("bad_response")
    return value


class UrlFetcher:
    """Messenger, Instagram and VK: the URL in the webhook is the file."""

    def __init__(self, downloader: Downloader) -> None:
        self._downloader = downloader

    async def fetch(self, ref: MediaRef) -> Media:
        if ref.url is None:
            raise Unfetchable("no_url")
        return await self._downloader.get(ref.url)


class TelegramFetcher:
    """Telegram's two steps: ``getFile`` for the path, then the file itself."""

    def __init__(self, downloader: Downloader, token: SecretStr, api_url: str = "https://api.telegram.org"):
        self._downloader = downloader
        self._token = token
        self._api = api_url.rstrip("/")

    async def fetch(self, ref: MediaRef) -> Media:
        if ref.media_id is None:
            raise Unfetchable("no_media_id")
        if ref.size_bytes is not None and ref.size_bytes > TELEGRAM_MAX_BYTES:
            raise Unfetchable("too_large")  # getFile would refuse it: do not ask
        bot = f"bot{self._token.get_secret_value()}"
        answer = await self._downloader.get(
            f"{self._api}/{bot}/getFile?{urlencode({'file_id': ref.media_id})}", max_bytes=METADATA_MAX_BYTES
        )
        path = telegram_file_path(_json_object(answer))
        media = await self._downloader.get(f"{self._api}/file/{bot}/{quote(path, safe='/')}")
        if media.content_type != FALLBACK_TYPE:
            return media
        guessed, _ = mimetypes.guess_type(path)
        return Media(media.data, ref.content_type or guessed or FALLBACK_TYPE)


def telegram_file_path(answer: dict[str, object]) -> str:
    """The ``file_path`` of a ``getFile`` answer, refused unless it stays under the bot's file folder."""
    result = answer.get("result")
    if answer.get("ok") is not True or not isinstance(result, dict):
        raise Unfetchable("rejected")
    path = result.get("file_path")
    if not isinstance(path, str) or not path or len(path) > 1000:
        raise Unfetchable("no_file_path")
    if (
        path.startswith("/")
        or ".." in path.split("/")
        or any(ch in path for ch in "?#\\")
        or not path.isprintable()
    ):
        raise Unfetchable("bad_file_path")
    return path


class WhatsAppFetcher:
    """WhatsApp's two steps: the media object for its URL, then the URL, both with the bearer token."""

    def __init__(
        self, downloader: Downloader, token: SecretStr, graph_url: str = "https://graph.facebook.com/v21.0"
    ):
        self._downloader = downloader
        self._token = token
        self._graph = graph_url.rstrip("/")

    async def fetch(self, ref: MediaRef) -> Media:
        media_id = ref.media_id or ""
        if not (media_id.isascii() and media_id.isdigit()):
            raise Unfetchable("bad_media_id")  # WhatsApp media ids are numbers: nothing else reaches the URL
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        answer = _json_object(
            await self._downloader.get(
                f"{self._graph}/{media_id}", headers=headers, max_bytes=METADATA_MAX_BYTES
            )
        )
        url, mime_type, size = answer.get("url"), answer.get("mime_type"), answer.get("file_size")
        if not isinstance(url, str) or not url:
            raise Unfetchable("no_url")
        if isinstance(size, int) and size > self._downloader.max_bytes:
            raise Unfetchable("too_large")
        media = await self._downloader.get(url, headers=headers)
        if media.content_type == FALLBACK_TYPE and isinstance(mime_type, str) and mime_type:
            return Media(media.data, mime_type[:200])
        return media
