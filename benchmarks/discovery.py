"""Contact discovery: extraction speed and a run's requests and time under network latency.

``python -m benchmarks discovery --json benchmarks/results/discovery.json``

* **Extraction**: :func:`cleanapp_geo.discovery.extract_contacts` on synthetic pages of a
  municipality site (navigation of 150 links, paragraphs, a contact block, a JSON-LD
  Organization) grown to 20 KiB, 200 KiB and the fetcher's 1 MiB cap; median of 7.
* **Run**: the school facade case of ``tests/geo/test_discovery_providers.py`` (fixture
  Nominatim, Overpass, the school's and the town's websites on one local server, no network)
  with every answer delayed by 0, 50 and 200 ms of simulated latency, a 25-request and 5 s
  budget: wall time, requests, per-provider requests and hits, contacts found, and whether
  the budget ran out.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from cleanapp_geo.discovery import CONTACT_PATHS, Budget, extract_contacts

from .hardware import hardware_block

_NAV = "".join(f'<li><a href="/bereich/{i}">Bereich {i}</a></li>' for i in range(150))
_BLOCK = (
    "<p>Die Stadt informiert über Bauprojekte, Entsorgung und Sicherheit. "
    "Öffnungszeiten 08.00 - 11.30 / 13.30 - 16.00, Jahrgang 1990-2020.</p>"
)
_CONTACT = (
    '<div class="kontakt"><h3>Bau und Planung</h3><p>Telefon 044 711 78 11</p>'
    '<a href="mailto:bau.planung@adliswil.ch">bau.planung@adliswil.ch</a></div>'
    '<script type="application/ld+json">{"@type": "GovernmentOrganization", '
    '"name": "Stadt Adliswil", "email": "stadt@adliswil.ch"}</script>'
)


def synthetic_page(size_bytes: int) -> str:
    """A municipality page of about ``size_bytes``."""
    head = f"<html><head><title>Stadt Adliswil</title></head><body><ul>{_NAV}</ul>"
    body = [head, _CONTACT]
    while sum(len(p) for p in body) < size_bytes:
        body.append(_BLOCK)
    body.append("</body></html>")
    return "".join(body)


def extraction(repeats: int = 7) -> list[dict[str, Any]]:
    rows = []
    for size in (20 * 1024, 200 * 1024, 1024 * 1024):
        page = synthetic_page(size)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            found = extract_contacts(page, "https://www.adliswil.ch/bauen")
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        rows.append(
            {
                "page_kib": round(len(page.encode()) / 1024),
                "median_ms": round(median * 1000, 2),
                "mib_per_s": round(len(page.encode()) / median / 2**20, 2),
                "emails": len(found.emails),
                "phones": len(found.phones),
            }
        )
    return rows


def run_with_latency(latency_s: float) -> dict[str, Any]:
    # The end-to-end fixture of the tests: one local server, virtual hosts, no network.
    from cleanapp_geo.discovery import discover_contacts
    from tests.geo.discovery_support import Answer, fixture_web
    from tests.geo.test_discovery_providers import (
        osm_fetcher,
        providers,
        school_request,
        serve_case,
    )

    with fixture_web() as web:
        serve_case(web)
        for host in {h for h, _ in web.routes}:
            for path in CONTACT_PATHS:  # the guessed pages are missing, slowly too
                web.routes.setdefault((host, path), Answer("", 404, "text/plain"))
        for key, route in list(web.routes.items()):

            def delayed(seen: Any, route: Any = route) -> Answer:
                answer = route(seen) if callable(route) else route
                answer = Answer(answer.body, answer.status, answer.content_type,
                                answer.headers, delay_s=latency_s)  # fmt: skip
                return answer

            web.routes[key] = delayed
        budget = Budget(max_requests=25, max_seconds=5.0)
        started = time.perf_counter()
        result = discover_contacts(
            school_request(), providers(web, osm_fetcher(web, budget)), budget=budget
        )
        wall_s = time.perf_counter() - started
    return {
        "latency_ms": round(latency_s * 1000),
        "wall_s": round(wall_s, 3),
        "requests": result.requests,
        "budget_exhausted": result.budget_exhausted,
        "targets": len(result.targets),
        "emails": sorted(t.email for t in result.targets if t.email),
        "providers": [
            {
                "provider": r.provider,
                "requests": r.requests,
                "cache_hits": r.cache_hits,
                "robots_disallowed": r.robots_disallowed,
                "seconds": r.seconds,
                "hits": r.hits,
                "skipped": r.skipped,
            }
            for r in result.reports
        ],
    }


def run_discovery_bench() -> dict[str, Any]:
    return {
        "hardware": hardware_block(),
        "extraction": extraction(),
        "runs": [run_with_latency(latency) for latency in (0.0, 0.05, 0.2)],
    }


def format_table(document: dict[str, Any]) -> str:
    lines = ["### Contact extraction (median of 7)", "",
             "| page | time | throughput | emails | phones |", "|---|---|---|---|---|"]  # fmt: skip
    for row in document["extraction"]:
        lines.append(
            f"| {row['page_kib']} KiB | {row['median_ms']} ms | {row['mib_per_s']} MiB/s | "
            f"{row['emails']} | {row['phones']} |"
        )
    lines += ["", "### School facade case, 25 requests / 5 s budget", "",
              "| latency | wall | requests | budget out | targets | per provider "
              "(requests / hits) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for run in document["runs"]:
        per = ", ".join(
            f"{p['provider']} {p['requests']}/{p['hits']}" + (" skipped" if p["skipped"] else "")
            for p in run["providers"]
        )
        lines.append(
            f"| {run['latency_ms']} ms | {run['wall_s']} s | {run['requests']} | "
            f"{'yes' if run['budget_exhausted'] else 'no'} | {run['targets']} | {per} |"
        )
    return "\n".join(lines)
