"""Fitting the bundled match calibrations on labelled synthetic data.

:func:`fit_bundled_calibration` is what ``python -m benchmarks calibrate`` runs to write
``cleanapp_geo/datasets/match_calibration.json``: pair scores of
:data:`~cleanapp_geo.model.DEFAULT_MODEL` (:func:`pair_sample`) and case-match scores of
:func:`cleanapp_geo.matching.match_cases` on simulated stores (:func:`case_sample`), each
fitted with :func:`cleanapp_geo.calibration.fit_calibration`. It sits above
:mod:`cleanapp_geo.matching`, which reads the fitted calibration
(:mod:`cleanapp_geo.calibration`), so the two never import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from cleanapp_geo.calibration import fit_calibration
from cleanapp_geo.matching import cases_frame, match_cases

__all__ = [
    "CASE_SCOPE_RADIUS_M",
    "PROBE_REPORTS",
    "PROBE_SEED",
    "case_probe",
    "case_sample",
    "fit_bundled_calibration",
    "pair_sample",
]

# --------------------------------------------------------------------------- samples


def pair_sample(
    seeds: Sequence[int], *, n_reports: int, model: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and truth of every pair within the model's radius gate (synthetic, hard).

    Scores are the full weighted sums of the model's smooth kernels.
    """
    from cleanapp_geo.model import DEFAULT_MODEL, FEATURES
    from cleanapp_geo.tuning import kernel_matrix, labelled_pairs

    model = model or DEFAULT_MODEL
    if model.radius_gate_m is None or model.location_kernel != "exp":
        raise ValueError("pair calibration needs a model with smooth kernels and a radius gate")
    sample = labelled_pairs(seeds, n_reports=n_reports, max_radius_m=model.radius_gate_m)
    kernels = kernel_matrix(
        sample,
        location_scale_m=model.location_scale_m,
        time_scale_s=model.time_scale_s,
        text_saturation=model.text_saturation,
    )
    if model.severity_kernel != "linear" or model.text_kernel != "jaccard":
        raise ValueError("pair calibration needs linear severity and jaccard text kernels")
    weights = np.array([model.weights[f] for f in FEATURES])
    return kernels @ weights, sample.label


#: Radius of the scope around a seed report, as ``/clusters/from-report`` uses by default.
CASE_SCOPE_RADIUS_M: Final = 250.0
_BACKGROUND_CASE_SHARE: Final = 0.05
_BACKGROUND_QUERY_SHARE: Final = 0.1
_SHARED_QUERY_SHARE: Final = 0.5
_CANDIDATE_RADIUS_M: Final = 600.0
_PROBE_SIZE: Final = 40


def case_sample(
    seeds: Sequence[int], *, n_reports: int, verbose: bool = False
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Case-match scores and truth from a simulated case store (synthetic, hard mode).

    For every planted incident of at least two reports, a case is made of its earlier half
    (anchor: the highest-severity report; title and summary: the anchor's; area: a 250 m
    circle around the anchor, as a case created from ``/clusters/from-report``). A share
    of background reports become single-report cases too. Queries are the later half of
    every incident (half of them also re-include some of the case's reports, as a
    re-analysis of the area does) and a share of background reports; each carries a 250 m
    circle around its first report and that report's title. Every case within 600 m of
    the query's seed is offered to :func:`cleanapp_geo.matching.match_cases`; each
    returned candidate is one sample, labelled by whether case and query come from the
    same incident.

    Returns
    -------
    scores, labels : numpy.ndarray
    probe : list of dict
        The first candidates of the first seed (for staleness checks).
    """
    import pandas as pd
    from scipy.spatial import cKDTree

    from cleanapp_geo.schema import TITLE, TS
    from cleanapp_geo.scope import radius_scope
    from cleanapp_geo.synthetic import make_reports
    from cleanapp_geo.tuning import project_m

    scores: list[float] = []
    labels: list[bool] = []
    probe: list[dict[str, Any]] = []
    for seed in seeds:
        rng = np.random.default_rng(int(seed) + 7_919)
        frame = make_reports(n_reports, seed=int(seed), mode="hard")
        xy = project_m(frame)
        lon = frame.geometry.x.to_numpy()
        lat = frame.geometry.y.to_numpy()
        titles = frame[TITLE].to_numpy(dtype=object)
        cases, case_truth, case_pos, queries = _simulated_store(frame, int(seed), rng)
        tree = cKDTree(xy[case_pos])
        truth_of = dict(zip(cases["case_id"], case_truth.tolist(), strict=True))
        now = pd.Timestamp(frame[TS].max())
        for q, (positions, truth) in enumerate(queries):
            seed_pos = int(positions[0])
            nearby = tree.query_ball_point(xy[seed_pos], _CANDIDATE_RADIUS_M)
            if not nearby:
                continue
            candidates = match_cases(
                cases.iloc[sorted(nearby)],
                frame.iloc[np.sort(positions)],
                geometry=radius_scope(lon[seed_pos], lat[seed_pos], CASE_SCOPE_RADIUS_M),
                texts=[str(titles[seed_pos])],
                now=now,
            )
            for c in candidates:
                scores.append(c.match_score)
                labels.append(truth_of[c.case_id] == truth)
                if len(probe) < _PROBE_SIZE and seed == seeds[0]:
                    probe.append({"query": q, "case_id": c.case_id, "score": c.match_score})
        if verbose:
            print(f"  seed {seed}: {len(queries)} queries, {len(scores)} candidates so far")
    return np.array(scores), np.array(labels, dtype=bool), probe


def _simulated_store(
    frame: Any, seed: int, rng: np.random.Generator
) -> tuple[Any, np.ndarray, np.ndarray, list[tuple[np.ndarray, int]]]:
    """Cases and queries of :func:`case_sample` for one synthetic frame.

    Returns the cases frame, the truth (incident) and anchor position of every case, and
    the queries as ``(positions, truth)``.
    """
    from cleanapp_geo.schema import SEQ, SEVERITY_LEVEL, SUMMARY, TITLE, TS
    from cleanapp_geo.scope import radius_scope
    from cleanapp_geo.synthetic import INCIDENT_ID

    lon = frame.geometry.x.to_numpy()
    lat = frame.geometry.y.to_numpy()
    incident = frame[INCIDENT_ID].to_numpy()
    severity = frame[SEVERITY_LEVEL].to_numpy()
    seqs = frame[SEQ].to_numpy()
    titles = frame[TITLE].to_numpy(dtype=object)
    summaries = frame[SUMMARY].to_numpy(dtype=object)
    ts = frame[TS]
    ts_ns = ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
    records: list[dict[str, Any]] = []
    truth: list[int] = []
    anchors: list[int] = []
    queries: list[tuple[np.ndarray, int]] = []

    def add_case(positions: list[int], label: int, case_id: str) -> None:
        anchor = max(positions, key=lambda p: (severity[p], ts_ns[p], -seqs[p]))
        newest = max(positions, key=lambda p: ts_ns[p])
        records.append(
            {
                "case_id": case_id,
                "status": "open",
                "title": str(titles[anchor]),
                "summary": str(summaries[anchor]),
                "updated_at": ts.iloc[newest],
                "anchor_report_seq": int(seqs[anchor]),
                "anchor_lat": float(lat[anchor]),
                "anchor_lng": float(lon[anchor]),
                "cluster_count": 1,
                "linked_report_count": len(positions),
                "report_seqs": [int(seqs[p]) for p in positions],
                "geometry": radius_scope(
                    lon[anchor], lat[anchor], CASE_SCOPE_RADIUS_M
                ).to_polygon(),
            }
        )
        truth.append(label)
        anchors.append(anchor)

    members_of: dict[int, list[int]] = {}
    for pos in np.lexsort((seqs, ts_ns)):
        if incident[pos] >= 0:
            members_of.setdefault(int(incident[pos]), []).append(int(pos))
    for inc, members in members_of.items():
        if len(members) < 2:
            continue
        half = (len(members) + 1) // 2
        add_case(members[:half], inc, f"case_{seed}_{inc}")
        later = list(members[half:])
        if rng.random() < _SHARED_QUERY_SHARE:
            k = int(rng.integers(1, half + 1))
            later += [int(p) for p in rng.choice(members[:half], size=k, replace=False)]
        queries.append((np.array(later), inc))
    background = rng.permutation(np.flatnonzero(incident < 0))
    n_cases = int(len(background) * _BACKGROUND_CASE_SHARE)
    n_queries = int(len(background) * _BACKGROUND_QUERY_SHARE)
    for p in background[:n_cases]:
        add_case([int(p)], -1 - int(p), f"bg_{seed}_{p}")
    for p in background[n_cases : n_cases + n_queries]:  # disjoint from the cases
        queries.append((np.array([int(p)]), -1 - int(p)))
    return cases_frame(records), np.array(truth), np.array(anchors, dtype=np.int64), queries


def fit_bundled_calibration(
    *,
    seeds: Sequence[int] = (201, 202, 203, 204, 205, 206),
    n_reports: int = 20_000,
    case_reports: int = 10_000,
    verbose: bool = False,
) -> dict[str, Any]:
    """Fit both bundled calibrations: isotonic on two seeds, cuts on two, report on two.

    Returns the JSON document written to ``cleanapp_geo/datasets/match_calibration.json``.
    """
    from cleanapp_geo.model import DEFAULT_MODEL

    if len(seeds) != 6:
        raise ValueError("give six seeds: two to fit, two to choose the cuts, two to report")
    fit_s, cut_s, test_s = list(seeds[:2]), list(seeds[2:4]), list(seeds[4:])
    out: dict[str, Any] = {"generated_by": "python -m benchmarks calibrate", "seeds": list(seeds)}
    samples = {}
    for name in ("fit", "cut", "test"):
        part = {"fit": fit_s, "cut": cut_s, "test": test_s}[name]
        if verbose:
            print(f"pair sample ({name}): seeds {part}")
        samples[name] = pair_sample(part, n_reports=n_reports)
    pair = fit_calibration(
        *samples["fit"],
        *samples["cut"],
        kind="pair",
        test_scores=samples["test"][0],
        test_labels=samples["test"][1],
        fitted_on={"seeds": list(seeds), "n_reports": n_reports, "model": DEFAULT_MODEL.to_dict()},
    )
    out["pair"] = pair.to_dict()
    case_samples = {}
    for name, part in (("fit", fit_s), ("cut", cut_s), ("test", test_s)):
        if verbose:
            print(f"case sample ({name}): seeds {part}")
        s, y, _ = case_sample(part, n_reports=case_reports, verbose=verbose)
        case_samples[name] = (s, y)
    case = fit_calibration(
        *case_samples["fit"],
        *case_samples["cut"],
        kind="case",
        test_scores=case_samples["test"][0],
        test_labels=case_samples["test"][1],
        fitted_on={
            "seeds": list(seeds),
            "n_reports": case_reports,
            "scope_radius_m": CASE_SCOPE_RADIUS_M,
            "probe": case_probe(),
        },
    )
    out["case"] = case.to_dict()
    return out


#: Tiny simulated store whose case-match scores are stored with the bundled calibration;
#: a test recomputes them, so a changed matching score cannot keep a stale calibration.
PROBE_SEED: Final = 999
PROBE_REPORTS: Final = 1_000


def case_probe() -> list[dict[str, Any]]:
    """Case-match scores of the probe store (see :data:`PROBE_SEED`)."""
    return case_sample((PROBE_SEED,), n_reports=PROBE_REPORTS)[2]
