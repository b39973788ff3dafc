"""One webhook delivery as the verifiers and translators see it: the raw bytes and where they came."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.datastructures import Headers

_T = TypeVar("_T")


@dataclass(frozen=True)
class Delivery:
    """The raw body (verified before any parsing), its headers, and the URL the provider called.

    ``url`` is the public URL as the provider saw it (``HUB_PUBLIC_BASE_URL`` + path when configured,
    the request URL otherwise): Square and Twilio sign it together with the body.
    ``path_params`` carries the route's parameters (``/webhooks/generic/{channel}``).
    """

    body: bytes
    headers: Headers
    url: str = ""
    path_params: Mapping[str, str] = field(default_factory=dict)
    _parsed: dict[Callable[..., Any], Any] = field(default_factory=dict, compare=False, repr=False)

    def once(self, parse: Callable[[Delivery], _T]) -> _T:
        """``parse(self)``, computed on the first call only: a verifier, a translator and the attachment
        reader that need the same parsed form or message share one parse. What ``parse`` raises is not
        kept (the next call raises again). Callers only read what it returns."""
        try:
            found: _T = self._parsed[parse]
        except KeyError:
            found = self._parsed[parse] = parse(self)
        return found
