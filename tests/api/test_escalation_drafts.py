"""Pure drafting: upstream T4 texts, all six locales, locale choice, evidence, HTML escaping."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from cleanapp_geo.drafts import (
    LOCALES,
    DraftCase,
    DraftReport,
    build_draft,
    choose_locale,
    country_at,
    localize_summary,
    localize_title,
    text_to_html,
)

CASE_ID = "case_0123456789abcdef01234567"
URL = f"https://cases.example.org/c/{CASE_ID}"
T4_CASE = DraftCase(
    CASE_ID,
    "Incident cluster at Schulhaus Kopfholz",
    "Case created from area scope around Schulhaus Kopfholz.",
    severity_score=1.0,
    urgency_score=1.0,
    linked_count=1,
)
T4_REPORTS = [DraftReport(101, "Structural crack in concrete wall", severity_level=0.9)]


def test_t4_german_draft_for_swiss_school_targets() -> None:
    d = build_draft(T4_CASE, T4_REPORTS, case_url=URL, emails=["schulverwaltung@adliswil.ch"])
    assert (d.locale, d.locale_source) == ("de", "recipient_domain")
    assert "CleanApp-Meldung" in d.subject
    assert d.subject == "CleanApp-Meldung: Vorfallcluster bei Schulhaus Kopfholz"
    for text in (
        "Guten Tag",
        "Schweregrad: 100%",
        "Dringlichkeit: 100%",
        "Verknüpfte Meldungen: 1",
        "Der Fall wurde aus einem Bereich rund um Schulhaus Kopfholz erstellt.",
        f"Fall-Link: {URL}",
        "- Structural crack in concrete wall (Schweregrad 90%)",
    ):
        assert text in d.body


@pytest.mark.parametrize(
    ("locale", "subject", "greeting", "severity", "sign_off"),
    [
        (
            "en",
            "CleanApp escalation: Incident cluster at Schulhaus Kopfholz",
            "Hello,",
            "Severity: 100%",
            "Best,",
        ),
        (
            "de",
            "CleanApp-Meldung: Vorfallcluster bei Schulhaus Kopfholz",
            "Guten Tag,",
            "Schweregrad: 100%",
            "Freundliche Grüsse",
        ),
        (
            "fr",
            "Alerte CleanApp : Groupe d'incidents à Schulhaus Kopfholz",
            "Bonjour,",
            "Gravité : 100%",
            "Cordialement,",
        ),
        (
            "it",
            "Segnalazione CleanApp: Cluster di incidenti presso Schulhaus Kopfholz",
            "Buongiorno,",
            "Gravità: 100%",
            "Cordiali saluti,",
        ),
        (
            "es",
            "Alerta de CleanApp: Clúster de incidentes en Schulhaus Kopfholz",
            "Hola,",
            "Severidad: 100%",
            "Saludos,",
        ),
        (
            "pt",
            "Alerta do CleanApp: Cluster de incidentes em Schulhaus Kopfholz",
            "Olá,",
            "Severidade: 100%",
            "Cumprimentos,",
        ),
    ],
)
def test_six_locales_use_the_upstream_texts(
    locale: str, subject: str, greeting: str, severity: str, sign_off: str
) -> None:
    d = build_draft(T4_CASE, T4_REPORTS, case_url=URL, locale=locale)
    assert d.locale_source == "explicit"
    assert d.subject == subject
    lines = d.body.split("\n")
    assert lines[0] == greeting
    assert severity in lines
    assert lines[-2:] == [sign_off, "CleanApp"]
    assert URL in d.body


def test_body_layout_matches_upstream_order() -> None:
    d = build_draft(T4_CASE, [], case_url=URL, locale="en")
    assert d.body.split("\n") == [
        "Hello,",
        "",
        'CleanApp has opened the case "Incident cluster at Schulhaus Kopfholz".',
        "",
        "Summary:",
        "Case created from area scope around Schulhaus Kopfholz.",
        "",
        "Severity: 100%",
        "Urgency: 100%",
        "Linked reports: 1",
        f"Case link: {URL}",
        "",
        "Please review the location and let us know what remediation steps will be taken.",
        "",
        "Best,",
        "CleanApp",
    ]


def test_titles_and_summaries() -> None:
    assert localize_title("INCIDENT CLUSTER AT Bahnhof", "de") == "Vorfallcluster bei Bahnhof"
    assert localize_title("", "en") == "incident cluster"
    assert localize_summary("Case created from area scope around X..", "it") == (
        "Il caso è stato creato a partire da un'area intorno a X."
    )
    assert localize_summary("Something else.", "fr") == "Something else."
    case = DraftCase(CASE_ID, "", "", linked_count=0)
    assert (
        "A cluster of incident reports has been linked to this case."
        in build_draft(case, case_url=URL).body
    )
    untitled = [DraftReport(1, severity_level=0.2), DraftReport(2, severity_level=0.3)]
    assert (
        "A cluster of 2 incident reports has been linked to this case."
        in build_draft(case, untitled, case_url=URL).body
    )
    titled = [DraftReport(1, "low", severity_level=0.2), DraftReport(2, "", "high", 0.9)]
    assert "Summary:\nhigh\n" in build_draft(case, titled, case_url=URL).body


def test_evidence_most_severe_first_with_time_and_coordinates() -> None:
    reports = [
        DraftReport(
            i,
            f"Report {i}",
            severity_level=s,
            timestamp=datetime(2026, 3, 10, 8, i, tzinfo=UTC),
            latitude=47.3,
            longitude=8.5,
        )
        for i, s in enumerate([0.2, 0.9, 0.9, 0.5, 0.1, 0.7, 0.3])
    ]
    d = build_draft(T4_CASE, reports, case_url=URL, locale="en", max_evidence=3)
    evidence = [line for line in d.body.split("\n") if line.startswith("- ")]
    assert evidence == [
        "- Report 2 (severity 90%; 2026-03-10 08:02 UTC; 47.30000, 8.50000)",
        "- Report 1 (severity 90%; 2026-03-10 08:01 UTC; 47.30000, 8.50000)",
        "- Report 5 (severity 70%; 2026-03-10 08:05 UTC; 47.30000, 8.50000)",
    ]
    assert "and 4 more linked reports." in d.body
    assert "<li>Report 2 (severity 90%; 2026-03-10 08:02 UTC; 47.30000, 8.50000)</li>" in (
        d.html_body
    )


def test_html_is_escaped_and_links_the_case() -> None:
    case = DraftCase(CASE_ID, '<script>alert("x")</script> & co', "Tom & <b>Jerry</b>")
    reports = [DraftReport(1, "<img src=x onerror=alert(1)>", severity_level=0.5)]
    d = build_draft(case, reports, case_url=URL + "?a=1&b=2", locale="en")
    assert "<script>" not in d.html_body and "<img" not in d.html_body and "<b>" not in d.html_body
    assert "&lt;script&gt;" in d.html_body
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;" in d.html_body
    assert f'<a href="{URL}?a=1&amp;b=2">' in d.html_body
    # Only our own tags remain.
    assert set(re.findall(r"</?([a-z]+)", d.html_body)) <= {"p", "br", "a", "ul", "li"}
    # The text content of the HTML equals the plain body's text.
    plain_from_html = html.unescape(re.sub(r"<[^>]+>", " ", d.html_body))
    for line in d.body.split("\n"):
        for word in line.replace("- ", "").split():
            assert word in plain_from_html


def test_overrides_are_independent_and_escaped() -> None:
    d = build_draft(
        T4_CASE, [], case_url=URL, subject="  Custom  subject ", body=" Hi <there>\n\nBye "
    )
    assert d.subject == "Custom subject"
    assert d.body == "Hi <there>\n\nBye"
    assert d.html_body == "<p>Hi &lt;there&gt;</p>\n<p>Bye</p>"
    d2 = build_draft(T4_CASE, [], case_url=URL, subject="Only subject", locale="de")
    assert d2.body.startswith("Guten Tag,")
    assert text_to_html("") == ""


@pytest.mark.parametrize(
    ("emails", "lon", "lat", "expected", "source"),
    [
        (["schulverwaltung@adliswil.ch"], None, None, "de", "recipient_domain"),  # T4
        (["schulverwaltung@adliswil.ch"], 8.52, 47.31, "de", "recipient_domain"),  # Zürich
        (["voirie@ville-ge.ch"], 6.14, 46.20, "fr", "recipient_domain"),  # Geneva
        (["info@lugano.ch"], 8.95, 46.00, "it", "recipient_domain"),  # Ticino
        (["info@sion.ch"], 7.36, 46.23, "fr", "recipient_domain"),  # Valais (French part)
        (["info@x.ch"], 2.35, 48.86, "de", "recipient_domain"),  # .ch, case in Paris: default
        (["james.estes@acme.com"], None, None, "en", "default"),  # no ".es" inside words
        (["j.estes@acme.com"], -3.70, 40.42, "es", "case_location"),  # Madrid
        (["maire@mairie-lyon.fr"], None, None, "fr", "recipient_domain"),
        (["a@comune.milano.it"], None, None, "it", "recipient_domain"),
        (["a@prefeitura.sp.gov.br"], None, None, "pt", "recipient_domain"),
        (["a@ayto.es", "b@x.de", "c@y.de"], None, None, "de", "recipient_domain"),  # majority
        (["a@ayto.es", "b@x.de"], None, None, "es", "recipient_domain"),  # tie: first target
        (["a@ville.qc.ca"], -71.21, 46.81, "fr", "recipient_domain"),  # Québec City
        (["a@toronto.ca"], -79.38, 43.65, "en", "recipient_domain"),
        ([], 8.95, 46.00, "it", "case_location"),  # Lugano
        ([], 4.35, 50.85, "fr", "case_location"),  # Brussels
        ([], 13.40, 52.52, "de", "case_location"),  # Berlin
        ([], -9.14, 38.72, "pt", "case_location"),  # Lisbon
        ([], 7.68, 45.07, "it", "case_location"),  # Turin
        ([], 7.26, 43.70, "fr", "case_location"),  # Nice
        ([], -46.63, -23.55, "pt", "case_location"),  # São Paulo
        ([], -99.13, 19.43, "es", "case_location"),  # Mexico City
        ([], -74.0, 40.7, "en", "case_location"),  # New York
        ([], 0.0, 0.0, "en", "default"),
    ],
)
def test_locale_choice(
    emails: list[str], lon: float | None, lat: float | None, expected: str, source: str
) -> None:
    choice = choose_locale(emails=emails, longitude=lon, latitude=lat)
    assert (choice.locale, choice.source) == (expected, source)


def test_explicit_locale_wins_and_is_validated() -> None:
    assert choose_locale(explicit=" IT ", emails=["a@b.de"]).locale == "it"
    with pytest.raises(ValueError, match="locale must be one of en, de, fr, it, es, pt"):
        choose_locale(explicit="nl")
    assert set(LOCALES) == {"en", "de", "fr", "it", "es", "pt"}
    assert country_at(float("nan"), 1.0) is None
