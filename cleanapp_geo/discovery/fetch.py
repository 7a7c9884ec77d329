"""The one HTTP client of contact discovery: budgeted, cached, polite (standard library only).

A :class:`Fetcher` is shared by the providers of one discovery run. Before every request it

1. refuses anything but ``http``/``https`` URLs with a host;
2. answers from its :class:`~cleanapp_geo.discovery.cache.ResponseCache` when it can (a cache
   hit costs no request and no time; 2xx answers are cached, and 404/410 so that a crawl
   does not guess a missing page again -- other errors are not);
3. asks the host's ``robots.txt`` whether the path may be fetched (crawled pages; API calls
   governed by a usage policy instead pass ``robots=False``), caching the rules per host;
4. charges the :class:`~cleanapp_geo.discovery.budget.Budget` one request (robots.txt files
   and redirect hops are requests too) and waits out the host's minimum interval
   (Nominatim's one request a second) -- or gives up when the wait would pass the deadline;
5. resolves the host once and refuses loopback, private, link-local, multicast and reserved
   addresses unless ``allow_private_networks`` is set, then connects to *that* address (a
   DNS answer cannot change between the check and the connection);
6. sends the configured ``User-Agent``, with a socket timeout of the smaller of the
   per-request timeout and the time the budget has left, and stops reading at the deadline
   or at ``max_bytes`` (the body is truncated, ``Response.truncated`` says so).

Redirects (301, 302, 303, 307, 308) are followed by hand, at most ``max_redirects`` hops,
and every hop goes through steps 1-6 again: a public page that redirects to
``http://10.0.0.1/`` or to ``file:`` is refused, not fetched. DNS resolution itself is not
bounded by the socket timeout (the system resolver's own timeout applies).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.robotparser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urljoin, urlsplit

from cleanapp_geo.discovery.budget import Budget, BudgetExhaustedError, DiscoveryError
from cleanapp_geo.discovery.cache import MemoryCache, ResponseCache
from cleanapp_geo.discovery.response import Response

__all__ = [
    "DEFAULT_USER_AGENT",
    "BlockedURLError",
    "FetchError",
    "FetchSettings",
    "FetchStats",
    "Fetcher",
    "HTTPStatusError",
    "NetworkError",
    "Response",
    "RobotsDisallowedError",
]

DEFAULT_USER_AGENT: Final = "CleanApp-Case-Discovery/1.0 (+https://cleanapp.io)"
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES: Final = 65_536
_CACHED_ERRORS: Final = frozenset({404, 410})
_DISALLOW_ALL: Final = ("User-agent: *", "Disallow: /")


class FetchError(DiscoveryError):
    """A URL could not be fetched; ``url`` names it."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{message}: {url}")
        self.url = url


class BlockedURLError(FetchError):
    """Not an http(s) URL with a host, or its host resolves to a refused address."""


class RobotsDisallowedError(FetchError):
    """The host's robots.txt disallows the path for our user agent; nothing was fetched."""


class NetworkError(FetchError):
    """Connection refused or reset, DNS failure, timeout, malformed HTTP."""


class HTTPStatusError(FetchError):
    """The server answered with a 4xx or 5xx status (``status``)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How a :class:`Fetcher` behaves.

    Parameters
    ----------
    user_agent : str
        Sent with every request and matched against robots.txt groups; identify yourself
        (Nominatim's usage policy requires a real one).
    timeout_s : float, default 4.0
        Socket timeout of one request (smaller when the budget has less time left).
    max_bytes : int, default 1 MiB
        Bodies are cut here.
    max_redirects : int, default 3
        Redirect hops followed.
    cache_ttl_s : float, default 3600
        How long a successful response is reused.
    robots_ttl_s : float, default 86400
        How long a host's robots.txt rules are reused.
    allow_private_networks : bool, default False
        Allow loopback/private/link-local addresses (tests and intranet deployments).
    resolve : mapping, optional
        Host name → IP address overrides (like ``curl --resolve``), checked like DNS answers.
    min_interval_s : mapping, optional
        ``host[:port]`` → minimum seconds between two requests to it (e.g.
        ``{"nominatim.openstreetmap.org": 1.0}``).
    """

    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: float = 4.0
    max_bytes: int = 1_048_576
    max_redirects: int = 3
    cache_ttl_s: float = 3600.0
    robots_ttl_s: float = 86_400.0
    allow_private_networks: bool = False
    resolve: Mapping[str, str] = field(default_factory=dict)
    min_interval_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class FetchStats:
    """What a fetcher did: network requests, cache hits, robots refusals, errors."""

    requests: int = 0
    cache_hits: int = 0
    robots_disallowed: int = 0
    errors: int = 0

    def copy(self) -> FetchStats:
        """Return a snapshot."""
        return FetchStats(self.requests, self.cache_hits, self.robots_disallowed, self.errors)


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class Fetcher:
    """A budgeted, cached, robots-respecting HTTP client shared by discovery providers.

    Not thread-safe: one discovery run uses it from one thread. ``budget`` may be replaced
    between runs (the runner gives each provider its share).

    Parameters
    ----------
    settings : FetchSettings, optional
        Behaviour (user agent, timeouts, size cap, private networks, rate limits).
    budget : Budget, optional
        Requests and seconds this fetcher may spend (default: ``Budget()``).
    cache : ResponseCache, optional
        Where successful responses are kept (default: a fresh :class:`MemoryCache`).
    clock, sleep : callable, optional
        Time source and sleeper of the per-host rate limits.
    tls : ssl.SSLContext, optional
        Certificate verification for https (default: the system's trusted roots, host
        names checked against the URL's host even though the connection goes to the
        address resolved before).
    """

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        budget: Budget | None = None,
        cache: ResponseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings or FetchSettings()
        self.budget = budget or Budget()
        self.cache: ResponseCache = cache if cache is not None else MemoryCache()
        self.stats = FetchStats()
        self._clock = clock
        self._sleep = sleep
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
        self._last_request: dict[str, float] = {}
        self._tls = tls or ssl.create_default_context()

    # ------------------------------------------------------------------ public

    def get(
        self, url: str, *, params: Mapping[str, Any] | None = None, robots: bool = True
    ) -> Response:
        """GET a URL (query ``params`` appended) and return the final 2xx response.

        Raises
        ------
        BudgetExhaustedError, BlockedURLError, RobotsDisallowedError, NetworkError, \
HTTPStatusError
            See the module documentation.
        """
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params)
        return self._request("GET", url, None, robots=robots)

    def post_form(self, url: str, data: Mapping[str, str], *, robots: bool = False) -> Response:
        """POST ``application/x-www-form-urlencoded`` data (an Overpass query) to a URL."""
        return self._request("POST", url, urlencode(data).encode(), robots=robots)

    def robots_allows(self, url: str) -> bool:
        """Whether the host's robots.txt lets our user agent fetch ``url`` (may fetch it)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        cached = self._robots.get(origin)
        if cached is None or self._clock() >= cached[0]:
            parser = urllib.robotparser.RobotFileParser()
            try:
                # Through the response cache: the next run (another fetcher) reuses it.
                response = self._request("GET", origin + "/robots.txt", None, robots=False)
                parser.parse(response.text.splitlines())
            except HTTPStatusError as exc:
                # RFC 9309: a 4xx robots.txt means no rules; a 5xx means "unreachable".
                parser.parse(_DISALLOW_ALL if exc.status >= 500 else [])
            except (NetworkError, BlockedURLError):
                parser.parse(_DISALLOW_ALL)
            cached = (self._clock() + self.settings.robots_ttl_s, parser)
            self._robots[origin] = cached
        return cached[1].can_fetch(self.settings.user_agent, url)

    # ------------------------------------------------------------------ internals

    def _request(self, method: str, url: str, body: bytes | None, *, robots: bool) -> Response:
        key = f"{method} {url}" + (f" {body.decode()}" if body else "")
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            if cached.status >= 400:
                raise HTTPStatusError(cached.url, cached.status)
            return cached
        try:
            response = self._send_following(method, url, body, robots=robots)
        except HTTPStatusError as exc:
            # A missing page stays missing for a while: a crawl does not guess it again.
            if exc.status in _CACHED_ERRORS:
                self.cache.put(key, Response(url, exc.status, {}, b""), self.settings.cache_ttl_s)
            raise
        self.cache.put(key, response, self.settings.cache_ttl_s)
        return response

    def _send_following(
        self, method: str, url: str, body: bytes | None, *, robots: bool
    ) -> Response:
        for _ in range(self.settings.max_redirects + 1):
            self._check_url(url)
            if robots and not self.robots_allows(url):
                self.stats.robots_disallowed += 1
                raise RobotsDisallowedError(url, "robots.txt disallows")
            response = self._send(method, url, body)
            if response.status in _REDIRECTS and response.headers.get("location"):
                url = urljoin(url, response.headers["location"])
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            if response.status >= 400:
                self.stats.errors += 1
                raise HTTPStatusError(url, response.status)
            return response
        self.stats.errors += 1
        raise NetworkError(url, f"more than {self.settings.max_redirects} redirects")

    def _check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises on a malformed port
        except ValueError as exc:
            raise BlockedURLError(url, "malformed URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedURLError(url, "only http and https URLs with a host are fetched")

    def _address(self, url: str, host: str, port: int) -> str:
        address = self.settings.resolve.get(host)
        if address is None:
            try:
                address = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
            except (OSError, UnicodeError) as exc:
                raise NetworkError(url, f"cannot resolve {host}") from exc
        if not self.settings.allow_private_networks and _refused_address(address):
            raise BlockedURLError(url, f"{host} resolves to a non-public address {address}")
        return address

    def _wait_for_host(self, netloc: str) -> None:
        interval = self.settings.min_interval_s.get(netloc)
        if interval is None:
            interval = self.settings.min_interval_s.get(netloc.rsplit(":", 1)[0], 0.0)
        last = self._last_request.get(netloc)
        if interval > 0 and last is not None:
            wait = last + interval - self._clock()
            if wait > 0:
                if wait >= self.budget.remaining_s():
                    raise BudgetExhaustedError(
                        f"waiting {wait:.2f} s for {netloc} would pass the deadline"
                    )
                self._sleep(wait)

    def _send(self, method: str, url: str, body: bytes | None) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._wait_for_host(parts.netloc)
        self.budget.take()
        self.stats.requests += 1
        self._last_request[parts.netloc] = self._clock()
        try:
            address = self._address(url, host, port)
        except FetchError:
            self.stats.errors += 1
            raise
        timeout = min(self.settings.timeout_s, self.budget.remaining_s())
        if timeout <= 0:
            raise BudgetExhaustedError(f"time budget of {self.budget.max_seconds:g} s used up")
        connection: http.client.HTTPConnection = (
            _HTTPSConnection(host, port, address, timeout, self._tls)
            if parts.scheme == "https"
            else _HTTPConnection(host, port, address, timeout)
        )
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            # With "Connection: close" the response owns the socket (inside its file object).
            sock = connection.sock or getattr(getattr(raw.fp, "raw", None), "_sock", None)
            chunks: list[bytes] = []
            size = 0
            truncated = False
            while True:
                left_s = self.budget.remaining_s()
                if left_s <= 0:
                    raise BudgetExhaustedError(f"time budget used up while reading {url}")
                if sock is not None:  # a slow drip cannot outlast the deadline
                    sock.settimeout(min(timeout, left_s))
                chunk = raw.read1(min(_CHUNK_BYTES, self.settings.max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > self.settings.max_bytes:
                    truncated = True
                    break
            data = b"".join(chunks)[: self.settings.max_bytes]
            response_headers = {k.lower(): v for k, v in raw.getheaders()}
            return Response(url, raw.status, response_headers, data, truncated)
        except BudgetExhaustedError:
            self.stats.errors += 1
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.stats.errors += 1
            if isinstance(exc, TimeoutError) and self.budget.remaining_s() <= 0:
                raise BudgetExhaustedError(f"time budget used up waiting for {url}") from exc
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise NetworkError(url, reason) from exc
        finally:
            connection.close()
