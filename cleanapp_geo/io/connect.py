"""Connections to the store: what every reader and writer of :mod:`cleanapp_geo.io` takes.

Every function of :mod:`cleanapp_geo.io` takes ``con``, a SQLAlchemy
:class:`~sqlalchemy.engine.Engine` or :class:`~sqlalchemy.engine.Connection` on a database
migrated with ``cleanapp-api db upgrade``. Readers open a connection from an engine or use
the given one (:func:`connection`). Writers run in their own transaction when given an engine
or a connection outside a transaction, and in a savepoint of the caller's transaction
otherwise, so a failed write leaves the caller's transaction usable and the caller decides
when to commit (:func:`write_transaction`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeAlias

import sqlalchemy as sa

__all__ = ["Connectable", "ProgressCallback", "connection", "write_transaction"]

#: A SQLAlchemy engine or connection.
Connectable: TypeAlias = sa.Engine | sa.Connection

#: ``progress(phase, done, total)``: called while writing; ``phase`` is ``"staging"``
#: (``done``/``total`` count rows), ``"inserting"`` or ``"indexing"`` (``0``/``1`` when the
#: phase starts, ``1``/``1`` when it ends).
ProgressCallback: TypeAlias = Callable[[str, int, int], None]


@contextmanager
def connection(con: Connectable) -> Iterator[sa.Connection]:
    """Yield a connection: a new one from an engine (closed afterwards), or ``con`` itself."""
    if isinstance(con, sa.Engine):
        with con.connect() as conn:
            yield conn
    elif isinstance(con, sa.Connection):
        yield con
    else:
        raise TypeError(f"con must be a SQLAlchemy Engine or Connection, got {type(con).__name__}")


@contextmanager
def write_transaction(con: Connectable) -> Iterator[sa.Connection]:
    """Yield a connection inside a transaction (a savepoint inside the caller's one)."""
    if isinstance(con, sa.Engine):
        with con.begin() as conn:
            yield conn
    elif isinstance(con, sa.Connection):
        if con.in_transaction():
            with con.begin_nested():
                yield con
        else:
            with con.begin():
                yield con
    else:
        raise TypeError(f"con must be a SQLAlchemy Engine or Connection, got {type(con).__name__}")
