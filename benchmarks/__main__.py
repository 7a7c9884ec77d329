"""``python -m benchmarks``: the benchmark suite, the weight tuning and the band calibration.

Examples::

    python -m benchmarks run --sizes 10k,100k --json benchmarks/results/latest.json
    python -m benchmarks run --sizes 1m --no-postgis --json out-1m.json
    python -m benchmarks tune --out benchmarks/results/tuning
    python -m benchmarks calibrate --out cleanapp_geo/datasets/match_calibration.json
    python -m benchmarks realdata --json benchmarks/results/realdata.json
    python -m benchmarks realdata --model tuned=tuned.json --data benchmarks/data/real311
    python -m benchmarks discovery --json benchmarks/results/discovery.json
    python -m benchmarks scale --single 1m --sizes 10m,30m --json benchmarks/results/scale.json
    python -m benchmarks ingest --reports 1m --cases 10000 --json benchmarks/results/ingest.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dump(document: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")


def _case(args: argparse.Namespace) -> int:
    from . import cases

    out = Path(args.out)
    if args.kind == "prepare":
        result = cases.prepare(args.size, args.seed, args.mode, Path(args.data))
    else:
        frame = cases.load(Path(args.data))
        if args.kind == "timing":
            result = cases.case_timing(
                frame,
                repeats=args.repeats,
                upstream=args.upstream,
                dbscan_eps_m=args.dbscan_eps,
                dbscan_min_samples=args.dbscan_min_samples,
            )
        elif args.kind == "memory":
            result = cases.case_memory(frame, what=args.what, dbscan_eps_m=args.dbscan_eps)
        elif args.kind == "quality":
            result = cases.case_quality(
                frame,
                upstream=args.upstream,
                upstream_recall_max=args.upstream_recall_max,
                dbscan_eps_m=args.dbscan_eps,
                dbscan_min_samples=args.dbscan_min_samples,
            )
        elif args.kind == "postgis":
            result = cases.case_postgis(
                frame,
                repeats=args.repeats,
                dbscan_eps_m=args.dbscan_eps,
                dbscan_min_samples=args.dbscan_min_samples,
            )
        else:  # pragma: no cover - argparse restricts the choices
            raise SystemExit(f"unknown case {args.kind}")
    dump(result, out)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .suite import format_table, parse_size, run_suite

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    document = run_suite(
        sizes,
        seed=args.seed,
        timing_mode=args.mode,
        repeats=args.repeats,
        upstream_max=parse_size(args.upstream_max),
        postgis=not args.no_postgis,
        dbscan_eps_m=args.dbscan_eps,
        dbscan_min_samples=args.dbscan_min_samples,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    table = format_table(document)
    print(table)
    if args.json:
        dump(document, Path(args.json))
        Path(args.json).with_suffix(".md").write_text(table + "\n")
        print(f"\nwrote {args.json} and {Path(args.json).with_suffix('.md')}", file=sys.stderr)
    missed = [f for f in document["floors"] if f["status"] == "MISSED"]
    if missed:
        print(f"\n{len(missed)} floor(s) MISSED", file=sys.stderr)
    return 0


def _tune(args: argparse.Namespace) -> int:
    from . import tuning

    tuning.run(
        Path(args.out),
        data=Path(args.data),
        quick=args.quick,
        train_seeds=tuple(int(s) for s in args.train_seeds.split(",")),
        test_seeds=tuple(int(s) for s in args.test_seeds.split(",")),
        n_reports=args.n_reports,
        test_reports=args.test_reports,
    )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from cleanapp_geo.calibrate import fit_bundled_calibration

    bundle = fit_bundled_calibration(
        seeds=[int(s) for s in args.seeds.split(",")],
        n_reports=args.n_reports,
        case_reports=args.case_reports,
        verbose=True,
    )
    Path(args.out).write_text(json.dumps(bundle, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _realdata(args: argparse.Namespace) -> int:
    from .realdata import format_table, methods, parse_model_arg, run_realdata

    try:
        models = dict(parse_model_arg(text) for text in args.model)
        labellers = methods(models)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"--model: {exc}") from exc
    document = run_realdata(
        Path(args.data),
        labellers=labellers,
        repeats=args.repeats,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    table = format_table(document)
    print(table)
    if args.json:
        dump(document, Path(args.json))
        Path(args.json).with_suffix(".md").write_text(table + "\n")
        print(f"\nwrote {args.json} and {Path(args.json).with_suffix('.md')}", file=sys.stderr)
    return 0


def _frontier(args: argparse.Namespace) -> int:
    from . import frontier

    document = frontier.run(Path(args.data))
    print(frontier.format_table(document))
    if args.json:
        dump(document, Path(args.json))
    return 0


def _model_cost(args: argparse.Namespace) -> int:
    from . import model_cost

    document = model_cost.run(args.n, repeats=args.repeats)
    print(model_cost.format_table(document))
    if args.json:
        dump(document, Path(args.json))
    return 0


def _discovery(args: argparse.Namespace) -> int:
    from .discovery import format_table, run_discovery_bench

    document = run_discovery_bench()
    table = format_table(document)
    print(table)
    if args.json:
        dump(document, Path(args.json))
        Path(args.json).with_suffix(".md").write_text(table + "\n")
    return 0


def _scale(args: argparse.Namespace) -> int:
    from .scale import format_table, run_scale
    from .suite import parse_size

    document = run_scale(
        single_n=parse_size(args.single),
        sizes=[parse_size(s) for s in args.sizes.split(",") if s.strip()],
        city_reports=parse_size(args.city_reports),
        seed=args.seed,
        memory_limit=args.memory_limit,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    table = format_table(document)
    print(table)
    if args.json:
        dump(document, Path(args.json))
        Path(args.json).with_suffix(".md").write_text(table + "\n")
        print(f"\nwrote {args.json} and {Path(args.json).with_suffix('.md')}", file=sys.stderr)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from .ingest import main as run_ingest
    from .suite import parse_size

    args.reports = parse_size(args.reports)
    return run_ingest(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the benchmark suite")
    run.add_argument("--sizes", default="10k,100k", help="comma-separated, e.g. 10k,100k,1m")
    run.add_argument("--json", help="write the JSON document here (and a .md table beside it)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--mode", default="hard", choices=("easy", "hard"), help="timing data")
    run.add_argument("--repeats", type=int, help="default: 7 (≤20k), 5 (≤200k), 3")
    run.add_argument("--upstream-max", default="100k", help="largest size UPSTREAM runs at")
    run.add_argument("--no-postgis", action="store_true")
    run.add_argument("--dbscan-eps", type=float, default=None)
    run.add_argument("--dbscan-min-samples", type=int, default=None)
    run.set_defaults(func=_run)

    case = sub.add_parser("case", help="(internal) run one case in this process")
    case.add_argument("kind", choices=("prepare", "timing", "memory", "quality", "postgis"))
    case.add_argument("--out", required=True)
    case.add_argument("--data", required=True)
    case.add_argument("--size", type=int, default=10_000)
    case.add_argument("--seed", type=int, default=1)
    case.add_argument("--mode", default="hard")
    case.add_argument("--repeats", type=int, default=3)
    case.add_argument("--what", default="default", choices=("default", "upstream", "dbscan"))
    case.add_argument("--upstream", action="store_true")
    case.add_argument("--upstream-recall-max", type=int, default=20_000)
    case.add_argument("--dbscan-eps", type=float, required=False, default=None)
    case.add_argument("--dbscan-min-samples", type=int, default=None)
    case.set_defaults(func=_case)

    front = sub.add_parser(
        "frontier", help="the best any simple location/time/category rule does on real files"
    )
    front.add_argument("--data", default=str(Path(__file__).parent / "data" / "real311"))
    front.add_argument("--json")
    front.set_defaults(func=_frontier)

    disc = sub.add_parser(
        "discovery", help="contact extraction speed and a discovery run under latency"
    )
    disc.add_argument("--json", help="write the JSON document here (and a .md table beside it)")
    disc.set_defaults(func=_discovery)

    cost = sub.add_parser(
        "model-cost", help="time DEFAULT_MODEL against the previous one in one process"
    )
    cost.add_argument("--n", type=int, default=100_000)
    cost.add_argument("--repeats", type=int, default=7)
    cost.add_argument("--json")
    cost.set_defaults(func=_model_cost)

    tune = sub.add_parser(
        "tune", help="select DEFAULT_MODEL on real 311 files and synthetic hard data"
    )
    tune.add_argument("--out", default="benchmarks/results/tuning")
    tune.add_argument("--data", default=str(Path(__file__).parent / "data" / "real311"))
    tune.add_argument("--train-seeds", default="11,12")
    tune.add_argument("--test-seeds", default="101,102,103")
    tune.add_argument("--n-reports", type=int, default=10_000, help="per synthetic train frame")
    tune.add_argument("--test-reports", type=int, default=20_000, help="per held-out frame")
    tune.add_argument("--quick", action="store_true", help="a small grid (smoke run)")
    tune.set_defaults(func=_tune)

    cal = sub.add_parser("calibrate", help="fit the bundled match calibration")
    cal.add_argument("--out", default="cleanapp_geo/datasets/match_calibration.json")
    cal.add_argument("--seeds", default="201,202,203,204,205,206")
    cal.add_argument("--n-reports", type=int, default=20_000, help="reports per pair seed")
    cal.add_argument("--case-reports", type=int, default=10_000, help="reports per case seed")
    cal.set_defaults(func=_calibrate)

    real = sub.add_parser("realdata", help="judge grouping methods on real 311 duplicate labels")
    real.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parent / "data" / "real311"),
        help="directory of labelled .csv/.csv.gz files, or one file",
    )
    real.add_argument("--json", help="write the JSON document here (and a .md table beside it)")
    real.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=path.json",
        help="also run cg.analyze with this SimilarityModel.to_dict() JSON (repeatable)",
    )
    real.add_argument("--repeats", type=int, default=3, help="timed runs per method")
    real.set_defaults(func=_realdata)

    scale = sub.add_parser(
        "scale", help="streaming results at 1M, Dask at 10M (30M) on a 2-worker LocalCluster"
    )
    scale.add_argument("--single", default="1m", help="reports of the one-machine run")
    scale.add_argument("--sizes", default="10m", help="Dask sizes, e.g. 10m,30m")
    scale.add_argument("--city-reports", default="1m", help="reports per city file")
    scale.add_argument("--seed", type=int, default=1)
    scale.add_argument("--memory-limit", default="6GiB", help="per worker (Dask spills above)")
    scale.add_argument("--json", help="write the JSON document here (and a .md table beside it)")
    scale.set_defaults(func=_scale)

    ingest = sub.add_parser(
        "ingest", help="POST /reports under open-loop load, file loads, nearby, match quality"
    )
    ingest.add_argument("--reports", default="1m", help="reports of the city (default 1m)")
    ingest.add_argument("--cases", type=int, default=10_000, help="open cases (default 10000)")
    ingest.add_argument("--rate", type=float, default=200.0, help="offered ingests per second")
    ingest.add_argument("--seconds", type=float, default=30.0, help="length of the ingest load")
    ingest.add_argument(
        "--file-reports", type=int, default=20_000, help="arriving reports loaded as a file"
    )
    ingest.add_argument("--nearby-requests", type=int, default=1_000)
    ingest.add_argument(
        "--sequential-requests", type=int, default=300, help="ingests one at a time first"
    )
    ingest.add_argument("--workers", type=int, default=2, help="service worker processes")
    ingest.add_argument(
        "--client", choices=("raw", "httpx"), default="raw",
        help="open-loop client: raw (lean HTTP/1.1, benchmarks.raw_http) or httpx",
    )  # fmt: skip
    ingest.add_argument("--seed", type=int, default=1)
    ingest.add_argument("--database-url")
    ingest.add_argument("--json", help="the JSON document (a .md table beside it)")
    ingest.add_argument("--keep", action="store_true", help="keep the private schema")
    ingest.set_defaults(func=_ingest)

    args = parser.parse_args(argv)
    from .suite import DBSCAN_EPS_M, DBSCAN_MIN_SAMPLES

    if getattr(args, "dbscan_eps", "absent") is None:
        args.dbscan_eps = DBSCAN_EPS_M
    if getattr(args, "dbscan_min_samples", "absent") is None:
        args.dbscan_min_samples = DBSCAN_MIN_SAMPLES
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
