"""Case rules of cleanapp_geo.cases: the status lifecycle and the aggregate scores."""

from __future__ import annotations

import itertools

import pytest

from cleanapp_geo.cases import (
    ASSIGNABLE_STATUSES,
    CASE_STATUSES,
    STATUS_TRANSITIONS,
    StatusChangeError,
    anchor_index,
    case_trend,
    case_urgency,
    check_initial_status,
    check_status_change,
)


def test_every_status_has_a_row_and_merged_is_terminal() -> None:
    assert list(STATUS_TRANSITIONS) == list(CASE_STATUSES)
    assert STATUS_TRANSITIONS["merged"] == ()
    assert "merged" not in ASSIGNABLE_STATUSES
    for targets in STATUS_TRANSITIONS.values():
        assert "merged" not in targets


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(CASE_STATUSES, repeat=2)))
def test_status_change_follows_the_table(current: str, wanted: str) -> None:
    allowed = wanted in STATUS_TRANSITIONS[current] or (wanted == current != "merged")
    if allowed:
        assert check_status_change(current, wanted.upper()) == wanted
    else:
        with pytest.raises(StatusChangeError, match="allowed"):
            check_status_change(current, wanted)


def test_unknown_and_initial_statuses() -> None:
    with pytest.raises(StatusChangeError, match='unknown status "Dreaming"'):
        check_status_change(None, " Dreaming ")
    assert check_status_change(None, "merged") == "merged"  # a status, not a change
    assert check_initial_status("") == "open"
    with pytest.raises(StatusChangeError, match="cannot be set on a new case"):
        check_initial_status("MERGED")
    with pytest.raises(StatusChangeError):
        check_initial_status("dreaming")


def test_urgency_and_trend() -> None:
    assert case_urgency(0.9, 0.5, 1, 2) == 0.9
    assert case_urgency(0.6, 0.55, 3, 2) == pytest.approx(0.65)
    assert case_urgency(0.99, 0.99, 10, 4) == 1.0
    assert case_urgency(0.0, 0.0, 0, 0) == 0.0
    assert [case_trend(k) for k in (0, 1, 5, 7)] == [0.0, 0.2, 1.0, 1.0]


def test_anchor_is_most_severe_then_newest_then_lowest_seq() -> None:
    assert anchor_index([], [], []) is None
    assert anchor_index([0.2, 0.8, 0.5], [3, 1, 2], [1, 2, 3]) == 1
    assert anchor_index([0.8, 0.8], [1, 2], [1, 2]) == 1
    assert anchor_index([0.8, 0.8], [2, 2], [9, 4]) == 1
