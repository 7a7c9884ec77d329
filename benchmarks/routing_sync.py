"""Benchmark of a case's contact-routing sync (``cleanapp_api.services.routing.sync_case``).

    python -m benchmarks.routing_sync [--database-url URL] [--targets 8,32,128]
                                      [--repeats 15] [--json PATH]

Set-up: a private migrated schema (``--database-url``, else ``DATABASE_URL``, else
``TEST_DATABASE_URL``, else the local ``cleanapp_test`` database); per size, one case with
three linked reports (the school facade of ``docs/routing.md``) and N targets spread over
N/4 organisations (emails, every fourth a phone; site operators, authorities, contractors
and plain contacts), and endpoint memory for a quarter of them.

Timed, each in its own transaction, median of ``--repeats``:

* ``first_sync``: the first sync of a fresh case (writes the plan, observations, tasks);
* ``steady_sync``: a sync with nothing changed (the plan is compared and kept) -- what
  every write of a case pays;
* ``changed_sync``: a sync after one endpoint's memory changed (a new plan version);
* ``detail_read`` (same-run baseline): ``repositories.case_detail`` of the same case, the
  read every case route does anyway; the table reports each sync as a ratio to it.

Results: a table on stdout and a JSON file (default
``benchmarks/results/routing-sync-<time>.json``) with a hardware block.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api import db
from cleanapp_api.db import repositories as repo
from cleanapp_api.db import tables as t
from cleanapp_api.services.routing import sync_case
from cleanapp_api.services.targets import target_rows

DEFAULT_URL = "postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test"
_ROLES = ("facility_manager", "building_authority", "contractor", "contact", "operator")


def _targets(n: int, tag: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        org = f"org{i // 4}-{tag}"
        target: dict[str, Any] = {
            "role_type": _ROLES[i % len(_ROLES)],
            "organization": f"Organisation {org}",
            "confidence_score": 0.5 + (i % 5) / 10,
            "target_source": "area_contact" if i % 3 == 0 else "search_discovery",
            "verification_level": "official_page" if i % 2 == 0 else "",
        }
        if i % 4 == 3:
            target["phone"] = f"+41 {tag % 100:02d} {100 + i:03d} 00 00"
            target["display_name"] = f"Office {i}"
        else:
            target["email"] = f"desk{i}@{org}.example"
        out.append(target)
    return out


def _case(engine: sa.Engine, n: int, seq0: int) -> str:
    seqs = [seq0, seq0 + 1, seq0 + 2]
    frame = cg.reports_from_records(
        [
            {
                "seq": s,
                "ts": datetime(2026, 3, 10, 8, tzinfo=UTC) + timedelta(minutes=s % 60),
                "latitude": 47.3769,
                "longitude": 8.5417,
                "severity_level": 0.92,
                "title": "Facade bricks falling over school entrance",
                "summary": "Masonry risk above school facade.",
                "classification": "physical",
                "language": "en",
            }
            for s in seqs
        ]
    )
    cio.write_reports(frame, engine)
    case_id = "case_" + f"{seq0:024x}"
    with engine.begin() as conn:
        repo.insert_case(
            conn,
            {
                "case_id": case_id,
                "slug": case_id,
                "title": "Facade bricks falling over school entrance",
                "summary": "Loose facade bricks above the main school entrance.",
                "created_by_user_id": "bench",
            },
        )
        repo.link_reports(conn, case_id, seqs, reason="manual", confidence=1.0, overwrite=True)
        repo.recompute_aggregates(conn, case_id)
        rows = target_rows(_targets(n, seq0))
        repo.insert_targets(conn, case_id, rows)
        memory = [
            {"endpoint_key": r["endpoint_key"], "last_result": "sent", "success_count": 2}
            for r in rows[::4]
        ]
        if memory:
            conn.execute(sa.insert(t.contact_endpoint_memory), memory)
    return case_id


def _median_s(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        fn()
        times.append(time.perf_counter() - clock)
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every size; return the result document."""
    base_url = db.normalise_url(
        args.database_url
        or os.environ.get("DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or DEFAULT_URL
    )
    sizes = [int(x) for x in args.targets.split(",")]
    results: list[dict[str, Any]] = []
    with db.private_schema(base_url, "bench_routing") as url:
        engine = sa.create_engine(url)
        for k, n in enumerate(sizes):
            case_id = _case(engine, n, 1000 * (k + 1))

            def sync(case_id: str = case_id) -> None:
                with engine.begin() as conn:
                    sync_case(conn, case_id)

            def read(case_id: str = case_id) -> None:
                with engine.connect() as conn:
                    repo.case_detail(conn, case_id)

            clock = time.perf_counter()
            sync()
            first = time.perf_counter() - clock
            steady = _median_s(sync, args.repeats)
            detail = _median_s(read, args.repeats)
            key = target_rows(_targets(n, 1000 * (k + 1)))[0]["endpoint_key"]

            def change(case_id: str = case_id, key: str = key) -> None:
                with engine.begin() as conn:
                    last = conn.execute(
                        sa.select(t.contact_endpoint_memory.c.last_result).where(
                            t.contact_endpoint_memory.c.endpoint_key == key
                        )
                    ).scalar()
                    flip = "bounced" if last != "bounced" else "sent"
                    conn.execute(
                        sa.update(t.contact_endpoint_memory)
                        .where(t.contact_endpoint_memory.c.endpoint_key == key)
                        .values(last_result=flip)
                    )
                    sync_case(conn, case_id)

            changed = _median_s(change, args.repeats)
            with engine.connect() as conn:
                versions = conn.execute(
                    sa.select(sa.func.max(t.case_notify_plans.c.plan_version)).where(
                        t.case_notify_plans.c.case_id == case_id
                    )
                ).scalar_one()
            results.append(
                {
                    "targets": n,
                    "first_sync_s": first,
                    "steady_sync_s": steady,
                    "changed_sync_s": changed,
                    "detail_read_s": detail,
                    "steady_over_read": steady / detail,
                    "changed_over_read": changed / detail,
                    "plan_versions": versions,
                }
            )
        engine.dispose()
    try:
        from benchmarks.hardware import hardware_block

        hardware = hardware_block()
    except ImportError:  # pragma: no cover
        hardware = {"nproc": os.cpu_count()}
    return {"benchmark": "routing_sync", "repeats": args.repeats, "hardware": hardware,
            "results": results}  # fmt: skip


def print_table(doc: dict[str, Any]) -> None:
    """Print the results as a Markdown table (milliseconds; ratios to the detail read)."""
    print("| targets | first sync ms | steady sync ms | changed sync ms | detail read ms |"
          " steady / read | changed / read |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in doc["results"]:
        print(
            f"| {r['targets']} | {r['first_sync_s'] * 1e3:.1f} | {r['steady_sync_s'] * 1e3:.1f}"
            f" | {r['changed_sync_s'] * 1e3:.1f} | {r['detail_read_s'] * 1e3:.1f}"
            f" | {r['steady_over_read']:.2f} | {r['changed_over_read']:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.routing_sync")
    parser.add_argument("--database-url")
    parser.add_argument("--targets", default="8,32,128")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    doc = run(args)
    print_table(doc)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.json or Path("benchmarks/results") / f"routing-sync-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
