r"""JSON request bodies checked before they are parsed: media type, nesting depth, text.

Both services install :class:`CheckedJsonRequest` as their ``request_class``. Litestar parses
a handler's ``data`` with :meth:`Request.json`; here, before any parsing work:

1. **Media type.** A non-empty body is parsed only when its ``Content-Type`` is
   ``application/json`` (or ``application/<something>+json``): anything else is 415
   ``Content-Type must be application/json``. A form post, a text body or a body without
   a type never reaches the JSON parser.
2. **Nesting depth.** At most :data:`MAX_JSON_DEPTH` nested arrays and objects (the deepest
   request the API knows, a GeoJSON FeatureCollection of MultiPolygons, needs 7): deeper
   bodies are 400 ``invalid json: nested deeper than 64 levels``. The count is a vectorised
   scan of the bytes outside string literals, so a body of 10,000 ``[`` costs microseconds
   instead of a recursion error half-way through the parser.
3. **Text.** A string may not contain U+0000 or another C0 control character other than tab,
   line feed and carriage return (PostgreSQL cannot store NUL in text; the others are not
   text). JSON can only carry them escaped (``\u0000``); such a body is 400 ``invalid json:
   text must not contain control characters (found \u0000)``. They are refused, not
   stripped: a stored value is always the value the client sent.

Integers beyond 64 bits are refused by the parser itself (msgspec: ``Integer value out of
range``).
"""

from __future__ import annotations

import re
from typing import Any, Final

import numpy as np
from litestar import Request

from cleanapp_api.common.http_errors import INVALID_JSON, ApiError

__all__ = [
    "MAX_JSON_DEPTH",
    "MSG_MEDIA_TYPE",
    "CheckedJsonRequest",
    "check_json_body",
    "json_depth",
]

#: Deepest nesting of arrays and objects a request body may have.
MAX_JSON_DEPTH: Final = 64
MSG_MEDIA_TYPE: Final = "Content-Type must be application/json"

_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# An escaped control character: ``\u00XX`` preceded by an even number of backslashes (an odd
# number means the backslash itself is escaped and ``u00XX`` is plain text).
_CONTROL_ESCAPE: Final = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u(000[0-8bBcCeEfF]|001[0-9a-fA-F])",
)
#: Depth step of each byte value: +1 for ``[`` and ``{``, -1 for ``]`` and ``}``, else 0.
_STEP: Final = np.zeros(256, dtype=np.int32)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def json_depth(body: bytes) -> int:
    """Return the deepest nesting of arrays and objects in a JSON text (strings skipped).

    Examples
    --------
    >>> json_depth(b'{"a": [1, [2, "[[["]]}'), json_depth(b"5"), json_depth(b"[" * 9 + b"]" * 9)
    (3, 0, 9)
    """
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    outside = _STRING.sub(b'""', body) if b'"' in body else body
    step = _STEP[np.frombuffer(outside, dtype=np.uint8)]  # one table lookup per byte
    return int(np.cumsum(step).max(initial=0))


def check_json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    r"""Refuse a JSON body nested too deeply or carrying control characters.

    Raises
    ------
    ApiError
        400 ``invalid json: ...`` saying which rule the body breaks.

    Examples
    --------
    >>> check_json_body(b'{"title": "tab\\there", "path": "C:\\\\u0000"}')
    >>> check_json_body(b'{"title": "a\\u0000b"}')
    Traceback (most recent call last):
    ...
    cleanapp_api.common.http_errors.ApiError: invalid json: text must not contain control characters (found \u0000)
    """  # noqa: E501
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        raise ApiError(400, f"{INVALID_JSON}: nested deeper than {max_depth} levels")
    if b"\\u" in body and (found := _CONTROL_ESCAPE.search(body)) is not None:
        code = found.group(1).decode("ascii").lower()
        raise ApiError(
            400, f"{INVALID_JSON}: text must not contain control characters (found \\u{code})"
        )


def is_json_media_type(content_type: str) -> bool:
    """Whether a ``Content-Type`` value names JSON (``application/json``, ``...+json``).

    Examples
    --------
    >>> is_json_media_type("application/json; charset=utf-8"), is_json_media_type("text/plain")
    (True, False)
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class CheckedJsonRequest(Request[Any, Any, Any]):
    """A Litestar request whose :meth:`json` checks the body first (module docstring)."""

    async def json(self) -> Any:
        """Check the media type, depth and text of the body, then parse it.

        Raises
        ------
        ApiError
            415 for another media type; 400 for a body nested too deeply or carrying
            control characters.
        """
        body = await self.body()
        if body:
            if not is_json_media_type(self.headers.get("content-type", "")):
                raise ApiError(415, MSG_MEDIA_TYPE)
            check_json_body(body)
        return await super().json()
