"""Opaque pagination cursors, so clients cannot depend on what is inside them."""

from __future__ import annotations

import base64
import binascii


class BadCursor(ValueError):
    """A cursor this API did not issue."""


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError("position is not plain digits")
        position = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("cursor is not one this API issued") from exc
    if prefix != "p" or position < 0:
        raise BadCursor("cursor is not one this API issued")
    return position
