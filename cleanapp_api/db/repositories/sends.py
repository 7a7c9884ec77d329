"""The statements of the escalation send flow: sends, their actions and deliveries.

Every function runs in the caller's transaction (or connection) and returns rows; the flow
itself is :mod:`cleanapp_api.escalation.sending`, its decisions
:mod:`cleanapp_api.escalation.planning`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories.locks import advisory_lock_key, take_advisory_lock

__all__ = [
    "OPEN_DELIVERY_STATUSES",
    "SendLockedError",
    "find_send_by_key",
    "finish_send",
    "insert_deliveries",
    "insert_pending_actions",
    "insert_send",
    "lock_case_escalations",
    "lock_send",
    "merge_family",
    "open_send_ids",
    "recent_send_times",
    "recently_sent_emails",
    "send_deliveries",
    "set_send_plan",
    "settle_actions",
    "update_deliveries",
]

#: Delivery statuses of a recipient whose outcome is not settled yet.
OPEN_DELIVERY_STATUSES = ("pending", "unknown")

_SENDS = t.case_escalation_sends
_ACTIONS = t.case_escalation_actions
_DELIVERIES = t.case_email_deliveries


class SendLockedError(Exception):
    """Another transaction holds the send's row lock (``nowait``)."""


def lock_case_escalations(conn: sa.Connection, case_id: str) -> None:
    """Take the case's escalation advisory lock for the transaction."""
    take_advisory_lock(conn, advisory_lock_key("escalation", case_id))


def recent_send_times(
    conn: sa.Connection, *, since: datetime, limit: int, actor: str | None = None,
    case_id: str | None = None,
) -> list[datetime]:  # fmt: skip
    """Return the times of the latest ``limit`` sends after ``since`` (by actor or case)."""
    s = _SENDS
    column, value = (s.c.actor_user_id, actor) if actor is not None else (s.c.case_id, case_id)
    return list(
        conn.execute(
            sa.select(s.c.created_at)
            .where(column == value, s.c.created_at > since)
            .order_by(s.c.created_at.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )


def recently_sent_emails(
    conn: sa.Connection, case_id: str, digest: str, since: datetime
) -> set[str]:
    """Emails that got, are getting or may have got the message ``digest`` since ``since``.

    Counted: deliveries ``sent``, ``pending`` (in flight) and ``unknown`` (not settled yet)
    of this case's sends of the same subject and body; a ``failed`` delivery is not.
    """
    s, d = _SENDS, _DELIVERIES
    rows = conn.execute(
        sa.select(d.c.recipient_email)
        .select_from(d.join(s, d.c.send_id == s.c.id))
        .where(
            s.c.case_id == case_id,
            s.c.content_hash == digest,
            s.c.created_at > since,
            d.c.delivery_status.in_(("sent", *OPEN_DELIVERY_STATUSES)),
        )
    ).scalars()
    return {str(email) for email in rows}


def find_send_by_key(conn: sa.Connection, actor: str, key: str) -> Any:
    """Return the send an actor recorded under an ``Idempotency-Key`` (None: none)."""
    s = _SENDS
    return conn.execute(
        sa.select(s).where(s.c.actor_user_id == actor, s.c.idempotency_key == key)
    ).first()


def merge_family(conn: sa.Connection, case_id: str) -> list[str]:
    """Return the case, the case it was merged into and the cases merged into it.

    A merge moves the sources' sends to the target, so the send an ``Idempotency-Key``
    names may have been made on any case of this family.
    """
    c = t.cases
    rows = conn.execute(
        sa.select(c.c.case_id, c.c.merged_into_case_id).where(
            sa.or_(c.c.case_id == case_id, c.c.merged_into_case_id == case_id)
        )
    ).all()
    family = {case_id}
    for row in rows:
        family.add(row.case_id)
        if row.case_id == case_id and row.merged_into_case_id:
            family.add(row.merged_into_case_id)
    return sorted(family)


def insert_send(conn: sa.Connection, values: Mapping[str, Any]) -> int:
    """Record a send (the intent, before anything is sent); return its id."""
    return int(conn.execute(sa.insert(_SENDS).values(**values).returning(_SENDS.c.id)).scalar_one())


def insert_pending_actions(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert ``pending`` actions; return their ids in order."""
    if not rows:
        return []
    a = _ACTIONS
    return list(conn.execute(sa.insert(a).returning(a.c.id), list(rows)).scalars().all())


def set_send_plan(conn: sa.Connection, send_id: int, plan: Sequence[Mapping[str, Any]]) -> None:
    """Store the planned recipients (with their action ids) on a send."""
    conn.execute(sa.update(_SENDS).where(_SENDS.c.id == send_id).values(recipients_json=plan))


def lock_send(conn: sa.Connection, send_id: int, *, nowait: bool) -> Any:
    """Lock and return a send row.

    Raises
    ------
    SendLockedError
        With ``nowait`` when another transaction holds the lock.
    """
    select = sa.select(_SENDS).where(_SENDS.c.id == send_id)
    try:
        return conn.execute(select.with_for_update(nowait=nowait)).one()
    except OperationalError as exc:
        if "could not obtain lock" in str(exc).lower() or getattr(exc.orig, "sqlstate", "") == (
            "55P03"
        ):
            raise SendLockedError(str(send_id)) from exc
        raise


def insert_deliveries(
    conn: sa.Connection, rows: Sequence[Mapping[str, Any]]
) -> list[sa.RowMapping]:
    """Insert deliveries; return the stored rows."""
    if not rows:
        return []
    d = _DELIVERIES
    return list(conn.execute(sa.insert(d).returning(*d.c), list(rows)).mappings().all())


def send_deliveries(conn: sa.Connection, send_id: int) -> list[sa.RowMapping]:
    """Return every delivery of a send (one per recipient), in plan order."""
    d = _DELIVERIES
    return list(
        conn.execute(sa.select(d).where(d.c.send_id == send_id).order_by(d.c.id)).mappings().all()
    )


def update_deliveries(conn: sa.Connection, send_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write recipients' outcomes onto a send's deliveries; a ``sent`` one never changes.

    Each row has ``recipient_email`` and the new ``delivery_status``, ``provider``,
    ``provider_message_id``, ``sent_at`` and ``error_message``.
    """
    d = _DELIVERIES
    for row in rows:
        conn.execute(
            sa.update(d)
            .where(
                d.c.send_id == send_id,
                d.c.recipient_email == row["recipient_email"],
                d.c.delivery_status != "sent",
            )
            .values(
                delivery_status=row["delivery_status"],
                provider=row["provider"],
                provider_message_id=row["provider_message_id"],
                sent_at=row["sent_at"],
                error_message=row["error_message"],
                updated_at=sa.func.now(),
            )
        )


def settle_actions(
    conn: sa.Connection, action_ids: Sequence[int], deliveries: Sequence[sa.RowMapping]
) -> list[sa.RowMapping]:
    """Give each action its delivery's status (``failed`` without one); return the actions."""
    a = _ACTIONS
    by_action = {row["action_id"]: row for row in deliveries if row["action_id"] is not None}
    for action_id in action_ids:
        row = by_action.get(action_id)
        conn.execute(
            sa.update(a)
            .where(a.c.id == action_id)
            .values(
                status=row["delivery_status"] if row is not None else "failed",
                provider_message_id=row["provider_message_id"] if row is not None else None,
                sent_at=row["sent_at"] if row is not None else None,
            )
        )
    if not action_ids:
        return []
    return list(
        conn.execute(sa.select(a).where(a.c.id.in_(action_ids)).order_by(a.c.id)).mappings().all()
    )


def finish_send(conn: sa.Connection, send_id: int, values: Mapping[str, Any]) -> None:
    """Record a send's outcome (one more attempt)."""
    s = _SENDS
    conn.execute(sa.update(s).where(s.c.id == send_id).values(attempts=s.c.attempts + 1, **values))


def open_send_ids(conn: sa.Connection, cutoff: datetime, case_id: str | None = None) -> list[int]:
    """Return the sends still ``pending`` or ``unknown``, last touched at or before ``cutoff``."""
    s = _SENDS
    stmt = sa.select(s.c.id).where(s.c.status.in_(OPEN_DELIVERY_STATUSES), s.c.updated_at <= cutoff)
    if case_id is not None:
        stmt = stmt.where(s.c.case_id == case_id)
    return list(conn.execute(stmt.order_by(s.c.id)).scalars())
