"""Per-report arrays that pair scoring reads, computed once per analysis."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from cleanapp_geo.reports import display_titles
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    CLASSIFICATION,
    DESCRIPTION,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
)
from cleanapp_geo.text import TextFeatures, jaccard_pairs

if TYPE_CHECKING:
    from cleanapp_geo.model import SimilarityModel

__all__ = [
    "EARTH_RADIUS_M",
    "ReportArrays",
    "chord_m",
    "haversine_m",
    "prepare_reports",
    "resolved_classification",
]

EARTH_RADIUS_M: Final = 6_371_000.0
_DEFAULT_CLASSIFICATION: Final = "physical"


@dataclass(frozen=True, slots=True, eq=False)
class ReportArrays:
    """Per-report arrays that pair scoring reads, computed once per analysis.

    Attributes
    ----------
    frame_position : numpy.ndarray
        Row of the report frame that each position holds (the arrays are in spatial
        order; see :func:`prepare_reports`).
    seq : numpy.ndarray
        int64 report seqs.
    lon, lat : numpy.ndarray
        float64 degrees.
    xyz : numpy.ndarray
        (n, 3) float64 positions on a sphere of radius 6,371 km (for the KD-tree).
    classification : numpy.ndarray
        int64 codes of the resolved classification (analysis, else scope, else physical).
    classification_labels : numpy.ndarray
        The distinct resolved classifications; ``classification_labels[classification]``
        is a report's classification.
    severity : numpy.ndarray
        float64 severity levels.
    brand : numpy.ndarray
        int64 codes of the lowercased brand display name; -1 when empty.
    ts_ns : numpy.ndarray
        int64 nanoseconds since the epoch (UTC).
    stop_words : frozenset of str
        Stop words of the tokenizer.
    min_token_chars : int
        Shortest token kept.
    titles : pandas.DataFrame
        title, summary and description of every report: tokenized lazily (joined) for
        the text feature, and the source of :meth:`title_text`.
    """

    frame_position: np.ndarray
    seq: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    classification: np.ndarray
    classification_labels: np.ndarray
    severity: np.ndarray
    brand: np.ndarray
    ts_ns: np.ndarray
    stop_words: frozenset[str]
    min_token_chars: int
    titles: pd.DataFrame
    _tree: list[cKDTree] = field(default_factory=list, repr=False)
    _text: list[TextFeatures] = field(default_factory=list, repr=False)
    _text_subset: list[tuple[np.ndarray, TextFeatures]] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def tree(self) -> cKDTree:
        """KD-tree over :attr:`xyz` (built on first use)."""
        if not self._tree:
            self._tree.append(cKDTree(self.xyz, balanced_tree=False, compact_nodes=False))
        return self._tree[0]

    @property
    def text(self) -> TextFeatures:
        """Token sets of every report (tokenized on first use, then kept)."""
        if not self._text:
            self._text.append(self._tokenize(self.titles))
        return self._text[0]

    def jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact token-set Jaccard similarity of pairs ``(i[k], j[k])``.

        Only the reports these pairs touch are tokenized (see :meth:`prepare_text`), unless
        every report already was: text features are the costliest part of an analysis.
        """
        if len(i) == 0:
            return np.zeros(0, dtype=np.float64)
        rows = self.text_rows()[0]
        if (rows[i] < 0).any() or (rows[j] < 0).any():
            self.prepare_text(
                np.flatnonzero(np.bincount(np.concatenate((i, j)), minlength=len(self)))
            )
            rows = self.text_rows()[0]
        features = self._text[0] if self._text else self._text_subset[0][1]
        return jaccard_pairs(features, rows[i], rows[j])

    def text_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tokens tokenized so far: (row of each report or -1, indptr, indices)."""
        if self._text:
            features = self._text[0]
            return np.arange(len(self), dtype=np.int64), features.indptr, features.indices
        rows = np.full(len(self), -1, dtype=np.int64)
        if self._text_subset:
            positions, features = self._text_subset[0]
            rows[positions] = np.arange(len(positions))
            return rows, features.indptr, features.indices
        return rows, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)

    def prepare_text(self, positions: np.ndarray) -> None:
        """Tokenize the reports at sorted unique ``positions`` once, for later pairs.

        When they are most of the reports, all reports are tokenized instead.
        """
        if self._text:
            return
        if len(positions) >= 0.6 * len(self):
            _ = self.text
            return
        self._text_subset[:] = [(positions, self._tokenize(self.titles.iloc[positions]))]

    def title_text(self, positions: np.ndarray) -> np.ndarray:
        """Return each report's first non-blank of title, summary and description.

        Parameters
        ----------
        positions : numpy.ndarray
            Positional indices of the reports.

        Returns
        -------
        numpy.ndarray
            Object array of titles ("" when all three are blank).
        """
        return display_titles(self.titles.iloc[positions])

    def _tokenize(self, texts: pd.DataFrame) -> TextFeatures:
        return TextFeatures.from_texts(
            texts, stop_words=self.stop_words, min_token_chars=self.min_token_chars
        )


def resolved_classification(reports: pd.DataFrame, classification: str | None) -> pd.Series:
    """Return each report's classification, else the scope's, else ``physical``."""
    fallback = classification or _DEFAULT_CLASSIFICATION
    values = reports[CLASSIFICATION]
    return values.where(values != "", fallback)


def prepare_reports(
    reports: gpd.GeoDataFrame,
    model: SimilarityModel,
    *,
    classification: str | None = None,
    spatial_order: bool = False,
) -> ReportArrays:
    """Compute the per-report arrays used by scoring (text is tokenized lazily).

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        A validated report frame.
    model : SimilarityModel
        Gives the tokenizer settings.
    classification : str, optional
        Scope classification, used for reports whose analysis has none.
    spatial_order : bool, default False
        Store the reports in Morton (Z-order) sequence of their location, so that
        neighbours sit near each other in memory (faster KD-tree and pair gathers);
        :attr:`ReportArrays.frame_position` maps positions back to the frame's rows.
        By default positions are the frame's rows.

    Returns
    -------
    ReportArrays
    """
    order = _morton_order(reports) if spatial_order else np.arange(len(reports))
    reports = reports.iloc[order]
    geoms = reports.geometry.array
    lon = np.asarray(shapely.get_x(geoms), dtype=np.float64)
    lat = np.asarray(shapely.get_y(geoms), dtype=np.float64)
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    cos_lat = np.cos(lat_r)
    xyz = EARTH_RADIUS_M * np.column_stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r))
    )
    class_codes, class_labels = pd.factorize(resolved_classification(reports, classification))
    brand_codes, brand_labels = pd.factorize(reports[BRAND_DISPLAY_NAME].str.lower())
    brand_codes = brand_codes.astype(np.int64)
    empty_brand = np.flatnonzero(np.asarray(brand_labels, dtype=object) == "")
    if len(empty_brand):
        brand_codes[brand_codes == empty_brand[0]] = -1
    titles = reports[[TITLE, SUMMARY, DESCRIPTION]].reset_index(drop=True)
    ts_ns = reports[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ReportArrays(
        frame_position=order,
        seq=reports[SEQ].to_numpy(dtype=np.int64),
        lon=lon,
        lat=lat,
        xyz=xyz,
        classification=class_codes.astype(np.int64),
        classification_labels=np.asarray(class_labels, dtype=object),
        severity=reports[SEVERITY_LEVEL].to_numpy(dtype=np.float64),
        brand=brand_codes,
        ts_ns=ts_ns,
        stop_words=model.stop_words,
        min_token_chars=model.min_token_chars,
        titles=titles,
    )


def _morton_order(reports: gpd.GeoDataFrame) -> np.ndarray:
    """Row order along a Z-order curve of the report locations (16 bits per axis)."""
    n = len(reports)
    if n < 2:
        return np.arange(n)
    geoms = reports.geometry.array
    cells = []
    for values in (shapely.get_x(geoms), shapely.get_y(geoms)):
        low, span = float(np.min(values)), float(np.ptp(values))
        scaled = (np.asarray(values) - low) / (span if span > 0 else 1.0) * 65_535
        cells.append(_spread_bits(scaled.astype(np.uint64)))
    return np.argsort(cells[0] | (cells[1] << np.uint64(1)), kind="stable")


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert a zero bit after each of the 16 low bits (for Morton interleaving)."""
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres on a sphere of radius 6,371 km (as upstream)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arctan2(np.sqrt(a), np.sqrt(np.clip(1 - a, 0, None)))


def chord_m(distance_m: float) -> float:
    """KD-tree radius that contains every pair within ``distance_m`` (with a margin)."""
    if distance_m >= math.pi * EARTH_RADIUS_M:
        return 2 * EARTH_RADIUS_M * 1.000001
    chord = 2 * EARTH_RADIUS_M * math.sin(distance_m / (2 * EARTH_RADIUS_M))
    return chord * (1 + 1e-9) + 1e-6
