"""SQLAlchemy Core tables the library reads and writes: reports, analyses, contact sources.

The store's other tables (auth tokens, cases, escalations, the email service's log) belong
to the service: they live in :mod:`cleanapp_api.db.tables`, on the same :data:`metadata`,
next to the migrations that create every table. A test compares the migrated database
with both modules so they cannot drift apart. Table and column names follow the upstream
CleanApp schema with these deliberate changes:

* ``reports`` folds upstream ``reports``, ``reports_geometry``, ``report_status``,
  ``reports_owners`` and ``report_raw.visibility`` into one row per report. The reporter id
  (upstream column ``id``) is ``reporter_id``. ``geom`` is a generated
  ``geometry(Point, 4326)`` column computed from ``longitude``/``latitude`` so the two can
  never disagree. Its GiST index serves polygon scopes (``ST_Intersects``) and, through a
  conservative bounding box, metre-radius scopes (``ST_DWithin`` on geography), so no second
  (geography) index has to be maintained on bulk loads; see :mod:`cleanapp_geo.io.read`.
* ``reports.preferred_language`` (new, migration 0003) is the language of the report's
  preferred analysis (:func:`cleanapp_geo.select_preferred_analysis`; NULL when it has
  none), so readers join that analysis on the ``(seq, language)`` primary key instead of
  ranking every report's analyses. Statement-level triggers on ``report_analysis`` (created
  by the migration; a MetaData cannot declare them) keep it right for every writer:
  inserts, updates, deletes, truncation. :func:`cleanapp_geo.io.write_reports` stores it
  with new reports, so its bulk loads cost the triggers one join and no update.
* ``seq`` is the stable key of a report: bulk imports are idempotent on it. ``public_id``
  always holds an upstream-format id (``rpt_`` + 22 base64url characters); when an import
  does not supply one, the database draws a random one (:data:`NEW_PUBLIC_ID_SQL`).
* ``areas`` folds upstream ``areas`` and ``area_index``; ``area_contacts`` is upstream
  ``contact_emails``.

The column helpers (:func:`check_in`, :func:`unit_interval`, :func:`created_at_column`, ...)
are shared with :mod:`cleanapp_api.db.tables`, so both spell constraints the same way.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY

__all__ = [
    "ANALYSIS_TEXT_COLUMNS",
    "CLASSIFICATIONS",
    "NEW_PUBLIC_ID_SQL",
    "PROBABILITY_COLUMNS",
    "PUBLIC_ID_PATTERN",
    "REPORT_STATUSES",
    "REPORT_VISIBILITIES",
    "area_contacts",
    "areas",
    "brand_contacts",
    "check_in",
    "created_at_column",
    "geometry_column",
    "metadata",
    "now_default",
    "report_analysis",
    "report_fk",
    "reports",
    "unit_interval",
    "updated_at_column",
]

#: Report classifications (upstream ENUM of ``report_analysis.classification``).
CLASSIFICATIONS: Final = ("physical", "digital")
#: Report statuses (upstream ``report_status.status``).
REPORT_STATUSES: Final = ("active", "resolved")
#: Report visibilities (upstream ``report_raw.visibility``).
REPORT_VISIBILITIES: Final = ("public", "shadow", "quarantine")
#: PostgreSQL regular expression every ``reports.public_id`` matches.
PUBLIC_ID_PATTERN: Final = "^rpt_[A-Za-z0-9_-]{22}$"
#: SQL expression drawing a fresh random public id (``rpt_`` + 22 base64url characters, about
#: 126 random bits from two version-4 UUIDs); the server default of ``reports.public_id``.
NEW_PUBLIC_ID_SQL: Final = (
    "'rpt_' || substr(translate(encode(decode("
    "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), "
    "'hex'), 'base64'), '+/', '-_'), 1, 22)"
)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def check_in(column: str, values: tuple[str, ...]) -> str:
    """Return SQL text ``column IN (...)`` over constant literals (never user values)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def unit_interval(column: str) -> sa.CheckConstraint:
    """CHECK that a score column lies in [0, 1]."""
    return sa.CheckConstraint(f"{column} >= 0 AND {column} <= 1", name=f"{column}_range")


def now_default() -> sa.TextClause:
    """Return the server default ``now()``."""
    return sa.text("now()")


def created_at_column() -> sa.Column[object]:
    """Return a ``created_at`` column defaulting to ``now()``."""
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    )


def updated_at_column() -> sa.Column[object]:
    """Return an ``updated_at`` column defaulting to ``now()``."""
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now_default()
    )


def report_fk(name: str, *, ondelete: str, nullable: bool) -> sa.Column[object]:
    """Return a column ``name`` referring to ``reports.seq``."""
    return sa.Column(
        name, sa.BigInteger, sa.ForeignKey("reports.seq", ondelete=ondelete), nullable=nullable
    )


def geometry_column(geometry_type: str) -> Geometry:
    """Return a GeoAlchemy2 EPSG:4326 geometry type without an implicit index."""
    # Spatial indexes are declared explicitly (named, visible to migrations).
    return Geometry(geometry_type, srid=4326, spatial_index=False)


# --------------------------------------------------------------------------------------------
# Reports and their analyses
# --------------------------------------------------------------------------------------------

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    # Collation "C": ids are ASCII, byte order is their order, and the unique index builds
    # twice as fast as under a linguistic collation.
    sa.Column(
        "public_id",
        sa.String(32, collation="C"),
        nullable=False,
        server_default=sa.text(NEW_PUBLIC_ID_SQL),
    ),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reporter_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("team", sa.Integer, nullable=False, server_default="0"),
    sa.Column("latitude", sa.Double, nullable=False),
    sa.Column("longitude", sa.Double, nullable=False),
    sa.Column(
        "geom",
        geometry_column("POINT"),
        sa.Computed("ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)", persisted=True),
        nullable=False,
    ),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("visibility", sa.String(16), nullable=False, server_default="public"),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("owner_is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    created_at_column(),
    # Language of the preferred analysis, NULL without analyses; kept up to
    # date by the triggers of migration 0003 on report_analysis (see the module docstring).
    sa.Column("preferred_language", sa.String(16), nullable=True),
    sa.UniqueConstraint("public_id"),
    # Same language as PUBLIC_ID_PATTERN, about four times cheaper for PostgreSQL's regex
    # engine than a counted repetition (it matters on million-row imports).
    sa.CheckConstraint(
        "length(public_id) = 26 AND public_id ~ '^rpt_[-_A-Za-z0-9]+$'", name="public_id_format"
    ),
    sa.CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude_range"),
    sa.CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude_range"),
    sa.CheckConstraint(check_in("status", REPORT_STATUSES), name="status"),
    sa.CheckConstraint(check_in("visibility", REPORT_VISIBILITIES), name="visibility"),
    sa.Index("ix_reports_geom", "geom", postgresql_using="gist"),
    sa.Index("ix_reports_ts_seq", "ts", "seq"),
)

#: Text columns of ``report_analysis`` beyond the report-frame contract's core.
ANALYSIS_TEXT_COLUMNS: Final = (
    "source",
    "analysis_text",
    "title",
    "description",
    "summary",
    "brand_name",
    "brand_display_name",
    "inferred_contact_emails",
)
#: Probability columns of ``report_analysis``, each in [0, 1].
PROBABILITY_COLUMNS: Final = ("litter_probability", "hazard_probability", "digital_bug_probability")

report_analysis = sa.Table(
    "report_analysis",
    metadata,
    report_fk("seq", ondelete="CASCADE", nullable=False),
    sa.Column("language", sa.String(16), nullable=False, server_default="en"),
    sa.Column("source", sa.String(255), nullable=False, server_default=""),
    sa.Column("analysis_text", sa.Text, nullable=False, server_default=""),
    sa.Column("title", sa.String(500), nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("brand_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("brand_display_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("litter_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("hazard_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("digital_bug_probability", sa.Double, nullable=False, server_default="0"),
    sa.Column("severity_level", sa.Double, nullable=False, server_default="0"),
    sa.Column("classification", sa.String(16), nullable=False, server_default="physical"),
    sa.Column("inferred_contact_emails", sa.Text, nullable=False, server_default=""),
    sa.Column("is_valid", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at_column(),
    updated_at_column(),
    sa.PrimaryKeyConstraint("seq", "language"),
    sa.CheckConstraint("language <> ''", name="language_not_empty"),
    sa.CheckConstraint(check_in("classification", CLASSIFICATIONS), name="classification"),
    unit_interval("severity_level"),
    unit_interval("litter_probability"),
    unit_interval("hazard_probability"),
    unit_interval("digital_bug_probability"),
)

# --------------------------------------------------------------------------------------------
# Contact sources
# --------------------------------------------------------------------------------------------

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("geom", geometry_column("MULTIPOLYGON"), nullable=False),
    created_at_column(),
    updated_at_column(),
    sa.Index("ix_areas_geom", "geom", postgresql_using="gist"),
)

area_contacts = sa.Table(
    "area_contacts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "area_id", sa.BigInteger, sa.ForeignKey("areas.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("consent_report", sa.Boolean, nullable=False, server_default=sa.false()),
    created_at_column(),
    sa.UniqueConstraint("area_id", "email"),
    sa.CheckConstraint("position('@' in email) > 1", name="email_format"),
)

brand_contacts = sa.Table(
    "brand_contacts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("brand_key", sa.String(255), nullable=False),
    sa.Column("organization", sa.String(255), nullable=False, server_default=""),
    sa.Column("role", sa.String(64), nullable=False, server_default="contact"),
    sa.Column("emails", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    sa.Column("website", sa.String(512), nullable=False, server_default=""),
    sa.Column("contact_url", sa.String(512), nullable=False, server_default=""),
    sa.Column("source", sa.String(64), nullable=False, server_default=""),
    created_at_column(),
    updated_at_column(),
    sa.UniqueConstraint("brand_key", "role", "organization"),
    sa.CheckConstraint("brand_key <> ''", name="brand_key_not_empty"),
    sa.CheckConstraint("brand_key = lower(brand_key)", name="brand_key_lower"),
)
