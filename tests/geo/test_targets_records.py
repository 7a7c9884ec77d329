"""The plain-row target suggestion equals the frame one (same targets, same order)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import cleanapp_geo as cg
from cleanapp_geo.targets import report_brands, suggest_targets_from_records

BRANDS = ["", "migros", "Migros", " MIGROS ", "coop", "Coop", "Brand 7", "brand7", "lidl"]
LANGUAGES = ["en", "EN", "de", "fr", "", "En"]
TEXTS = [
    None,
    "",
    "ops@acme.com",
    "ops@acme.com, invalid",
    "Ops@Acme.com;help@acme.com",
    "noreply@example.com",
    "support@buildingmanagement.com contest@x.com",
]
EMAILS = ["bau@adliswil.ch", "Bau@Adliswil.CH ", "not-an-email", "info@coop.ch", "x@example.com"]
TEXT = st.sampled_from(["", "curated", "Migros Genossenschaft", "operator", "contact", "Ä b"])

analysis_rows = st.lists(
    st.tuples(
        st.integers(1, 12),
        st.sampled_from(LANGUAGES),
        st.sampled_from(BRANDS),
        st.sampled_from(BRANDS),
        st.sampled_from(TEXTS),
    ),
    max_size=25,
)
area_rows = st.lists(
    st.tuples(
        st.integers(1, 50),
        st.sampled_from(["Adliswil", "Schulhaus Kopfholz", "adliswil", "Zürich"]),
        TEXT,
        st.lists(st.sampled_from(EMAILS), max_size=3),
    ),
    max_size=4,
)
contact_records = st.lists(
    st.fixed_dictionaries(
        {
            "brand_key": st.sampled_from(["migros", "coop", "brand 7", "lidl", "other"]),
            "organization": TEXT,
            "role": TEXT,
            "emails": st.lists(st.sampled_from(EMAILS), max_size=3),
            "website": st.sampled_from(["", "https://www.migros.ch", "coop.ch"]),
            "contact_url": st.sampled_from(["", "https://coop.ch/contact"]),
            "source": TEXT,
        }
    ),
    max_size=4,
)


def _frame_path(
    analyses: list[tuple[Any, ...]],
    areas: list[tuple[Any, ...]],
    contacts: list[dict[str, Any]],
    limit: int,
) -> tuple[cg.EscalationTarget, ...]:
    """The suggestion as the service made it before: frames as the readers build them."""
    frame = pd.DataFrame(
        {
            "seq": pd.Series([r[0] for r in analyses], dtype="int64"),
            "language": [r[1] for r in analyses],
            "brand_name": [r[2] for r in analyses],
            "brand_display_name": [r[3] for r in analyses],
            "inferred_contact_emails": [r[4] for r in analyses],
        }
    )
    area_frame = pd.DataFrame(  # as cleanapp_geo.io.read.read_area_contacts
        {
            "area_id": pd.Series([r[0] for r in areas], dtype="int64"),
            "name": pd.array([r[1] for r in areas], dtype=str),
            "description": pd.array([r[2] for r in areas], dtype=str),
            "emails": pd.Series([list(r[3]) for r in areas], dtype=object),
        }
    )
    columns = list(contacts[0]) if contacts else []
    contact_frame = pd.DataFrame(  # as cleanapp_geo.io.contacts.read_brand_contacts
        {
            name: (
                pd.Series([list(c[name]) for c in contacts], dtype=object)
                if name == "emails"
                else pd.array([str(c[name]) for c in contacts], dtype=str)
            )
            for name in columns
        }
    )
    return cg.suggest_targets(
        report_brands(frame),
        areas=area_frame,
        brand_contacts=contact_frame,
        analyses=frame,
        limit=limit,
    )


@settings(max_examples=300, deadline=None)
@given(analysis_rows, area_rows, contact_records, st.integers(0, 10))
def test_records_path_equals_frame_path(
    analyses: list[tuple[Any, ...]],
    areas: list[tuple[Any, ...]],
    contacts: list[dict[str, Any]],
    limit: int,
) -> None:
    fast = suggest_targets_from_records(analyses, areas=areas, brand_contacts=contacts, limit=limit)
    assert fast == _frame_path(analyses, areas, contacts, limit)


def test_records_path_finds_every_source() -> None:
    analyses = [
        (1, "en", "migros", "Migros", "ops@acme.com"),
        (2, "de", "", "", "noreply@example.com, help@acme.com"),
    ]
    areas = [(3, "Adliswil", "", ["bau@adliswil.ch"])]
    contacts = [
        {
            "brand_key": "migros",
            "organization": "Migros",
            "role": "",
            "emails": ["care@migros.ch"],
            "website": "",
            "contact_url": "",
            "source": "curated",
        }
    ]
    fast = suggest_targets_from_records(analyses, areas=areas, brand_contacts=contacts)
    assert [t.email for t in fast] == ["bau@adliswil.ch", "care@migros.ch"]
    assert fast == _frame_path(analyses, areas, contacts, 8)
    assert suggest_targets_from_records(analyses) == _frame_path(analyses, [], [], 8)
