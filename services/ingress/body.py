"""Reading a webhook body with a hard size cap, before anything parses it."""

from __future__ import annotations

from fastapi import Request

from plumbing.http import ApiError


async def read_capped_body(request: Request, limit: int) -> bytes:
    """The raw body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    # isascii: str.isdigit accepts "²" and other digits int() refuses; the stream check below still
    # catches a body whose header lies.
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the body exceeds {limit} bytes")
