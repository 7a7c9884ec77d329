"""The routes the workspace adds: the case list, pair explanations, the memo (HTML and PDF,
checked by parsing and by rendering with poppler), and the pages under ``/app/``."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import client_for
from case_support import ZURICH, create_body, record, user_headers, write
from litestar.testing import TestClient

import cleanapp_geo as cg
from cleanapp_api.settings import Settings

pytestmark = pytest.mark.postgis

FAR = (47.5, 8.7)


@pytest.fixture(scope="module")
def api(db_settings: Settings) -> Iterator[TestClient[Any]]:
    with client_for(db_settings) as client:
        yield client


@pytest.fixture
def store(clean_db: sa.Engine) -> sa.Engine:
    write(
        clean_db,
        [
            record(1, severity_level=0.9, title="Overflowing bins at the tram stop"),
            record(2, severity_level=0.6, title="Overflowing bin near the tram stop"),
            record(3, severity_level=0.2, title="Broken street light"),
            record(4, visibility="shadow", title="Hidden report"),
            record(11, latitude=FAR[0], longitude=FAR[1], title="Pothole on bridge road"),
        ],
    )
    return clean_db


@pytest.fixture
def alice(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "alice")


@pytest.fixture
def bob(token_rows: Callable[..., None]) -> dict[str, str]:
    return user_headers(token_rows, "bob")


def _create(api: TestClient[Any], headers: dict[str, str], seqs: list[int], **kw: Any) -> str:
    response = api.post(
        "/api/v4/cases", json=create_body(seqs, force_new_case=True, **kw), headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["case"]["case_id"])


# --------------------------------------------------------------------------- case list


def test_case_list_filters(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], bob: dict[str, str]
) -> None:
    near_case = _create(api, alice, [1, 2], title="Overflowing bins at the tram stop")
    far_case = _create(
        api, bob, [11], title="Pothole on bridge road", anchor_report_seq=11, geometry=None
    )
    resolved = api.post(
        f"/api/v4/cases/{far_case}/status", json={"status": "resolved"}, headers=bob
    )
    assert resolved.status_code == 200, resolved.text

    def ids(**query: str) -> list[str]:
        response = api.get("/api/v4/cases", params=query, headers=alice)
        assert response.status_code == 200, response.text
        return [c["case_id"] for c in response.json()["cases"]]

    assert ids() == [far_case, near_case]  # most recently updated first
    assert ids(status="open") == [near_case]
    assert ids(status="resolved,closed") == [far_case]
    assert ids(mine="true") == [near_case]
    assert ids(near=f"{ZURICH[0]},{ZURICH[1]}", radius_m="2000") == [near_case]
    assert ids(near=f"{FAR[0]},{FAR[1]}", radius_m="500") == [far_case]
    assert ids(updated_since="2999-01-01T00:00:00Z") == []
    nearest = api.get(
        "/api/v4/cases", params={"near": f"{ZURICH[0]},{ZURICH[1]}"}, headers=alice
    ).json()["cases"][0]
    assert nearest["title"] == "Overflowing bins at the tram stop"
    assert 0 <= nearest["distance_m"] < 1000
    assert nearest["linked_report_count"] == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "pending"}, "unknown status pending"),
        ({"near": "47.3"}, "near must be 'latitude,longitude'"),
        ({"near": "147,8"}, "near must be 'latitude,longitude'"),
        ({"radius_m": "-5"}, "radius_m must be a number"),
        ({"mine": "maybe"}, "mine must be true or false"),
        ({"updated_since": "yesterday"}, "updated_since must be an RFC 3339 time"),
        ({"limit": "0"}, "limit must be a number"),
    ],
)
def test_case_list_bad_query_is_400(
    api: TestClient[Any], alice: dict[str, str], query: dict[str, str], message: str
) -> None:
    response = api.get("/api/v4/cases", params=query, headers=alice)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_case_list_needs_a_token(api: TestClient[Any]) -> None:
    assert api.get("/api/v4/cases").status_code == 401


# --------------------------------------------------------------------------- explain pair


def test_explain_pair_matches_the_library(api: TestClient[Any], store: sa.Engine) -> None:
    response = api.post("/api/v4/clusters/explain-pair", json={"focal_seq": 1, "neighbor_seq": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    import cleanapp_geo.io as cio

    frame = cio.read_reports(store, seqs=[1, 2])
    expected = cg.explain_pair(frame, 1, 2, model=cg.DEFAULT_MODEL)
    assert body["score"] == pytest.approx(expected.score)
    assert body["is_edge"] == expected.is_edge
    assert body["contributions"] == pytest.approx(expected.contributions)
    assert "overflowing" in body["shared_tokens"]
    assert body["measures"]["distance_m"] == pytest.approx(expected.measures["distance_m"])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"neighbor_seq": 2}, 400, "focal_seq is required"),
        ({"focal_seq": 1}, 400, "neighbor_seq is required"),
        ({"focal_seq": 1, "neighbor_seq": 2, "model": "best"}, 400, "model must be one of"),
        ({"focal_seq": 1, "neighbor_seq": 4}, 404, "reports not found: [4]"),
    ],
)
def test_explain_pair_refusals(
    api: TestClient[Any], store: sa.Engine, body: dict[str, Any], status: int, message: str
) -> None:
    response = api.post("/api/v4/clusters/explain-pair", json=body)
    assert response.status_code == status
    assert response.json()["error"].startswith(message)


# --------------------------------------------------------------------------- memo


def test_memo_html(api: TestClient[Any], store: sa.Engine, alice: dict[str, str]) -> None:
    case_id = _create(api, alice, [1, 2, 3], title="Overflowing bins at the tram stop")
    response = api.get(f"/api/v4/cases/{case_id}/memo.html", headers=alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<h1>Overflowing bins at the tram stop</h1>" in page
    assert page.count("<tr><td>2026-03-10") == 3  # the evidence rows
    assert 'src="data:image/png;base64,' in page
    assert "https://www.cleanapp.io/reports/" in page
    assert "case created" in page  # the timeline


def test_memo_needs_a_token_and_a_case(api: TestClient[Any], alice: dict[str, str]) -> None:
    assert api.get("/api/v4/cases/case_0123456789abcdef01234567/memo.pdf").status_code == 401
    missing = api.get("/api/v4/cases/case_0123456789abcdef01234567/memo.pdf", headers=alice)
    assert missing.status_code == 404
    assert missing.json() == {"error": "case not found"}


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_memo_pdf_parses_and_renders(
    api: TestClient[Any], store: sa.Engine, alice: dict[str, str], tmp_path: Path
) -> None:
    case_id = _create(api, alice, [1, 2, 3], title="Overflowing bins at the tram stop")
    response = api.get(f"/api/v4/cases/{case_id}/memo.pdf", headers=alice)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert re.match(r'attachment; filename="case-memo-.+\.pdf"', disposition)
    pdf = tmp_path / "memo.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        "Overflowing bins at the tram stop",
        "Summary",
        "Evidence",
        "Broken street light",
        "Timeline",
        "Deliveries",
        "Nothing sent yet.",
    ):
        assert expected in text
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert images, "the memo has no map image"
    width, height = (int(v) for v in images[0].split()[3:5])
    assert width >= 800 and height >= 400
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    (page,) = tmp_path.glob("page*.png")
    assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.stat().st_size > 10_000  # a page with a map, not a blank one


# --------------------------------------------------------------------------- pages


def test_workspace_pages_are_served(api: TestClient[Any]) -> None:
    index = api.get("/app/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert api.get("/app/vendor/leaflet/leaflet.js").status_code == 200
    config = api.get("/app/config.json").json()
    assert config["api_base"] == "/api/v4"
    assert config["tile_url"] == ""
    assert config["status_transitions"]["closed"] == ["open"]
    assert api.get("/app/nothing-here.js").status_code == 404
