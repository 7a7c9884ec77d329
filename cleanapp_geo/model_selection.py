"""Choose the similarity model on real labelled reports and synthetic hard data together.

Two kinds of evidence disagree on what a good model is, and both are needed:

* **Synthetic hard frames** (:func:`cleanapp_geo.synthetic.make_reports`) have every
  feature of a CleanApp report and planted incidents, so the pairwise F1 of a grouping is
  known; they decide the weights of classification, severity, text, location, brand and
  time, the kernel scales and the threshold.
* **Real city files** (:func:`cleanapp_geo.realdata.read_labelled_reports`) have only
  location, time and the city's request type (``category``), and the city's duplicate
  marks: they decide how much a shared category counts and which of the scales and
  thresholds that synthetic data finds equally good generalise to a city.

The search is a grid that is *built from synthetic training data only*, so the same
candidates can be scored on every real file without leaking them:

1. for each location scale, time scale and text saturation, a logistic fit on the
   synthetic training pairs gives the weights (:func:`cleanapp_geo.tuning.fit_weights`;
   the category is unknown in synthetic data, so it gets none);
2. for each grouping (connected components, average linkage) the thresholds whose
   synthetic pairwise F1 reaches ``min_synthetic_f1`` are kept (the best and a few
   stricter ones);
3. each is combined with a range of category weights and both ``missing`` modes. A
   category weight changes nothing on synthetic data (under ``no_match`` the other
   weights and the threshold are scaled by ``1 - w_category``), so every candidate keeps
   the synthetic F1 it was selected for.

Every candidate is then scored on every real file with the fast pair evaluator (the
pairs within the radius gate, grouped as :func:`cleanapp_geo.analyze` groups them), and
a model is *selected* by its mean utility over the real files and the synthetic data,
the synthetic data counting as one more file: on a real file the utility is
``dup_recall - false_dup_cost × false_dup_rate`` (a false merge costs more than a miss),
on the synthetic data it is the pairwise F1. Selection is cross-validated by
leaving one real file out at a time: the held-out figures of each fold are what a city
the model has not seen can expect. The model selected on every file is the result.

Examples
--------
>>> from cleanapp_geo.model_selection import SelectionSpace
>>> SelectionSpace().size() > 100
True
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from cleanapp_geo.evaluation import duplicate_scores, evaluate_clustering
from cleanapp_geo.model import FEATURES, SimilarityModel
from cleanapp_geo.schema import TS
from cleanapp_geo.synthetic import INCIDENT_ID, make_reports
from cleanapp_geo.tuning import (
    PairSample,
    fit_weights,
    group_frames,
    grouping_scores,
    kernel_matrix,
    labelled_pairs,
    pair_scores,
)

__all__ = [
    "Candidate",
    "SelectionReport",
    "SelectionSpace",
    "candidate_models",
    "choose_gate",
    "score_candidates",
    "select_model",
]

_DAY_S: Final = 86_400.0
_THRESHOLD_STEPS: Final = 41


@dataclass(frozen=True, slots=True)
class SelectionSpace:
    """The grid :func:`select_model` searches (every combination is tried).

    Attributes
    ----------
    location_scale_m : tuple of float
        Scales of the exponential location kernel, in metres.
    time_scale_s : tuple of float
        Scales of the exponential time kernel, in seconds.
    text_saturation : tuple of float
        Jaccard values at which the text kernel saturates.
    groupings : tuple of (str, float)
        ``(grouping, linkage_cut)`` pairs.
    missing : tuple of str
        ``missing`` modes.
    category_weight : tuple of float
        Weights of the category feature, in [0, 1).
    stricter_thresholds : int
        Besides the threshold of best synthetic F1, this many stricter ones whose F1
        still reaches the floor are tried (a city may need a stricter model than
        synthetic data does).
    radius_gates_m : tuple of float
        Radius gates tried; every candidate gets the smallest that keeps at least
        ``min_candidate_recall`` of the true synthetic training pairs, so that blocking
        stays spatial and fast without losing incidents.
    min_candidate_recall : float
        See ``radius_gates_m``.
    """

    location_scale_m: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0)
    time_scale_s: tuple[float, ...] = tuple(d * _DAY_S for d in (0.5, 1, 2, 4, 7, 14))
    text_saturation: tuple[float, ...] = (0.1,)
    groupings: tuple[tuple[str, float], ...] = (
        ("connected", 0.5),
        ("average", 0.5),
        ("average", 0.75),
    )
    missing: tuple[str, ...] = ("no_match", "ignore")
    category_weight: tuple[float, ...] = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
    stricter_thresholds: int = 3
    radius_gates_m: tuple[float, ...] = (100.0, 120.0, 150.0, 200.0)
    min_candidate_recall: float = 0.995

    def size(self) -> int:
        """Upper bound on the number of candidates."""
        return (
            len(self.location_scale_m)
            * len(self.time_scale_s)
            * len(self.text_saturation)
            * len(self.groupings)
            * (1 + self.stricter_thresholds)
            * len(self.missing)
            * len(self.category_weight)
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model of the search and the synthetic F1 it was chosen for.

    Attributes
    ----------
    model : SimilarityModel
        The model.
    synthetic_f1 : float
        Pooled pairwise F1 on the synthetic training frames.
    """

    model: SimilarityModel
    synthetic_f1: float


def candidate_models(
    synthetic: PairSample,
    space: SelectionSpace | None = None,
    *,
    min_synthetic_f1: float = 0.95,
    log: Callable[[str], Any] | None = None,
) -> list[Candidate]:
    """Build the candidates from synthetic training pairs (no real data is read).

    Parameters
    ----------
    synthetic : PairSample
        Labelled pairs of synthetic training frames, within at least the gate.
    space : SelectionSpace, optional
        The grid.
    min_synthetic_f1 : float, default 0.95
        Thresholds below this pooled pairwise F1 are not kept.
    log : callable, optional
        Progress messages.

    Returns
    -------
    list of Candidate
    """
    space = space or SelectionSpace()
    gate = choose_gate(synthetic, space)
    within = synthetic.distance_m <= gate
    out: list[Candidate] = []
    for location_scale in space.location_scale_m:
        for time_scale in space.time_scale_s:
            for saturation in space.text_saturation:
                kernels = kernel_matrix(
                    synthetic,
                    location_scale_m=location_scale,
                    time_scale_s=time_scale,
                    text_saturation=saturation,
                )
                weights = fit_weights(kernels[within], synthetic.label[within])
                params: dict[str, Any] = {
                    f"weight_{f}": float(w) for f, w in zip(FEATURES, weights, strict=True)
                }
                base = SimilarityModel(
                    **params,
                    severity_kernel="linear",
                    text_kernel="jaccard",
                    text_saturation=saturation,
                    location_kernel="exp",
                    location_scale_m=location_scale,
                    time_kernel="exp",
                    time_scale_s=time_scale,
                    radius_gate_m=gate,
                )
                scores = kernels @ weights
                for grouping, cut in space.groupings:
                    kept = _feasible_thresholds(
                        synthetic, scores, gate, grouping, cut, min_synthetic_f1, space
                    )
                    for threshold, f1 in kept:
                        model = SimilarityModel.from_dict(
                            {
                                **base.to_dict(),
                                "threshold": threshold,
                                "grouping": grouping,
                                "linkage_cut": cut,
                            }
                        )
                        out.extend(
                            Candidate(_with_category(model, w_cat, missing), f1)
                            for missing in space.missing
                            for w_cat in space.category_weight
                        )
                if log:
                    log(
                        f"  location {location_scale:g} m, time {time_scale / _DAY_S:g} d, "
                        f"saturation {saturation:g}: {len(out)} candidates so far"
                    )
    return out


def choose_gate(synthetic: PairSample, space: SelectionSpace) -> float:
    """Return the smallest of ``space.radius_gates_m`` keeping enough true synthetic pairs.

    Parameters
    ----------
    synthetic : PairSample
        Labelled synthetic pairs within at least the largest gate.
    space : SelectionSpace
        Gives the gates and the recall to keep.

    Returns
    -------
    float
        The gate in metres (the largest when none keeps enough).
    """
    for gate in sorted(space.radius_gates_m):
        if synthetic.candidate_recall(gate) >= space.min_candidate_recall:
            return float(gate)
    return float(max(space.radius_gates_m))


def _feasible_thresholds(
    sample: PairSample,
    scores: np.ndarray,
    gate: float,
    grouping: str,
    cut: float,
    min_f1: float,
    space: SelectionSpace,
) -> list[tuple[float, float]]:
    """Return the best threshold and up to ``stricter_thresholds`` stricter feasible ones."""
    grid = np.round(np.linspace(0.3, 0.9, _THRESHOLD_STEPS), 4)
    f1 = np.array(
        [
            grouping_scores(
                sample, scores, float(t), gate_m=gate, grouping=grouping, linkage_cut=cut
            )[0]["f1"]
            for t in grid
        ]
    )
    best = int(np.argmax(f1))
    if f1[best] < min_f1:
        return []
    stricter = [k for k in range(best + 1, len(grid)) if f1[k] >= min_f1]
    step = max(1, len(stricter) // max(space.stricter_thresholds, 1))
    chosen = [best, *stricter[step - 1 :: step][: space.stricter_thresholds]]
    return [(float(grid[k]), float(f1[k])) for k in chosen]


def _with_category(model: SimilarityModel, w_category: float, missing: str) -> SimilarityModel:
    """Give the category ``w_category`` without changing any synthetic decision."""
    scaled = {f"weight_{f}": model.weights[f] * (1 - w_category) for f in FEATURES}
    scaled["weight_category"] = w_category
    threshold = model.threshold
    if missing == "no_match":
        # The category is unknown in synthetic data and counts as no match: scale the
        # threshold with the other weights so every synthetic score keeps its side of it.
        threshold = model.threshold * (1 - w_category)
    return SimilarityModel.from_dict(
        {**model.to_dict(), **scaled, "threshold": threshold, "missing": missing}
    )


def score_candidates(
    candidates: Sequence[Candidate],
    real: Mapping[str, tuple[gpd.GeoDataFrame, pd.DataFrame]],
    *,
    radius_gate_m: float,
) -> pd.DataFrame:
    """Dup recall, false-dup rate and parent recall of every candidate on every real file.

    Parameters
    ----------
    candidates : sequence of Candidate
        From :func:`candidate_models`.
    real : mapping of str to (GeoDataFrame, DataFrame)
        Real files by name: the report frame and the labels of
        :func:`~cleanapp_geo.realdata.read_labelled_reports`.
    radius_gate_m : float
        The candidates' gate (every pair within it is listed once per file).

    Returns
    -------
    pandas.DataFrame
        One row per candidate (in order), columns ``<name>:dup_recall``,
        ``<name>:false_dup_rate`` and ``<name>:parent_recall`` per file, and
        ``synthetic_f1``.
    """
    names = list(real)
    frames = [real[name][0].reset_index(drop=True) for name in names]
    sample = labelled_pairs(tuple(range(len(frames))), frames=frames, max_radius_m=radius_gate_m)
    rows = []
    cache: dict[str, dict[str, float]] = {}
    for candidate in candidates:
        model = candidate.model
        key = json.dumps(model.to_dict(), sort_keys=True)
        if key not in cache:
            groups = group_frames(
                sample,
                pair_scores(sample, model),
                model.threshold,
                gate_m=model.radius_gate_m,
                grouping=model.grouping,
                linkage_cut=model.linkage_cut,
            )
            row: dict[str, float] = {}
            for name, frame, labels in zip(names, frames, groups, strict=True):
                scores = duplicate_scores(real[name][1], labels, frame[TS])
                row[f"{name}:dup_recall"] = scores.dup_recall
                row[f"{name}:false_dup_rate"] = scores.false_dup_rate
                row[f"{name}:parent_recall"] = scores.parent_recall
            cache[key] = row
        rows.append({**cache[key], "synthetic_f1": candidate.synthetic_f1})
    return pd.DataFrame(rows)


def objective(
    table: pd.DataFrame, names: Sequence[str], *, false_dup_cost: float = 2.0
) -> np.ndarray:
    """Mean utility over the named real files and the synthetic data (one more file).

    A real file's utility is ``dup_recall - false_dup_cost × false_dup_rate``; the
    synthetic data's is its pairwise F1 (column ``synthetic_f1``).
    """
    total = table["synthetic_f1"].to_numpy(dtype=np.float64).copy()
    for name in names:
        total += table[f"{name}:dup_recall"].to_numpy() - false_dup_cost * table[
            f"{name}:false_dup_rate"
        ].to_numpy(dtype=np.float64)
    return total / (len(names) + 1)


@dataclass(frozen=True, slots=True)
class SelectionReport:
    """What :func:`select_model` chose and how it generalises.

    Attributes
    ----------
    model : SimilarityModel
        Selected on every real file (rounded to 3 decimals).
    folds : list of dict
        One per real file held out: its name, the model selected without it and that
        model's figures on it (the held-out figures).
    in_sample : dict
        The selected model's figures on every real file.
    synthetic : dict
        Held-out synthetic figures (pairwise F1 of :func:`cleanapp_geo.analyze` on seeds
        never used in the search, candidate recall of the gate) of the selected model
        and of every fold's model.
    settings : dict
        Seeds, sizes, space, cost and floor used; candidate count.
    candidates : pandas.DataFrame
        Every candidate's parameters, synthetic F1 and figures on every real file (for
        looking at the trade-offs; written as ``candidates.csv``).
    elapsed_s : float
        Wall time.
    """

    model: SimilarityModel
    folds: list[dict[str, Any]]
    in_sample: dict[str, dict[str, float]]
    synthetic: dict[str, dict[str, float]]
    settings: dict[str, Any]
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    elapsed_s: float = field(default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (models as their parameters)."""
        return {
            "model": self.model.to_dict(),
            "folds": [{**f, "model": f["model"].to_dict()} for f in self.folds],
            "in_sample": self.in_sample,
            "synthetic": self.synthetic,
            "settings": self.settings,
            "elapsed_s": self.elapsed_s,
        }

    def to_markdown(self) -> str:
        """Held-out real and synthetic figures as Markdown tables."""
        lines = [
            "Leave one real file out: the model selected on the other files, scored on the "
            "held-out one.",
            "",
            "| held-out file | dup recall | false-dup rate | parent recall | synthetic F1 "
            "(held-out seeds) |",
            "|---|---|---|---|---|",
        ]
        for fold in self.folds:
            held = fold["heldout"]
            lines.append(
                f"| {fold['name']} | {held['dup_recall']:.3f} | "
                f"{held['false_dup_rate']:.3f} | {_fmt(held['parent_recall'])} | "
                f"{self.synthetic[fold['name']]['pairwise_f1']:.3f} |"
            )
        lines += [
            "",
            "Selected on every file (in-sample):",
            "",
            "| file | dup recall | false-dup rate | parent recall |",
            "|---|---|---|---|",
        ]
        for name, row in self.in_sample.items():
            lines.append(
                f"| {name} | {row['dup_recall']:.3f} | {row['false_dup_rate']:.3f} | "
                f"{_fmt(row['parent_recall'])} |"
            )
        final = self.synthetic["selected"]
        lines += [
            "",
            f"Synthetic held-out seeds {self.settings['synthetic_test_seeds']}: pairwise F1 "
            f"{final['pairwise_f1']:.3f}, candidate recall of the gate "
            f"{final['candidate_recall']:.4f}.",
            "",
            "| parameter | selected |",
            "|---|---|",
        ]
        for name, value in self.model.to_dict().items():
            lines.append(f"| {name} | {value} |")
        return "\n".join(lines)

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``model.json``, ``report.json``, ``report.md`` and ``candidates.csv``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "model": out / "model.json",
            "report": out / "report.json",
            "markdown": out / "report.md",
            "candidates": out / "candidates.csv",
        }
        self.candidates.to_csv(paths["candidates"], index=False, float_format="%.6g")
        paths["model"].write_text(json.dumps(self.model.to_dict(), indent=2) + "\n")
        paths["report"].write_text(
            json.dumps(self.to_dict(), indent=2, default=_json_number) + "\n"
        )
        paths["markdown"].write_text(self.to_markdown() + "\n")
        return paths


def _fmt(value: float) -> str:
    return "—" if value != value else f"{value:.3f}"  # NaN: no parent pairs


def _json_number(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _figures(table: pd.DataFrame, row: int, name: str) -> dict[str, float]:
    return {
        metric: float(table.iloc[row][f"{name}:{metric}"])
        for metric in ("dup_recall", "false_dup_rate", "parent_recall")
    }


def _rounded(model: SimilarityModel) -> SimilarityModel:
    weights = np.round([model.weights[f] for f in FEATURES], 3)
    weights[int(np.argmax(weights))] += 1.0 - weights.sum()
    params = model.to_dict()
    params.update(
        {f"weight_{f}": round(float(w), 3) for f, w in zip(FEATURES, weights, strict=True)}
    )
    params["threshold"] = round(model.threshold, 3)
    return SimilarityModel.from_dict(params)


def _synthetic_heldout(
    model: SimilarityModel, frames: Sequence[gpd.GeoDataFrame]
) -> dict[str, float]:
    """Pairwise F1 of the real pipeline and the gate's candidate recall on test frames."""
    from cleanapp_geo.analysis import analyze

    f1 = []
    for frame in frames:
        labels = analyze(frame, model=model, now=pd.Timestamp(frame[TS].max())).labels
        f1.append(evaluate_clustering(frame[INCIDENT_ID].to_numpy(np.int64), labels)["pairwise_f1"])
    gate = model.radius_gate_m if model.radius_gate_m is not None else np.inf
    pairs = labelled_pairs(tuple(range(len(frames))), frames=frames, max_radius_m=float(gate))
    return {"pairwise_f1": float(np.mean(f1)), "candidate_recall": pairs.candidate_recall(gate)}


def select_model(
    real: Mapping[str, tuple[gpd.GeoDataFrame, pd.DataFrame]],
    *,
    synthetic_train_seeds: Sequence[int] = (11, 12),
    synthetic_test_seeds: Sequence[int] = (101, 102, 103),
    n_reports: int = 10_000,
    test_reports: int = 20_000,
    space: SelectionSpace | None = None,
    false_dup_cost: float = 2.0,
    min_synthetic_f1: float = 0.95,
    log: Callable[[str], Any] | None = None,
) -> SelectionReport:
    """Select the model on real and synthetic data, leaving one real file out at a time.

    Parameters
    ----------
    real : mapping of str to (GeoDataFrame, DataFrame)
        Real labelled files by name (at least two).
    synthetic_train_seeds, synthetic_test_seeds : sequence of int
        Seeds of the synthetic hard frames the candidates are built on, and of those
        held out for the final figures (they must differ).
    n_reports, test_reports : int
        Reports per synthetic training frame, and per held-out frame.
    space : SelectionSpace, optional
        The grid.
    false_dup_cost : float, default 2
        How many misses one false merge costs in the objective.
    min_synthetic_f1 : float, default 0.95
        Candidates below this synthetic pairwise F1 are not built.
    log : callable, optional
        Progress messages.

    Returns
    -------
    SelectionReport

    Raises
    ------
    ValueError
        With fewer than two real files, overlapping seeds or no feasible candidate.
    """
    if len(real) < 2:
        raise ValueError("select_model needs at least two real files (one is held out)")
    if set(synthetic_train_seeds) & set(synthetic_test_seeds):
        raise ValueError("synthetic training and held-out seeds must differ")
    started = time.perf_counter()
    space = space or SelectionSpace()
    say = log or (lambda _message: None)
    train_frames = [
        make_reports(n_reports, seed=int(s), mode="hard") for s in synthetic_train_seeds
    ]
    synthetic = labelled_pairs(
        tuple(synthetic_train_seeds), frames=train_frames, max_radius_m=max(space.radius_gates_m)
    )
    del train_frames
    gate = choose_gate(synthetic, space)
    say(
        f"{len(synthetic):,} synthetic training pairs; radius gate {gate:g} m keeps "
        f"{synthetic.candidate_recall(gate):.4f} of the true pairs; building candidates"
    )
    candidates = candidate_models(synthetic, space, min_synthetic_f1=min_synthetic_f1, log=log)
    if not candidates:
        raise ValueError(
            f"no candidate reaches synthetic pairwise F1 {min_synthetic_f1}; widen the space"
        )
    say(f"{len(candidates):,} candidates; scoring them on {len(real)} real files")
    table = score_candidates(candidates, real, radius_gate_m=gate)
    names = list(real)

    def selected(training: Sequence[str]) -> tuple[SimilarityModel, pd.DataFrame]:
        best = int(np.argmax(objective(table, training, false_dup_cost=false_dup_cost)))
        # Rounded for reading; its own figures, not the unrounded candidate's.
        chosen = Candidate(_rounded(candidates[best].model), candidates[best].synthetic_f1)
        return chosen.model, score_candidates([chosen], real, radius_gate_m=gate)

    folds: list[dict[str, Any]] = []
    for held in names:
        training = [n for n in names if n != held]
        fold_model, figures = selected(training)
        folds.append(
            {
                "name": held,
                "model": fold_model,
                "heldout": _figures(figures, 0, held),
                "training_objective": float(
                    objective(figures, training, false_dup_cost=false_dup_cost)[0]
                ),
            }
        )
        say(f"  held out {held}: {folds[-1]['heldout']}")
    model, figures = selected(names)
    test_frames = [
        make_reports(test_reports, seed=int(s), mode="hard") for s in synthetic_test_seeds
    ]
    synthetic_figures = {"selected": _synthetic_heldout(model, test_frames)}
    for held, fold in zip(names, folds, strict=True):
        synthetic_figures[held] = _synthetic_heldout(fold["model"], test_frames)
    settings = {
        "real_files": names,
        "synthetic_train_seeds": [int(s) for s in synthetic_train_seeds],
        "synthetic_test_seeds": [int(s) for s in synthetic_test_seeds],
        "n_reports": n_reports,
        "test_reports": test_reports,
        "false_dup_cost": false_dup_cost,
        "min_synthetic_f1": min_synthetic_f1,
        "candidates": len(candidates),
        "space": {
            "location_scale_m": list(space.location_scale_m),
            "time_scale_s": list(space.time_scale_s),
            "text_saturation": list(space.text_saturation),
            "groupings": [list(g) for g in space.groupings],
            "missing": list(space.missing),
            "category_weight": list(space.category_weight),
            "stricter_thresholds": space.stricter_thresholds,
            "radius_gates_m": list(space.radius_gates_m),
            "min_candidate_recall": space.min_candidate_recall,
        },
        "radius_gate_m": gate,
        "gate_candidate_recall_train": synthetic.candidate_recall(gate),
    }
    return SelectionReport(
        model=model,
        folds=folds,
        in_sample={name: _figures(figures, 0, name) for name in names},
        synthetic=synthetic_figures,
        settings=settings,
        candidates=pd.concat(
            [pd.DataFrame([c.model.to_dict() for c in candidates]), table], axis=1
        ),
        elapsed_s=time.perf_counter() - started,
    )
