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
