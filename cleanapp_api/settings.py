"""Service configuration: the only place that reads environment variables.

:meth:`Settings.from_env` parses and validates every variable at once, so a bad deployment
stops at start-up with one message naming every missing or invalid variable instead of
failing on the first request.

=============================  ==========  =================================================
variable                       required    meaning (default)
=============================  ==========  =================================================
``DATABASE_URL``               yes         SQLAlchemy URL of the PostGIS database;
                                           ``postgresql://`` and ``postgres://`` are read as
                                           ``postgresql+psycopg://`` (psycopg 3)
``JWT_SECRET``                 yes         HMAC secret shared with the auth-service
``AUTH_TOKEN_STORE``           no          ``db`` (check the ``auth_tokens`` table, as
                                           upstream) or ``off`` (JWT only) (``db``)
``PUBLIC_CASE_URL_BASE``       no          base of case permalinks
                                           (``https://www.cleanapp.io/cases``)
``REQUEST_BODY_LIMIT_BYTES``   no          largest accepted request body (2 MiB)
``RATE_LIMIT_RPS``             no          per-client-IP token refill rate, per second (20)
``RATE_LIMIT_BURST``           no          per-client-IP bucket size (40)
``CORS_ORIGINS``               no          comma-separated allowed origins, ``*`` for any
                                           (none: cross-origin browsers are refused)
``EMAIL_SERVICE_URL``          no          base URL of the email executor (unset)
``INTERNAL_ADMIN_TOKEN``       no          shared secret for the email executor (unset)
=============================  ==========  =================================================

Empty values count as unset. The escalation send flow also reads
``ESCALATION_SEND_TIMEOUT_S`` (timeout of one call to the email executor, 15 s),
``ESCALATION_DEDUP_WINDOW_H`` (hours in which the same subject and body are not sent again to
a recipient of a case unless ``force``, 24), ``ESCALATION_USER_SENDS_PER_H`` (sends per user
per hour, 20), ``ESCALATION_CASE_SENDS_PER_H`` (sends per case per hour, 6),
``ESCALATION_MAX_TARGETS`` / ``ESCALATION_MAX_CC`` (targets and CC addresses per send, 50 and
20), ``ESCALATION_SEND_ANY_USER`` (``1``: every signed-in user may send, upstream's rule;
default: the case's editors), ``ESCALATION_RECOVERY_INTERVAL_S`` (period of the in-service
reconciler, 10) and ``ESCALATION_RECOVERY_GRACE_S`` (age of an unsettled send before the
reconciler takes it, 5). ``DATABASE_STATEMENT_TIMEOUT_S`` (5) bounds every statement and lock
wait, ``DATABASE_POOL_TIMEOUT_S`` (5) the wait for a pooled connection.
``INGEST_CONCURRENCY`` (4) is how many ``POST /reports`` of one worker process run at once;
more wait their turn in the worker's event loop, holding no thread, pooled connection or
lock.

Contact discovery (``docs/routing.md``) reads ``DISCOVERY_ENABLED`` (``1``/``true``: refreshing
a case's targets asks OpenStreetMap and official websites; off by default, so nothing leaves
the machine unless asked), ``NOMINATIM_URL`` (``https://nominatim.openstreetmap.org``),
``OVERPASS_URL`` (``https://overpass-api.de/api/interpreter``), ``DISCOVERY_BUDGET_S``
(wall-clock budget of one refresh, 5), ``DISCOVERY_MAX_REQUESTS`` (25) and
``DISCOVERY_USER_AGENT`` (sent with every request; Nominatim's usage policy wants one that
identifies the deployment).

Automatic matching of ingested reports reads ``REOPEN_WINDOW_DAYS`` (a resolved or closed
case updated within this many days is matched for recurrence: a resolution signal and a
reopen suggestion, 90) and ``AUTO_REOPEN`` (``1``/``true``: such a case in the ``auto`` band
reopens itself, audited with the reason; off by default).

The email executor (a separate process) reads its own variables:
:class:`cleanapp_api.email_service.settings.EmailSettings`. Both parse the environment with
:mod:`cleanapp_api.common.env`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from cleanapp_api.common.env import (
    EnvReader,
    SettingsError,
    http_url,
    mask_url,
    normalise_database_url,
    positive_number,
)

__all__ = [
    "DEFAULT_PUBLIC_CASE_URL_BASE",
    "DEFAULT_PUBLIC_REPORT_URL_BASE",
    "DEFAULT_REQUEST_BODY_LIMIT_BYTES",
    "ENV_VARS",
    "REQUIRED_ENV_VARS",
    "Settings",
    "SettingsError",
    "matching_from_env",
]

DEFAULT_PUBLIC_CASE_URL_BASE = "https://www.cleanapp.io/cases"
DEFAULT_PUBLIC_REPORT_URL_BASE = "https://www.cleanapp.io/reports"
"""Upstream's hard-coded permalink base, without the trailing slash."""

DEFAULT_REQUEST_BODY_LIMIT_BYTES = 2 * 1024 * 1024
DEFAULT_NOMINATIM_URL = "https://nominatim.openstreetmap.org"
DEFAULT_OVERPASS_URL = "https://overpass-api.de/api/interpreter"
DEFAULT_DISCOVERY_USER_AGENT = "CleanApp-Case-Discovery/1.0 (+https://cleanapp.io)"

REQUIRED_ENV_VARS = ("DATABASE_URL", "JWT_SECRET")
ENV_VARS = (
    *REQUIRED_ENV_VARS,
    "AUTH_TOKEN_STORE",
    "PUBLIC_CASE_URL_BASE",
    "REQUEST_BODY_LIMIT_BYTES",
    "RATE_LIMIT_RPS",
    "RATE_LIMIT_BURST",
    "CORS_ORIGINS",
    "EMAIL_SERVICE_URL",
    "INTERNAL_ADMIN_TOKEN",
    "ESCALATION_SEND_TIMEOUT_S",
    "ESCALATION_DEDUP_WINDOW_H",
    "ESCALATION_USER_SENDS_PER_H",
    "ESCALATION_CASE_SENDS_PER_H",
    "PUBLIC_REPORT_URL_BASE",
    "WORKSPACE_TILE_URL",
    "WORKSPACE_TILE_ATTRIBUTION",
    "REOPEN_WINDOW_DAYS",
    "AUTO_REOPEN",
    "ESCALATION_MAX_TARGETS",
    "ESCALATION_MAX_CC",
    "ESCALATION_SEND_ANY_USER",
    "ESCALATION_RECOVERY_INTERVAL_S",
    "ESCALATION_RECOVERY_GRACE_S",
    "DATABASE_STATEMENT_TIMEOUT_S",
    "DATABASE_POOL_TIMEOUT_S",
    "INGEST_CONCURRENCY",
    "DISCOVERY_ENABLED",
    "NOMINATIM_URL",
    "OVERPASS_URL",
    "DISCOVERY_BUDGET_S",
    "DISCOVERY_MAX_REQUESTS",
    "DISCOVERY_USER_AGENT",
)

AuthTokenStore = Literal["db", "off"]
_AUTH_TOKEN_STORES: tuple[AuthTokenStore, ...] = ("db", "off")


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Validated, immutable service configuration.

    Build it with :meth:`from_env` in production; construct it directly in tests. Values are
    validated (and ``database_url``, ``public_case_url_base`` and ``cors_origins`` normalised)
    on construction.

    Parameters
    ----------
    database_url : str
        SQLAlchemy URL of the PostGIS database (``postgresql+psycopg://...``).
    jwt_secret : str
        HMAC secret used to verify bearer tokens.
    auth_token_store : {"db", "off"}, default "db"
        ``db`` also requires an unexpired ``auth_tokens`` row per token (upstream behaviour).
    public_case_url_base : str
        Base of public case permalinks, without trailing slash.
    public_report_url_base : str
        Base of a report's public page (its photo and analysis), ``<base>/<public_id>``;
        the case memo links each report there (``PUBLIC_REPORT_URL_BASE``).
    request_body_limit_bytes : int, default 2 MiB
        Largest accepted request body; larger bodies get 413.
    rate_limit_rps : float, default 20
        Token-bucket refill rate per client IP, in requests per second.
    rate_limit_burst : int, default 40
        Token-bucket capacity per client IP.
    cors_origins : tuple of str, default ()
        Allowed CORS origins; ``("*",)`` allows any origin, ``()`` none.
    email_service_url : str or None
        Base URL of the email executor (used by the escalation routes).
    internal_admin_token : str or None
        Shared secret sent to the email executor.
    escalation_send_timeout_s : float, default 15
        Timeout of one call to the email executor.
    escalation_dedup_window_h : float, default 24
        The same subject and body are not sent again to a recipient of a case within this
        many hours unless the request says ``force``.
    escalation_user_sends_per_h, escalation_case_sends_per_h : int, default 20 and 6
        Escalation sends allowed per user and per case in any hour (429 beyond).
    reopen_window_days : float, default 90
        Resolved or closed cases updated within this many days are matched for recurrence.
    auto_reopen : bool, default False
        Such a case in the ``auto`` band reopens itself when a report matches it.
    escalation_max_targets, escalation_max_cc : int, default 50 and 20
        Targets and CC addresses one send may have (400 beyond, nothing stored).
    escalation_send_any_user : bool, default False
        Let every signed-in user send a case's escalations (upstream); else its editors.
    escalation_recovery_interval_s : float, default 10
        Period of the reconciler that runs inside the service.
    escalation_recovery_grace_s : float, default 5
        A ``pending`` or ``unknown`` send untouched this long is the reconciler's.
    database_statement_timeout_s : float, default 5
        Statement and lock timeout of every database call (503 beyond).
    database_pool_timeout_s : float, default 5
        Longest wait for a pooled connection (503 beyond).
    ingest_concurrency : int, default 4
        ``POST /reports`` running at once in one worker process (on worker threads, each
        with a pooled connection and the ingest's locks); more wait in the event loop.
    discovery_enabled : bool, default False
        Whether refreshing targets runs network contact discovery.
    nominatim_url, overpass_url : str
        Base URL of Nominatim and the Overpass interpreter URL.
    discovery_budget_s : float, default 5
        Wall-clock budget of one discovery run (the refresh never waits longer).
    discovery_max_requests : int, default 25
        Requests one discovery run may send.
    discovery_user_agent : str
        User-Agent of discovery requests.

    Raises
    ------
    SettingsError
        If any value is invalid; the message lists every problem.

    Examples
    --------
    >>> s = Settings.from_env(
    ...     {"DATABASE_URL": "postgresql://u:pw@db/cases", "JWT_SECRET": "s3cret"}
    ... )
    >>> s.database_url
    'postgresql+psycopg://u:pw@db/cases'
    >>> s.rate_limit_rps, s.rate_limit_burst, s.auth_token_store
    (20.0, 40, 'db')
    >>> try:
    ...     Settings.from_env({"RATE_LIMIT_RPS": "fast"})
    ... except SettingsError as exc:
    ...     for problem in exc.problems:
    ...         print(problem)
    missing required environment variables: DATABASE_URL, JWT_SECRET
    RATE_LIMIT_RPS must be a positive number, got 'fast'
    """

    database_url: str
    jwt_secret: str
    auth_token_store: AuthTokenStore = "db"
    public_case_url_base: str = DEFAULT_PUBLIC_CASE_URL_BASE
    public_report_url_base: str = DEFAULT_PUBLIC_REPORT_URL_BASE
    request_body_limit_bytes: int = DEFAULT_REQUEST_BODY_LIMIT_BYTES
    rate_limit_rps: float = 20.0
    rate_limit_burst: int = 40
    cors_origins: tuple[str, ...] = field(default=())
    email_service_url: str | None = None
    internal_admin_token: str | None = None
    escalation_send_timeout_s: float = 15.0
    escalation_dedup_window_h: float = 24.0
    escalation_user_sends_per_h: int = 20
    escalation_case_sends_per_h: int = 6
    workspace_tile_url: str = ""
    workspace_tile_attribution: str = ""
    reopen_window_days: float = 90.0
    auto_reopen: bool = False
    escalation_max_targets: int = 50
    escalation_max_cc: int = 20
    escalation_send_any_user: bool = False
    escalation_recovery_interval_s: float = 10.0
    escalation_recovery_grace_s: float = 5.0
    database_statement_timeout_s: float = 5.0
    database_pool_timeout_s: float = 5.0
    ingest_concurrency: int = 4
    discovery_enabled: bool = False
    nominatim_url: str = DEFAULT_NOMINATIM_URL
    overpass_url: str = DEFAULT_OVERPASS_URL
    discovery_budget_s: float = 5.0
    discovery_max_requests: int = 25
    discovery_user_agent: str = DEFAULT_DISCOVERY_USER_AGENT

    def __post_init__(self) -> None:
        problems: list[str] = []
        set_ = object.__setattr__

        try:
            set_(self, "database_url", normalise_database_url(self.database_url))
        except ValueError as exc:
            problems.append(str(exc))
        if not self.jwt_secret:
            problems.append("JWT_SECRET must not be empty")
        if self.auth_token_store not in _AUTH_TOKEN_STORES:
            problems.append(
                f"AUTH_TOKEN_STORE must be one of {', '.join(_AUTH_TOKEN_STORES)}, "
                f"got {self.auth_token_store!r}"
            )
        try:
            set_(
                self,
                "public_case_url_base",
                http_url("PUBLIC_CASE_URL_BASE", self.public_case_url_base),
            )
        except ValueError as exc:
            problems.append(str(exc))
        try:
            set_(
                self,
                "public_report_url_base",
                http_url("PUBLIC_REPORT_URL_BASE", self.public_report_url_base),
            )
        except ValueError as exc:
            problems.append(str(exc))
        if self.email_service_url is not None:
            try:
                set_(
                    self,
                    "email_service_url",
                    http_url("EMAIL_SERVICE_URL", self.email_service_url),
                )
            except ValueError as exc:
                problems.append(str(exc))
        if self.internal_admin_token is not None and not self.internal_admin_token:
            problems.append("INTERNAL_ADMIN_TOKEN must not be empty when set")
        if isinstance(self.request_body_limit_bytes, bool) or not (
            isinstance(self.request_body_limit_bytes, int) and self.request_body_limit_bytes > 0
        ):
            problems.append(
                "REQUEST_BODY_LIMIT_BYTES must be a positive integer, "
                f"got {self.request_body_limit_bytes!r}"
            )
        rps = self.rate_limit_rps
        if (
            isinstance(rps, bool)
            or not isinstance(rps, int | float)
            or not (math.isfinite(rps) and rps > 0)
        ):
            problems.append(f"RATE_LIMIT_RPS must be a positive number, got {rps!r}")
        else:
            set_(self, "rate_limit_rps", float(rps))
        burst = self.rate_limit_burst
        if isinstance(burst, bool) or not (isinstance(burst, int) and burst >= 1):
            problems.append(f"RATE_LIMIT_BURST must be an integer >= 1, got {burst!r}")
        try:
            set_(self, "cors_origins", _normalise_origins(self.cors_origins))
        except ValueError as exc:
            problems.append(str(exc))
        for name, value in (
            ("ESCALATION_SEND_TIMEOUT_S", self.escalation_send_timeout_s),
            ("ESCALATION_DEDUP_WINDOW_H", self.escalation_dedup_window_h),
            ("ESCALATION_RECOVERY_INTERVAL_S", self.escalation_recovery_interval_s),
            ("ESCALATION_RECOVERY_GRACE_S", self.escalation_recovery_grace_s),
            ("DATABASE_STATEMENT_TIMEOUT_S", self.database_statement_timeout_s),
            ("DATABASE_POOL_TIMEOUT_S", self.database_pool_timeout_s),
            ("DISCOVERY_BUDGET_S", self.discovery_budget_s),
        ):
            if not positive_number(value):
                problems.append(f"{name} must be a positive number, got {value!r}")
        window = self.reopen_window_days
        if isinstance(window, bool) or not (
            isinstance(window, int | float) and math.isfinite(window) and window >= 0
        ):
            problems.append(f"REOPEN_WINDOW_DAYS must be a number >= 0, got {window!r}")
        if not isinstance(self.auto_reopen, bool):
            problems.append(f"AUTO_REOPEN must be true or false, got {self.auto_reopen!r}")
        for name, count in (
            ("ESCALATION_USER_SENDS_PER_H", self.escalation_user_sends_per_h),
            ("ESCALATION_CASE_SENDS_PER_H", self.escalation_case_sends_per_h),
            ("ESCALATION_MAX_TARGETS", self.escalation_max_targets),
            ("ESCALATION_MAX_CC", self.escalation_max_cc),
            ("DISCOVERY_MAX_REQUESTS", self.discovery_max_requests),
            ("INGEST_CONCURRENCY", self.ingest_concurrency),
        ):
            if isinstance(count, bool) or not (isinstance(count, int) and count >= 1):
                problems.append(f"{name} must be an integer >= 1, got {count!r}")
        if self.workspace_tile_url:
            try:
                http_url("WORKSPACE_TILE_URL", self.workspace_tile_url)
            except ValueError as exc:
                problems.append(str(exc))
            if "{z}" not in self.workspace_tile_url:
                problems.append(
                    "WORKSPACE_TILE_URL must be an XYZ template with {z}, {x} and {y}, "
                    f"got {self.workspace_tile_url!r}"
                )
        for name, attribute in (("NOMINATIM_URL", "nominatim_url"),
                                ("OVERPASS_URL", "overpass_url")):  # fmt: skip
            try:
                set_(self, attribute, http_url(name, getattr(self, attribute)))
            except ValueError as exc:
                problems.append(str(exc))
        if not self.discovery_user_agent.strip():
            problems.append("DISCOVERY_USER_AGENT must not be empty")
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the configuration from environment variables.

        Parameters
        ----------
        environ : mapping, optional
            Variables to read; ``os.environ`` when omitted.

        Returns
        -------
        Settings
            The validated configuration.

        Raises
        ------
        SettingsError
            Naming every missing required variable and every invalid value.
        """
        env = EnvReader(environ)
        get = env.get
        missing = [name for name in REQUIRED_ENV_VARS if get(name) is None]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            env.problems.append(f"missing required environment {noun}: {', '.join(missing)}")

        kwargs: dict[str, object] = {
            "database_url": get("DATABASE_URL") or "",
            "jwt_secret": get("JWT_SECRET") or "",
        }
        if (store := get("AUTH_TOKEN_STORE")) is not None:
            kwargs["auth_token_store"] = store.lower()
        if (base := get("PUBLIC_CASE_URL_BASE")) is not None:
            kwargs["public_case_url_base"] = base
        if (report_base := get("PUBLIC_REPORT_URL_BASE")) is not None:
            kwargs["public_report_url_base"] = report_base
        if (url := get("EMAIL_SERVICE_URL")) is not None:
            kwargs["email_service_url"] = url
        if (token := get("INTERNAL_ADMIN_TOKEN")) is not None:
            kwargs["internal_admin_token"] = token
        if (tiles := get("WORKSPACE_TILE_URL")) is not None:
            kwargs["workspace_tile_url"] = tiles
        if (attribution := get("WORKSPACE_TILE_ATTRIBUTION")) is not None:
            kwargs["workspace_tile_attribution"] = attribution
        if (nominatim := get("NOMINATIM_URL")) is not None:
            kwargs["nominatim_url"] = nominatim
        if (overpass := get("OVERPASS_URL")) is not None:
            kwargs["overpass_url"] = overpass
        if (agent := get("DISCOVERY_USER_AGENT")) is not None:
            kwargs["discovery_user_agent"] = agent
        if get("DISCOVERY_ENABLED") is not None:
            kwargs["discovery_enabled"] = env.flag("DISCOVERY_ENABLED")
        if env.flag("ESCALATION_SEND_ANY_USER"):
            kwargs["escalation_send_any_user"] = True
        if (origins := get("CORS_ORIGINS")) is not None:
            kwargs["cors_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        kwargs |= env.parsed(
            (
                ("REQUEST_BODY_LIMIT_BYTES", "request_body_limit_bytes", int, "a positive integer"),
                ("RATE_LIMIT_RPS", "rate_limit_rps", float, "a positive number"),
                ("RATE_LIMIT_BURST", "rate_limit_burst", int, "an integer >= 1"),
                ("ESCALATION_SEND_TIMEOUT_S", "escalation_send_timeout_s", float,
                 "a positive number"),
                ("ESCALATION_DEDUP_WINDOW_H", "escalation_dedup_window_h", float,
                 "a positive number"),
                ("ESCALATION_USER_SENDS_PER_H", "escalation_user_sends_per_h", int,
                 "an integer >= 1"),
                ("ESCALATION_CASE_SENDS_PER_H", "escalation_case_sends_per_h", int,
                 "an integer >= 1"),
                ("REOPEN_WINDOW_DAYS", "reopen_window_days", float, "a number >= 0"),
                ("ESCALATION_MAX_TARGETS", "escalation_max_targets", int, "an integer >= 1"),
                ("ESCALATION_MAX_CC", "escalation_max_cc", int, "an integer >= 1"),
                ("ESCALATION_RECOVERY_INTERVAL_S", "escalation_recovery_interval_s", float,
                 "a positive number"),
                ("ESCALATION_RECOVERY_GRACE_S", "escalation_recovery_grace_s", float,
                 "a positive number"),
                ("DATABASE_STATEMENT_TIMEOUT_S", "database_statement_timeout_s", float,
                 "a positive number"),
                ("DATABASE_POOL_TIMEOUT_S", "database_pool_timeout_s", float,
                 "a positive number"),
                ("DISCOVERY_BUDGET_S", "discovery_budget_s", float, "a positive number"),
                ("DISCOVERY_MAX_REQUESTS", "discovery_max_requests", int, "an integer >= 1"),
                ("INGEST_CONCURRENCY", "ingest_concurrency", int, "an integer >= 1"),
            )
        )  # fmt: skip
        if get("AUTO_REOPEN") is not None:
            kwargs["auto_reopen"] = env.flag("AUTO_REOPEN")
        if missing:
            # Still validate the optional variables so one message names every problem.
            kwargs["database_url"] = kwargs["database_url"] or "postgresql+psycopg:///placeholder"
            kwargs["jwt_secret"] = kwargs["jwt_secret"] or "placeholder"
        return env.build(cls, kwargs)

    def public_case_url(self, case_id: str) -> str:
        """Return the public permalink of a case.

        Parameters
        ----------
        case_id : str
            The case id (``case_<24 hex>``).

        Returns
        -------
        str
            ``<public_case_url_base>/<case_id>``.

        Examples
        --------
        >>> s = Settings(database_url="postgresql+psycopg:///x", jwt_secret="k")
        >>> s.public_case_url("case_0123456789abcdef01234567")
        'https://www.cleanapp.io/cases/case_0123456789abcdef01234567'
        """
        return f"{self.public_case_url_base}/{case_id}"

    @property
    def reopen_window_s(self) -> float:
        """:attr:`reopen_window_days` in seconds."""
        return float(self.reopen_window_days) * 86_400.0

    @property
    def cors_allow_all(self) -> bool:
        """Whether any origin is allowed."""
        return self.cors_origins == ("*",)

    def __repr__(self) -> str:
        """Show the configuration with the secrets and the database password masked."""
        masked = "'***'"
        parts = [
            f"database_url={mask_url(self.database_url)!r}",
            f"jwt_secret={masked}",
            f"auth_token_store={self.auth_token_store!r}",
            f"public_case_url_base={self.public_case_url_base!r}",
            f"public_report_url_base={self.public_report_url_base!r}",
            f"request_body_limit_bytes={self.request_body_limit_bytes!r}",
            f"rate_limit_rps={self.rate_limit_rps!r}",
            f"rate_limit_burst={self.rate_limit_burst!r}",
            f"cors_origins={self.cors_origins!r}",
            f"email_service_url={self.email_service_url!r}",
            f"internal_admin_token={masked if self.internal_admin_token else None}",
            f"escalation_send_timeout_s={self.escalation_send_timeout_s!r}",
            f"escalation_dedup_window_h={self.escalation_dedup_window_h!r}",
            f"escalation_user_sends_per_h={self.escalation_user_sends_per_h!r}",
            f"escalation_case_sends_per_h={self.escalation_case_sends_per_h!r}",
            f"workspace_tile_url={self.workspace_tile_url!r}",
            f"reopen_window_days={self.reopen_window_days!r}",
            f"auto_reopen={self.auto_reopen!r}",
            f"escalation_max_targets={self.escalation_max_targets!r}",
            f"escalation_max_cc={self.escalation_max_cc!r}",
            f"escalation_send_any_user={self.escalation_send_any_user!r}",
            f"escalation_recovery_interval_s={self.escalation_recovery_interval_s!r}",
            f"escalation_recovery_grace_s={self.escalation_recovery_grace_s!r}",
            f"database_statement_timeout_s={self.database_statement_timeout_s!r}",
            f"database_pool_timeout_s={self.database_pool_timeout_s!r}",
            f"ingest_concurrency={self.ingest_concurrency!r}",
            f"discovery_enabled={self.discovery_enabled!r}",
            f"nominatim_url={self.nominatim_url!r}",
            f"overpass_url={self.overpass_url!r}",
            f"discovery_budget_s={self.discovery_budget_s!r}",
            f"discovery_max_requests={self.discovery_max_requests!r}",
            f"discovery_user_agent={self.discovery_user_agent!r}",
        ]
        return f"Settings({', '.join(parts)})"


def _normalise_origins(origins: Iterable[str]) -> tuple[str, ...]:
    values = tuple(o.strip().rstrip("/") for o in origins)
    values = tuple(v for v in values if v)
    if not values:
        return ()
    if "*" in values:
        if len(values) > 1:
            raise ValueError("CORS_ORIGINS must be '*' alone or a list of origins, not both")
        return values
    for origin in values:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                f"CORS_ORIGINS entries must look like https://host[:port], got {origin!r}"
            )
    return tuple(dict.fromkeys(values))


def matching_from_env(environ: Mapping[str, str] | None = None) -> tuple[float, bool]:
    """Return ``REOPEN_WINDOW_DAYS`` (in seconds) and ``AUTO_REOPEN`` for the command line.

    ``cleanapp-api reports load`` and ``cases rematch`` match reports as ``POST /reports``
    does but need no ``JWT_SECRET``; the values are validated as :meth:`Settings.from_env`
    validates them.

    Raises
    ------
    SettingsError
        When a value is invalid.

    Examples
    --------
    >>> matching_from_env({"REOPEN_WINDOW_DAYS": "30", "AUTO_REOPEN": "1"})
    (2592000.0, True)
    """
    env = dict(os.environ if environ is None else environ)
    for name in REQUIRED_ENV_VARS:
        env[name] = env.get(name) or "postgresql+psycopg:///placeholder"
    settings = Settings.from_env(env)
    return settings.reopen_window_s, settings.auto_reopen
