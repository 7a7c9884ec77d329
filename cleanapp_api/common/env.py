"""Reading and validating environment variables, for the settings of both services.

:class:`EnvReader` reads a mapping (``os.environ`` by default) the way both ``from_env``
constructors need it: empty values count as unset, numbers are parsed with a message naming
the variable, and every problem is collected so one :class:`SettingsError` names them all.

Examples
--------
>>> env = EnvReader({"PORT": " 80 ", "EMPTY": "", "DEBUG": "yes"})
>>> env.get("PORT"), env.get("EMPTY"), env.flag("DEBUG")
('80', None, True)
>>> values = env.parsed((("PORT", "port", int, "an integer"),))
>>> values, env.problems
({'port': 80}, [])
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "EnvReader",
    "SettingsError",
    "http_url",
    "mask_url",
    "normalise_database_url",
    "positive_number",
]

_POSTGRES_DRIVERS = {"postgresql", "postgresql+psycopg", "postgres"}
_T = TypeVar("_T")


class SettingsError(ValueError):
    """The service configuration is incomplete or invalid.

    Parameters
    ----------
    problems : iterable of str
        One human-readable sentence per problem; each names the environment variable.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


class EnvReader:
    """Environment variables, read once, with the problems found so far.

    Parameters
    ----------
    environ : mapping, optional
        Variables to read; ``os.environ`` when omitted.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if environ is None else environ
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        """Return the stripped value of ``name``, None when unset or empty."""
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def raw(self, name: str) -> str | None:
        """Return the value of ``name`` as given (not stripped), None when unset or empty."""
        return self.env.get(name) or None

    def flag(self, name: str) -> bool:
        """Return a boolean variable (``1/true/yes/on`` or ``0/false/no/off``; unset: False)."""
        raw = self.get(name)
        if raw is None:
            return False
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")
        return False

    def parsed(self, specs: Iterable[tuple[str, str, Callable[[str], Any], str]]) -> dict[str, Any]:
        """Parse the set variables of ``specs`` (``(variable, key, parse, expected)``).

        Returns
        -------
        dict
            ``key`` → parsed value for every variable that is set and parses; a variable
            that does not parse adds ``"<variable> must be <expected>, got '<raw>'"``.
        """
        values: dict[str, Any] = {}
        for name, key, parse, expected in specs:
            raw = self.get(name)
            if raw is None:
                continue
            try:
                values[key] = parse(raw)
            except ValueError:
                self.problems.append(f"{name} must be {expected}, got {raw!r}")
        return values

    def build(self, cls: Callable[..., _T], kwargs: Mapping[str, Any]) -> _T:
        """Construct ``cls(**kwargs)``; raise one :class:`SettingsError` naming every problem."""
        problems = list(self.problems)
        result: _T | None = None
        try:
            result = cls(**kwargs)
        except SettingsError as exc:
            problems.extend(exc.problems)
        if problems or result is None:
            raise SettingsError(problems)
        return result


def normalise_database_url(raw: str) -> str:
    """Return a PostgreSQL URL with the psycopg 3 driver (``postgresql+psycopg://``)."""
    if not raw:
        raise ValueError("DATABASE_URL must not be empty")
    try:
        url: URL = make_url(raw)
    except (ArgumentError, ValueError):
        # Never echo the raw value: it may hold a password.
        raise ValueError(
            "DATABASE_URL is not a valid SQLAlchemy URL "
            "(expected postgresql+psycopg://user:password@host:port/dbname)"
        ) from None
    if url.drivername not in _POSTGRES_DRIVERS:
        raise ValueError(
            "DATABASE_URL must be a PostgreSQL URL using the psycopg driver "
            f"(postgresql+psycopg://...), got driver {url.drivername!r}"
        )
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def mask_url(raw: str) -> str:
    """Return a URL with its password masked, for logs and reprs."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "***"


def http_url(name: str, raw: str) -> str:
    """Return an http(s) URL without a trailing slash; ``ValueError`` names ``name``."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def positive_number(value: object) -> bool:
    """Whether ``value`` is a finite number > 0 (booleans are not numbers)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )
