"""Preferred analysis language on reports, kept up to date by triggers on report_analysis.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

``reports.preferred_language`` holds the language of the report's preferred analysis
(reference §1.3: ``en``, case-insensitive, else the smallest lower-cased code, ties by the
raw code; NULL when the report has no analysis). Readers join the preferred analysis on
the ``(seq, language)`` primary key instead of sorting every report's analyses.

Statement-level triggers on ``report_analysis`` (transition tables, so a bulk insert costs
one set-based statement, not a call per row) keep the column right for every writer:

* ``INSERT``: a new analysis replaces the stored choice only when it ranks before it. A
  writer that already stored the right language, as ``cleanapp_geo.io.write_reports``
  does for new reports, costs one hash join of the new rows with ``reports`` and no
  update (about 1.8 s for a million-report load on two busy cores);
* ``UPDATE`` (of ``seq`` or ``language``) and ``DELETE``: the choice is recomputed for the
  reports whose ``(seq, language)`` pairs changed;
* ``TRUNCATE``: every choice is cleared.

The upgrade backfills the column for the stored analyses (one ``UPDATE`` of every report
that has an analysis: about a minute per million reports, with the indexes in place).
The downgrade drops the triggers, their function and the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FUNCTION = "report_analysis_preferred_language"
_TRIGGERS = {
    "insert": "AFTER INSERT ON report_analysis REFERENCING NEW TABLE AS new_rows",
    "update": (
        "AFTER UPDATE ON report_analysis REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "delete": "AFTER DELETE ON report_analysis REFERENCING OLD TABLE AS old_rows",
    "truncate": "AFTER TRUNCATE ON report_analysis",
}

# The rank of a language in the preferred-analysis order (smaller is preferred).
_RANK = "(lower({0}) <> 'en', lower({0}), {0})"
_PREFERRED = (
    "(SELECT a.language FROM report_analysis AS a WHERE a.seq = r.seq "
    "ORDER BY lower(a.language) <> 'en', lower(a.language), a.language LIMIT 1)"
)
_BACKFILL = """
UPDATE reports AS r SET preferred_language = best.language
FROM (
    SELECT DISTINCT ON (a.seq) a.seq, a.language FROM report_analysis AS a
    ORDER BY a.seq, lower(a.language) <> 'en', lower(a.language), a.language
) AS best
WHERE r.seq = best.seq
"""
_RECOMPUTE = f"""
        UPDATE reports AS r SET preferred_language = {_PREFERRED}
        WHERE r.seq IN (SELECT changed.seq FROM {{changed}} AS changed)
          AND r.preferred_language IS DISTINCT FROM {_PREFERRED};"""
_UPDATED = (
    "((SELECT seq, language FROM old_rows EXCEPT SELECT seq, language FROM new_rows) "
    "UNION (SELECT seq, language FROM new_rows EXCEPT SELECT seq, language FROM old_rows))"
)
_BODY = f"""
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE reports AS r SET preferred_language = best.language
        FROM (
            SELECT DISTINCT ON (n.seq) n.seq, n.language
            FROM new_rows AS n JOIN reports AS c ON c.seq = n.seq
            WHERE c.preferred_language IS NULL
               OR (n.language <> c.preferred_language
                   AND {_RANK.format("n.language")} < {_RANK.format("c.preferred_language")})
            ORDER BY n.seq, lower(n.language) <> 'en', lower(n.language), n.language
        ) AS best
        WHERE r.seq = best.seq;
    ELSIF TG_OP = 'UPDATE' THEN{_RECOMPUTE.format(changed=_UPDATED)}
    ELSIF TG_OP = 'DELETE' THEN{_RECOMPUTE.format(changed="old_rows")}
    ELSE
        UPDATE reports SET preferred_language = NULL WHERE preferred_language IS NOT NULL;
    END IF;
    RETURN NULL;
END
"""


def upgrade() -> None:
    op.add_column("reports", sa.Column("preferred_language", sa.String(16), nullable=True))
    op.execute(_BACKFILL)
    # SET search_path FROM CURRENT: the body finds this schema's tables whatever the
    # search path of the session that writes.
    op.execute(
        f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path FROM CURRENT AS $body${_BODY}$body$"
    )
    for event, clause in _TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {_FUNCTION}_{event} {clause} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        )


def downgrade() -> None:
    for event in _TRIGGERS:
        op.execute(f"DROP TRIGGER {_FUNCTION}_{event} ON report_analysis")
    op.execute(f"DROP FUNCTION {_FUNCTION}()")
    op.drop_column("reports", "preferred_language")
