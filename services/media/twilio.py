"""Download one call recording's audio from Twilio.

Twilio serves a recording's media at its ``RecordingUrl`` plus ``.mp3`` or ``.wav`` (WAV without an
extension), behind HTTP basic auth (API key SID + secret, or Account SID + auth token) when the account
enforces authenticated media. It may answer with a redirect to a signed storage URL; the credentials
are not sent there (see :class:`~services.media.download.Downloader`).

Written from Twilio's public documentation and tested against a local stand-in server only: it has
never run against Twilio itself.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from services.media.download import FALLBACK_TYPE, Downloader, Media

MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}
_KNOWN_SUFFIXES = (".json", ".xml", ".mp3", ".wav")


def media_url(recording_url: str, media_format: str) -> str:
    """The URL of the recording's audio: its resource URL with the format as extension.

    A URL that already names a representation (``.json``, ``.wav``…) is rebased; a query string is
    dropped (Twilio's ``RecordingUrl`` has none, and it must not smuggle parameters to the API).
    """
    parts = urlsplit(recording_url)
    path = parts.path
    for suffix in _KNOWN_SUFFIXES:
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, f"{path}.{media_format}", "", ""))


class RecordingFetcher:
    """Fetches recordings through a :class:`Downloader` allowed to reach Twilio's API only."""

    def __init__(
        self,
        downloader: Downloader,
        user: str,
        password: SecretStr,
        *,
        media_format: Literal["mp3", "wav"] = "mp3",
    ) -> None:
        self._downloader = downloader
        self._auth = httpx.BasicAuth(user, password.get_secret_value())
        self._format = media_format

    async def fetch(self, recording_url: str) -> Media:
        """The recording's audio; raises ``Unfetchable`` or ``NotYetFetched``."""
        media = await self._downloader.get(media_url(recording_url, self._format), auth=self._auth)
        if media.content_type == FALLBACK_TYPE:
            return Media(media.data, MEDIA_TYPES[self._format])
        return media
