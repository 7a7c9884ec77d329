"""Per-report arrays that pair scoring reads, computed once per analysis."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from scipy.spatial import cKDTree

from cleanapp_geo.reports import display_titles_at
from cleanapp_geo.schema import (
    BRAND_DISPLAY_NAME,
    CATEGORY,
    CLASSIFICATION,
    DESCRIPTION,
    SEQ,
    SEVERITY_LEVEL,
    SUMMARY,
    TITLE,
    TS,
    arrow_text,
)
from cleanapp_geo.text import TextFeatures, jaccard_pairs, tokenize

if TYPE_CHECKING:
    from cleanapp_geo.model import SimilarityModel

__all__ = [
    "EARTH_RADIUS_M",
    "PairArrays",
    "PairInputs",
    "ReportArrays",
    "chord_m",
    "haversine_m",
    "prepare_reports",
    "resolved_classification",
    "sphere_xyz",
]

EARTH_RADIUS_M: Final = 6_371_000.0
_DEFAULT_CLASSIFICATION: Final = "physical"
#: Fewer reports are tokenized on the calling thread (a thread costs more than it saves).
_BACKGROUND_MIN_REPORTS: Final = 5_000


class PairInputs(Protocol):
    """What pair scoring reads of reports, by position (:class:`ReportArrays` has it)."""

    @property
    def xyz(self) -> np.ndarray:
        """(n, 3) positions on the sphere, metres."""

    @property
    def severity(self) -> np.ndarray:
        """float64 severities (NaN: unknown)."""

    @property
    def classification(self) -> np.ndarray:
        """int64 classification codes."""

    @property
    def classification_known(self) -> np.ndarray:
        """Whether each report's own analysis has a classification."""

    @property
    def brand(self) -> np.ndarray:
        """int64 brand codes (-1: none)."""

    @property
    def category(self) -> np.ndarray:
        """int64 category codes (-1: unknown)."""

    @property
    def ts_ns(self) -> np.ndarray:
        """int64 nanoseconds since the epoch."""

    @property
    def text(self) -> TextFeatures:
        """Token sets."""


@dataclass(frozen=True, slots=True, eq=False)
class PairArrays:
    """:class:`PairInputs` of a few reports built from plain values, without a frame.

    For scoring one new report against a handful of stored ones (automatic matching on
    ingest), where building a report frame would cost far more than the scoring. The
    codes and positions follow the rules of :func:`prepare_reports` exactly: a report
    without a classification gets ``physical``, brands and categories compare
    case-insensitively, an empty one is unknown.
    """

    xyz: np.ndarray
    severity: np.ndarray
    classification: np.ndarray
    classification_known: np.ndarray
    brand: np.ndarray
    category: np.ndarray
    ts_ns: np.ndarray
    text: TextFeatures

    @classmethod
    def from_values(
        cls,
        *,
        lon: Sequence[float],
        lat: Sequence[float],
        severity: Sequence[float],
        classification: Sequence[str],
        brand: Sequence[str],
        category: Sequence[str],
        ts_ns: Sequence[int],
        texts: Sequence[str],
        model: SimilarityModel,
    ) -> PairArrays:
        """Build the arrays; ``texts`` are each report's title, summary and description.

        Examples
        --------
        >>> import cleanapp_geo as cg
        >>> a = PairArrays.from_values(lon=[8.54, 8.54], lat=[47.37, 47.37],
        ...     severity=[0.5, float("nan")], classification=["", "physical"],
        ...     brand=["Coop", "coop"], category=["", ""], ts_ns=[0, 0],
        ...     texts=["bin", "bin"], model=cg.DEFAULT_MODEL)
        >>> a.classification.tolist(), a.classification_known.tolist(), a.brand.tolist()
        ([0, 0], [False, True], [0, 0])
        """
        resolved = [c if c != "" else _DEFAULT_CLASSIFICATION for c in classification]
        return cls(
            xyz=sphere_xyz(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)),
            severity=np.asarray(severity, dtype=np.float64),
            classification=_small_codes(resolved, unknown=None),
            classification_known=np.array([c != "" for c in classification], dtype=bool),
            brand=_small_codes([b.lower() for b in brand], unknown=""),
            category=_small_codes([c.lower() for c in category], unknown=""),
            ts_ns=np.asarray(ts_ns, dtype=np.int64),
            text=TextFeatures.from_texts(
                list(texts), stop_words=model.stop_words, min_token_chars=model.min_token_chars
            ),
        )


def _small_codes(values: Sequence[str], *, unknown: str | None) -> np.ndarray:
    """int64 codes in order of first appearance; ``unknown`` gets -1."""
    seen: dict[str, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for k, value in enumerate(values):
        codes[k] = -1 if value == unknown else seen.setdefault(value, len(seen))
    return codes


def sphere_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 3) positions on a sphere of radius :data:`EARTH_RADIUS_M` (for chord distances)."""
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    cos_lat = np.cos(lat_r)
    return EARTH_RADIUS_M * np.column_stack(
        (cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r))
    )


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
        (n, 3) float64 positions on a sphere of radius 6,371 km (for the spatial join).
    classification : numpy.ndarray
        int64 codes of the resolved classification (analysis, else scope, else physical).
    classification_labels : numpy.ndarray
        The distinct resolved classifications; ``classification_labels[classification]``
        is a report's classification.
    classification_known : numpy.ndarray
        Whether the report's own analysis has a classification (``missing="ignore"``
        treats a resolved one as unknown).
    severity : numpy.ndarray
        float64 severity levels.
    brand : numpy.ndarray
        int64 codes of the lowercased brand display name; -1 when empty.
    category : numpy.ndarray
        int64 codes of the lowercased category; -1 when empty (unknown).
    ts_ns : numpy.ndarray
        int64 nanoseconds since the epoch (UTC).
    stop_words : frozenset of str
        Stop words of the tokenizer.
    min_token_chars : int
        Shortest token kept.
    titles : pandas.DataFrame
        title, summary and description of every report, in the order of the frame
        (row ``frame_position[p]`` belongs to position ``p``): tokenized (joined) for the
        text feature, and the source of :meth:`title_text`.
    """

    frame_position: np.ndarray
    seq: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    classification: np.ndarray
    classification_labels: np.ndarray
    classification_known: np.ndarray
    severity: np.ndarray
    brand: np.ndarray
    category: np.ndarray
    ts_ns: np.ndarray
    stop_words: frozenset[str]
    min_token_chars: int
    titles: pd.DataFrame
    _tree: list[cKDTree] = field(default_factory=list, repr=False)
    _text: list[Future[TextFeatures]] = field(default_factory=list, repr=False)

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
        """Token sets of every report, by position (tokenized on first use, then kept)."""
        self.start_text()
        return self._text[0].result()

    def start_text(self) -> None:
        """Start tokenizing every report on a background thread, unless started.

        The compiled tokenizer releases the GIL, so the tokens are ready, at no cost in
        wall time, by when the spatial candidates are: :attr:`text` waits for them.
        """
        if not self._text:
            self._text.append(
                _tokenize_later(
                    self.titles, self.stop_words, self.min_token_chars, self.frame_position
                )
            )

    def release_text(self) -> None:
        """Drop the token sets to free memory (:attr:`text` tokenizes again if read)."""
        self._text.clear()

    def token_sets(self, positions: np.ndarray) -> list[frozenset[str]]:
        """Token sets of the reports at ``positions``.

        Read from :attr:`text` when it is kept, else tokenized here (only these reports).
        """
        if self._text and self._text[0].done() and self._text[0].exception() is None:
            features = self._text[0].result()
            return [features.tokens(int(p)) for p in positions]
        rows = self.titles.iloc[self.frame_position[np.asarray(positions, dtype=np.int64)]]
        texts = rows[TITLE] + " " + rows[SUMMARY] + " " + rows[DESCRIPTION]
        return [
            tokenize(t, stop_words=self.stop_words, min_token_chars=self.min_token_chars)
            for t in texts.tolist()
        ]

    def jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact token-set Jaccard similarity of pairs ``(i[k], j[k])`` (positions)."""
        if len(i) == 0:
            return np.zeros(0, dtype=np.float64)
        return jaccard_pairs(self.text, i, j)

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
        return display_titles_at(self.titles, self.frame_position[positions])


def _tokenize_later(
    titles: pd.DataFrame, stop_words: frozenset[str], min_token_chars: int, order: np.ndarray
) -> Future[TextFeatures]:
    """Tokenize ``titles`` (rows in ``order``) on a thread; small frames right away."""
    future: Future[TextFeatures] = Future()

    def tokenize() -> None:
        try:
            future.set_result(
                TextFeatures.from_texts(
                    titles, stop_words=stop_words, min_token_chars=min_token_chars, order=order
                )
            )
        except BaseException as error:  # re-raised by ``ReportArrays.text`` in the caller
            future.set_exception(error)

    if len(titles) < _BACKGROUND_MIN_REPORTS:
        tokenize()
    else:
        threading.Thread(target=tokenize, name="cleanapp-tokenize", daemon=True).start()
    return future


def resolved_classification(reports: pd.DataFrame, classification: str | None) -> pd.Series:
    """Return each report's classification, else the scope's, else ``physical``."""
    fallback = classification or _DEFAULT_CLASSIFICATION
    values = reports[CLASSIFICATION]
    return values.where(values != "", fallback)


def prepare_reports(
    reports: gpd.GeoDataFrame | pd.DataFrame,
    model: SimilarityModel,
    *,
    classification: str | None = None,
    spatial_order: bool = False,
    tokenize: bool = False,
    lon_lat: tuple[np.ndarray, np.ndarray] | None = None,
) -> ReportArrays:
    """Compute the per-report arrays used by scoring (text is tokenized lazily).

    Parameters
    ----------
    reports : geopandas.GeoDataFrame or pandas.DataFrame
        A validated report frame (a plain frame when ``lon_lat`` is given).
    model : SimilarityModel
        Gives the tokenizer settings.
    classification : str, optional
        Scope classification, used for reports whose analysis has none.
    spatial_order : bool, default False
        Store the reports in Morton (Z-order) sequence of their location, so that
        neighbours sit near each other in memory (faster pair gathers);
        :attr:`ReportArrays.frame_position` maps positions back to the frame's rows.
        By default positions are the frame's rows.
    tokenize : bool, default False
        Start tokenizing the texts right away, on a background thread for large frames,
        so the tokens are ready by when :attr:`ReportArrays.text` is first read (see
        :meth:`ReportArrays.start_text`). Otherwise they are tokenized on first use.
    lon_lat : tuple of numpy.ndarray, optional
        The reports' coordinates (degrees, one per row), used instead of the geometry
        column: for callers that keep locations as coordinates and never build shapely
        points (see :func:`cleanapp_geo.schema.validate_reports_xy`).

    Returns
    -------
    ReportArrays
    """
    if lon_lat is None:
        geoms = reports.geometry.array
        lon = np.asarray(shapely.get_x(geoms), dtype=np.float64)
        lat = np.asarray(shapely.get_y(geoms), dtype=np.float64)
    else:
        lon = np.asarray(lon_lat[0], dtype=np.float64)
        lat = np.asarray(lon_lat[1], dtype=np.float64)
    order = _morton_order(lon, lat) if spatial_order else np.arange(len(reports))
    # Column by column: selecting a list of columns of a GeoDataFrame costs about 1 ms.
    titles = pd.DataFrame({name: reports[name].array for name in (TITLE, SUMMARY, DESCRIPTION)})
    text = (
        [_tokenize_later(titles, model.stop_words, model.min_token_chars, order)]
        if tokenize
        else []
    )
    lon, lat = lon[order], lat[order]
    xyz = sphere_xyz(lon, lat)
    class_codes, class_labels, class_known = _classification_codes(reports, classification)
    brand_codes = _codes(reports[BRAND_DISPLAY_NAME])
    category = (
        _codes(reports[CATEGORY])
        if CATEGORY in reports.columns
        else np.full(len(reports), -1, dtype=np.int64)  # no category column: all unknown
    )
    ts_ns = reports[TS].to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ReportArrays(
        frame_position=order,
        seq=reports[SEQ].to_numpy(dtype=np.int64)[order],
        lon=lon,
        lat=lat,
        xyz=xyz,
        classification=class_codes[order],
        classification_labels=class_labels,
        classification_known=class_known[order],
        severity=reports[SEVERITY_LEVEL].to_numpy(dtype=np.float64)[order],
        brand=brand_codes[order],
        category=category[order],
        ts_ns=ts_ns[order],
        stop_words=model.stop_words,
        min_token_chars=model.min_token_chars,
        titles=titles,
        _text=text,
    )


def _classification_codes(
    reports: pd.DataFrame, classification: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int64 codes and labels of :func:`resolved_classification`; whether each is known."""
    array = arrow_text(reports[CLASSIFICATION])
    if array is None:
        factors = pd.factorize(resolved_classification(reports, classification))
        known = (reports[CLASSIFICATION] != "").to_numpy(dtype=bool)
        return factors[0].astype(np.int64), np.asarray(factors[1], dtype=object), known
    # The same values as resolved_classification, encoded as pandas.factorize encodes them
    # (Arrow's dictionary encoding: codes in order of first appearance).
    blank = pc.equal(array, "")
    fallback = pa.scalar(classification or _DEFAULT_CLASSIFICATION, type=array.type)
    codes, labels = _factorized(pc.if_else(blank, fallback, array))
    return codes, labels, ~blank.to_numpy(zero_copy_only=False)


def _factorized(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """int64 codes (order of first appearance) and object labels of a text array."""
    encoded = array.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)


def _codes(values: pd.Series) -> np.ndarray:
    """int64 codes of the lowercased values; -1 for the empty string (unknown)."""
    array = arrow_text(values)
    if array is None:
        factors = pd.factorize(values.str.lower())
        codes, labels = factors[0].astype(np.int64), np.asarray(factors[1], dtype=object)
    else:  # what .str.lower() and pandas.factorize compute, without pandas objects
        codes, labels = _factorized(pc.utf8_lower(array))
    empty = np.flatnonzero(labels == "")
    if len(empty):
        codes[codes == empty[0]] = -1
    return codes


def _morton_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Order of points along a Z-order curve of their location (16 bits per axis)."""
    if len(lon) < 2:
        return np.arange(len(lon))
    cells = []
    for values in (lon, lat):
        low, span = float(np.min(values)), float(np.ptp(values))
        scaled = (values - low) / (span if span > 0 else 1.0) * 65_535
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
    """Chord radius that contains every pair within ``distance_m`` (with a margin)."""
    if distance_m >= math.pi * EARTH_RADIUS_M:
        return 2 * EARTH_RADIUS_M * 1.000001
    chord = 2 * EARTH_RADIUS_M * math.sin(distance_m / (2 * EARTH_RADIUS_M))
    return chord * (1 + 1e-9) + 1e-6
