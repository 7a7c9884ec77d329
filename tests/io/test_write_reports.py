"""write_reports / insert_reports: COPY bulk insert, idempotence on seq, conflicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from io_support import frame_of, record

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_geo.io import tables as t
from cleanapp_geo.io import write as io_write

pytestmark = pytest.mark.postgis

PUBLIC_ID_RE = r"rpt_[A-Za-z0-9_-]{22}"


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_write_returns_seqs_in_frame_order(store: sa.Engine) -> None:
    frame = frame_of(record(3), record(1), record(2))
    seqs = cio.write_reports(frame, store)
    assert seqs.dtype == np.int64 and seqs.tolist() == [3, 1, 2]


def test_write_is_idempotent(store: sa.Engine) -> None:
    frame = frame_of(*(record(seq) for seq in range(1, 6)))
    first = cio.insert_reports(frame, store)
    before = cio.read_reports(store)
    second = cio.insert_reports(frame, store)
    assert (first.inserted_reports, first.inserted_analyses) == (5, 5)
    assert (second.inserted_reports, second.inserted_analyses) == (0, 0)
    assert _count(store, t.reports) == 5 and _count(store, t.report_analysis) == 5
    pd.testing.assert_frame_equal(cio.read_reports(store), before)  # public ids kept


def test_overlapping_writes_add_only_new_reports_and_languages(store: sa.Engine) -> None:
    cio.write_reports(frame_of(record(1), record(2)), store)
    analyses = pd.DataFrame(
        {"seq": [2, 2, 3], "language": ["en", "de", "en"], "severity_level": [0.5, 0.4, 0.3]}
    )
    result = cio.insert_reports(frame_of(record(2), record(3)), store, analyses=analyses)
    assert (result.inserted_reports, result.inserted_analyses) == (1, 2)
    assert _count(store, t.reports) == 3 and _count(store, t.report_analysis) == 4


def test_public_ids_are_kept_or_drawn(store: sa.Engine) -> None:
    given = "rpt_" + "x" * 22
    cio.write_reports(frame_of(record(1, public_id=given), record(2), record(3)), store)
    ids = cio.read_reports(store).set_index("seq")["public_id"]
    assert ids[1] == given
    assert ids.str.fullmatch(PUBLIC_ID_RE).all() and ids.is_unique


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"latitude": 10.0}, "different location"),
        ({"ts": "2026-01-01T00:00:00Z"}, "different ts"),
        ({"public_id": "rpt_" + "y" * 22}, "different public_id"),
    ],
)
def test_changed_reports_conflict_and_nothing_is_written(
    store: sa.Engine, change: dict[str, Any], reason: str
) -> None:
    cio.write_reports(frame_of(record(1, public_id="rpt_" + "x" * 22)), store)
    clash = frame_of(record(1, **{"public_id": "rpt_" + "x" * 22, **change}), record(2))
    with pytest.raises(cio.ReportConflictError, match=reason) as info:
        cio.write_reports(clash, store)
    assert info.value.conflicts["seq"].tolist() == [1]
    assert isinstance(info.value, ValueError)
    assert _count(store, t.reports) == 1  # report 2 was not written either


def test_public_id_of_another_seq_conflicts(store: sa.Engine) -> None:
    taken = "rpt_" + "q" * 22
    cio.write_reports(frame_of(record(1, public_id=taken)), store)
    with pytest.raises(cio.ReportConflictError, match="already stored for seq 1"):
        cio.write_reports(frame_of(record(2, public_id=taken)), store)


def test_empty_language_and_classification_take_the_column_defaults(store: sa.Engine) -> None:
    cio.write_reports(frame_of(record(1, language="", classification="")), store)
    stored = cio.read_analyses(store, [1])
    assert stored[["language", "classification"]].values.tolist() == [["en", "physical"]]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"status": "deleted"}, "column 'status' must be one of"),
        ({"visibility": "private"}, "column 'visibility' must be one of"),
        ({"hazard_probability": 1.5}, "'hazard_probability' must lie in"),
        ({"title": "nul \x00 byte"}, "NUL character"),
        ({"public_id": "rpt_bad"}, "column 'public_id' must be empty or"),
        ({"team": 2.5}, "column 'team' must hold 32-bit integers"),
        ({"classification": "chemical"}, "column 'classification' must be one of"),
        ({"owner_is_public": "maybe"}, "'owner_is_public' must hold booleans"),
    ],
)
def test_invalid_values_are_refused_before_writing(
    store: sa.Engine, extra: dict[str, Any], message: str
) -> None:
    frame = frame_of(record(1), record(2))
    for column, value in extra.items():
        frame[column] = pd.Series([value, value], dtype=object)
    with pytest.raises(cg.InvalidReportsError, match=message):
        cio.write_reports(frame, store)
    assert _count(store, t.reports) == 0


def test_repeated_public_ids_in_one_frame_are_refused(store: sa.Engine) -> None:
    same = "rpt_" + "d" * 22
    with pytest.raises(cg.InvalidReportsError, match="must be unique"):
        cio.write_reports(frame_of(record(1, public_id=same), record(2, public_id=same)), store)


def test_inconsistent_analyses_are_refused(store: sa.Engine) -> None:
    frame = frame_of(record(1))
    unknown = pd.DataFrame({"seq": [2], "language": ["en"], "severity_level": [0.1]})
    with pytest.raises(cg.InvalidReportsError, match="not in the frame"):
        cio.write_reports(frame, store, analyses=unknown)
    twice = pd.DataFrame({"seq": [1, 1], "language": ["en", "en"], "severity_level": [0.1, 0.2]})
    with pytest.raises(cg.InvalidReportsError, match="one analysis per language"):
        cio.write_reports(frame, store, analyses=twice)


def test_write_inside_a_caller_transaction_uses_a_savepoint(store: sa.Engine) -> None:
    cio.write_reports(frame_of(record(1)), store)
    with store.connect() as conn:
        with conn.begin():
            cio.write_reports(frame_of(record(2)), conn)
            with pytest.raises(cio.ReportConflictError):
                cio.write_reports(frame_of(record(1, latitude=0.0)), conn)
            # The caller's transaction survived the failed write and still holds report 2.
            assert conn.execute(sa.select(sa.func.count()).select_from(t.reports)).scalar() == 2
            conn.rollback()
        assert _count(store, t.reports) == 1


def test_rebuild_path_restores_indexes_and_constraints(store: sa.Engine) -> None:
    def catalog() -> tuple[set[str], set[str]]:
        with store.connect() as conn:
            indexes = conn.execute(
                sa.text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND tablename IN ('reports', 'report_analysis')"
                )
            ).scalars()
            constraints = conn.execute(
                sa.text(
                    "SELECT conname FROM pg_constraint co JOIN pg_namespace ns "
                    "ON ns.oid = co.connamespace WHERE ns.nspname = current_schema()"
                )
            ).scalars()
            return set(indexes), set(constraints)

    before = catalog()
    frame = frame_of(*(record(seq) for seq in range(1, 21)))
    result = cio.insert_reports(frame, store, rebuild_indexes=True)
    assert result.rebuilt_indexes and result.inserted_reports == 20
    assert catalog() == before
    assert len(cio.read_reports(store, scope=cg.scope.RadiusScope(8.5401, 47.3701, 5))) == 1
    with (
        pytest.raises(sa.exc.IntegrityError, match="fk_report_analysis_seq_reports"),
        store.begin() as conn,
    ):
        conn.execute(sa.insert(t.report_analysis).values(seq=999, language="en"))


def test_rebuild_keeps_primary_keys_when_an_unknown_table_references_reports(
    store: sa.Engine,
) -> None:
    with store.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE extra_ref (seq bigint REFERENCES reports (seq) ON DELETE CASCADE)"
            )
        )
    try:
        cio.write_reports(frame_of(record(1)), store)
        with store.begin() as conn:
            conn.execute(sa.text("INSERT INTO extra_ref VALUES (1)"))
        result = cio.insert_reports(
            frame_of(record(1), record(2), record(3)), store, rebuild_indexes=True
        )
        assert result.rebuilt_indexes and result.inserted_reports == 2
        assert _count(store, t.reports) == 3
    finally:
        with store.begin() as conn:
            conn.execute(sa.text("DROP TABLE extra_ref"))


def test_rebuild_path_skips_stored_reports(store: sa.Engine) -> None:
    cio.write_reports(frame_of(record(1), record(2)), store)
    result = cio.insert_reports(
        frame_of(record(1), record(2), record(3)), store, rebuild_indexes=True
    )
    assert (result.inserted_reports, result.inserted_analyses) == (1, 1)
    assert _count(store, t.reports) == 3 and _count(store, t.report_analysis) == 3


def test_rebuild_is_chosen_for_large_loads_into_smaller_tables(
    store: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(io_write, "_REBUILD_MIN_ROWS", 3)
    assert cio.insert_reports(frame_of(record(1), record(2)), store).rebuilt_indexes is False
    big = frame_of(*(record(seq) for seq in range(10, 14)))
    assert cio.insert_reports(big, store).rebuilt_indexes is True  # 4 new >= 3, table has 2
    more = frame_of(*(record(seq) for seq in range(20, 23)))
    assert cio.insert_reports(more, store).rebuilt_indexes is False  # table holds 6 > 3


def test_progress_callback(store: sa.Engine) -> None:
    calls: list[tuple[str, int, int]] = []
    frame = frame_of(*(record(seq) for seq in range(1, 8)))
    cio.write_reports(frame, store, chunk_size=3, progress=lambda *a: calls.append(a))
    staging = [c for c in calls if c[0] == "staging"]
    assert staging == [("staging", n, 14) for n in (3, 6, 7, 10, 13, 14)]
    assert ("inserting", 1, 1) in calls


def test_empty_frame(store: sa.Engine) -> None:
    empty = cg.reports_from_records([])
    result = cio.insert_reports(empty, store)
    assert result.seqs.tolist() == [] and result.inserted_reports == 0
    assert cio.read_reports(store).empty
