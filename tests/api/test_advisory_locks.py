"""Advisory locks of case writes are per schema: one database can hold several stores."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from cleanapp_api.db import repositories as repo


def _short_lock_timeout(conn: sa.Connection) -> None:
    conn.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))


def test_a_lock_in_one_schema_does_not_block_another_schema(db_engine: sa.Engine) -> None:
    other = f"locks_other_{uuid.uuid4().hex[:8]}"
    with db_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {other}"))
    try:
        with (
            db_engine.connect() as holder,
            db_engine.connect() as same_schema,
            db_engine.connect() as other_schema,
        ):
            # The global lock exclusively (a scope of more than 64 cells) and a report's lock.
            repo.lock_scope(holder, seqs=[7], bounds=(0.0, 0.0, 10.0, 10.0))

            # SET LOCAL: the pooled connection goes back with the test schema's search path.
            other_schema.execute(sa.text(f"SET LOCAL search_path TO {other}, public"))
            _short_lock_timeout(other_schema)
            repo.lock_scope(other_schema, seqs=[7], bounds=(0.0, 0.0, 10.0, 10.0))
            other_schema.rollback()

            _short_lock_timeout(same_schema)
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                repo.lock_scope(same_schema, seqs=[8], bounds=None)
            same_schema.rollback()
            holder.rollback()

            _short_lock_timeout(same_schema)
            repo.lock_scope(same_schema, seqs=[7], bounds=None)  # free once the holder ends
            same_schema.rollback()
        with db_engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_schema()")).scalar() != other
    finally:
        with db_engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {other} CASCADE"))


def _locks(conn: sa.Connection) -> list[tuple[str, bool]]:
    rows = conn.execute(
        sa.text(
            "SELECT mode, granted FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() ORDER BY mode"
        )
    )
    return [(str(mode), bool(granted)) for mode, granted in rows]


@pytest.mark.parametrize("generic_plans", [False, True])
def test_lock_scope_takes_its_locks_in_one_statement_and_plans_as_asked(
    db_engine: sa.Engine, generic_plans: bool
) -> None:
    """Shared global + exclusive cells and seqs (a point); plan_cache_mode for the transaction."""
    with db_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        conn.commit()
        repo.lock_scope(conn, seqs=[7, 8], bounds=(8.54, 47.37, 8.54, 47.37),
                        generic_plans=generic_plans)  # fmt: skip
        locks = _locks(conn)
        assert locks[-1] == ("ShareLock", True) and len(locks) >= 4  # global, >= 1 cell, 2 seqs
        assert {mode for mode, _ in locks[:-1]} == {"ExclusiveLock"}
        mode = conn.execute(sa.text("SELECT current_setting('plan_cache_mode')")).scalar()
        assert mode == ("force_generic_plan" if generic_plans else "auto")
        conn.commit()
        # Both end with the transaction.
        assert _locks(conn) == []
        assert conn.execute(sa.text("SELECT current_setting('plan_cache_mode')")).scalar() == "auto"
        conn.commit()
