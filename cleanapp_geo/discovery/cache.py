"""Caches of fetched responses: an interface and an in-memory one with a time to live."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cleanapp_geo.discovery.response import Response

__all__ = ["MemoryCache", "ResponseCache"]


@runtime_checkable
class ResponseCache(Protocol):
    """Where a :class:`~cleanapp_geo.discovery.fetch.Fetcher` keeps successful responses.

    Keys are strings made of the method, URL and body; a store may be shared by fetchers
    (a process-wide cache per location) and may be backed by anything (Redis, a table).
    """

    def get(self, key: str) -> Response | None:
        """Return the fresh response stored under ``key``, or ``None``."""
        ...

    def put(self, key: str, response: Response, ttl_s: float) -> None:
        """Store ``response`` under ``key`` for ``ttl_s`` seconds."""
        ...


class MemoryCache:
    """A bounded in-memory cache with a time to live per entry (least recently used out).

    Thread-safe, so one cache can serve the discovery runs of a whole service process.

    Parameters
    ----------
    max_entries : int, default 512
        Entries kept; the least recently used one goes first.
    clock : callable, default time.monotonic
        Seconds source.

    Examples
    --------
    >>> from cleanapp_geo.discovery.response import Response
    >>> now = [0.0]
    >>> cache = MemoryCache(clock=lambda: now[0])
    >>> cache.put("GET https://a.ch/", Response("https://a.ch/", 200, {}, b"hi"), ttl_s=10)
    >>> cache.get("GET https://a.ch/").body
    b'hi'
    >>> now[0] = 11.0; cache.get("GET https://a.ch/") is None
    True
    """

    def __init__(self, *, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Response]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Response | None:
        """Return the fresh response stored under ``key``, or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires_at, response = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return response

    def put(self, key: str, response: Response, ttl_s: float) -> None:
        """Store ``response`` under ``key`` for ``ttl_s`` seconds."""
        if ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl_s, response)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
