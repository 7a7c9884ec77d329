"""Property tests: the Arrow string paths of small analyses against the pandas ones.

``prepare_reports`` (classification, brand and category codes) and ``display_titles_at``
call :mod:`pyarrow.compute` on Arrow-backed columns instead of the pandas ``.str`` methods
(which call the same kernels). The references below are the pandas expressions they
replace; answers must be identical, for any text (Unicode case, whitespace, blanks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from strategies import report_frames

import cleanapp_geo as cg
from cleanapp_geo.arrays import _classification_codes, _codes, prepare_reports
from cleanapp_geo.reports import display_titles, display_titles_at
from cleanapp_geo.schema import (
    CLASSIFICATION,
    DESCRIPTION,
    SUMMARY,
    TITLE,
    arrow_text,
    classification_mask,
)

_TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
# Letters whose lower case differs between Unicode tables and Python, whitespace that
# Python strips and Arrow may not (and the reverse), and plain words.
_ALPHABET = st.sampled_from(
    [
        *"aAbB zZ\t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u3000İıßẞΣσςǅ",
        *("Migros", "migros", "physical", "digital", "  ", ""),
    ]
)
texts = st.lists(_ALPHABET, max_size=6).map("".join)
columns = st.lists(texts, min_size=0, max_size=25)


def _reference_codes(values: pd.Series) -> np.ndarray:
    codes, labels = pd.factorize(values.str.lower())
    codes = codes.astype(np.int64)
    empty = np.flatnonzero(np.asarray(labels, dtype=object) == "")
    if len(empty):
        codes[codes == empty[0]] = -1
    return codes


def _reference_titles(frame: pd.DataFrame) -> np.ndarray:
    result = np.full(len(frame), "", dtype=object)
    unset = np.ones(len(result), dtype=bool)
    for column in (TITLE, SUMMARY, DESCRIPTION):
        values = frame[column]
        take = unset & (values.str.strip() != "").to_numpy(dtype=bool)
        result[take] = values.to_numpy(dtype=object)[take]
        unset &= ~take
    return result


@given(columns)
def test_codes_match_pandas_factorize_of_lowercase(values: list[str]) -> None:
    series = pd.Series(values, dtype=_TEXT_DTYPE)
    assert arrow_text(series) is not None
    assert _codes(series).tolist() == _reference_codes(series).tolist()
    # An object column takes the pandas path: the reference itself.
    plain = pd.Series(values, dtype=object)
    assert _codes(plain).tolist() == _reference_codes(plain).tolist()


@given(columns, st.sampled_from([None, "physical", "digital"]))
def test_classification_codes_match_pandas(values: list[str], scope: str | None) -> None:
    frame = pd.DataFrame({CLASSIFICATION: pd.Series(values, dtype=_TEXT_DTYPE)})
    codes, labels, known = _classification_codes(frame, scope)
    resolved = frame[CLASSIFICATION].where(frame[CLASSIFICATION] != "", scope or "physical")
    ref_codes, ref_labels = pd.factorize(resolved)
    assert codes.dtype == np.int64
    assert codes.tolist() == ref_codes.tolist()
    assert labels.tolist() == list(ref_labels)
    assert known.tolist() == (frame[CLASSIFICATION] != "").tolist()


@given(st.data())
def test_display_titles_at_matches_pandas(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 20))
    frame = pd.DataFrame(
        {
            name: pd.Series(data.draw(st.lists(texts, min_size=n, max_size=n)), dtype=_TEXT_DTYPE)
            for name in (TITLE, SUMMARY, DESCRIPTION)
        }
    )
    rows = np.asarray(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n if n else 0)))
    rows = rows.astype(np.int64)
    assert display_titles(frame).tolist() == _reference_titles(frame).tolist()
    expected = _reference_titles(frame.iloc[rows]).tolist()
    assert display_titles_at(frame, rows).tolist() == expected
    assert display_titles_at(frame.astype(object), rows).tolist() == expected


@given(report_frames(max_size=25), st.sampled_from([None, "physical", "digital"]))
def test_prepared_codes_match_pandas(frame: pd.DataFrame, scope: str | None) -> None:
    frame = cg.validate_reports(frame)
    arrays = prepare_reports(frame, cg.DEFAULT_MODEL, classification=scope, spatial_order=True)
    order = arrays.frame_position
    resolved = frame[CLASSIFICATION].where(frame[CLASSIFICATION] != "", scope or "physical")
    ref_codes, ref_labels = pd.factorize(resolved)
    assert arrays.classification.tolist() == ref_codes[order].tolist()
    assert arrays.classification_labels.tolist() == list(ref_labels)
    assert arrays.brand.tolist() == _reference_codes(frame["brand_display_name"])[order].tolist()
    if "category" in frame.columns:
        category = _reference_codes(frame["category"])[order].tolist()
        assert arrays.category.tolist() == category
    titles = arrays.title_text(np.arange(len(arrays)))
    assert titles.tolist() == _reference_titles(frame.iloc[order]).tolist()


@given(columns, st.sampled_from(["physical", "digital", "PHYSICAL", "İ", "ß", "σ", ""]))
def test_classification_mask_matches_pandas(values: list[str], classification: str) -> None:
    for dtype in (_TEXT_DTYPE, object):
        series = pd.Series(values, dtype=dtype)
        expected = (series.str.lower() == classification.lower()).to_numpy(bool)
        mask = classification_mask(series, classification)
        assert mask.dtype == bool
        assert mask.tolist() == expected.tolist()
    with_missing = pd.Series([*values, None], dtype=_TEXT_DTYPE)  # the pandas path
    expected = (with_missing.str.lower() == classification.lower()).to_numpy(bool)
    assert classification_mask(with_missing, classification).tolist() == expected.tolist()
