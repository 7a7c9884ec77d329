"""The case memo: one document that can travel by e-mail (``GET /cases/{id}/memo.html|.pdf``).

Both forms hold the same sections, built once from the case detail (:class:`Memo`): title,
status and metric cards, summary, a map of the linked reports over the case outline
(rendered here with matplotlib, no network: :func:`cleanapp_geo.plotting.plot_reports`),
the evidence table (each report's time, severity, title and a link to its public page),
the timeline (audit events), the escalation targets by role and the deliveries. The HTML
is self-contained (the map is an inline PNG); the PDF is :mod:`cleanapp_api.services.memo_pdf`.
"""

from __future__ import annotations

import html
import io
import json
from base64 import b64encode
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa

from cleanapp_api.schemas import CaseDetail
from cleanapp_api.services.cases import get_case
from cleanapp_api.settings import Settings
from cleanapp_geo.plotting import plot_reports

__all__ = ["Memo", "build_memo", "case_memo", "memo_html", "render_map_png"]

_MAP_DPI: Final = 150
_TIMELINE_LIMIT: Final = 40


@dataclass(frozen=True, slots=True)
class Memo:
    """What the memo says, in both its forms.

    Attributes
    ----------
    detail : CaseDetail
        The case as ``GET /cases/{id}`` answers it.
    case_url : str
        The case's public permalink.
    report_urls : dict of int to str
        Each linked report's public page.
    map_png : bytes
        The map of the linked reports and the case outline.
    targets_by_role : list of (str, list)
        Escalation targets grouped by role, in role order.
    """

    detail: CaseDetail
    case_url: str
    report_urls: dict[int, str]
    map_png: bytes
    targets_by_role: list[tuple[str, list[Any]]]

    @property
    def filename_stem(self) -> str:
        """``case-memo-<slug>``: the download's file name without extension."""
        return f"case-memo-{self.detail.case.slug}"


def _outline(detail: CaseDetail) -> shapely.Geometry | None:
    for text in (detail.case.geometry_json, detail.case.aggregate_geometry_json):
        if not text:
            continue
        try:
            geometry = shapely.from_geojson(text)
        except (shapely.errors.GEOSException, ValueError):
            continue
        if isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
            return geometry
    return None


def render_map_png(detail: CaseDetail, *, width_in: float = 8.0, height_in: float = 3.9) -> bytes:
    """Draw the linked reports (sized by severity) over the case outline as a PNG.

    The figure is a :class:`matplotlib.figure.Figure` (no pyplot, no global state), so
    this is safe on the service's worker threads.

    Parameters
    ----------
    detail : CaseDetail
        The case.
    width_in, height_in : float
        Figure size in inches (150 dpi).

    Returns
    -------
    bytes
        The PNG image.
    """
    from matplotlib.figure import Figure

    links = detail.linked_reports
    frame = gpd.GeoDataFrame(
        {"seq": [r.seq for r in links], "reason": [r.link_reason for r in links]},
        geometry=gpd.points_from_xy([r.longitude for r in links], [r.latitude for r in links]),
        crs="EPSG:4326",
    )
    severity = np.array([r.severity_level for r in links], dtype=float)
    figure = Figure(figsize=(width_in, height_in), dpi=_MAP_DPI)
    ax = figure.add_subplot()
    plot_reports(
        frame,
        groups=["linked reports"] * len(frame) if len(frame) >= 2 else None,
        outline=_outline(detail),
        outline_label="case outline",
        labels=True,
        sizes=30 + 90 * np.clip(severity, 0, 1),
        title=f"{len(links)} linked reports (larger: more severe)",
        fit="reports",
        box_aspect=1.9,
        ax=ax,
    )
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=_MAP_DPI)
    return out.getvalue()


def _group_targets(detail: CaseDetail) -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for target in detail.escalation_targets:
        groups[target.role_type or "other"].append(target)
    return sorted(groups.items())


def build_memo(detail: CaseDetail, settings: Settings) -> Memo:
    """Assemble the memo of a case (renders its map).

    Parameters
    ----------
    detail : CaseDetail
        The case.
    settings : Settings
        Supplies the public case and report URLs.

    Returns
    -------
    Memo
    """
    return Memo(
        detail=detail,
        case_url=settings.public_case_url(detail.case.case_id),
        report_urls={
            r.seq: f"{settings.public_report_url_base}/{r.public_id}" for r in detail.linked_reports
        },
        map_png=render_map_png(detail),
        targets_by_role=_group_targets(detail),
    )


def case_memo(engine: sa.Engine, settings: Settings, case_id: str) -> Memo:
    """Load a case and build its memo (404 ``case not found``).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    settings : Settings
        The service configuration.
    case_id : str
        The case.

    Returns
    -------
    Memo
    """
    return build_memo(get_case(engine, case_id), settings)


def short_time(text: str | None) -> str:
    """``2026-03-10T08:00:00.25Z`` → ``2026-03-10 08:00 UTC`` ("" for none)."""
    if not text:
        return ""
    return f"{text[:10]} {text[11:16]} UTC"


def audit_line(event: Any) -> str:
    """One readable line for an audit event: its type and the payload's key facts."""
    try:
        payload = json.loads(event.payload_json or "{}")
    except ValueError:
        payload = {}
    facts = []
    if isinstance(payload, dict):
        before = payload.get("from_status") or payload.get("previous_status")
        after = payload.get("to_status") or payload.get("status")
        if before and after:
            facts.append(f"{before} → {after}")
            payload = {k: v for k, v in payload.items() if "status" not in k}
        for key in ("status", "report_seqs", "summary", "subject"):
            value = payload.get(key)
            if value not in (None, "", []):
                facts.append(f"{key.replace('_', ' ')}: {value}")
    what = event.event_type.replace("_", " ")
    return f"{what} ({'; '.join(facts)})" if facts else what


def metric_cards(detail: CaseDetail) -> list[tuple[str, str]]:
    """List the memo's headline figures as (label, value)."""
    case = detail.case
    return [
        ("Status", case.status),
        ("Reports", str(case.linked_report_count)),
        ("Severity", f"{case.severity_score:.2f}"),
        ("Urgency", f"{case.urgency_score:.2f}"),
    ]


def memo_html(memo: Memo) -> str:
    """Render the memo as one self-contained HTML page (the map inline).

    Parameters
    ----------
    memo : Memo
        From :func:`build_memo`.

    Returns
    -------
    str
    """
    e = html.escape
    d = memo.detail
    case = d.case
    cards = "".join(
        f'<div class="card"><div class="label">{e(k)}</div><div class="value">{e(v)}</div></div>'
        for k, v in metric_cards(d)
    )
    evidence = "".join(
        f"<tr><td>{e(short_time(r.report_timestamp))}</td><td>{r.severity_level:.2f}</td>"
        f"<td>{e(r.title)}</td><td>{e(r.link_reason.replace('_', ' '))}</td>"
        f'<td><a href="{e(memo.report_urls[r.seq])}">report {r.seq}</a></td></tr>'
        for r in d.linked_reports
    )
    timeline = "".join(
        f"<li><time>{e(short_time(a.created_at))}</time> {e(audit_line(a))}"
        f"{' by ' + e(a.actor_user_id) if a.actor_user_id else ''}</li>"
        for a in d.audit_events[-_TIMELINE_LIMIT:]
    )
    targets = "".join(
        f"<h3>{e(role.replace('_', ' '))}</h3><ul>"
        + "".join(
            f"<li>{e(t.organization or t.display_name or '')} "
            f"&lt;{e(t.email or t.website or t.phone or '')}&gt; "
            f"(confidence {t.confidence_score:.2f})</li>"
            for t in group
        )
        + "</ul>"
        for role, group in memo.targets_by_role
    )
    deliveries = "".join(
        f"<tr><td>{e(x.recipient_email)}</td><td>{e(x.delivery_status)}</td>"
        f"<td>{e(x.provider)}</td><td>{e(short_time(x.sent_at))}</td></tr>"
        for x in d.email_deliveries
    )
    image = b64encode(memo.map_png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Case memo: {e(case.title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       color: #1d2430; line-height: 1.45; padding: 0 1rem; }}
h1 {{ margin-bottom: .2rem; }} .sub {{ color: #566; margin-top: 0; }}
.cards {{ display: flex; gap: .8rem; margin: 1rem 0; }}
.card {{ border: 1px solid #d5dbe3; border-radius: 6px; padding: .5rem .9rem; min-width: 7rem; }}
.label {{ font-size: .8rem; color: #566; }} .value {{ font-size: 1.3rem; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9rem; }}
th, td {{ border-bottom: 1px solid #e3e7ec; padding: .3rem .4rem; text-align: left; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>{e(case.title)}</h1>
<p class="sub">Case {e(case.case_id)} · {e(case.classification)} · updated
{e(short_time(case.updated_at))} · <a href="{e(memo.case_url)}">{e(memo.case_url)}</a></p>
<div class="cards">{cards}</div>
<h2>Summary</h2><p>{e(case.summary) or "No summary yet."}</p>
<h2>Map</h2><img alt="Map of the {len(d.linked_reports)} linked reports and the case outline"
 src="data:image/png;base64,{image}">
<h2>Evidence</h2>
<table><thead><tr><th>Time</th><th>Severity</th><th>Title</th><th>Link reason</th>
<th>Photo</th></tr></thead><tbody>{evidence}</tbody></table>
<h2>Timeline</h2><ul>{timeline or "<li>No events.</li>"}</ul>
<h2>Escalation targets</h2>{targets or "<p>No targets.</p>"}
<h2>Deliveries</h2>
<table><thead><tr><th>Recipient</th><th>State</th><th>Provider</th><th>Sent</th></tr></thead>
<tbody>{deliveries or '<tr><td colspan="4">Nothing sent yet.</td></tr>'}</tbody></table>
</body></html>
"""
