"""Migrations: round trip on an empty database, every table and index, no drift."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from cleanapp_api import cli, db
from cleanapp_api.db import tables

pytestmark = pytest.mark.postgis

EXPECTED_TABLES = {
    "reports",
    "report_analysis",
    "areas",
    "area_contacts",
    "brand_contacts",
    "opted_out_emails",
    "auth_tokens",
    "saved_clusters",
    "cases",
    "case_reports",
    "case_clusters",
    "case_escalation_targets",
    "case_escalation_actions",
    "case_email_deliveries",
    "case_resolution_signals",
    "case_audit_events",
    "case_escalation_sends",
    "email_messages",
    "case_suggestions",
    "case_rematch_runs",
    "report_group_suggestions",
    "email_send_requests",
    "case_contact_observations",
    "case_notify_plans",
    "case_notify_plan_items",
    "subject_routing_profiles",
    "contact_endpoint_memory",
    "notify_execution_tasks",
    "notify_outcomes",
    "report_escalation_targets",
    "authority_directory_rules",
}

GIST_INDEXES = {
    "ix_reports_geom": ("reports", "geom"),
    "ix_areas_geom": ("areas", "geom"),
    "ix_saved_clusters_geom": ("saved_clusters", "geom"),
    "ix_cases_anchor_geom": ("cases", "anchor_geom"),
    "ix_cases_aggregate_geom": ("cases", "aggregate_geom"),
}

GEOMETRY_COLUMNS = {
    ("reports", "geom"): ("POINT", 4326),
    ("areas", "geom"): ("MULTIPOLYGON", 4326),
    ("saved_clusters", "geom"): ("GEOMETRY", 4326),
    ("cases", "anchor_geom"): ("POINT", 4326),
    ("cases", "aggregate_geom"): ("GEOMETRY", 4326),
}


def _user_tables(conn: sa.Connection) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    )
    return {row[0] for row in rows} - {"spatial_ref_sys", "alembic_version"}


def _expected_indexes() -> set[str]:
    names: set[str] = set()
    for table in tables.metadata.tables.values():
        names |= {str(ix.name) for ix in table.indexes}
        names |= {
            str(c.name)
            for c in table.constraints
            if isinstance(c, sa.PrimaryKeyConstraint | sa.UniqueConstraint)
        }
    return names


@pytest.fixture
def fresh_database(base_url: str) -> Iterator[str]:
    """A brand-new empty database (no PostGIS yet), dropped afterwards."""
    name = f"cleanapp_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_round_trip_upgrade_downgrade_upgrade_on_an_empty_database(fresh_database: str) -> None:
    engine = sa.create_engine(fresh_database, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            assert _user_tables(conn) == set()
            assert (
                conn.execute(
                    sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
                ).first()
                is None
            )

        db.upgrade(fresh_database)
        assert db.current_revision(fresh_database) == db.head_revision()
        with engine.connect() as conn:
            assert _user_tables(conn) == EXPECTED_TABLES
            assert conn.execute(
                sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ).first()

        db.downgrade(fresh_database)
        assert db.current_revision(fresh_database) is None
        with engine.connect() as conn:
            assert _user_tables(conn) == set()
            indexes = conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            ).scalars()
            assert not set(indexes) & _expected_indexes()
            # The extension is left in place (other databases objects may depend on it).
            assert conn.execute(
                sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ).first()

        db.upgrade(fresh_database)
        with engine.connect() as conn:
            assert _user_tables(conn) == EXPECTED_TABLES
    finally:
        engine.dispose()


def test_every_table_and_index_is_present(engine: sa.Engine) -> None:
    assert set(tables.metadata.tables) == EXPECTED_TABLES
    with engine.connect() as conn:
        assert _user_tables(conn) == EXPECTED_TABLES
        rows = conn.execute(
            sa.text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema()"
            )
        ).all()
        present = {row.indexname: (row.tablename, row.indexdef) for row in rows}
        assert _expected_indexes() <= set(present)
        for name, (table, column) in GIST_INDEXES.items():
            assert present[name][0] == table
            assert f"USING gist ({column})" in present[name][1]
        geometry = conn.execute(
            sa.text(
                "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns "
                "WHERE f_table_schema = current_schema()"
            )
        ).all()
        assert {(r[0], r[1]): (r[2], r[3]) for r in geometry} == GEOMETRY_COLUMNS


def test_constraint_names_match_the_tables_module(engine: sa.Engine) -> None:
    # Alembic's autogenerate does not compare CHECK constraints; compare them by name.
    expected = {
        (table.name, str(c.name))
        for table in tables.metadata.tables.values()
        for c in table.constraints
    }
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT cl.relname, co.conname FROM pg_constraint co "
                "JOIN pg_class cl ON cl.oid = co.conrelid "
                "JOIN pg_namespace ns ON ns.oid = cl.relnamespace "
                "WHERE ns.nspname = current_schema() AND cl.relname <> 'alembic_version'"
            )
        ).all()
    assert {(r[0], r[1]) for r in rows} == expected


def test_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    def ours(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (type_ == "table" and reflected and compare_to is None)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": ours, "compare_type": True, "compare_server_default": False},
        )
        diff = compare_metadata(context, tables.metadata)
    assert diff == []


def test_cli_db_upgrade_current_downgrade(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = f"io_cli_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    url = db.url_with_schema(base_url, schema)
    try:
        assert cli.main(["db", "upgrade", "--database-url", url]) == 0
        assert cli.main(["db", "current", "--database-url", url]) == 0
        assert cli.main(["db", "downgrade", "--database-url", url]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"database upgraded to {db.head_revision()}",
            f"{db.head_revision()} (up to date)",
            "database downgraded to base",
        ]
    finally:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def test_cli_without_a_database_url_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli.main(["db", "current"]) == 1
    assert "pass --database-url or set DATABASE_URL" in capsys.readouterr().err


def test_a_schema_is_migrated_even_when_a_migrated_one_is_visible(
    base_url: str, store_url: str
) -> None:
    # The session schema (migrated) stays on the search path behind a fresh schema: the
    # fresh one must not be taken as migrated through the visible alembic_version table.
    session_schema = make_url(store_url).query["options"].split("=")[1].split(",")[0]
    schema = f"io_shadow_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    url = (
        make_url(base_url)
        .update_query_dict({"options": f"-csearch_path={schema},{session_schema},public"})
        .render_as_string(hide_password=False)
    )
    try:
        assert db.current_revision(url) is None
        db.upgrade(url)
        assert db.current_revision(url) == db.head_revision()
        with admin.connect() as conn:
            created = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
        assert created == len(tables.metadata.tables) + 1  # and alembic_version
    finally:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def test_cli_db_revision_creates_the_next_migration_from_the_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cleanapp-api db revision "..."` writes versions/NNNN_<slug>.py, next number, chained."""
    copy = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS_PATH, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(db, "MIGRATIONS_PATH", copy)
    head = db.head_revision()
    assert cli.main(["db", "revision", "add cases.priority"]) == 0
    expected = copy / "versions" / f"{int(head) + 1:04d}_add_cases_priority.py"
    assert str(expected) in capsys.readouterr().out
    text = expected.read_text()
    assert f"down_revision = {head!r}" in text and "def upgrade() -> None:" in text
    assert db.head_revision() == f"{int(head) + 1:04d}"
    with pytest.raises(ValueError, match="needs a message"):
        db.revision("  ", migrations_path=copy)


def test_authority_directory_rules_are_seeded_with_upstreams_rules(engine: sa.Engine) -> None:
    # Reference Appendix C: 29 rules for any jurisdiction, 20 for named countries.
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT jurisdiction_key, count(*) FROM authority_directory_rules "
                "GROUP BY jurisdiction_key"
            )
        ).all()
        school = conn.execute(
            sa.text(
                "SELECT query_templates_json, official_domains_json, priority "
                "FROM authority_directory_rules WHERE jurisdiction_key = 'country:ch' "
                "AND asset_class = 'school' AND role_type = 'facility_manager'"
            )
        ).one()
    assert dict(rows) == {
        "*": 29,
        "country:ch": 6,
        "country:us": 9,
        "country:de": 2,
        "country:at": 1,
        "country:fr": 1,
        "country:it": 1,
    }
    assert school == (
        ["hausdienst", "schulverwaltung", "kontakt"],
        ["*.schule-*.ch", "*.schulen-*.ch", "*.ch"],
        9,
    )


def test_a_case_has_at_most_one_active_notify_plan(engine: sa.Engine) -> None:
    case_id = "case_" + uuid.uuid4().hex[:24]
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(
            sa.text(
                "INSERT INTO cases (case_id, slug, title, created_by_user_id) "
                "VALUES (:c, :c, 't', 'u')"
            ),
            {"c": case_id},
        )
        insert = sa.text(
            "INSERT INTO case_notify_plans (case_id, plan_version, status) VALUES (:c, :v, :s)"
        )
        conn.execute(insert, {"c": case_id, "v": 1, "s": "superseded"})
        conn.execute(insert, {"c": case_id, "v": 2, "s": "active"})
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(insert, {"c": case_id, "v": 3, "s": "active"})
        tx.rollback()


def test_authority_rules_lookup_puts_the_jurisdiction_first(engine: sa.Engine) -> None:
    from cleanapp_api.db.repositories.routing import authority_rules

    with engine.connect() as conn:
        rows = authority_rules(
            conn,
            defect_class="physical_structural",
            asset_class="school",
            jurisdiction_key="country:ch/state:zuerich/city:zuerich",
        )
        anywhere = authority_rules(conn, defect_class="physical_structural", asset_class="school")
    assert [(r["jurisdiction_key"], r["role_type"], r["priority"]) for r in rows] == [
        ("country:ch", "building_authority", 8),
        ("country:ch", "facility_manager", 9),
        ("country:ch", "fire_authority", 14),
        ("*", "building_authority", 10),
        ("*", "public_safety", 20),
    ]
    assert {r["jurisdiction_key"] for r in anywhere} == {"*"}
