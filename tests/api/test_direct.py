"""direct.execute gives what Connection.execute gives: same rows, values and types, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanapp_api.db import direct
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories._shared import ARRAY_BIGINT

_VALUES = sa.select(
    sa.bindparam("i", type_=sa.BigInteger).label("i"),
    sa.bindparam("x", type_=sa.Double).label("x"),
    sa.bindparam("s", type_=sa.Text).label("s"),
    sa.bindparam("ts", type_=sa.DateTime(timezone=True)).label("ts"),
    sa.cast(sa.bindparam("x", type_=sa.Double), sa.Numeric(12, 4)).label("dec"),
    sa.cast(sa.bindparam("x", type_=sa.Double), sa.Numeric(12, 4, asdecimal=False)).label("fl"),
    sa.bindparam("doc", type_=t.case_audit_events.c.payload_json.type).label("doc"),
    sa.func.cardinality(sa.bindparam("arr", type_=ARRAY_BIGINT)).label("n"),
    sa.literal("constant").label("lit"),
)
_TEXT = sa.text("SELECT CAST(:a AS bigint) AS a, 'b' AS b, now() IS NOT NULL AS c")

# Text PostgreSQL can store: no NUL, no lone surrogates (UTF-8 cannot encode them; the
# service refuses both before the database sees them).
_stored_text = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(alphabet=_stored_text, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet=_stored_text, max_size=4), inner)
    ),
    max_leaves=8,
)


def _both(engine: sa.Engine, statement: Any, params: dict[str, Any]) -> tuple[Any, Any]:
    with engine.connect() as conn:
        ours = direct.execute(conn, statement, params)
        theirs = conn.execute(statement, params)
        keys = tuple(theirs.keys())
        reference = [tuple(row) for row in theirs]
        conn.rollback()
    return (ours.keys, [tuple(row) for row in ours]), (keys, reference)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    i=st.integers(-(2**62), 2**62),
    x=st.floats(-1e6, 1e6, allow_nan=False),
    s=st.text(alphabet=_stored_text, max_size=12),
    doc=_json,
    arr=st.lists(st.integers(0, 2**40), max_size=4),
)
def test_rows_and_types_equal_connection_execute(
    db_engine: sa.Engine, i: int, x: float, s: str, doc: Any, arr: list[int]
) -> None:
    params = {"i": i, "x": x, "s": s, "ts": datetime(2026, 3, 1, 8, tzinfo=UTC), "doc": doc,
              "arr": arr}  # fmt: skip
    ours, theirs = _both(db_engine, _VALUES, params)
    assert ours == theirs
    assert [type(v) for v in ours[1][0]] == [type(v) for v in theirs[1][0]]
    assert isinstance(ours[1][0][4], Decimal) and isinstance(ours[1][0][5], float)


def test_textual_sql_named_rows_and_scalar(db_engine: sa.Engine) -> None:
    ours, theirs = _both(db_engine, _TEXT, {"a": 5})
    assert ours == theirs == (("a", "b", "c"), [(5, "b", True)])
    with db_engine.connect() as conn:
        rows = direct.execute(conn, _TEXT, {"a": 6})
        assert rows.scalar() == 6 and rows.first().b == "b"
        assert rows.mappings() == [{"a": 6, "b": "b", "c": True}]


def test_driver_errors_are_sqlalchemy_errors(db_engine: sa.Engine) -> None:
    with db_engine.connect() as conn, pytest.raises(sa.exc.DataError):
        direct.execute(conn, sa.text("SELECT 1 / CAST(:z AS int)"), {"z": 0})
    with db_engine.connect() as conn:  # the connection's kept cursor serves on after an error
        with pytest.raises(sa.exc.DataError):
            direct.execute(conn, sa.text("SELECT 1 / CAST(:z AS int)"), {"z": 0})
        conn.rollback()
        assert direct.execute(conn, _TEXT, {"a": 3}).scalar() == 3
    with db_engine.connect() as conn, pytest.raises(sa.exc.InvalidRequestError, match="'a'"):
        direct.execute(conn, _TEXT, {})  # a value missing: SQLAlchemy's own message


def test_expanding_parameters_are_refused(db_engine: sa.Engine) -> None:
    statement = sa.select(t.cases.c.case_id).where(t.cases.c.case_id.in_(["a", "b"]))
    with db_engine.connect() as conn, pytest.raises(ValueError, match="expanding"):
        direct.execute(conn, statement)


def test_disabled_goes_through_connection_execute(db_engine: sa.Engine) -> None:
    direct.ENABLED = False
    try:
        ours, theirs = _both(db_engine, _TEXT, {"a": 7})
    finally:
        direct.ENABLED = True
    assert ours == theirs


_fragment = st.sampled_from(["SELECT ", "a, ", "'x' || ", "%%", " LIKE '%%a'", "(", ")", "\n"])
_placeholder = st.sampled_from(["a", "b", "c_1", "a"]).map(lambda name: f"%({name})s")


@settings(max_examples=200, deadline=None)
@given(st.lists(_fragment | _placeholder, max_size=12))
def test_server_sql_is_psycopgs_own_conversion(pieces: list[str]) -> None:
    # The SQL sent is the SQL psycopg would send for the same statement (so the same
    # prepared statements on the server); psycopg's converter is private, hence only here.
    from psycopg._queries import _query2pg_nocache

    sql = "".join(pieces)
    ours, order = direct.server_sql(sql)
    theirs, _, their_order, _ = _query2pg_nocache(sql.encode(), "utf-8")
    assert ours.encode() == theirs
    assert list(order) == (their_order or [])


@pytest.mark.parametrize("sql", ["SELECT %s", "SELECT %(a)b", "SELECT 5 % 2"])
def test_server_sql_refuses_other_placeholders(sql: str) -> None:
    with pytest.raises(ValueError, match="placeholders"):
        direct.server_sql(sql)


def test_executemany_one_and_many_parameter_sets(db_engine: sa.Engine) -> None:
    insert = sa.text("INSERT INTO tmp_direct (k, v) VALUES (:k, :v)")
    with db_engine.connect() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE tmp_direct (k int, v text)"))
        direct.executemany(conn, insert, [{"k": 1, "v": "one"}])
        direct.executemany(conn, insert, [{"k": 2, "v": "two"}, {"k": 3, "v": "50 %"}])
        rows = conn.execute(sa.text("SELECT k, v FROM tmp_direct ORDER BY k")).all()
        conn.rollback()
    assert [tuple(r) for r in rows] == [(1, "one"), (2, "two"), (3, "50 %")]
