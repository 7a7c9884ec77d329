"""Hot statements straight to the driver: compiled once, SQLAlchemy's execution path skipped.

``POST /reports`` runs about ten statements per report, many times a second. For each,
SQLAlchemy's execution path (cache key, execution context, parameter processing, result
set-up) cost about as much CPU as psycopg's own work. :func:`execute` runs a statement
built once (a module constant or an ``lru_cache``'d builder) with the same SQL and the
same parameter and result processing as ``Connection.execute`` would, but compiles it
once per statement object and hands the rows of the DBAPI cursor back as plain tuples
(:class:`Rows`).

psycopg's own work is trimmed too. The SQL is turned into PostgreSQL's ``$n`` form once
per statement (:func:`server_sql`, the conversion psycopg makes of ``%(name)s``
placeholders: the same bytes reach the server) and runs on a :class:`psycopg.RawCursor`
kept per connection, with the values in placeholder order. psycopg converts a statement
at every call when its SQL is longer than 4096 bytes or it has more than 50 parameters (the
ingest's store-and-read statement: 4.9 kB, 43+ parameters), and builds the result's column
descriptions at every ``cursor.description``; here they are read once per statement.

Only statements without "expanding" parameters (``IN`` lists: use ``= ANY(:array)``) and
without Python-side column defaults are accepted; :data:`ENABLED` set to False sends
everything through ``Connection.execute`` (for comparisons of the two paths).
"""

from __future__ import annotations

import re
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.pq import ExecStatus

__all__ = ["ENABLED", "Rows", "execute", "executemany", "server_sql"]

#: False: :func:`execute` goes through ``Connection.execute`` (same rows, slower).
ENABLED = True


@dataclass(slots=True)
class _Plan:
    sql: str
    #: ``sql`` with ``$n`` placeholders (bytes) and the bind names in placeholder order.
    server_sql: bytes
    order: tuple[str, ...]
    compiled: Any
    bind_processors: Mapping[str, Callable[[Any], Any]]
    escaped: Mapping[str, str]
    #: Per result column, from the first result's column types (None: no processing).
    result_processors: tuple[Callable[[Any], Any] | None, ...] | None
    processors_known: bool
    keys: tuple[str, ...]
    row_type: Any


_PLANS: weakref.WeakKeyDictionary[Any, dict[Any, _Plan]] = weakref.WeakKeyDictionary()
#: One raw cursor per psycopg connection (a connection serves one thread at a time).
_CURSORS: weakref.WeakKeyDictionary[Any, psycopg.RawCursor[Any]] = weakref.WeakKeyDictionary()
_TUPLES_OK = ExecStatus.TUPLES_OK
_PLACEHOLDER = re.compile(r"%(?:\(([^)]+)\)(.)|(.))", re.DOTALL)


def server_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """Turn ``%(name)s`` SQL into PostgreSQL's ``$n`` form, as psycopg does at execution.

    Each distinct name gets the next number at its first place; a repeated name reuses its
    number; ``%%`` becomes ``%``.

    Parameters
    ----------
    sql : str
        SQL with psycopg's named placeholders (SQLAlchemy's ``pyformat`` output).

    Returns
    -------
    tuple
        The SQL with ``$1, $2, ...`` and the names in number order.

    Raises
    ------
    ValueError
        For any other use of ``%`` (positional ``%s``, ``%b``/``%t`` formats, a lone ``%``).

    Examples
    --------
    >>> server_sql("SELECT %(a)s, %(b)s, %(a)s || '%%'")
    ("SELECT $1, $2, $1 || '%'", ('a', 'b'))
    """
    numbers: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        name, form, other = match.groups()
        if other == "%":
            return "%"
        if name is None or form != "s":
            raise ValueError(f"direct.execute takes only %(name)s placeholders: {match[0]!r}")
        if name not in numbers:
            numbers[name] = f"${len(numbers) + 1}"
        return numbers[name]

    converted = _PLACEHOLDER.sub(number, sql)
    return converted, tuple(numbers)


class Rows:
    """The rows of a statement: named tuples (values by position or column name)."""

    __slots__ = ("keys", "rows")

    def __init__(self, keys: tuple[str, ...], rows: list[Any]) -> None:
        self.keys = keys
        self.rows = rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def mappings(self) -> list[dict[str, Any]]:
        """Return the rows as dicts of column name to value."""
        keys = self.keys
        return [dict(zip(keys, row, strict=True)) for row in self.rows]

    def first(self) -> Any:
        """Return the first row (None without rows)."""
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """Return the first column of the first row (None without rows)."""
        return self.rows[0][0] if self.rows else None


def _plan(conn: sa.Connection, statement: Any) -> _Plan:
    dialect = conn.dialect
    by_dialect = _PLANS.get(statement)
    if by_dialect is None:
        by_dialect = {}
        _PLANS[statement] = by_dialect
    plan = by_dialect.get(dialect)
    if plan is not None:
        return plan
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("direct.execute takes no expanding (IN list) parameters")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("direct.execute does not run Python-side column defaults")
    if compiled.positional:  # pragma: no cover - psycopg's paramstyle is pyformat
        raise ValueError("direct.execute needs a dialect with named parameters")
    keys = tuple(column.keyname for column in compiled._result_columns)
    converted, order = server_sql(compiled.string)
    plan = _Plan(
        sql=compiled.string,
        server_sql=converted.encode(),
        order=order,
        compiled=compiled,
        bind_processors=dict(compiled._bind_processors),
        escaped=dict(compiled.escaped_bind_names or {}),
        result_processors=None,
        processors_known=False,
        keys=keys,
        row_type=namedtuple("Row", keys) if keys else tuple,
    )
    by_dialect[dialect] = plan
    return plan


def _result_processors(conn: sa.Connection, plan: _Plan, description: Any) -> None:
    """Set the plan's result processors as SQLAlchemy picks them (by type and column OID)."""
    columns = plan.compiled._result_columns
    if not columns:  # textual SQL: names from the driver, values as it gives them
        keys = tuple(d.name for d in description)
        plan.keys = keys
        plan.row_type = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
        plan.processors_known = True
        return
    if len(columns) != len(description):
        raise ValueError("direct.execute: the result's columns are not the statement's")
    processors = tuple(
        column.type._cached_result_processor(conn.dialect, d.type_code)
        for column, d in zip(columns, description, strict=True)
    )
    plan.result_processors = processors if any(p is not None for p in processors) else None
    plan.processors_known = True


def _params(plan: _Plan, params: Mapping[str, Any] | None) -> dict[str, Any]:
    values = plan.compiled.construct_params(params or {})
    processors, escaped = plan.bind_processors, plan.escaped
    out = {}
    for key, value in values.items():
        processor = processors.get(key)
        out[escaped.get(key, key)] = value if processor is None else processor(value)
    return out


def _cursor(conn: sa.Connection) -> psycopg.RawCursor[Any]:
    if not conn.in_transaction():
        conn.begin()  # what conn.execute would do (autobegin): the caller ends it
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - a live connection always has one
        raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
    cursor = _CURSORS.get(raw)
    if cursor is None or cursor.closed:
        cursor = psycopg.RawCursor(raw)
        _CURSORS[raw] = cursor
    return cursor


def execute(conn: sa.Connection, statement: Any, params: Mapping[str, Any] | None = None) -> Rows:
    """Run a statement built once; return its rows (none for a statement without rows).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The connection (a transaction is begun as ``Connection.execute`` would).
    statement : sqlalchemy executable
        Built once and kept (its compiled form is cached on the object).
    params : mapping, optional
        Values of its bind parameters by name.

    Returns
    -------
    Rows
        The same values, in the same order, as ``conn.execute(statement, params)`` gives.
    """
    if not ENABLED:
        result = conn.execute(statement, dict(params or {}))
        if not result.returns_rows:
            return Rows((), [])
        keys = tuple(result.keys())
        return Rows(keys, list(result))
    plan = _plan(conn, statement)
    values = _params(plan, params)
    cursor = _cursor(conn)
    try:
        cursor.execute(plan.server_sql, [values[name] for name in plan.order])
        answer = cursor.pgresult
        has_rows = answer is not None and (answer.nfields or answer.status == _TUPLES_OK)
        rows: list[Any] = cursor.fetchall() if has_rows else []
        if has_rows and not plan.processors_known:
            _result_processors(conn, plan, cursor.description)
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, plan, values, error) from error
    procs = plan.result_processors
    if procs is not None and rows:
        rows = [
            tuple(v if p is None else p(v) for p, v in zip(procs, row, strict=True)) for row in rows
        ]
    make = plan.row_type._make if plan.keys else tuple
    return Rows(plan.keys, [make(row) for row in rows])


def executemany(conn: sa.Connection, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
    """Run a statement without rows once per parameter set (as ``conn.execute`` with a list)."""
    if not params:
        return
    if not ENABLED:
        conn.execute(statement, [dict(p) for p in params])
        return
    plan = _plan(conn, statement)
    values = [_params(plan, p) for p in params]
    order = plan.order
    cursor = _cursor(conn)
    try:
        if len(values) == 1:  # as SQLAlchemy does: no pipeline for one parameter set
            cursor.execute(plan.server_sql, [values[0][name] for name in order])
        else:
            cursor.executemany(plan.server_sql, [[v[name] for name in order] for v in values])
    except conn.dialect.loaded_dbapi.Error as error:
        raise _wrapped(conn, plan, values, error) from error


def _wrapped(conn: sa.Connection, plan: _Plan, values: Any, error: Exception) -> Exception:
    """Return the SQLAlchemy exception ``Connection.execute`` raises for a driver error."""
    dbapi = conn.dialect.loaded_dbapi
    return sa.exc.DBAPIError.instance(plan.sql, values, error, dbapi.Error, dialect=conn.dialect)
