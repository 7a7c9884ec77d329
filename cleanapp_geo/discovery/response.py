"""A fetched HTTP response (the value the fetcher returns and caches keep)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

__all__ = ["Response"]


@dataclass(frozen=True, slots=True)
class Response:
    """A fetched response (final URL after redirects, status, lower-cased headers, body).

    Examples
    --------
    >>> r = Response("https://a.ch/", 200, {"content-type": "application/json"}, b'{"a": 1}')
    >>> r.json(), r.text
    ({'a': 1}, '{"a": 1}')
    """

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool = False

    @property
    def content_type(self) -> str:
        """The media type without parameters (``text/html``), lower case."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        """The body decoded with the declared charset (UTF-8 by default, errors replaced)."""
        message = Message()
        message["content-type"] = self.headers.get("content-type", "text/plain")
        charset = message.get_content_charset() or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Parse the body as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.text)
