"""``python -m cleanapp_geo.demo``: analyse a generated city and explain the result.

Generates a synthetic city of reports (planted incidents plus background), analyses it
with :data:`~cleanapp_geo.DEFAULT_MODEL`, prints the top hypotheses with their rationale,
the quality against the planted truth, and a per-feature explanation of one grouped pair.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import cleanapp_geo as cg
from cleanapp_geo.evaluation import evaluate_clustering
from cleanapp_geo.synthetic import INCIDENT_ID

__all__ = ["main", "run_demo"]


def run_demo(n_reports: int = 20_000, *, seed: int = 7, top: int = 5) -> cg.AnalysisResult:
    """Generate, analyse and print; return the analysis result.

    Parameters
    ----------
    n_reports : int, default 20,000
        Size of the generated city.
    seed : int, default 7
        Generator seed.
    top : int, default 5
        How many hypotheses to print.

    Returns
    -------
    AnalysisResult
    """
    reports = cg.make_reports(n_reports, seed=seed, mode="hard")
    now = reports["ts"].max()
    print(f"Generated {len(reports):,} reports (hard mode, seed {seed}); now = {now}")
    result = cg.analyze(reports, classification="physical", now=now)
    timing = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings_s.items())
    print(
        f"Analysed {len(result.reports):,} physical reports in "
        f"{sum(result.timings_s.values()):.2f} s ({timing}); "
        f"{result.candidate_pair_count:,} candidate pairs, {len(result.edges):,} edges, "
        f"{len(result.table):,} hypotheses"
    )
    truth = result.reports[INCIDENT_ID].to_numpy()
    quality = evaluate_clustering(truth, result.labels)
    print(
        "Against the planted incidents: pairwise precision "
        f"{quality['pairwise_precision']:.3f}, recall {quality['pairwise_recall']:.3f}, "
        f"F1 {quality['pairwise_f1']:.3f}, ARI {quality['ari']:.3f}"
    )
    print(f"\nTop {top} hypotheses (urgency, severity, size):")
    for rank, hypothesis in enumerate(result.table.to_hypotheses(top), start=1):
        print(
            f"{rank}. {hypothesis.hypothesis_id}  {hypothesis.title!r}\n"
            f"   {hypothesis.report_count} reports {list(hypothesis.report_seqs)[:8]}"
            f"{' ...' if hypothesis.report_count > 8 else ''}; urgency "
            f"{hypothesis.urgency_score:.2f}, severity {hypothesis.severity_score:.2f}, "
            f"confidence {hypothesis.confidence:.2f}\n"
            f"   rationale: {', '.join(hypothesis.rationale) or '-'}"
        )
    grouped = [h for h in result.table.to_hypotheses(50) if h.report_count >= 2]
    if grouped:
        focal, neighbor = grouped[0].report_seqs[:2]
        print("\nWhy the first two reports of the top grouped hypothesis belong together:")
        print(cg.explain_pair(result.reports, focal, neighbor, model=result.model))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m cleanapp_geo.demo", description=__doc__)
    parser.add_argument("--reports", type=int, default=20_000, help="city size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    if args.reports < 1 or args.top < 1:
        parser.error("--reports and --top must be positive")
    np.set_printoptions(precision=3)
    run_demo(args.reports, seed=args.seed, top=args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
