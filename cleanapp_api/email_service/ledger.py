"""The email service's ledger: every (send, recipient) it was asked to deliver, and its state.

One ``email_messages`` row per message key (``send-<id>:<email>``), written before
anything is delivered, and the content of the send in ``email_send_requests``. A row moves
through (``docs/delivery.md`` draws it)::

    queued ──claim──► sending ──► sent | failed | invalid_email | opted_out | dry_run
      ▲                 │  ▲
      │                 │  └── lease expired (the claiming process died): claimed again
      │                 ▼
      │              retrying ──(next_attempt_at)──► claimed again … up to the last attempt
      └── a same-key retry of the send re-queues its ``failed`` rows

A claim is one ``UPDATE ... WHERE status ...`` (atomic), with a lease (``claimed_until``):
only one process delivers a row at a time, and a row whose claimant died is claimed again
once its lease has passed. Every function runs its own short transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_api.db import tables as t

__all__ = [
    "FINAL",
    "IN_FLIGHT",
    "claim",
    "claim_due",
    "load_request",
    "read_key",
    "read_send",
    "record_request",
    "settle",
]

_M = t.email_messages
_R = t.email_send_requests

#: Ledger states after which a row never changes (except a same-key retry of ``failed``).
FINAL: Final = frozenset({"sent", "failed", "invalid_email", "opted_out", "dry_run"})
#: Ledger states of a message still on its way.
IN_FLIGHT: Final = frozenset({"queued", "sending", "retrying"})


def record_request(
    engine: sa.Engine,
    *,
    send_id: int | None,
    case_id: str,
    request_json: Mapping[str, Any],
    public_url: str,
    rows: Sequence[Mapping[str, Any]],
    requeue_failed: bool,
) -> None:
    """Record a send's content and one ``queued`` row per new message key (one transaction).

    Keys already in the ledger keep their state; with ``requeue_failed`` their ``failed``
    rows become ``queued`` again (a same-key retry of the send).
    """
    with engine.begin() as conn:
        if send_id is not None:
            conn.execute(
                pg.insert(_R)
                .values(
                    send_id=send_id,
                    case_id=case_id,
                    request_json=dict(request_json),
                    public_url=public_url,
                )
                .on_conflict_do_nothing()
            )
        if rows:
            conn.execute(pg.insert(_M).on_conflict_do_nothing(), [dict(r) for r in rows])
        if requeue_failed and rows:
            conn.execute(
                sa.update(_M)
                .where(_M.c.message_key.in_([r["message_key"] for r in rows]))
                .where(_M.c.status == "failed")
                .values(
                    status="queued",
                    attempts=0,
                    next_attempt_at=None,
                    error_message=None,
                    updated_at=sa.func.now(),
                )
            )


def _lapsed(now: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Match a ``sending`` row whose claimant died (lease passed, or none: 0002 rows)."""
    return sa.and_(
        _M.c.status == "sending",
        sa.or_(_M.c.claimed_until.is_(None), _M.c.claimed_until < now),
    )


def _claimable(now: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.or_(
        _M.c.status == "queued",
        sa.and_(_M.c.status == "retrying", _M.c.next_attempt_at <= now),
        _lapsed(now),
    )


def _dict(row: sa.RowMapping | None) -> dict[str, Any] | None:
    return None if row is None else {str(k): v for k, v in row.items()}


def claim(engine: sa.Engine, key: str, lease_s: float) -> dict[str, Any] | None:
    """Claim one row for delivery (None: another process has it, or it is settled)."""
    now = sa.func.now()
    stmt = (
        sa.update(_M)
        .where(_M.c.message_key == key, _claimable(now))
        .values(
            status="sending",
            attempts=_M.c.attempts + 1,
            claimed_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .returning(*_M.c)
    )
    with engine.begin() as conn:
        return _dict(conn.execute(stmt).mappings().first())


def claim_due(
    engine: sa.Engine, *, lease_s: float, queued_grace_s: float, limit: int
) -> list[dict[str, Any]]:
    """Claim the rows the recovery loop should deliver now, oldest first.

    Due: ``retrying`` rows whose next attempt has come, ``sending`` rows whose lease has
    passed, and ``queued`` rows older than ``queued_grace_s`` (left by a process that died
    before it reached them). Rows locked by another claimer are skipped.
    """
    now = sa.func.now()
    due = sa.or_(
        sa.and_(
            _M.c.status == "queued",
            _M.c.updated_at < now - timedelta(seconds=queued_grace_s),
        ),
        sa.and_(_M.c.status == "retrying", _M.c.next_attempt_at <= now),
        _lapsed(now),
    )
    keys = (
        sa.select(_M.c.message_key)
        .where(due, _M.c.send_id.is_not(None))
        .order_by(_M.c.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        sa.update(_M)
        .where(_M.c.message_key.in_(keys))
        .values(
            status="sending",
            attempts=_M.c.attempts + 1,
            claimed_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .returning(*_M.c)
    )
    with engine.begin() as conn:
        return [{str(k): v for k, v in r.items()} for r in conn.execute(stmt).mappings()]


def settle(engine: sa.Engine, key: str, values: Mapping[str, Any]) -> None:
    """Write a claimed row's outcome (``sent``, ``retrying``, ``failed``, ...)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(_M)
            .where(_M.c.message_key == key)
            .values(claimed_until=None, updated_at=sa.func.now(), **values)
        )


def read_key(engine: sa.Engine, key: str) -> dict[str, Any] | None:
    """Return one ledger row (None: unknown key)."""
    with engine.connect() as conn:
        return _dict(conn.execute(sa.select(_M).where(_M.c.message_key == key)).mappings().first())


def read_send(engine: sa.Engine, send_id: int) -> list[dict[str, Any]]:
    """Return a send's ledger rows in the order they were recorded."""
    stmt = sa.select(_M).where(_M.c.send_id == send_id).order_by(_M.c.created_at, _M.c.email)
    with engine.connect() as conn:
        return [{str(k): v for k, v in r.items()} for r in conn.execute(stmt).mappings()]


def load_request(engine: sa.Engine, send_id: int) -> dict[str, Any] | None:
    """Return the recorded content of a send (None: unknown)."""
    with engine.connect() as conn:
        return _dict(conn.execute(sa.select(_R).where(_R.c.send_id == send_id)).mappings().first())
