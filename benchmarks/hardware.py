"""The hardware and version block recorded with every benchmark result."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "pyarrow",
    "numba",
    "threadpoolctl",
    "sqlalchemy",
    "psycopg",
    "litestar",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10, cwd=ROOT
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip()


def _blas() -> list[dict[str, Any]]:
    try:
        import numpy  # noqa: F401  (load BLAS before asking threadpoolctl)
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "num_threads", "architecture", "prefix")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def hardware_block() -> dict[str, Any]:
    """nproc, CPU model, memory, OS, Python and library versions, BLAS, git commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        versions["cleanapp-cases"] = importlib.metadata.version("cleanapp-cases")
    except importlib.metadata.PackageNotFoundError:
        versions["cleanapp-cases"] = None
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hostname": platform.node(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": _mem_total_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "blas": _blas(),
        "env": {
            k: os.environ.get(k)
            for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        },
        # BENCH_GIT_COMMIT names the commit when measuring an exported tree (git archive)
        "git_commit": _git("rev-parse", "HEAD") or os.environ.get("BENCH_GIT_COMMIT", ""),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def touch_free_memory(*, keep_free_gib: float = 4.0) -> dict[str, Any]:
    """Write to the machine's available memory once (1 GiB at a time), then free it.

    A virtual machine backs a guest page with host memory the first time the guest
    writes to it after boot: on the benchmark VM that costs about 3 s of CPU per GiB,
    against 0.12 s per GiB for a page the guest has used before (measured 2026-12-06:
    a fresh 4 GiB array 12.7 s, the next three 0.49-1.19 s). Whichever case first grows
    into never-used memory pays it, so a run's numbers depended on what ran before it
    since boot. Touching the free memory once first makes every case run on memory as a
    long-running machine has it; the cost is returned so the run records it.

    Parameters
    ----------
    keep_free_gib : float, default 4.0
        Leave this much of the available memory untouched (other processes).

    Returns
    -------
    dict
        ``touched_gib``, ``seconds`` and the seconds of each GiB (``per_gib_s``).
    """
    import time

    import numpy as np

    available = _mem_available_bytes()
    gib = 1 << 30
    if available is None:
        return {"touched_gib": 0, "seconds": 0.0, "per_gib_s": []}
    count = max(0, int(available // gib - keep_free_gib))
    held, per_gib = [], []
    clock = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        held.append(np.ones(gib // 8))
        per_gib.append(round(time.perf_counter() - start, 3))
    del held
    return {
        "touched_gib": count,
        "seconds": round(time.perf_counter() - clock, 2),
        "per_gib_s": per_gib,
    }
