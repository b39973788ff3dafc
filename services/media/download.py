"""One HTTP download with the guards every provider needs: allow-listed hosts (every redirect hop
included), a size cap, the client's timeouts, and bounded retries of transient failures (tenacity).

What a status means differs per provider API (Twilio answers 404 while a recording is processed, a
CDN answers 404 for an expired link), so each :class:`Downloader` is given its classifier.
Credentials (``auth``, ``headers``) are sent only to the origin of the URL asked for, never to a
redirect target elsewhere. Exceptions carry a short reason word and the HTTP status, never the URL:
Telegram's file URLs contain the bot token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.media.hosts import is_allowed, origin

log = structlog.get_logger()

Verdict = Literal["ok", "retry", "permanent"]
Classifier = Callable[[int], tuple[Verdict, str]]
FALLBACK_TYPE = "application/octet-stream"


class Unfetchable(Exception):
    """The media cannot be fetched, and trying again will not change that (403, 410, too large…)."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason if http_status is None else f"{reason} (HTTP {http_status})")
        self.reason = reason
        self.http_status = http_status


class NotYetFetched(Exception):
    """Every attempt failed transiently (5xx, timeout, 401, a 404 the provider may still fix)."""

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason if http_status is None else f"{reason} (HTTP {http_status})")
        self.reason = reason
        self.http_status = http_status


class _Retry(NotYetFetched):
    """One attempt failed transiently; tenacity retries it."""


@dataclass(frozen=True)
class Media:
    """Downloaded bytes and the type the provider said they have."""

    data: bytes
    content_type: str


def classify(status: int) -> tuple[Verdict, str]:
    """What an HTTP status means for a download, with a short reason word.

    404 is retried: an API may report media before it is ready (Twilio recordings), or answer 404 for a
    wrong token (Telegram). 401 is retried too: it says our credentials are wrong, not the media, and
    marking every file unavailable during a credential mistake would lose them all. 403 and 410 belong
    to the media and are final.
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


def classify_cdn(status: int) -> tuple[Verdict, str]:
    """Like :func:`classify`, but a 404 is final: a CDN link that is not found has expired."""
    if status == 404:
        return "permanent", "not_found"
    return classify(status)


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise Unfetchable("too_large", response.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise Unfetchable("too_large", response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(response: httpx.Response) -> str | None:
    declared = response.headers.get("content-type", "").split(";")[0].strip()
    return declared[:200] or None


class Downloader:
    """Downloads with one shared HTTP client (owned by the caller); ``timeout_s`` per request, or the
    client's.

    ``redirects_anywhere`` lets a redirect leave the allow-list for another https host (Twilio sends
    recordings on to signed storage URLs); credentials are dropped there all the same.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allowed: tuple[str, ...],
        max_bytes: int,
        classifier: Classifier = classify,
        attempts: int = 5,
        first_wait_s: float = 1.0,
        max_wait_s: float = 30.0,
        redirects_anywhere: bool = False,
        max_redirects: int = 5,
        timeout_s: float | None = None,
    ) -> None:
        self._client = client
        self._allowed = allowed
        self.max_bytes = max_bytes
        self._classify = classifier
        self._attempts = attempts
        self._first_wait_s = first_wait_s
        self._max_wait_s = max_wait_s
        self._redirects_anywhere = redirects_anywhere
        self._max_redirects = max_redirects
        self._timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)

    async def get(
        self,
        url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> Media:
        """The body at ``url``; raises :class:`Unfetchable` or :class:`NotYetFetched`.

        ``content_type`` is the served type, or :data:`FALLBACK_TYPE` when none was given.
        """
        if not is_allowed(url, self._allowed):
            raise Unfetchable("untrusted_url")
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._first_wait_s, max=self._max_wait_s),
            retry=retry_if_exception_type(_Retry),
            before_sleep=lambda state: log.info("media_fetch_retry", attempt=state.attempt_number),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._follow(url, auth, headers, max_bytes or self.max_bytes)
        except _Retry as exc:
            raise NotYetFetched(exc.reason, exc.http_status) from None
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _follow(
        self, url: str, auth: httpx.Auth | None, headers: Mapping[str, str] | None, max_bytes: int
    ) -> Media:
        current = url
        for _ in range(self._max_redirects + 1):
            own = origin(current) == origin(url)
            try:
                async with self._client.stream(
                    "GET",
                    current,
                    auth=auth if own else None,
                    headers=headers if own else None,
                    timeout=self._timeout,
                ) as response:
                    if response.is_redirect:
                        current = self._next_hop(current, response)
                        continue
                    verdict, reason = self._classify(response.status_code)
                    if verdict == "retry":
                        raise _Retry(reason, response.status_code)
                    if verdict == "permanent":
                        raise Unfetchable(reason, response.status_code)
                    data = await _read_capped(response, max_bytes)
                    return Media(data, _content_type(response) or FALLBACK_TYPE)
            except httpx.TimeoutException:
                raise _Retry("timeout") from None
            except httpx.TransportError:
                raise _Retry("transport_error") from None
            except httpx.RequestError:  # an undecodable body: the answer itself is bad
                raise Unfetchable("bad_response") from None
        raise Unfetchable("too_many_redirects")

    def _next_hop(self, current: str, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise Unfetchable("bad_redirect", response.status_code)
        target: str = urljoin(current, str(location))
        if is_allowed(target, self._allowed):
            return target
        parts = urlsplit(target)
        if self._redirects_anywhere and parts.scheme == "https" and parts.username is None:
            return target
        raise Unfetchable("untrusted_redirect", response.status_code)
