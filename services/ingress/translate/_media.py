"""References to the files a chat or social message carried (:class:`~contracts.MediaRef`), never bytes.

The media fetcher downloads them later; a translator only names them. A reference the contract could
not hold (a URL that is not http(s) or is longer than 2,000 characters, an id longer than 500) is left
out rather than refusing the message: losing a customer's words over an odd attachment would be worse.
Type, size and name are the provider's declarations, cut to the contract's limits.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts import MediaRef
from contracts.interactions import MAX_MEDIA
from services.ingress.translate._common import Node, clip

_MAX_URL = 2000
_MAX_ID = 500


def media_ref(
    kind: str,
    *,
    media_id: str | None = None,
    url: str | None = None,
    content_type: str | None = None,
    size: Node | None = None,
    filename: str | None = None,
) -> MediaRef | None:
    """The reference, or ``None`` when neither an id nor a usable URL names the file."""
    if media_id is not None and len(media_id) > _MAX_ID:
        media_id = None
    if url is not None and (len(url) > _MAX_URL or not url.lower().startswith(("https://", "http://"))):
        url = None
    if media_id is None and url is None:
        return None
    return MediaRef(
        kind=kind[:32],
        media_id=media_id,
        url=url,
        content_type=clip(content_type, 200),
        size_bytes=None if size is None else declared_size(size),
        filename=clip(filename, 300),
    )


def declared_size(node: Node) -> int | None:
    """A byte count the provider declared; anything but a non-negative integer is no declaration."""
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def kept(refs: Iterable[MediaRef | None]) -> tuple[MediaRef, ...]:
    """The references that name a file, each once, at most :data:`MAX_MEDIA` of them."""
    seen: set[tuple[str | None, str | None]] = set()
    result: list[MediaRef] = []
    for ref in refs:
        if ref is None or (ref.media_id, ref.url) in seen:
            continue
        seen.add((ref.media_id, ref.url))
        result.append(ref)
    return tuple(result[:MAX_MEDIA])
