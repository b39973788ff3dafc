"""One webhook delivery as the verifiers and translators see it: the raw bytes and where they came."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers


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
