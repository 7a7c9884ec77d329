"""Maps without a basemap: reports as points, coloured by group, over a scope outline.

Readable offline pictures for notebooks and the case memo: the map is drawn in longitude /
latitude with the local aspect (one metre east is as long as one metre north), a scale bar
in metres, the scope or case outline dashed, grouped reports in distinct colours with a
legend, ungrouped ones as small grey dots, and optional seq labels. matplotlib is imported
when a function is called (``pip install matplotlib``); nothing here opens a window, so
the functions work under any backend and on a server (pass ``ax`` from a
:class:`matplotlib.figure.Figure`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import shapely

from cleanapp_geo.schema import SEQ

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes

    from cleanapp_geo.analysis import AnalysisResult
    from cleanapp_geo.scope import RadiusScope

__all__ = ["GROUP_COLOURS", "plot_analysis", "plot_reports"]

#: Colours of the first groups (colour-blind-safe "Okabe–Ito" palette, then tab10's).
GROUP_COLOURS: Final = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#000000",
    "#7F7F7F",
    "#BCBD22",
)
_UNGROUPED: Final = "#9a9a9a"
_METRES_PER_DEGREE: Final = 111_320.0
_NICE_LENGTHS_M: Final = (10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def _outline(ax: Axes, geometry: shapely.Geometry, *, label: str) -> None:
    polygons: list[Any] = []
    for part in shapely.get_parts(geometry):
        if isinstance(part, shapely.Polygon):
            polygons.append(part)
        elif isinstance(part, shapely.MultiPolygon):
            polygons.extend(part.geoms)
    for i, polygon in enumerate(polygons):
        x, y = polygon.exterior.xy
        ax.fill(x, y, color="#3a6ea5", alpha=0.06, zorder=1)
        ax.plot(
            x, y, color="#3a6ea5", linewidth=1.4, linestyle="--", zorder=2,
            label=label if i == 0 else None,
        )  # fmt: skip


def _scale_bar(ax: Axes, latitude: float) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    metres_per_degree = _METRES_PER_DEGREE * max(math.cos(math.radians(latitude)), 1e-6)
    width_m = (x1 - x0) * metres_per_degree
    length_m = max([n for n in _NICE_LENGTHS_M if n <= width_m / 4] or [_NICE_LENGTHS_M[0]])
    length_deg = length_m / metres_per_degree
    left, bottom = x0 + 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([left, left + length_deg], [bottom, bottom], color="black", linewidth=3, zorder=5)
    text = f"{length_m // 1000} km" if length_m >= 1000 else f"{length_m} m"
    ax.annotate(
        text, (left + length_deg / 2, bottom), xytext=(0, 4), textcoords="offset points",
        ha="center", va="bottom", fontsize=8, zorder=5,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
    )  # fmt: skip


def _frame(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    outline: shapely.Geometry | None,
    *,
    fit_outline: bool = True,
    box_aspect: float | None = None,
) -> float:
    """Set limits with a margin and the local aspect; return the mean latitude."""
    bounds = [xs.min(), ys.min(), xs.max(), ys.max()] if len(xs) else [0.0, 0.0, 0.0, 0.0]
    if outline is not None and not shapely.is_empty(outline) and (fit_outline or not len(xs)):
        ob = shapely.bounds(outline)
        bounds = [
            min(bounds[0], ob[0]),
            min(bounds[1], ob[1]),
            max(bounds[2], ob[2]),
            max(bounds[3], ob[3]),
        ]
        if not len(xs):
            bounds = list(ob)
    w, s, e, n = bounds
    latitude = (s + n) / 2
    cos = max(math.cos(math.radians(latitude)), 1e-6)
    pad_y = max((n - s) * 0.08, 25 / _METRES_PER_DEGREE)  # at least 25 m around one point
    pad_x = max((e - w) * 0.08, pad_y / cos)
    w, e, s, n = w - pad_x, e + pad_x, s - pad_y, n + pad_y
    if box_aspect:  # widen or heighten the view to fill an axes box of this width/height
        width, height = (e - w) * cos, n - s
        if width / height < box_aspect:
            grow = (height * box_aspect / cos - (e - w)) / 2
            w, e = w - grow, e + grow
        else:
            grow = (width / box_aspect - height) / 2
            s, n = s - grow, n + grow
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    ax.set_aspect(1 / cos)
    ax.set_xlabel("longitude (°)", fontsize=8)
    ax.set_ylabel("latitude (°)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.grid(True, color="#e4e4e4", linewidth=0.6, zorder=0)
    ax.set_facecolor("#fbfbf8")
    return latitude


def plot_reports(
    reports: gpd.GeoDataFrame,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    group_names: dict[Any, str] | None = None,
    outline: shapely.Geometry | RadiusScope | None = None,
    outline_label: str = "scope",
    labels: bool = False,
    sizes: Sequence[float] | np.ndarray | None = None,
    title: str | None = None,
    max_groups: int = len(GROUP_COLOURS),
    fit: str = "all",
    box_aspect: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw reports as points over an outline, coloured by group, without a basemap.

    Parameters
    ----------
    reports : geopandas.GeoDataFrame
        Points in EPSG:4326 (a report frame; ``seq`` is used for labels).
    groups : array-like, optional
        One group key per row (e.g. :attr:`AnalysisResult.labels`; ``None`` or -1: not
        grouped). Groups with at least two reports get a colour, largest first, up to
        ``max_groups``; the rest are grey.
    group_names : dict, optional
        Legend text per group key (default: the key). When given, its keys are the groups
        coloured, in its order.
    outline : shapely geometry or RadiusScope, optional
        A scope or case outline, drawn dashed.
    outline_label : str, default "scope"
        Its legend text.
    labels : bool, default False
        Write each report's seq beside it.
    sizes : array-like, optional
        Marker areas (points²) per row, e.g. from severity.
    title : str, optional
        Axes title.
    max_groups : int, default 10
        Coloured groups at most.
    fit : {"all", "reports"}, default "all"
        Frame the reports and the outline, or the reports only (the outline is then
        clipped, e.g. a large scope around a small case).
    box_aspect : float, optional
        Width / height of the axes box: the view is widened or heightened to fill it.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import cleanapp_geo as cg
    >>> reports = cg.make_reports(50, seed=1)
    >>> ax = plot_reports(reports, groups=reports["incident_id"], labels=False)
    >>> ax.get_xlabel()
    'longitude (°)'
    """
    ax = _axes(ax, (8.5, 6.0))
    outline = _as_geometry(outline)
    points = reports.geometry
    xs = np.asarray(shapely.get_x(points.to_numpy()), dtype=float)
    ys = np.asarray(shapely.get_y(points.to_numpy()), dtype=float)
    if fit not in ("all", "reports"):
        raise ValueError(f"fit must be 'all' or 'reports', got {fit!r}")
    latitude = _frame(ax, xs, ys, outline, fit_outline=fit == "all", box_aspect=box_aspect)
    if outline is not None and not shapely.is_empty(outline):
        _outline(ax, outline, label=outline_label)
    area = np.full(len(xs), 36.0) if sizes is None else np.asarray(sizes, dtype=float)
    keys = np.asarray(groups, dtype=object) if groups is not None else np.full(len(xs), None)
    coloured: list[Any] = []
    as_text = keys.astype(str)
    if group_names is not None:
        coloured = [str(k) for k in group_names if (as_text == str(k)).any()][:max_groups]
    elif groups is not None and len(xs):
        uniq, counts = np.unique(as_text, return_counts=True)
        size = dict(zip(uniq.tolist(), counts.tolist(), strict=True))
        order = sorted(
            (k for k, c in size.items() if c >= 2 and k not in ("None", "-1")),
            key=lambda k: (-size[k], k),
        )
        coloured = order[:max_groups]
    grey = ~np.isin(as_text, coloured)
    if grey.any():
        ax.scatter(
            xs[grey], ys[grey], s=area[grey] * 0.5, color=_UNGROUPED, edgecolors="white",
            linewidths=0.4, zorder=3, label="not grouped" if coloured else "reports",
        )  # fmt: skip
    names = group_names or {}
    for i, key in enumerate(coloured):
        rows = as_text == key
        original = keys[np.flatnonzero(rows)[0]]
        ax.scatter(
            xs[rows], ys[rows], s=area[rows], color=GROUP_COLOURS[i % len(GROUP_COLOURS)],
            edgecolors="white", linewidths=0.6, zorder=4,
            label=f"{names.get(original, key)} ({int(rows.sum())})",
        )  # fmt: skip
    if labels and SEQ in reports.columns:
        for x, y, seq in zip(xs, ys, reports[SEQ].tolist(), strict=True):
            ax.annotate(
                str(seq), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7,
                color="#333333", zorder=6,
            )  # fmt: skip
    _scale_bar(ax, latitude)
    if len(xs) or outline is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_analysis(
    result: AnalysisResult,
    *,
    scope: shapely.Geometry | RadiusScope | None = None,
    top: int = 6,
    labels: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Map an analysis: the scope, the top grouped hypotheses in colour, the rest grey.

    Parameters
    ----------
    result : AnalysisResult
        From :func:`cleanapp_geo.analyze`.
    scope : shapely geometry or RadiusScope, optional
        The analysed scope.
    top : int, default 6
        Colour the first ``top`` hypotheses with at least two reports.
    labels : bool, default False
        Write each report's seq beside it.
    ax : matplotlib Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
    """
    grouped = [
        (position, h)
        for position, h in enumerate(result.table.to_hypotheses())
        if h.report_count >= 2
    ][:top]
    keep = {position for position, _ in grouped}
    groups = np.array([int(g) if int(g) in keep else None for g in result.labels], dtype=object)
    names = {
        position: f"H{rank}: {_short(h.title)}" for rank, (position, h) in enumerate(grouped, 1)
    }
    return plot_reports(
        result.reports,
        groups=groups,
        group_names=names,
        outline=scope,
        labels=labels,
        max_groups=top,
        title=f"{len(result.reports)} reports, {len(result.table)} hypotheses",
        ax=ax,
    )


def _as_geometry(outline: Any) -> shapely.Geometry | None:
    if outline is None or isinstance(outline, shapely.Geometry):
        return outline
    if hasattr(outline, "to_polygon"):
        return outline.to_polygon()
    raise TypeError(f"outline must be a shapely geometry or a RadiusScope, got {outline!r}")


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
