"""reports.preferred_language: written with new reports, kept right by the triggers.

The stored column must always name the preferred analysis, computed here
independently by :func:`cleanapp_geo.select_preferred_analysis` on the stored analyses,
whoever writes: ``write_reports`` (also its drop-and-rebuild path), later analyses in
other languages, or plain SQL inserts, updates, deletes and truncation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from io_support import frame_of, record

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api import db
from cleanapp_geo.io import tables as t

pytestmark = pytest.mark.postgis


def _stored(engine: sa.Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.reports.c.seq, t.reports.c.preferred_language))
        return {int(seq): language for seq, language in rows}


def _expected(engine: sa.Engine) -> dict[int, str | None]:
    """The preferred language of every stored report by the library's own rule."""
    seqs = list(_stored(engine))
    preferred = cg.select_preferred_analysis(cio.read_analyses(engine, seqs))
    chosen = dict(zip(preferred["seq"].tolist(), preferred["language"].tolist(), strict=True))
    return {seq: chosen.get(seq) for seq in seqs}


def _check(engine: sa.Engine) -> None:
    expected = _expected(engine)
    assert _stored(engine) == expected
    # And read_reports shows that analysis (the titles name their language).
    frame = cio.read_reports(engine, visible_only=False).set_index("seq")
    for seq, language in expected.items():
        assert frame.loc[seq, "language"] == (language or "")
        assert frame.loc[seq, "title"] == (f"title {language}" if language else "")


def _analyses(*pairs: tuple[int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq": [seq for seq, _ in pairs],
            "language": [language for _, language in pairs],
            "title": [f"title {language}" for _, language in pairs],
            "severity_level": 0.5,
        }
    )


def _insert(conn: sa.Connection, seq: int, language: str) -> None:
    conn.execute(
        sa.insert(t.report_analysis).values(
            seq=seq, language=language, title=f"title {language}", severity_level=0.5
        )
    )


@pytest.mark.parametrize("rebuild", [False, True], ids=["keyed", "rebuild"])
def test_write_reports_stores_the_preferred_language(store: sa.Engine, rebuild: bool) -> None:
    cio.write_reports(
        frame_of(record(1, language="de"), record(2, language="")), store, rebuild_indexes=rebuild
    )
    analyses = _analyses((3, "fr"), (3, "de"), (4, "it"), (4, "EN"), (5, "Es"), (5, "es"))
    frame = frame_of(record(3), record(4), record(5), record(6))  # 6: no analysis
    cio.write_reports(frame, store, analyses=analyses, rebuild_indexes=rebuild)
    assert _stored(store) == {1: "de", 2: "en", 3: "de", 4: "EN", 5: "Es", 6: None}
    assert _stored(store) == _expected(store)


def test_analyses_written_later_in_other_languages_update_the_choice(store: sa.Engine) -> None:
    first = _analyses((1, "de"), (2, "en"), (3, "fr"), (4, "de"))
    cio.write_reports(frame_of(*(record(seq) for seq in range(1, 5))), store, analyses=first)
    _check(store)
    later = _analyses((1, "en"), (2, "de"), (3, "es"), (3, "aa"), (4, "fr"))
    result = cio.insert_reports(
        frame_of(*(record(seq) for seq in range(1, 5))), store, analyses=later
    )
    assert (result.inserted_reports, result.inserted_analyses) == (0, 5)
    assert _stored(store) == {1: "en", 2: "en", 3: "aa", 4: "de"}
    _check(store)
    assert cio.read_reports(store).set_index("seq").loc[1, "title"] == "title en"


def test_plain_sql_writers_keep_the_choice_right(store: sa.Engine) -> None:
    cio.write_reports(
        frame_of(record(1), record(2)), store, analyses=_analyses((1, "de"), (2, "fr"))
    )
    with store.begin() as conn:
        _insert(conn, 1, "en")
        _insert(conn, 1, "aa")
    assert _stored(store)[1] == "en"
    with store.begin() as conn:  # renaming the preferred analysis
        conn.execute(
            sa.update(t.report_analysis)
            .where(t.report_analysis.c.seq == 1, t.report_analysis.c.language == "en")
            .values(language="zz", title="title zz")
        )
    assert _stored(store)[1] == "aa"
    with store.begin() as conn:  # moving an analysis to another report
        conn.execute(
            sa.update(t.report_analysis)
            .where(t.report_analysis.c.seq == 1, t.report_analysis.c.language == "aa")
            .values(seq=2)
        )
    assert _stored(store) == {1: "de", 2: "aa"}
    _check(store)
    with store.begin() as conn:  # an update of other columns changes nothing
        conn.execute(sa.update(t.report_analysis).values(is_valid=False))
    assert _stored(store) == {1: "de", 2: "aa"}
    with store.begin() as conn:
        conn.execute(sa.delete(t.report_analysis).where(t.report_analysis.c.language == "de"))
    assert _stored(store) == {1: "zz", 2: "aa"}
    with store.begin() as conn:
        conn.execute(sa.delete(t.report_analysis).where(t.report_analysis.c.seq == 1))
    assert _stored(store) == {1: None, 2: "aa"}
    _check(store)
    with store.begin() as conn:
        conn.execute(sa.text("TRUNCATE report_analysis"))
    assert _stored(store) == {1: None, 2: None}
    _check(store)


def test_deleting_reports_cascades_through_the_triggers(store: sa.Engine) -> None:
    cio.write_reports(
        frame_of(record(1), record(2)), store, analyses=_analyses((1, "en"), (1, "de"), (2, "fr"))
    )
    with store.begin() as conn:
        conn.execute(sa.delete(t.reports).where(t.reports.c.seq == 1))
    assert _stored(store) == {2: "fr"}
    _check(store)


def test_random_writes_keep_the_choice_right(store: sa.Engine) -> None:
    rng = random.Random(20260316)
    languages = ["en", "EN", "de", "De", "fr", "aa", "zz", "pt-BR", "pt_br"]
    cio.write_reports(frame_of(*(record(seq) for seq in range(1, 5))), store)
    for _ in range(40):
        with store.begin() as conn:
            present = conn.execute(
                sa.select(t.report_analysis.c.seq, t.report_analysis.c.language)
            ).all()
            action = rng.choice(["insert", "insert", "delete", "rename", "move"])
            seq, language = rng.randint(1, 4), rng.choice(languages)
            if action == "insert" and (seq, language) not in present:
                _insert(conn, seq, language)
            elif present:
                old_seq, old_language = rng.choice(present)
                at = sa.and_(
                    t.report_analysis.c.seq == old_seq,
                    t.report_analysis.c.language == old_language,
                )
                if action == "delete":
                    conn.execute(sa.delete(t.report_analysis).where(at))
                elif action == "rename" and (old_seq, language) not in present:
                    values = {"language": language, "title": f"title {language}"}
                    conn.execute(sa.update(t.report_analysis).where(at).values(**values))
                elif action == "move" and (seq, old_language) not in present:
                    conn.execute(sa.update(t.report_analysis).where(at).values(seq=seq))
        assert _stored(store) == _expected(store), action
    _check(store)


@pytest.fixture
def schema_url(base_url: str) -> Iterator[str]:
    """A fresh, empty private schema (dropped afterwards)."""
    schema = f"io_pref_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    try:
        yield db.url_with_schema(base_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def test_migration_backfills_and_downgrades(schema_url: str) -> None:
    db.upgrade(schema_url, "0002")
    engine = sa.create_engine(schema_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            for seq in (1, 2, 3):
                conn.execute(
                    sa.text(
                        "INSERT INTO reports (seq, ts, latitude, longitude) "
                        "VALUES (:seq, now(), 47.0, 8.0)"
                    ),
                    {"seq": seq},
                )
            for seq, language in ((1, "de"), (1, "EN"), (2, "fr"), (2, "de")):
                conn.execute(
                    sa.text(
                        "INSERT INTO report_analysis (seq, language, title) "
                        "VALUES (:seq, :language, :title)"
                    ),
                    {"seq": seq, "language": language, "title": f"title {language}"},
                )
        db.upgrade(schema_url)
        assert _stored(engine) == {1: "EN", 2: "de", 3: None}
        _check(engine)
        with engine.begin() as conn:  # the triggers are in place
            _insert(conn, 3, "it")
        assert _stored(engine)[3] == "it"

        db.downgrade(schema_url, "0002")
        with engine.connect() as conn:
            columns = conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'reports'"
                )
            ).scalars()
            assert "preferred_language" not in set(columns)
            functions = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = current_schema() "
                    "AND p.proname = 'report_analysis_preferred_language'"
                )
            ).scalar_one()
            assert functions == 0
        with engine.begin() as conn:  # analyses are writable without the triggers
            _insert(conn, 3, "de")
        db.upgrade(schema_url)
        assert _stored(engine) == {1: "EN", 2: "de", 3: "de"}
    finally:
        engine.dispose()
