"""Run the benchmark cases in fresh subprocesses, check the floors, print a table, write JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .hardware import hardware_block

ROOT = Path(__file__).resolve().parent.parent
#: Default location-only DBSCAN parameters (eps chosen on training seeds by the tuning).
DBSCAN_EPS_M = 30.0
DBSCAN_MIN_SAMPLES = 3
MIB_PER_GB = 1024.0

SIZE_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def parse_size(text: str) -> int:
    """``10k`` → 10,000; ``1m`` → 1,000,000; plain integers as they are."""
    text = text.strip().lower().replace("_", "")
    if text and text[-1] in SIZE_SUFFIXES:
        return int(float(text[:-1]) * SIZE_SUFFIXES[text[-1]])
    return int(text)


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def default_repeats(n: int) -> int:
    return 7 if n <= 20_000 else 5 if n <= 200_000 else 3


def run_case(kind: str, args: list[str], *, timeout_s: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its JSON (or an ``error``)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [sys.executable, "-m", "benchmarks", "case", kind, "--out", str(out), *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    clock = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    finally:
        wall = time.perf_counter() - clock
    try:
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            return {"error": f"exit {proc.returncode}: {tail}"}
        result: dict[str, Any] = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    result["case_wall_s"] = wall
    return result


def run_suite(
    sizes: list[int],
    *,
    seed: int = 1,
    timing_mode: str = "hard",
    repeats: int | None = None,
    upstream_max: int = 100_000,
    upstream_recall_max: int = 20_000,
    postgis: bool = True,
    dbscan_eps_m: float = DBSCAN_EPS_M,
    dbscan_min_samples: int = DBSCAN_MIN_SAMPLES,
    timeout_s: float = 3_600.0,
    log: Any = print,
) -> dict[str, Any]:
    """Measure every size; returns the JSON document (hardware block, results, floors)."""
    document: dict[str, Any] = {
        "hardware": hardware_block(),
        "settings": {
            "sizes": sizes,
            "seed": seed,
            "timing_mode": timing_mode,
            "upstream_max": upstream_max,
            "dbscan_eps_m": dbscan_eps_m,
            "dbscan_min_samples": dbscan_min_samples,
            "method": (
                "every case in a fresh subprocess; timings are medians of interleaved "
                "repetitions in one process on the same data; ratios are against "
                "analyze(DEFAULT_MODEL) measured in that same process"
            ),
        },
        "results": {},
    }
    common = ["--dbscan-eps", str(dbscan_eps_m), "--dbscan-min-samples", str(dbscan_min_samples)]
    with tempfile.TemporaryDirectory(prefix="cleanapp-bench-") as tmp:
        for n in sizes:
            label = size_label(n)
            reps = repeats or default_repeats(n)
            entry: dict[str, Any] = {"n": n, "repeats": reps}
            data = {}
            for mode in dict.fromkeys((timing_mode, "easy", "hard")):
                path = Path(tmp) / f"{label}-{mode}.pkl"
                log(f"[{label}] generating {mode} data")
                entry.setdefault("data", {})[mode] = run_case(
                    "prepare",
                    ["--size", str(n), "--seed", str(seed), "--mode", mode, "--data", str(path)],
                    timeout_s=timeout_s,
                )
                data[mode] = str(path)
            upstream = n <= upstream_max
            log(f"[{label}] timing ({reps} interleaved repeats)")
            entry["timing"] = run_case(
                "timing",
                [
                    "--data",
                    data[timing_mode],
                    "--repeats",
                    str(reps),
                    *(["--upstream"] if upstream else []),
                    *common,
                ],
                timeout_s=timeout_s,
            )
            entry["memory"] = {}
            for what in ("default", *(["upstream"] if upstream else []), "dbscan"):
                log(f"[{label}] peak RSS: {what}")
                entry["memory"][what] = run_case(
                    "memory",
                    ["--data", data[timing_mode], "--what", what, *common],
                    timeout_s=timeout_s,
                )
            entry["quality"] = {}
            for mode in ("easy", "hard"):
                log(f"[{label}] quality: {mode}")
                entry["quality"][mode] = run_case(
                    "quality",
                    [
                        "--data",
                        data[mode],
                        *(["--upstream"] if upstream else []),
                        "--upstream-recall-max",
                        str(upstream_recall_max),
                        *common,
                    ],
                    timeout_s=timeout_s,
                )
            if postgis:
                log(f"[{label}] PostGIS ST_ClusterDBSCAN")
                entry["postgis"] = run_case(
                    "postgis",
                    ["--data", data[timing_mode], "--repeats", str(min(reps, 3)), *common],
                    timeout_s=timeout_s,
                )
            else:
                entry["postgis"] = {"skipped": "disabled (--no-postgis)"}
            document["results"][label] = entry
    document["floors"] = check_floors(document["results"])
    return document


# --- floors ------------------------------------------------------------------------------


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def check_floors(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The floors of issues 2 and 6, each marked met, missed or not measured."""
    floors: list[dict[str, Any]] = []

    def add(name: str, value: Any, bound: float, op: str, note: str = "") -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            status = "not measured"
        elif (op == "<=" and value <= bound) or (op == ">=" and value >= bound):
            status = "met"
        else:
            status = "MISSED"
        floors.append(
            {
                "floor": name,
                "value": value,
                "bound": f"{op} {bound:g}",
                "status": status,
                "note": note,
            }
        )

    r100 = results.get("100k")
    if r100:
        add(
            "analyze 100k, DEFAULT (s)",
            _get(r100, "timing", "default", "analyze_s_median"),
            0.5,
            "<=",
        )
        add(
            "analyze 100k, UPSTREAM (s)",
            _get(r100, "timing", "upstream", "analyze_s_median"),
            5.0,
            "<=",
        )
        add(
            "speed-up vs brute force, 100k",
            _get(r100, "timing", "brute_force", "speedup_vs_default"),
            500.0,
            ">=",
            "brute force on a 10k slice, extrapolated n²",
        )
    r1m = results.get("1m")
    if r1m:
        add(
            "analyze 1M incl. text, DEFAULT (s)",
            _get(r1m, "timing", "default", "analyze_s_median"),
            12.0,
            "<=",
        )
        peak = _get(r1m, "memory", "default", "peak_rss_mb")
        add("peak RSS 1M, DEFAULT (GB)", None if peak is None else peak / MIB_PER_GB, 1.5, "<=")
    for label, entry in results.items():
        for mode in ("easy", "hard"):
            q = _get(entry, "quality", mode)
            add(
                f"candidate recall {label} {mode}, DEFAULT",
                _get(q, "default", "candidate_recall"),
                0.99,
                ">=",
            )
        hard = _get(entry, "quality", "hard")
        f1 = _get(hard, "default", "overall", "pairwise_f1")
        add(f"pairwise F1 {label} hard, DEFAULT", f1, 0.90, ">=")
        for other in ("upstream", "dbscan"):
            f1_other = _get(hard, other, "overall", "pairwise_f1")
            add(
                f"F1 gain over {other.upper()} {label} hard",
                None if f1 is None or f1_other is None else f1 - f1_other,
                0.05,
                ">=",
            )
    return floors


# --- table -------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ".3f", unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:{spec}}{unit}"


def _timed(seconds: Any, ratio: Any, spec: str = ".3f") -> str:
    return f"{_fmt(seconds, spec, ' s')} ({_fmt(ratio, '.1f', '×')})"


def format_table(document: dict[str, Any]) -> str:
    """A readable plain-text (Markdown) summary of a suite document."""
    hw = document["hardware"]
    lines = [
        f"# CleanApp Cases benchmarks — {hw['date_utc']}",
        f"{hw['cpu_model']}, nproc {hw['nproc']}, {hw['mem_total_gb']} GB RAM, {hw['os']}, "
        f"Python {hw['python']}; numpy {hw['versions'].get('numpy')}, scipy "
        f"{hw['versions'].get('scipy')}, scikit-learn {hw['versions'].get('scikit-learn')}, "
        f"numba {hw['versions'].get('numba')}; BLAS "
        + ", ".join(
            f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
            for b in hw["blas"]
        )
        + f"; commit {hw['git_commit'][:10]}{' (dirty)' if hw['git_dirty'] else ''}",
        "",
        "## Speed (timing data: " + document["settings"]["timing_mode"] + " mode; medians; "
        "ratios from the same process)",
        "",
        "| size | analyze DEFAULT | phases (scope/prepare/cand/score/group/serialise) ms "
        "| cand. pairs | pairs scored/s | UPSTREAM (× DEFAULT) | DBSCAN loc-only (× DEFAULT) "
        "| PostGIS DBSCAN (× DEFAULT) | brute force (extrap.) | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, e in document["results"].items():
        t = e.get("timing", {})
        d = t.get("default", {})
        phases = d.get("phases_s", {})
        phase_text = "/".join(
            _fmt(phases.get(k, float("nan")) * 1000, ".0f")
            for k in (
                "scope",
                "prepare",
                "candidates",
                "scoring",
                "grouping",
                "serialisation",
            )
        )
        up = t.get("upstream", {})
        db = t.get("dbscan", {})
        pg = e.get("postgis", {})
        bf = t.get("brute_force", {})
        if "error" in t:
            lines.append(f"| {label} | error: {t['error'][:80]} | | | | | | | | |")
            continue
        if "skipped" in pg:
            postgis_cell = f"skipped: {pg['skipped']}"
        elif "error" in pg:
            postgis_cell = f"error: {pg['error'][:60]}"
        else:
            postgis_cell = _timed(pg.get("seconds"), pg.get("ratio_vs_default"))
        cells = [
            label,
            _fmt(d.get("analyze_s_median"), ".3f", " s"),
            phase_text,
            _fmt(d.get("candidate_pairs"), ",d"),
            _fmt(d.get("pairs_scored_per_s"), ",.0f"),
            _timed(up.get("analyze_s_median"), up.get("ratio_vs_default"), ".2f"),
            _timed(db.get("seconds_median"), db.get("ratio_vs_default")),
            postgis_cell,
            _fmt(bf.get("extrapolated_s"), ",.1f", " s"),
            _fmt(bf.get("speedup_vs_default"), ",.0f", "×"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Peak RSS (fresh subprocess per case; data resident before the run)",
        "",
        "Peak of `analyze` (the floor), then, after it, of `to_dict()` of every hypothesis.",
        "",
        "| size | data resident | DEFAULT peak | DEFAULT + to_dict | UPSTREAM peak | DBSCAN peak |",
        "|---|---|---|---|---|---|",
    ]
    for label, e in document["results"].items():
        mem = e.get("memory", {})
        cells = [
            _get(mem, "default", "rss_before_mb"),
            _get(mem, "default", "peak_rss_mb"),
            _get(mem, "default", "peak_with_serialisation_mb"),
            _get(mem, "upstream", "peak_rss_mb"),
            _get(mem, "dbscan", "peak_rss_mb"),
        ]
        lines.append(f"| {label} | " + " | ".join(_fmt(c, ",.0f", " MiB") for c in cells) + " |")
    lines += [
        "",
        "## Quality (pairwise P / R / F1, ARI, B³ F1; overall and incident reports only)",
        "",
        "| size | mode | method | P | R | F1 | ARI | B³ F1 | F1 incident-only | ARI incident-only "
        "| candidate recall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, e in document["results"].items():
        for mode in ("easy", "hard"):
            q = _get(e, "quality", mode) or {}
            for method in ("default", "upstream", "dbscan"):
                m = q.get(method) or {}
                if "overall" not in m:
                    note = m.get("skipped") or m.get("error") or q.get("error") or "—"
                    lines.append(f"| {label} | {mode} | {method} | {note} | | | | | | | |")
                    continue
                o, i = m["overall"], m["incident_only"]
                lines.append(
                    f"| {label} | {mode} | {method} | {_fmt(o['pairwise_precision'])} "
                    f"| {_fmt(o['pairwise_recall'])} | {_fmt(o['pairwise_f1'])} | {_fmt(o['ari'])} "
                    f"| {_fmt(o['bcubed_f1'])} | {_fmt(i['pairwise_f1'])} | {_fmt(i['ari'])} "
                    f"| {_fmt(m.get('candidate_recall'), '.4f')} |"
                )
    lines += ["", "## Floors", "", "| floor | value | bound | status |", "|---|---|---|---|"]
    for f in document.get("floors", []):
        value = f["value"]
        shown = _fmt(value, ",.4g") if isinstance(value, int | float) else "—"
        lines.append(f"| {f['floor']} | {shown} | {f['bound']} | {f['status']} |")
    return "\n".join(lines)
