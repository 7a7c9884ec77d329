"""Opaque page cursors: the sort key of a page's last row, base64url-encoded JSON.

A cursor holds the values the next page starts after (keyset pagination: no row is
skipped or repeated while rows are added), tagged with the list it belongs to so that a
cursor of one list is refused by another.

Examples
--------
>>> token = encode_cursor("nearby", [12.5, "case_a"])
>>> decode_cursor("nearby", token)
[12.5, 'case_a']
>>> decode_cursor("queue", token)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cleanapp_api.domain_errors.InvalidRequest: cursor is invalid or belongs to another list...
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from cleanapp_api.domain_errors import InvalidRequest

__all__ = [
    "MSG_BAD_CURSOR",
    "created_page",
    "decode_created_cursor",
    "decode_cursor",
    "encode_cursor",
]

_Row = TypeVar("_Row", bound=Mapping[Any, Any])

MSG_BAD_CURSOR: Final = "cursor is invalid or belongs to another list; use next_cursor as given"
_MAX_CURSOR_CHARS: Final = 512


def encode_cursor(kind: str, values: list[Any]) -> str:
    """Return the cursor of a page that ends at the row with sort key ``values``."""
    text = json.dumps([kind, *values], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(kind: str, token: str | None) -> list[Any] | None:
    """Return the sort key a cursor holds (None without a cursor).

    Raises
    ------
    InvalidRequest
        400 when the cursor is not one of this list's.
    """
    text = (token or "").strip()
    if not text:
        return None
    if len(text) > _MAX_CURSOR_CHARS:
        raise InvalidRequest(MSG_BAD_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidRequest(MSG_BAD_CURSOR) from None
    if not isinstance(decoded, list) or not decoded or decoded[0] != kind:
        raise InvalidRequest(MSG_BAD_CURSOR)
    return decoded[1:]


def decode_created_cursor(kind: str, token: str | None) -> tuple[datetime, int] | None:
    """Return the ``(created_at, id)`` a cursor of a list sorted by both holds (None: none).

    Raises
    ------
    InvalidRequest
        400 when the cursor is not one of this list's or does not hold such a key.
    """
    values = decode_cursor(kind, token)
    if values is None:
        return None
    try:
        return datetime.fromisoformat(str(values[0])), int(values[1])
    except (IndexError, TypeError, ValueError):
        raise InvalidRequest("cursor is invalid; use next_cursor as given") from None


def created_page(kind: str, rows: Sequence[_Row], size: int) -> tuple[Sequence[_Row], str | None]:
    """Cut ``size + 1`` rows sorted by ``(created_at, id)`` into a page and its next cursor."""
    page = rows[:size]
    if len(rows) <= size:
        return page, None
    last = page[-1]
    return page, encode_cursor(kind, [last["created_at"].isoformat(), int(last["id"])])
