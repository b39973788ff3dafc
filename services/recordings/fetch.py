"""Download one recording's audio from the provider, with bounded retries and a size cap.

Twilio serves a recording's media at its ``RecordingUrl`` plus ``.mp3`` or ``.wav`` (WAV without an
extension), behind HTTP basic auth (API key SID + secret, or Account SID + auth token) when the account
enforces authenticated media. It may answer with a redirect to a signed storage URL; httpx drops the
``Authorization`` header when a redirect leaves the origin, so the credentials only go to Twilio.

Written from Twilio's public documentation and tested against a local stand-in server only: it has
never run against Twilio itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from pydantic import SecretStr
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = structlog.get_logger()

MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}
_KNOWN_SUFFIXES = (".json", ".xml", ".mp3", ".wav")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Verdict = Literal["ok", "retry", "permanent"]


class RecordingUnfetchable(Exception):
    """The recording cannot be fetched, and trying again will not change that (403, 410, too large…)."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason if http_status is None else f"{reason} (HTTP {http_status})")
        self.reason = reason
        self.http_status = http_status


class RecordingNotYetFetched(Exception):
    """Every attempt failed transiently (404 not ready yet, 5xx, timeout, 401): try again later."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason if http_status is None else f"{reason} (HTTP {http_status})")
        self.reason = reason
        self.http_status = http_status


class _Retry(RecordingNotYetFetched):
    """One attempt failed transiently; tenacity retries it."""


@dataclass(frozen=True)
class Media:
    """Downloaded audio and the type the provider said it has."""

    data: bytes
    content_type: str


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


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower-cased and with the port always written out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def is_allowed(url: str, allowed_origins: tuple[str, ...]) -> bool:
    """Whether the credentials may be sent to ``url``: only to the configured origins (Twilio's API).

    The URL comes from a signed webhook, but a credential must never follow a URL we did not expect.
    """
    return origin(url) in {origin(allowed) for allowed in allowed_origins}


def classify(status: int) -> tuple[Verdict, str]:
    """What an HTTP status means for a recording download, with a short reason word.

    404 is retried: Twilio may report the call before the recording is processed. 401 is retried too:
    it says our credentials are wrong, not the recording, and marking every recording unavailable during a
    credential mistake would lose them all. 403 and 410 belong to the recording and are final.
    """
    if 200 <= status < 300:
        return "ok", "ok"
    if status == 404:
        return "retry", "not_found"
    if status == 401:
        return "retry", "unauthorized"
    if status in (408, 425, 429) or status >= 500:
        return "retry", f"http_{status}"
    if status == 403:
        return "permanent", "forbidden"
    if status == 410:
        return "permanent", "gone"
    return "permanent", f"http_{status}"


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RecordingUnfetchable("too_large", response.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise RecordingUnfetchable("too_large", response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


class RecordingFetcher:
    """Fetches recordings with one shared HTTP client (owned by the caller)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        user: str,
        password: SecretStr,
        *,
        media_format: Literal["mp3", "wav"] = "mp3",
        allowed_origins: tuple[str, ...] = ("https://api.twilio.com",),
        max_bytes: int = 100 * 1024 * 1024,
        attempts: int = 5,
        first_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
    ) -> None:
        self._client = client
        self._auth = httpx.BasicAuth(user, password.get_secret_value())
        self._format = media_format
        self._allowed = allowed_origins
        self._max_bytes = max_bytes
        self._attempts = attempts
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s

    async def fetch(self, recording_url: str) -> Media:
        """The recording's audio; raises :class:`RecordingUnfetchable` or :class:`RecordingNotYetFetched`."""
        url = media_url(recording_url, self._format)
        if not is_allowed(url, self._allowed):
            raise RecordingUnfetchable("untrusted_url")
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._first_wait_s, max=self._max_wait_s),
            retry=retry_if_exception_type(_Retry),
            before_sleep=lambda state: log.info("recording_fetch_retry", attempt=state.attempt_number),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get(url)
        except _Retry as exc:
            raise RecordingNotYetFetched(exc.reason, exc.http_status) from exc
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _get(self, url: str) -> Media:
        try:
            async with self._client.stream("GET", url, auth=self._auth, follow_redirects=True) as response:
                verdict, reason = classify(response.status_code)
                if verdict == "retry":
                    raise _Retry(reason, response.status_code)
                if verdict == "permanent":
                    raise RecordingUnfetchable(reason, response.status_code)
                data = await _read_capped(response, self._max_bytes)
                return Media(data, self._content_type(response))
        except httpx.TimeoutException as exc:
            raise _Retry("timeout") from exc
        except httpx.TransportError as exc:
            raise _Retry("transport_error") from exc
        except httpx.RequestError as exc:  # too many redirects, undecodable body: the answer itself is bad
            raise RecordingUnfetchable("bad_response") from exc

    def _content_type(self, response: httpx.Response) -> str:
        declared = response.headers.get("content-type", "").split(";")[0].strip()
        return declared[:200] if declared else MEDIA_TYPES[self._format]
