"""The service's database layer: URLs, engines and Alembic migrations.

The tables live in :mod:`cleanapp_api.db.tables` (the service's) and
:mod:`cleanapp_geo.io.tables` (the library's), on one ``MetaData``; the queries in
:mod:`cleanapp_api.db.repositories`. Importing this package declares every table of the
store on that ``MetaData`` (the library's bulk writer looks up there which foreign keys
refer to ``reports``). Migrations are configured from Python, no ``alembic.ini``:

>>> from cleanapp_api import db
>>> db.upgrade("postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp")  # doctest: +SKIP

Nothing here reads the environment; the CLI and :mod:`cleanapp_api.settings` pass URLs in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cleanapp_api.db import tables

__all__ = [
    "MIGRATIONS_PATH",
    "alembic_config",
    "create_engine",
    "current_revision",
    "downgrade",
    "head_revision",
    "normalise_url",
    "private_schema",
    "revision",
    "tables",
    "upgrade",
    "url_with_schema",
]

#: Directory of the Alembic environment (``env.py``, ``versions/``).
MIGRATIONS_PATH: Final = Path(__file__).resolve().parent / "migrations"

_POSTGRES_DRIVERS: Final = {"postgresql", "postgres", "postgresql+psycopg"}

Bind = str | sa.Engine | sa.Connection


def normalise_url(url: str) -> str:
    """Return a ``postgresql+psycopg://`` URL (``postgresql://``/``postgres://`` accepted).

    Parameters
    ----------
    url : str
        A SQLAlchemy database URL.

    Returns
    -------
    str
        The URL with the psycopg 3 driver, password kept.

    Raises
    ------
    ValueError
        When the URL cannot be parsed or names another database or driver.

    Examples
    --------
    >>> normalise_url("postgres://u:pw@db:5432/cases")
    'postgresql+psycopg://u:pw@db:5432/cases'
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(
            "database URL cannot be parsed "
            "(expected postgresql+psycopg://user:password@host:port/dbname)"
        ) from exc
    if parsed.drivername not in _POSTGRES_DRIVERS:
        raise ValueError(
            f"database URL must use PostgreSQL with psycopg 3 (postgresql+psycopg://...), "
            f"got driver {parsed.drivername!r}"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: object) -> sa.Engine:
    """Create an engine for a (normalised) PostgreSQL URL.

    Parameters
    ----------
    url : str
        Database URL (see :func:`normalise_url`).
    **kwargs
        Passed to :func:`sqlalchemy.create_engine` (``pool_pre_ping`` defaults to True).

    Returns
    -------
    sqlalchemy.Engine
        The engine.
    """
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(normalise_url(url), **kwargs)


def alembic_config(url: str | None = None, *, connection: sa.Connection | None = None) -> Config:
    """Build the Alembic configuration of the store.

    Parameters
    ----------
    url : str, optional
        Database URL (used when no ``connection`` is given).
    connection : sqlalchemy.Connection, optional
        Run the migrations on this connection (in its transaction, if one is open).

    Returns
    -------
    alembic.config.Config
        With ``script_location`` set to :data:`MIGRATIONS_PATH`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    if url is not None:
        config.attributes["url"] = normalise_url(url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_connection(bind: Bind) -> Iterator[sa.Connection]:
    if isinstance(bind, sa.Connection):
        yield bind
        return
    engine = (
        bind if isinstance(bind, sa.Engine) else create_engine(bind, poolclass=sa.pool.NullPool)
    )
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if not isinstance(bind, sa.Engine):
            engine.dispose()


def upgrade(bind: Bind, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (one transaction).

    Parameters
    ----------
    bind : str, sqlalchemy.Engine or sqlalchemy.Connection
        Database URL, engine, or connection (the caller then commits).
    revision : str, default "head"
        Target revision.
    """
    with _migration_connection(bind) as connection:
        command.upgrade(alembic_config(connection=connection), revision)


def downgrade(bind: Bind, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (``base``: drop every table; PostGIS stays).

    Parameters
    ----------
    bind : str, sqlalchemy.Engine or sqlalchemy.Connection
        Database URL, engine, or connection (the caller then commits).
    revision : str, default "base"
        Target revision.
    """
    with _migration_connection(bind) as connection:
        command.downgrade(alembic_config(connection=connection), revision)


def current_revision(bind: Bind) -> str | None:
    """Return the revision of the connection's current schema (``None``: never migrated).

    Parameters
    ----------
    bind : str, sqlalchemy.Engine or sqlalchemy.Connection
        Database URL, engine, or connection.

    Returns
    -------
    str or None
        The current revision id.
    """
    with _migration_connection(bind) as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
        return context.get_current_revision()


def revision(message: str, *, migrations_path: Path | None = None) -> Path:
    """Create an empty migration from the template: the next number, ``down_revision`` set.

    The new file is ``versions/NNNN_<slug of message>.py``; fill in ``upgrade()`` and
    ``downgrade()`` and declare the same change on the tables modules (see
    ``docs/architecture.md``, "Adding a column or a table"; a test compares both).

    Parameters
    ----------
    message : str
        What the migration does, e.g. ``"add cases.priority"``.
    migrations_path : pathlib.Path, optional
        The Alembic environment (default: :data:`MIGRATIONS_PATH`).

    Returns
    -------
    pathlib.Path
        The new migration file.
    """
    if not message.strip():
        raise ValueError("a migration needs a message, e.g. 'add cases.priority'")
    config = alembic_config()
    config.set_main_option("script_location", str(migrations_path or MIGRATIONS_PATH))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    scripts = ScriptDirectory.from_config(config)
    numbers = [int(r.revision) for r in scripts.walk_revisions() if r.revision.isdigit()]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    script = command.revision(config, message=message.strip(), rev_id=rev_id)
    if script is None or isinstance(script, list):  # pragma: no cover - one head, one script
        raise RuntimeError("alembic did not create exactly one revision")
    return Path(script.path)


def head_revision() -> str:
    """Return the newest revision id of the migrations.

    Returns
    -------
    str
        The head revision.
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships revisions
        raise RuntimeError(f"no Alembic revisions found in {MIGRATIONS_PATH}")
    return head


def url_with_schema(url: str, schema: str) -> str:
    """Return ``url`` with ``schema`` first on the search path.

    ``public``, where PostGIS lives, stays on the path after it.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL.
    schema : str
        Schema name.

    Returns
    -------
    str
    """
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema},public"})
        .render_as_string(hide_password=False)
    )


@contextmanager
def private_schema(url: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """Create a fresh schema ``<prefix>_<random>``, migrate it and yield its URL.

    For test sessions and benchmarks that share one database: each works in its own
    schema (see :func:`url_with_schema`), dropped with everything in it afterwards unless
    ``keep``.

    Parameters
    ----------
    url : str
        SQLAlchemy URL of the database (its role may create schemas and the ``postgis``
        extension).
    prefix : str
        Start of the schema name.
    keep : bool, default False
        Leave the schema in place.

    Yields
    ------
    str
        URL of the migrated schema.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(sa.schema.CreateSchema(schema))
        try:
            schema_url = url_with_schema(url, schema)
            upgrade(schema_url)
            yield schema_url
        finally:
            if not keep:
                with admin.begin() as conn:
                    conn.execute(sa.schema.DropSchema(schema, cascade=True))
    finally:
        admin.dispose()
