"""``python -m benchmarks scale``: streaming results at 1M, Dask at 10M (and 30M).

1. **One machine, 1M reports** (hard synthetic data, this process): ``analyze``, then the
   streaming exports ``to_arrow()`` and ``to_parquet()`` of every hypothesis, beside the
   baseline measured in the same run, ``to_dict()`` (one dict per hypothesis).
2. **Dask, 10M (and 30M) reports**: a synthetic *country* of 1M-report cities side by side
   (one GeoParquet file per city, written by the workers under a temporary directory and
   deleted after), analysed by :func:`cleanapp_geo.distributed.analyze` on a 2-worker
   ``LocalCluster`` (processes, one thread each), the hypotheses written back as GeoParquet.
   Peak RSS of each worker is its kernel high-water mark, reset after the data is written.
3. **Same answer**: the first two cities of the country (2M reports; their shared border
   has groups joined across partitions) analysed by both, compared exactly (hypotheses,
   order, stats, edges).

The load average is recorded before and after every measurement: the machine is shared.
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import cleanapp_geo as cg

from .cases import reset_peak_rss, rss_mb
from .hardware import hardware_block

#: Reports per city (one GeoParquet file, one partition).
CITY_REPORTS = 1_000_000
#: Reports per km² of the synthetic cities (make_reports' default).
DENSITY_PER_KM2 = 400.0
#: Centre of the country (Switzerland), degrees.
ORIGIN = (7.0, 46.0)
NOW = pd.Timestamp("2026-04-01T00:00:00Z")
GIB = 1024.0


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def city_center(k: int, cities: int, city_reports: int) -> tuple[float, float]:
    """Centre of city ``k`` on a grid of touching squares (cities share their borders)."""
    side_km = math.sqrt(city_reports / DENSITY_PER_KM2)
    columns = max(1, math.ceil(math.sqrt(cities)))
    row, column = divmod(k, columns)
    lat = ORIGIN[1] + row * side_km / 111.195
    lon = ORIGIN[0] + column * side_km / (111.195 * math.cos(math.radians(lat)))
    return lon, lat


def write_city(k: int, cities: int, city_reports: int, directory: str, seed: int) -> str:
    """Generate city ``k`` and write it as one GeoParquet file (run on a worker)."""
    frame = cg.make_reports(
        city_reports,
        seed=seed + k,
        mode="hard",
        center=city_center(k, cities, city_reports),
        start_seq=k * 1_000_000_000 + 1,
    )
    path = Path(directory) / f"city-{k:05d}.parquet"
    frame.to_parquet(path)
    return str(path)


# --- 1. one machine ---------------------------------------------------------------------------


def single_machine(n: int, *, seed: int, log: Any) -> dict[str, Any]:
    log(f"single machine: generating {n:,} reports")
    frame = cg.make_reports(n, seed=seed, mode="hard")
    cg.analyze(frame.head(2_000), now=NOW).to_arrow()  # load the compiled loops
    gc.collect()
    out: dict[str, Any] = {"reports": n}
    reset_peak_rss()
    before = load()
    clock = time.perf_counter()
    result = cg.analyze(frame, now=NOW)
    out["analyze_s"] = time.perf_counter() - clock
    out["analyze_peak_mb"] = rss_mb().get("vm_hwm_mb")
    out["hypotheses"] = len(result.table)
    out["load_analyze"] = [before, load()]
    with tempfile.TemporaryDirectory(prefix="cleanapp-scale-") as tmp:
        before = load()
        clock = time.perf_counter()
        table = result.to_arrow()
        out["to_arrow_s"] = time.perf_counter() - clock
        out["to_arrow_bytes"] = table.nbytes
        del table
        clock = time.perf_counter()
        result.to_parquet(Path(tmp) / "hypotheses.parquet")
        out["to_parquet_s"] = time.perf_counter() - clock
        out["parquet_bytes"] = (Path(tmp) / "hypotheses.parquet").stat().st_size
        out["load_export"] = [before, load()]
    gc.collect()
    before = load()
    clock = time.perf_counter()
    wire = result.to_dict()
    out["to_dict_s"] = time.perf_counter() - clock
    out["load_to_dict"] = [before, load()]
    del wire
    out["to_arrow_vs_to_dict"] = out["to_arrow_s"] / out["to_dict_s"]
    log(
        f"  analyze {out['analyze_s']:.2f} s, to_arrow {out['to_arrow_s']:.3f} s, "
        f"to_parquet {out['to_parquet_s']:.3f} s, to_dict {out['to_dict_s']:.2f} s"
    )
    return out


def baseline_again(n: int, *, seed: int, log: Any) -> float:
    """The one-machine 1M ``analyze`` once more, after the Dask runs (same data, fresh frame).

    The host's price for memory drifts within minutes on the benchmark VM (free page
    reporting, see benchmarks/README), so the 10M floor compares the Dask time with the
    mean of this baseline measured before and after it, not with one side alone.
    """
    log(f"single machine again: {n:,} reports")
    frame = cg.make_reports(n, seed=seed, mode="hard")
    cg.analyze(frame.head(2_000), now=NOW)
    gc.collect()
    clock = time.perf_counter()
    cg.analyze(frame, now=NOW)
    seconds = time.perf_counter() - clock
    log(f"  analyze {seconds:.2f} s")
    return seconds


def baseline_s(single: dict[str, Any]) -> float:
    """Seconds of the one-machine analysis per million reports (mean of before and after)."""
    times = [
        single["analyze_s"],
        *([single["analyze_after_s"]] if "analyze_after_s" in single else []),
    ]
    return sum(times) / len(times) * 1_000_000 / single["reports"]


# --- 2. Dask ----------------------------------------------------------------------------------


def warm() -> None:
    """Import the library and load its compiled loops in this process (a worker)."""
    frame = cg.make_reports(2_000, seed=0, mode="hard")
    cg.analyze(frame, now=NOW).to_arrow()


def _peaks(client: Any) -> dict[str, float]:
    return {w: r.get("vm_hwm_mb", float("nan")) for w, r in client.run(rss_mb).items()}


def distributed_run(
    n: int, *, client: Any, city_reports: int, seed: int, workdir: Path, log: Any
) -> dict[str, Any]:
    import cleanapp_geo.distributed as cgd

    cities = max(1, n // city_reports)
    data = workdir / f"country-{n}"
    data.mkdir()
    log(f"dask: writing a country of {cities} cities x {city_reports:,} reports")
    clock = time.perf_counter()
    client.gather(
        client.map(
            write_city,
            range(cities),
            cities=cities,
            city_reports=city_reports,
            directory=str(data),
            seed=seed,
            pure=False,
        )
    )
    out: dict[str, Any] = {"reports": cities * city_reports, "cities": cities}
    out["generate_s"] = time.perf_counter() - clock
    out["input_bytes"] = sum(p.stat().st_size for p in data.iterdir())
    gc.collect()
    client.run(warm)  # a long-running cluster has its workers warm: not timed
    client.run(gc.collect)
    client.run(reset_peak_rss)
    before = load()
    clock = time.perf_counter()
    result = cgd.analyze(str(data), model=cg.DEFAULT_MODEL, now=NOW, client=client)
    out["analyze_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    files = result.to_parquet(workdir / f"hypotheses-{n}")
    out["write_s"] = time.perf_counter() - clock
    out["load"] = [before, load()]
    out["worker_peak_mb"] = _peaks(client)
    out["hypotheses"] = len(result)
    out["edges"] = result.edge_count
    out["output_files"] = len(files)
    out["stages_s"] = result.timings_s
    out["partitions"] = result.partition_costs
    log(
        f"  analyze {out['analyze_s']:.1f} s + write {out['write_s']:.1f} s, "
        f"worker peaks {', '.join(f'{v / GIB:.2f}' for v in out['worker_peak_mb'].values())} GiB"
    )
    del result
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(workdir / f"hypotheses-{n}", ignore_errors=True)
    return out


def verify(client: Any, *, city_reports: int, seed: int, workdir: Path, log: Any) -> dict[str, Any]:
    """Two touching cities: the distributed answer against the single-machine one."""
    import geopandas as gpd

    import cleanapp_geo.distributed as cgd

    data = workdir / "verify"
    data.mkdir()
    paths = client.gather(
        client.map(
            write_city,
            range(2),
            cities=10,
            city_reports=city_reports,
            directory=str(data),
            seed=seed,
            pure=False,
        )
    )
    log(f"verify: 2 x {city_reports:,} reports on both paths")
    frame = pd.concat([gpd.read_parquet(p) for p in paths], ignore_index=True)
    single = cg.analyze(frame, model=cg.DEFAULT_MODEL, now=NOW)
    dist = cgd.analyze(str(data), model=cg.DEFAULT_MODEL, now=NOW, client=client)
    same_hypotheses = dist.to_arrow().equals(single.to_arrow())
    same_stats = dist.stats.to_dict() == single.stats.to_dict()
    same_edges = dist.edges.equals(single.edges)
    border = sum(c["border_reports"] for c in dist.partition_costs)
    shutil.rmtree(data, ignore_errors=True)
    return {
        "reports": len(frame),
        "hypotheses": len(single.table),
        "border_reports": border,
        "equal_hypotheses": bool(same_hypotheses),
        "equal_stats": bool(same_stats),
        "equal_edges": bool(same_edges),
    }


# --- report -----------------------------------------------------------------------------------


def estimate(
    run: dict[str, Any], *, nodes: int = 16, cores: int = 2, reports: int = 100_000_000
) -> dict[str, Any]:
    """A ``nodes``-node cluster's time and memory for ``reports``, from measured costs."""
    parts = run["partitions"]
    seconds = [sum(p["seconds"].values()) for p in parts]
    per_part = float(np.median(seconds))
    per_report = sum(seconds) / sum(p["reports"] for p in parts)
    halo = sum(p["halo_reports"] for p in parts) / sum(p["reports"] for p in parts)
    partitions = math.ceil(reports / CITY_REPORTS)
    waves = math.ceil(partitions / (nodes * cores))
    other = run["analyze_s"] - run["stages_s"]["partitions"]  # survey, border, order
    return {
        "nodes": nodes,
        "cores_per_node": cores,
        "reports": reports,
        "partitions": partitions,
        "partition_s_median": per_part,
        "seconds_per_million_reports": per_report * 1e6,
        "halo_share": halo,
        "waves": waves,
        "partitions_stage_s": waves * per_part,
        "other_stages_s_measured": other,
        "worker_memory_gib": max(run["worker_peak_mb"].values()) / GIB,
    }


def run_scale(
    *,
    single_n: int,
    sizes: list[int],
    city_reports: int = CITY_REPORTS,
    seed: int = 1,
    memory_limit: str = "6GiB",
    log: Any = print,
) -> dict[str, Any]:
    from distributed import Client

    from cleanapp_geo.distributed.cluster import local_cluster

    document: dict[str, Any] = {"hardware": hardware_block(), "load_start": load()}
    document["single"] = single_machine(single_n, seed=seed, log=log)
    gc.collect()
    runs: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="cleanapp-scale-") as tmp,
        local_cluster(  # Dask's profiler off, as cleanapp_geo.distributed's own cluster
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        for n in sizes:
            runs[str(n)] = distributed_run(
                n, client=client, city_reports=city_reports, seed=seed, workdir=Path(tmp), log=log
            )
        document["verify"] = verify(
            client, city_reports=city_reports, seed=seed, workdir=Path(tmp), log=log
        )
    document["dask"] = runs
    if runs:
        gc.collect()
        document["single"]["analyze_after_s"] = baseline_again(single_n, seed=seed, log=log)
    document["load_end"] = load()
    document["floors"] = floors(document)
    if runs:
        document["estimate_16_nodes"] = estimate(runs[str(max(sizes))])
    return document


def floors(document: dict[str, Any]) -> list[dict[str, Any]]:
    single = document["single"]
    out = [
        _floor("1M to_arrow() of all hypotheses ≤ 0.5 s", single["to_arrow_s"], 0.5),
        _floor("1M to_parquet() ≤ 1 s", single["to_parquet_s"], 1.0),
    ]
    scale = baseline_s(single)
    for run in document["dask"].values():
        millions = run["reports"] / 1e6
        budget = 1.5 * millions * scale
        name = (
            f"{millions:g}M on 2 workers: time ≤ 1.5 × {millions:g} × 1M analyze "
            "(mean of before and after)"
        )
        out.append(_floor(name, run["analyze_s"], budget))
        peak = max(run["worker_peak_mb"].values()) / GIB
        out.append(_floor(f"{millions:g}M: peak memory per worker ≤ 4 GiB", peak, 4.0))
    verified = document.get("verify", {})
    same = all(verified.get(k) for k in ("equal_hypotheses", "equal_stats", "equal_edges"))
    out.append(
        {
            "floor": "distributed result equals one machine (2 touching cities)",
            "value": same,
            "status": "met" if same else "MISSED",
        }
    )
    return out


def _floor(name: str, value: float, limit: float) -> dict[str, Any]:
    status = "met" if value <= limit else "MISSED"
    return {"floor": name, "value": value, "limit": limit, "status": status}


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def format_table(document: dict[str, Any]) -> str:
    hw = document["hardware"]
    s = document["single"]
    lines = [
        f"# Scale — {hw['date_utc']}",
        f"{hw['cpu_model']}, nproc {hw['nproc']}, {hw['mem_total_gb']} GB RAM; commit "
        f"{hw['git_commit'][:10]}{' (dirty)' if hw['git_dirty'] else ''}; load average at "
        f"start {document['load_start']}, at end {document['load_end']}",
        "",
        "## One machine: streaming results",
        "",
        _row(
            [
                "reports",
                "hypotheses",
                "analyze",
                "to_arrow()",
                "to_parquet()",
                "to_dict() (baseline)",
                "to_arrow / to_dict",
                "load (before → after)",
            ]
        ),
        _row(["---"] * 8),
        _row(
            [
                f"{s['reports']:,}",
                f"{s['hypotheses']:,}",
                f"{s['analyze_s']:.2f} s"
                + (
                    f" (after Dask: {s['analyze_after_s']:.2f} s)" if "analyze_after_s" in s else ""
                ),
                f"{s['to_arrow_s']:.3f} s",
                f"{s['to_parquet_s']:.3f} s",
                f"{s['to_dict_s']:.2f} s",
                f"{s['to_arrow_vs_to_dict']:.3f}",
                f"{s['load_export'][0][0]} → {s['load_export'][1][0]}",
            ]
        ),
        "",
        "## Dask: 2-worker LocalCluster (processes, 1 thread each)",
        "",
        _row(
            [
                "reports",
                "cities",
                "generate",
                "analyze",
                "survey/partitions/border/order",
                "write",
                "hypotheses",
                "worker peaks",
                "analyze / 1M analyze (mean of before, after)",
                "load (before → after)",
            ]
        ),
        _row(["---"] * 10),
    ]
    for run in document["dask"].values():
        st = run["stages_s"]
        peaks = ", ".join(f"{v / GIB:.2f}" for v in run["worker_peak_mb"].values())
        ratio = run["analyze_s"] / baseline_s(s)
        stages = "/".join(f"{st[k]:.1f}" for k in ("survey", "partitions", "border", "order"))
        lines.append(
            _row(
                [
                    f"{run['reports']:,}",
                    run["cities"],
                    f"{run['generate_s']:.0f} s",
                    f"{run['analyze_s']:.1f} s",
                    f"{stages} s",
                    f"{run['write_s']:.1f} s",
                    f"{run['hypotheses']:,}",
                    f"{peaks} GiB",
                    f"{ratio:.1f}",
                    f"{run['load'][0][0]} → {run['load'][1][0]}",
                ]
            )
        )
    verified = document.get("verify")
    if verified:
        lines += [
            "",
            f"Same answer (2 touching cities, {verified['reports']:,} reports, "
            f"{verified['border_reports']:,} in border groups): hypotheses "
            f"{verified['equal_hypotheses']}, stats {verified['equal_stats']}, edges "
            f"{verified['equal_edges']}.",
        ]
    est = document.get("estimate_16_nodes")
    if est:
        lines += [
            "",
            f"## Estimate: {est['nodes']} nodes × {est['cores_per_node']} cores, "
            f"{est['reports'] / 1e6:g}M reports",
            "",
            f"{est['partitions']} partitions of 1M in {est['waves']} waves × "
            f"{est['partition_s_median']:.1f} s (median measured partition) ≈ "
            f"{est['partitions_stage_s']:.0f} s, plus survey/border/order (measured here: "
            f"{est['other_stages_s_measured']:.1f} s at this size); "
            f"{est['seconds_per_million_reports']:.1f} s of work per million reports, halo "
            f"{est['halo_share']:.1%}; each worker ≤ {est['worker_memory_gib']:.2f} GiB.",
        ]
    lines += ["", "## Floors", "", _row(["floor", "value", "status"]), _row(["---"] * 3)]
    for f in document["floors"]:
        value = f["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(_row([f["floor"], shown, f["status"]]))
    return "\n".join(lines)
