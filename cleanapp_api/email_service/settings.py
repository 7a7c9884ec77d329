"""Configuration of the email executor: the only place it reads environment variables.

The email executor reads its own variables through :meth:`EmailSettings.from_env`:

===============================  ========  ===============================================
variable                         required  meaning (default)
===============================  ========  ===============================================
``DATABASE_URL``                 yes       the store (opt-outs, message log)
``INTERNAL_ADMIN_TOKEN``         no        shared secret of the send route (unset: 503)
``EMAIL_PROVIDER``               no        ``smtp``, ``sendgrid`` or ``outbox`` (``outbox``)
``EMAIL_FROM``                   no        sender address (``SENDGRID_FROM_EMAIL``, else
                                           ``info@cleanapp.io``)
``EMAIL_FROM_NAME``              no        sender name (``SENDGRID_FROM_NAME``, else
                                           ``CleanApp``)
``EMAIL_DRY_RUN``                no        ``1``/``true``: send nothing, say so (off)
``EMAIL_PUBLIC_URL``             no        public base URL of the email service, for the
                                           unsubscribe links (the request's own base URL)
``EMAIL_UNSUBSCRIBE_SECRET``     no        HMAC key of unsubscribe tokens (derived from
                                           ``INTERNAL_ADMIN_TOKEN``)
``EMAIL_OUTBOX_DIR``             no        folder of the ``outbox`` provider (``outbox``)
``EMAIL_PROVIDER_TIMEOUT_S``     no        timeout of one provider call (10)
``SMTP_HOST`` / ``SMTP_PORT``    no        SMTP server (``localhost`` / 25)
``SMTP_STARTTLS``                no        ``1``: upgrade with STARTTLS (off)
``SMTP_USERNAME``                no        SMTP AUTH user, with ``SMTP_PASSWORD`` (unset)
``SENDGRID_API_KEY``             sendgrid  v3 API key (required unless dry run)
``SENDGRID_API_URL``             no        API base (``https://api.sendgrid.com``)
``EMAIL_RETRY_MAX_ATTEMPTS``     no        attempts of a message before a transient failure
                                           is final (5)
``EMAIL_RETRY_BASE_S``           no        first retry delay; doubled each attempt (2)
``EMAIL_RECOVERY_INTERVAL_S``    no        period of the recovery loop (2)
``EMAIL_QUEUED_GRACE_S``         no        age after which the recovery loop delivers a
                                           queued message a crash left behind (15)
``EMAIL_REQUEST_BODY_LIMIT_BYTES`` no      largest accepted request (8 MiB, above the case
                                           service's 2 MiB, so a send it accepted fits)
``DATABASE_STATEMENT_TIMEOUT_S`` no        statement and lock timeout of the store (5)
===============================  ========  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cleanapp_api.common.env import (
    EnvReader,
    SettingsError,
    http_url,
    mask_url,
    normalise_database_url,
    positive_number,
)

__all__ = [
    "DEFAULT_SENDGRID_API_URL",
    "EMAIL_ENV_VARS",
    "EMAIL_PROVIDERS",
    "EmailSettings",
    "SettingsError",
]

#: Providers of the email executor.
EMAIL_PROVIDERS = ("smtp", "sendgrid", "outbox")
DEFAULT_SENDGRID_API_URL = "https://api.sendgrid.com"

EMAIL_ENV_VARS = (
    "DATABASE_URL",
    "INTERNAL_ADMIN_TOKEN",
    "EMAIL_PROVIDER",
    "EMAIL_FROM",
    "EMAIL_FROM_NAME",
    "SENDGRID_FROM_EMAIL",
    "SENDGRID_FROM_NAME",
    "EMAIL_DRY_RUN",
    "EMAIL_PUBLIC_URL",
    "EMAIL_UNSUBSCRIBE_SECRET",
    "EMAIL_OUTBOX_DIR",
    "EMAIL_PROVIDER_TIMEOUT_S",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_STARTTLS",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SENDGRID_API_KEY",
    "SENDGRID_API_URL",
    "EMAIL_RETRY_MAX_ATTEMPTS",
    "EMAIL_RETRY_BASE_S",
    "EMAIL_RECOVERY_INTERVAL_S",
    "EMAIL_QUEUED_GRACE_S",
    "EMAIL_REQUEST_BODY_LIMIT_BYTES",
    "DATABASE_STATEMENT_TIMEOUT_S",
)


@dataclass(frozen=True, slots=True, repr=False)
class EmailSettings:
    """Validated configuration of the email executor (``cleanapp-api email-service``).

    Parameters
    ----------
    database_url : str
        The store (``opted_out_emails``, ``email_messages``).
    internal_admin_token : str or None
        Shared secret required in ``X-Internal-Admin-Token``; None answers 503.
    provider : {"smtp", "sendgrid", "outbox"}, default "outbox"
        How messages leave.
    from_address, from_name : str
        The sender.
    dry_run : bool, default False
        Send nothing; every result says ``dry_run``.
    public_url : str or None
        Public base URL of the email service for unsubscribe links; None uses the base URL
        of the send request.
    unsubscribe_secret : str or None
        HMAC key of unsubscribe tokens; None derives one from ``internal_admin_token``.
    outbox_dir : str, default "outbox"
        Folder of the ``outbox`` provider.
    provider_timeout_s : float, default 10
        Timeout of one SMTP session or SendGrid call.
    smtp_host, smtp_port, smtp_starttls, smtp_username, smtp_password
        The SMTP server.
    sendgrid_api_key, sendgrid_api_url
        SendGrid v3 credentials and base URL.
    request_body_limit_bytes : int, default 8 MiB
        Largest accepted request body: above the case service's limit (2 MiB), so a send
        the case service accepted always fits (upstream's 1 MiB was below it).
    retry_max_attempts : int, default 5
        Attempts of one message before a transient failure becomes final.
    retry_base_s : float, default 2
        Delay before the first retry; doubled after each further attempt.
    recovery_interval_s : float, default 2
        Period of the recovery loop (retries, expired claims, messages a crash left).
    queued_grace_s : float, default 15
        A ``queued`` message older than this is delivered by the recovery loop.
    statement_timeout_s : float, default 5
        Statement and lock timeout of every database call.

    Raises
    ------
    SettingsError
        Listing every invalid value.
    """

    database_url: str
    internal_admin_token: str | None = None
    provider: str = "outbox"
    from_address: str = "info@cleanapp.io"
    from_name: str = "CleanApp"
    dry_run: bool = False
    public_url: str | None = None
    unsubscribe_secret: str | None = None
    outbox_dir: str = "outbox"
    provider_timeout_s: float = 10.0
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    sendgrid_api_key: str | None = None
    sendgrid_api_url: str = DEFAULT_SENDGRID_API_URL
    request_body_limit_bytes: int = 8 * 1024 * 1024
    retry_max_attempts: int = 5
    retry_base_s: float = 2.0
    recovery_interval_s: float = 2.0
    queued_grace_s: float = 15.0
    statement_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        set_ = object.__setattr__
        try:
            set_(self, "database_url", normalise_database_url(self.database_url))
        except ValueError as exc:
            problems.append(str(exc))
        if self.internal_admin_token is not None and not self.internal_admin_token:
            problems.append("INTERNAL_ADMIN_TOKEN must not be empty when set")
        if self.provider not in EMAIL_PROVIDERS:
            problems.append(
                f"EMAIL_PROVIDER must be one of {', '.join(EMAIL_PROVIDERS)}, got {self.provider!r}"
            )
        if "@" not in self.from_address or any(c.isspace() for c in self.from_address):
            problems.append(f"EMAIL_FROM must be an email address, got {self.from_address!r}")
        for name, url in (("EMAIL_PUBLIC_URL", self.public_url),):
            if url is not None:
                try:
                    set_(self, "public_url", http_url(name, url))
                except ValueError as exc:
                    problems.append(str(exc))
        try:
            set_(self, "sendgrid_api_url", http_url("SENDGRID_API_URL", self.sendgrid_api_url))
        except ValueError as exc:
            problems.append(str(exc))
        if not positive_number(self.provider_timeout_s):
            problems.append(
                "EMAIL_PROVIDER_TIMEOUT_S must be a positive number, "
                f"got {self.provider_timeout_s!r}"
            )
        port = self.smtp_port
        if isinstance(port, bool) or not (isinstance(port, int) and 1 <= port <= 65535):
            problems.append(f"SMTP_PORT must be an integer in 1-65535, got {port!r}")
        if (self.smtp_username is None) != (self.smtp_password is None):
            problems.append("SMTP_USERNAME and SMTP_PASSWORD must be set together")
        if self.provider == "sendgrid" and not self.dry_run and not self.sendgrid_api_key:
            problems.append("SENDGRID_API_KEY is required with EMAIL_PROVIDER=sendgrid")
        if not self.outbox_dir:
            problems.append("EMAIL_OUTBOX_DIR must not be empty")
        attempts = self.retry_max_attempts
        if isinstance(attempts, bool) or not (isinstance(attempts, int) and attempts >= 1):
            problems.append(f"EMAIL_RETRY_MAX_ATTEMPTS must be an integer >= 1, got {attempts!r}")
        limit = self.request_body_limit_bytes
        if isinstance(limit, bool) or not (isinstance(limit, int) and limit > 0):
            problems.append(
                f"EMAIL_REQUEST_BODY_LIMIT_BYTES must be a positive integer, got {limit!r}"
            )
        for name, value in (
            ("EMAIL_RETRY_BASE_S", self.retry_base_s),
            ("EMAIL_RECOVERY_INTERVAL_S", self.recovery_interval_s),
            ("EMAIL_QUEUED_GRACE_S", self.queued_grace_s),
            ("DATABASE_STATEMENT_TIMEOUT_S", self.statement_timeout_s),
        ):
            if not positive_number(value):
                problems.append(f"{name} must be a positive number, got {value!r}")
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmailSettings:
        """Read and validate the email executor's configuration from the environment.

        Parameters
        ----------
        environ : mapping, optional
            Variables to read; ``os.environ`` when omitted.

        Returns
        -------
        EmailSettings
            The validated configuration.

        Raises
        ------
        SettingsError
            Naming every missing or invalid variable.

        Examples
        --------
        >>> s = EmailSettings.from_env({"DATABASE_URL": "postgresql://u:pw@db/cases",
        ...                             "EMAIL_PROVIDER": "SMTP", "SMTP_PORT": "2525"})
        >>> s.provider, s.smtp_port, s.dry_run, s.from_address
        ('smtp', 2525, False, 'info@cleanapp.io')
        """
        env = EnvReader(environ)
        get = env.get
        url = get("DATABASE_URL")
        if url is None:
            env.problems.append("missing required environment variable: DATABASE_URL")
        kwargs: dict[str, object] = {
            "database_url": url or "postgresql+psycopg:///placeholder",
            "internal_admin_token": get("INTERNAL_ADMIN_TOKEN"),
            "provider": (get("EMAIL_PROVIDER") or "outbox").lower(),
            "from_address": get("EMAIL_FROM") or get("SENDGRID_FROM_EMAIL") or "info@cleanapp.io",
            "from_name": get("EMAIL_FROM_NAME") or get("SENDGRID_FROM_NAME") or "CleanApp",
            "dry_run": env.flag("EMAIL_DRY_RUN"),
            "public_url": get("EMAIL_PUBLIC_URL"),
            "unsubscribe_secret": get("EMAIL_UNSUBSCRIBE_SECRET"),
            "outbox_dir": get("EMAIL_OUTBOX_DIR") or "outbox",
            "smtp_host": get("SMTP_HOST") or "localhost",
            "smtp_starttls": env.flag("SMTP_STARTTLS"),
            "smtp_username": get("SMTP_USERNAME"),
            "smtp_password": env.raw("SMTP_PASSWORD"),
            "sendgrid_api_key": get("SENDGRID_API_KEY"),
            "sendgrid_api_url": get("SENDGRID_API_URL") or DEFAULT_SENDGRID_API_URL,
        }
        kwargs |= env.parsed(
            (
                ("SMTP_PORT", "smtp_port", int, "an integer in 1-65535"),
                ("EMAIL_PROVIDER_TIMEOUT_S", "provider_timeout_s", float, "a positive number"),
                ("EMAIL_RETRY_MAX_ATTEMPTS", "retry_max_attempts", int, "an integer >= 1"),
                ("EMAIL_RETRY_BASE_S", "retry_base_s", float, "a positive number"),
                ("EMAIL_RECOVERY_INTERVAL_S", "recovery_interval_s", float, "a positive number"),
                ("EMAIL_QUEUED_GRACE_S", "queued_grace_s", float, "a positive number"),
                (
                    "EMAIL_REQUEST_BODY_LIMIT_BYTES",
                    "request_body_limit_bytes",
                    int,
                    "a positive integer",
                ),
                ("DATABASE_STATEMENT_TIMEOUT_S", "statement_timeout_s", float, "a positive number"),
            )
        )
        return env.build(cls, kwargs)

    def __repr__(self) -> str:
        """Show the configuration with the secrets and the database password masked."""
        masked = "'***'"
        return (
            f"EmailSettings(database_url={mask_url(self.database_url)!r}, "
            f"internal_admin_token={masked if self.internal_admin_token else None}, "
            f"provider={self.provider!r}, from_address={self.from_address!r}, "
            f"dry_run={self.dry_run!r}, public_url={self.public_url!r}, "
            f"smtp_host={self.smtp_host!r}, smtp_port={self.smtp_port!r}, "
            f"smtp_starttls={self.smtp_starttls!r}, "
            f"smtp_username={self.smtp_username!r}, "
            f"sendgrid_api_key={masked if self.sendgrid_api_key else None}, "
            f"sendgrid_api_url={self.sendgrid_api_url!r}, outbox_dir={self.outbox_dir!r})"
        )
