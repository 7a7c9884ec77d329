"""Constraints of the store: CHECKs, unique keys, foreign keys and their ON DELETE rules."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from io_support import frame_of, record

import cleanapp_geo.io as cio
from cleanapp_api.db import tables as t

pytestmark = pytest.mark.postgis

CASE_A = "case_" + "a" * 24
CASE_B = "case_" + "b" * 24
CLUSTER = "clst_" + "c" * 24


def _case(case_id: str = CASE_A, **values: Any) -> dict[str, Any]:
    row = {"case_id": case_id, "slug": f"slug-{case_id[-4:]}", "title": "Broken bench"}
    row["created_by_user_id"] = "user-1"
    row.update(values)
    return row


def _rejects(engine: sa.Engine, stmt: sa.Executable, constraint: str) -> None:
    with pytest.raises(sa.exc.IntegrityError, match=constraint), engine.begin() as conn:
        conn.execute(stmt)


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"status": "archived"}, "ck_cases_status"),
        ({"severity_score": 1.5}, "ck_cases_severity_score_range"),
        ({"trend_score": -0.1}, "ck_cases_trend_score_range"),
        ({"classification": "chemical"}, "ck_cases_classification"),
        ({"case_id": "case_XYZ"}, "ck_cases_case_id_format"),
        ({"merged_into_case_id": CASE_A}, "ck_cases_merged_into"),
        ({"anchor_lat": 91.0, "anchor_lng": 0.0}, "ck_cases_anchor_lat_range"),
    ],
)
def test_case_checks(store: sa.Engine, values: dict[str, Any], constraint: str) -> None:
    _rejects(store, sa.insert(t.cases).values(**_case(**values)), constraint)


def test_every_case_status_is_accepted(store: sa.Engine) -> None:
    with store.begin() as conn:
        for i, status in enumerate(t.CASE_STATUSES):
            conn.execute(
                sa.insert(t.cases).values(**_case(f"case_{i:024x}", status=status, slug=f"s{i}"))
            )
        assert conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one() == 7


def test_slugs_are_unique(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.cases).values(**_case(CASE_A, slug="same")))
    _rejects(store, sa.insert(t.cases).values(**_case(CASE_B, slug="same")), "uq_cases_slug")


def test_report_checks(store: sa.Engine) -> None:
    good = {"seq": 1, "ts": sa.func.now(), "latitude": 1.0, "longitude": 2.0}
    _rejects(store, sa.insert(t.reports).values(**good, public_id="rpt_short"), "public_id")
    _rejects(
        store,
        sa.insert(t.reports).values(**good, public_id="rpt_" + "a" * 21 + "!"),
        "public_id",
    )
    _rejects(store, sa.insert(t.reports).values(**good, visibility="hidden"), "visibility")
    _rejects(store, sa.insert(t.reports).values(**good, status="deleted"), "ck_reports_status")
    _rejects(store, sa.insert(t.reports).values(**{**good, "latitude": 90.5}), "latitude")
    with store.begin() as conn:
        conn.execute(sa.insert(t.reports).values(**good))
        public_id, geom = conn.execute(
            sa.select(t.reports.c.public_id, sa.func.ST_AsText(t.reports.c.geom))
        ).one()
    assert public_id.startswith("rpt_") and len(public_id) == 26  # drawn by the database
    assert geom == "POINT(2 1)"  # generated from longitude/latitude


def test_deleting_a_report_cascades_and_nulls_references(store: sa.Engine) -> None:
    cio.write_reports(frame_of(record(1), record(2)), store)
    with store.begin() as conn:
        conn.execute(
            sa.insert(t.saved_clusters).values(
                cluster_id=CLUSTER, seed_report_seq=1, created_by_user_id="u"
            )
        )
        conn.execute(
            sa.insert(t.cases).values(**_case(anchor_report_seq=1, anchor_lat=47.0, anchor_lng=8.0))
        )
        conn.execute(sa.insert(t.case_reports).values(case_id=CASE_A, seq=1))
        conn.execute(sa.insert(t.case_reports).values(case_id=CASE_A, seq=2))
        conn.execute(sa.insert(t.case_clusters).values(case_id=CASE_A, cluster_id=CLUSTER))
        conn.execute(
            sa.insert(t.case_resolution_signals).values(case_id=CASE_A, linked_report_seq=1)
        )
        conn.execute(sa.delete(t.reports).where(t.reports.c.seq == 1))
    with store.connect() as conn:
        assert conn.execute(
            sa.select(t.report_analysis.c.seq).order_by(t.report_analysis.c.seq)
        ).scalars().all() == [2]
        assert conn.execute(sa.select(t.case_reports.c.seq)).scalars().all() == [2]
        assert conn.execute(sa.select(t.cases.c.anchor_report_seq)).scalar_one() is None
        assert conn.execute(sa.select(t.saved_clusters.c.seed_report_seq)).scalar_one() is None
        signal = conn.execute(sa.select(t.case_resolution_signals.c.linked_report_seq))
        assert signal.scalar_one() is None


def test_deleting_a_case_cascades_to_its_children(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.cases).values(**_case()))
        target_id = conn.execute(
            sa.insert(t.case_escalation_targets)
            .values(case_id=CASE_A, email="ops@example.org")
            .returning(t.case_escalation_targets.c.id)
        ).scalar_one()
        action_id = conn.execute(
            sa.insert(t.case_escalation_actions)
            .values(case_id=CASE_A, target_id=target_id)
            .returning(t.case_escalation_actions.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(t.case_email_deliveries).values(
                case_id=CASE_A, action_id=action_id, target_id=target_id, recipient_email="x@y.z"
            )
        )
        conn.execute(sa.insert(t.case_audit_events).values(case_id=CASE_A, event_type="created"))
        conn.execute(sa.delete(t.cases))
    with store.connect() as conn:
        for table in (
            t.case_escalation_targets,
            t.case_escalation_actions,
            t.case_email_deliveries,
            t.case_audit_events,
        ):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


def test_deleting_a_target_keeps_actions_and_deliveries(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.cases).values(**_case()))
        target_id = conn.execute(
            sa.insert(t.case_escalation_targets)
            .values(case_id=CASE_A, phone="+41 44 000 00 00", channel="phone")
            .returning(t.case_escalation_targets.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(t.case_escalation_actions).values(case_id=CASE_A, target_id=target_id)
        )
        conn.execute(sa.delete(t.case_escalation_targets))
        assert conn.execute(sa.select(t.case_escalation_actions.c.target_id)).scalar_one() is None


def test_targets_need_a_contact_method_and_valid_routing(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.cases).values(**_case()))
    insert = sa.insert(t.case_escalation_targets)
    _rejects(store, insert.values(case_id=CASE_A), "has_contact_method")
    _rejects(store, insert.values(case_id=CASE_A, email="a@b.c", notify_tier=5), "notify_tier")
    _rejects(store, insert.values(case_id=CASE_A, email="a@b.c", channel="fax"), "channel")
    _rejects(
        store, insert.values(case_id=CASE_A, email="a@b.c", actionability_score=2), "actionability"
    )


def test_case_anchor_point_is_generated_and_indexed(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(sa.insert(t.cases).values(**_case(anchor_lat=47.37, anchor_lng=8.54)))
        conn.execute(sa.insert(t.cases).values(**_case(CASE_B, slug="other")))
        near = conn.execute(
            sa.select(t.cases.c.case_id).where(
                sa.func.ST_DWithin(
                    sa.func.geography(t.cases.c.anchor_geom),
                    sa.func.geography(
                        sa.func.ST_SetSRID(sa.func.ST_MakePoint(8.5401, 47.37), 4326)
                    ),
                    50.0,
                )
            )
        )
        assert near.scalars().all() == [CASE_A]


def test_auth_tokens_checks(store: sa.Engine) -> None:
    row = {"user_id": "u", "token_type": "access", "expires_at": sa.func.now()}
    _rejects(store, sa.insert(t.auth_tokens).values(**row, token_hash="ABC"), "token_hash")
    _rejects(
        store,
        sa.insert(t.auth_tokens).values(**{**row, "token_type": "id"}, token_hash="a" * 64),
        "token_type",
    )
