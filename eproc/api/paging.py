"""Keyset paging for the API's lists: an opaque cursor, and the absolute URL of the next page."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from flask import request

from eproc.services.errors import InvalidInput


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("r"):
            raise ValueError(cursor)
        value = int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("after: not a cursor this API gave out") from None
    if value < 0:
        raise InvalidInput("after: not a cursor this API gave out")
    return value


def next_url(**replace: str | int) -> str:
    """This request's URL with some query parameters replaced (absolute, as the spec asks)."""
    parameters = [(key, value) for key, value in request.args.items(multi=True) if key not in replace]
    parameters += [(key, str(value)) for key, value in replace.items()]
    return f"{request.base_url}?{urlencode(parameters)}"
