"""``cleanapp-api analyze``: analyse a GeoParquet file of reports on a Dask cluster.

::

    cleanapp-api analyze --input reports.parquet --output hypotheses.parquet
                         [--scheduler ADDRESS] [--workers N] [--model default]
                         [--scope scope.geojson] [--classification physical]
                         [--now 2026-03-10T12:00:00Z] [--overwrite] [--no-progress]

``--input`` is a GeoParquet file, a directory of them or a glob; ``--output`` is a directory
(a Parquet dataset) of GeoParquet parts in the hypotheses' order, written by the workers
(read it back with ``geopandas.read_parquet``). Without ``--scheduler`` a ``LocalCluster``
of ``--workers`` processes runs on this machine (Dask's profiler off). Progress bars are
Dask's own (``distributed.progress``), one per stage, shown when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["register_cli"]

_MODELS = ("default", "upstream")


class BatchError(Exception):
    """A refusal reported as ``error: <message>`` (exit code 1), nothing written."""


def _scope(path: str | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BatchError(f"--scope {path}: not a readable GeoJSON file ({exc})") from exc


def _output(path: str, overwrite: bool) -> Path:
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise BatchError(f"--output {path} is a file; give a directory (a Parquet dataset)")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise BatchError(f"--output {path} is not empty (--overwrite replaces its parts)")
        for old in target.glob("part-*.parquet"):
            old.unlink()
    return target


def _distributed() -> Any:
    """Return the ``distributed`` module (as Any: its calls are untyped)."""
    import distributed

    return distributed


def _progress(enabled: bool) -> Any:
    if not (enabled and sys.stderr.isatty()):
        return None
    dask = _distributed()

    def show(stage: str, futures: Sequence[Any]) -> None:
        print(f"{stage}:", file=sys.stderr, flush=True)
        if futures:
            dask.progress(*futures, notebook=False)
            print(file=sys.stderr, flush=True)

    return show


def _analyze(args: argparse.Namespace) -> int:
    import cleanapp_geo as cg

    try:
        import cleanapp_geo.distributed as cgd

        dask = _distributed()
    except ImportError as exc:  # pragma: no cover - the dask extra is installed with `all`
        raise BatchError("the dask extra is missing: pip install 'cleanapp-cases[dask]'") from exc

    scope = _scope(args.scope)
    cgd.read_source(args.input)  # a missing input fails before a cluster starts
    output = _output(args.output, args.overwrite)
    model = cg.DEFAULT_MODEL if args.model == "default" else cg.UPSTREAM_MODEL
    clock = time.perf_counter()
    if args.scheduler:
        client = dask.Client(args.scheduler)
        cluster = None
    else:
        from cleanapp_geo.distributed.cluster import local_cluster

        # Our own cluster: Dask's profiler off (a --scheduler cluster is left as it is).
        cluster = local_cluster(
            n_workers=args.workers, threads_per_worker=1, dashboard_address=":0"
        )
        client = dask.Client(cluster)
    try:
        if sys.stderr.isatty() and client.dashboard_link and not args.no_progress:
            print(f"dashboard: {client.dashboard_link}", file=sys.stderr)
        result = cgd.analyze(
            args.input,
            scope=scope,
            classification=args.classification,
            model=model,
            now=args.now,
            client=client,
            progress=_progress(not args.no_progress),
        )
        files = result.to_parquet(output)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    seconds = time.perf_counter() - clock
    print(
        f"{result.stats.report_count} reports, {len(result)} hypotheses "
        f"({len(files)} parts) written to {output} in {seconds:.1f} s"
    )
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the ``analyze`` subcommand to the ``cleanapp-api`` parser."""
    parser = subparsers.add_parser(
        "analyze",
        help="analyse a GeoParquet file of reports on a Dask cluster",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--input", required=True, help="GeoParquet file, directory or glob")
    parser.add_argument("--output", required=True, help="directory of GeoParquet parts")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://h:8786")
    parser.add_argument(
        "--workers", type=int, default=2, help="LocalCluster workers without --scheduler"
    )
    parser.add_argument(
        "--model",
        choices=_MODELS,
        default="default",
        help="similarity preset (upstream has no radius gate and is refused: see the error)",
    )
    parser.add_argument("--scope", metavar="GEOJSON", help="file with a Polygon or MultiPolygon")
    parser.add_argument("--classification", help="only reports of this classification")
    parser.add_argument("--now", help="reference time of the urgency (default: now)")
    parser.add_argument("--overwrite", action="store_true", help="replace the parts in --output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        return _analyze(args)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
