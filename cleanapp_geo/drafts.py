"""Escalation e-mail drafts: locale choice, localised subject and body, HTML (pure, no I/O).

The texts are upstream's in ``en``, ``de``, ``fr``, ``it``, ``es`` and
``pt``, plus an evidence section (the most severe linked reports: title, severity, time,
coordinates) and the case link built from ``PUBLIC_CASE_URL_BASE``.

Locale choice (:func:`choose_locale`)
-------------------------------------
Upstream guessed the language from substrings of the case and target texts (``.es`` inside
``james.estes@...`` gave Spanish, ``.ch`` always gave German, town names were hard-coded).
Here, first match wins:

1. an explicit ``locale`` (one of :data:`LOCALES`);
2. the country top-level domains of the recipients' e-mail domains (only the last label of
   the domain, never a substring), by majority vote over the targets, ties broken by target
   order, using :data:`TLD_LOCALES`. A *multilingual* country (:data:`MULTILINGUAL_TLDS`:
   ``ch``, ``be``, ``ca``) is resolved by the case location inside that country's
   language-region table (:data:`REGION_LOCALES`); without a location in the country it
   takes the country's default (``ch`` → ``de``, the majority language, which makes upstream
   T4 hold; ``be`` → ``fr``; ``ca`` → ``en``). Generic domains (``.com``, ``.org``, ...) do
   not vote;
3. the case location (anchor, else the linked reports' mean position) in the coarse
   country boxes of :data:`COUNTRY_BOXES` (first match wins; small and multilingual
   countries first), then as in 2;
4. ``en``.

The boxes are deliberately coarse (a few rectangles per country, about 10 km accuracy near
borders): they only pick a language when neither the request nor the recipients do.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "COUNTRY_BOXES",
    "LOCALES",
    "MULTILINGUAL_TLDS",
    "REGION_LOCALES",
    "TLD_LOCALES",
    "DraftCase",
    "DraftReport",
    "EscalationDraft",
    "LocaleChoice",
    "build_draft",
    "choose_locale",
    "country_at",
    "localize_summary",
    "localize_title",
    "text_to_html",
]

#: Supported draft locales.
LOCALES: Final = ("en", "de", "fr", "it", "es", "pt")

#: Country-code (and ``gov``/``mil``) top-level domains → locale. Multilingual countries are
#: in :data:`MULTILINGUAL_TLDS` instead.
TLD_LOCALES: Final[dict[str, str]] = {
    **dict.fromkeys(("de", "at", "li"), "de"),
    **dict.fromkeys(("fr", "mc", "lu"), "fr"),
    **dict.fromkeys(("it", "sm", "va"), "it"),
    **dict.fromkeys(
        (
            "es",
            "mx",
            "ar",
            "cl",
            "co",
            "pe",
            "ve",
            "ec",
            "bo",
            "py",
            "uy",
            "cr",
            "pa",
            "gt",
            "hn",
            "sv",
            "ni",
            "do",
            "cu",
        ),
        "es",
    ),
    **dict.fromkeys(("pt", "br", "ao", "mz", "cv"), "pt"),
    **dict.fromkeys(("uk", "gb", "ie", "us", "au", "nz", "gov", "mil", "nl"), "en"),
}

#: Multilingual countries: TLD → default locale when the location does not decide.
MULTILINGUAL_TLDS: Final[dict[str, str]] = {"ch": "de", "be": "fr", "ca": "en"}

Box = tuple[float, float, float, float]  # west, south, east, north

#: Language regions of multilingual countries: country → [(box, locale)], first match wins;
#: outside every box the country default of :data:`MULTILINGUAL_TLDS` applies.
REGION_LOCALES: Final[dict[str, tuple[tuple[Box, str], ...]]] = {
    "ch": (
        ((8.38, 45.81, 9.17, 46.64), "it"),  # Ticino
        ((6.84, 47.15, 7.56, 47.50), "fr"),  # Jura
        ((6.75, 45.85, 7.60, 46.40), "fr"),  # Lower Valais
        ((5.95, 45.81, 7.20, 47.50), "fr"),  # Geneva, Vaud, Neuchâtel, western Fribourg
    ),
    "be": (
        ((5.95, 50.20, 6.41, 50.65), "de"),  # East Belgium
        ((4.24, 50.76, 4.49, 50.92), "fr"),  # Brussels
        ((2.54, 50.85, 5.92, 51.51), "en"),  # Flanders: Dutch is not supported, English
    ),
    "ca": (((-79.77, 44.99, -57.10, 62.59), "fr"),),  # Quebec
}

#: Coarse country boxes (ISO code, (west, south, east, north)); first match wins.
COUNTRY_BOXES: Final[tuple[tuple[str, Box], ...]] = (
    ("li", (9.47, 47.05, 9.64, 47.27)),
    ("mc", (7.40, 43.72, 7.44, 43.76)),
    ("sm", (12.40, 43.89, 12.52, 43.99)),
    ("va", (12.44, 41.90, 12.46, 41.91)),
    ("lu", (5.73, 49.44, 6.53, 50.19)),
    ("ch", (5.95, 45.81, 10.49, 47.81)),
    ("be", (2.54, 49.49, 6.41, 51.51)),
    ("nl", (3.36, 51.25, 7.23, 53.56)),
    ("at", (9.53, 46.37, 17.16, 49.02)),
    ("pt", (-9.53, 36.96, -6.19, 42.15)),
    ("es", (-9.30, 35.95, 3.33, 43.80)),
    ("ie", (-10.48, 51.42, -5.99, 55.39)),
    ("gb", (-8.65, 49.86, 1.77, 60.86)),
    ("fr", (8.50, 41.33, 9.56, 43.05)),  # Corsica
    ("it", (7.00, 43.80, 13.90, 47.09)),  # northern Italy
    ("fr", (-5.14, 42.33, 8.23, 51.09)),
    ("de", (5.87, 47.27, 15.04, 55.06)),
    ("it", (8.00, 36.60, 18.52, 43.80)),
    ("us", (-106.65, 25.84, -93.51, 32.50)),  # southern Texas / New Mexico
    ("mx", (-117.13, 14.53, -86.71, 32.72)),
    ("ca", (-141.00, 49.00, -52.62, 83.11)),
    ("ca", (-83.11, 41.68, -52.62, 49.00)),  # Ontario south of 49 °N, Quebec, Maritimes
    ("us", (-124.85, 24.40, -66.88, 49.38)),
    ("us", (-179.15, 51.21, -129.98, 71.39)),  # Alaska
    ("br", (-73.99, -33.75, -34.79, 5.27)),
    ("ar", (-73.58, -55.06, -53.59, -21.78)),
    ("cl", (-75.70, -55.98, -66.42, -17.50)),
    ("co", (-79.03, -4.23, -66.85, 12.46)),
    ("pe", (-81.33, -18.35, -68.65, -0.04)),
    ("au", (112.92, -43.74, 153.64, -10.06)),
    ("nz", (166.43, -47.29, 178.58, -34.39)),
)

# Upstream texts.
_SUBJECT_PREFIX: Final = {
    "en": "CleanApp escalation: ",
    "de": "CleanApp-Meldung: ",
    "fr": "Alerte CleanApp : ",
    "it": "Segnalazione CleanApp: ",
    "es": "Alerta de CleanApp: ",
    "pt": "Alerta do CleanApp: ",
}
_TITLE_TEMPLATE: Final = {
    "en": None,
    "de": "Vorfallcluster bei {}",
    "fr": "Groupe d'incidents à {}",
    "it": "Cluster di incidenti presso {}",
    "es": "Clúster de incidentes en {}",
    "pt": "Cluster de incidentes em {}",
}
_SUMMARY_TEMPLATE: Final = {
    "en": None,
    "de": "Der Fall wurde aus einem Bereich rund um {} erstellt.",
    "fr": "Le dossier a été créé à partir d'une zone autour de {}.",
    "it": "Il caso è stato creato a partire da un'area intorno a {}.",
    "es": "El caso se creó a partir de un área alrededor de {}.",
    "pt": "O caso foi criado a partir de uma área em torno de {}.",
}
_TITLE_PREFIX: Final = "incident cluster at "
_SUMMARY_PREFIX: Final = "case created from area scope around "
_EMPTY_TITLE: Final = "incident cluster"
_NO_REPORTS: Final = "A cluster of incident reports has been linked to this case."
_N_REPORTS: Final = "A cluster of {} incident reports has been linked to this case."


@dataclass(frozen=True, slots=True)
class _Texts:
    greeting: str
    intro: str  # with {title}
    summary: str
    severity: str
    urgency: str
    linked: str
    link: str
    request: str
    sign_off: str
    # New (not upstream): the evidence section.
    evidence: str
    severity_word: str
    untitled: str
    more: str  # with {n}


_TEXTS: Final = {
    "en": _Texts(
        "Hello,",
        'CleanApp has opened the case "{title}".',
        "Summary:",
        "Severity:",
        "Urgency:",
        "Linked reports:",
        "Case link:",
        "Please review the location and let us know what remediation steps will be taken.",
        "Best,",
        "Evidence (most severe linked reports):",
        "severity",
        "Untitled report",
        "and {n} more linked reports.",
    ),
    "de": _Texts(
        "Guten Tag,",
        "CleanApp hat den Fall „{title}“ erfasst.",
        "Kurzbeschreibung:",
        "Schweregrad:",
        "Dringlichkeit:",
        "Verknüpfte Meldungen:",
        "Fall-Link:",
        "Bitte prüfen Sie den Standort und teilen Sie uns kurz mit, welche Schritte "
        "eingeleitet werden.",
        "Freundliche Grüsse",
        "Belege (schwerwiegendste verknüpfte Meldungen):",
        "Schweregrad",
        "Meldung ohne Titel",
        "sowie {n} weitere verknüpfte Meldungen.",
    ),
    "fr": _Texts(
        "Bonjour,",
        "CleanApp a enregistré le dossier « {title} ».",
        "Résumé :",
        "Gravité :",
        "Urgence :",
        "Signalements liés :",
        "Lien du dossier :",
        "Merci de vérifier la situation et de nous indiquer brièvement les mesures prévues.",
        "Cordialement,",
        "Éléments (signalements liés les plus graves) :",
        "gravité",
        "Signalement sans titre",
        "et {n} autres signalements liés.",
    ),
    "it": _Texts(
        "Buongiorno,",
        'CleanApp ha registrato il caso "{title}".',
        "Sintesi:",
        "Gravità:",
        "Urgenza:",
        "Segnalazioni collegate:",
        "Link del caso:",
        "Vi chiediamo di verificare il sito e di indicarci brevemente quali azioni verranno "
        "intraprese.",
        "Cordiali saluti,",
        "Evidenze (segnalazioni collegate più gravi):",
        "gravità",
        "Segnalazione senza titolo",
        "e altre {n} segnalazioni collegate.",
    ),
    "es": _Texts(
        "Hola,",
        'CleanApp ha registrado el caso "{title}".',
        "Resumen:",
        "Severidad:",
        "Urgencia:",
        "Reportes vinculados:",
        "Enlace del caso:",
        "Por favor, revisen la situación y confírmennos brevemente qué acciones van a tomar.",
        "Saludos,",
        "Evidencias (reportes vinculados más graves):",
        "severidad",
        "Reporte sin título",
        "y {n} reportes vinculados más.",
    ),
    "pt": _Texts(
        "Olá,",
        'O CleanApp registou o caso "{title}".',
        "Resumo:",
        "Severidade:",
        "Urgência:",
        "Relatórios associados:",
        "Link do caso:",
        "Pedimos que verifiquem a situação e nos indiquem brevemente quais medidas serão tomadas.",
        "Cumprimentos,",
        "Evidências (relatórios associados mais graves):",
        "severidade",
        "Relatório sem título",
        "e mais {n} relatórios associados.",
    ),
}


# ============================================================================ values


@dataclass(frozen=True, slots=True)
class DraftCase:
    """The case fields a draft uses.

    Parameters
    ----------
    case_id : str
        The case id.
    title, summary : str
        The case's title and summary.
    severity_score, urgency_score : float
        In [0, 1]; shown as rounded percentages.
    linked_count : int
        Number of linked reports.
    longitude, latitude : float or None
        The case location (for the locale choice).
    """

    case_id: str
    title: str = ""
    summary: str = ""
    severity_score: float = 0.0
    urgency_score: float = 0.0
    linked_count: int = 0
    longitude: float | None = None
    latitude: float | None = None


@dataclass(frozen=True, slots=True)
class DraftReport:
    """A linked report as evidence in a draft.

    Parameters
    ----------
    seq : int
        Report sequence number (tie-break).
    title, summary : str
        Analysis title and summary.
    severity_level : float
        In [0, 1].
    timestamp : datetime or None
        When it was reported.
    latitude, longitude : float or None
        Where.
    """

    seq: int
    title: str = ""
    summary: str = ""
    severity_level: float = 0.0
    timestamp: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class LocaleChoice:
    """A chosen locale and the rule that chose it.

    ``source`` is ``explicit``, ``recipient_domain``, ``case_location`` or ``default``.
    """

    locale: str
    source: str


@dataclass(frozen=True, slots=True)
class EscalationDraft:
    """A drafted escalation e-mail.

    Attributes
    ----------
    subject, body, html_body : str
        The message; ``html_body`` is the same content as escaped HTML.
    locale : str
        One of :data:`LOCALES`.
    locale_source : str
        See :class:`LocaleChoice`.
    """

    subject: str
    body: str
    html_body: str
    locale: str
    locale_source: str


# ============================================================================ locale


def _in_box(lon: float, lat: float, box: Box) -> bool:
    west, south, east, north = box
    return west <= lon <= east and south <= lat <= north


def country_at(longitude: float | None, latitude: float | None) -> str | None:
    """Return the ISO country code of a point from :data:`COUNTRY_BOXES` (coarse), or None.

    Examples
    --------
    >>> country_at(8.52, 47.31), country_at(6.14, 46.20), country_at(-3.70, 40.42)
    ('ch', 'ch', 'es')
    >>> country_at(0.0, 0.0) is None
    True
    """
    if longitude is None or latitude is None:
        return None
    if not (math.isfinite(longitude) and math.isfinite(latitude)):
        return None
    for code, box in COUNTRY_BOXES:
        if _in_box(longitude, latitude, box):
            return code
    return None


def _country_locale(code: str, longitude: float | None, latitude: float | None) -> str | None:
    if code in MULTILINGUAL_TLDS:
        if (
            longitude is not None
            and latitude is not None
            and country_at(longitude, latitude) == code
        ):
            for box, locale in REGION_LOCALES.get(code, ()):
                if _in_box(longitude, latitude, box):
                    return locale
        return MULTILINGUAL_TLDS[code]
    return TLD_LOCALES.get(code)


def _tld(email: str) -> str:
    domain = email.strip().lower().rpartition("@")[2].rstrip(".")
    return domain.rpartition(".")[2] if "." in domain else ""


def choose_locale(
    *,
    explicit: str | None = None,
    emails: Iterable[str] = (),
    longitude: float | None = None,
    latitude: float | None = None,
) -> LocaleChoice:
    """Choose the draft locale (see the module docstring for the rules).

    Parameters
    ----------
    explicit : str, optional
        A requested locale (case-insensitive; must be one of :data:`LOCALES`).
    emails : iterable of str
        The recipients' addresses, in target order.
    longitude, latitude : float, optional
        The case location.

    Returns
    -------
    LocaleChoice
        The locale and the rule that chose it.

    Raises
    ------
    ValueError
        When ``explicit`` is not a supported locale.

    Examples
    --------
    >>> choose_locale(emails=["schulverwaltung@adliswil.ch"]).locale
    'de'
    >>> choose_locale(emails=["info@ville-geneve.ch"], longitude=6.14, latitude=46.20).locale
    'fr'
    >>> choose_locale(emails=["james.estes@acme.com"]).locale  # no guessing inside words
    'en'
    >>> choose_locale(emails=["a@comune.milano.it", "b@x.com"], explicit="PT")
    LocaleChoice(locale='pt', source='explicit')
    """
    if explicit is not None and explicit.strip():
        value = explicit.strip().lower()
        if value not in LOCALES:
            raise ValueError(f"locale must be one of {', '.join(LOCALES)}, got {explicit!r}")
        return LocaleChoice(value, "explicit")
    votes: dict[str, int] = {}
    first: dict[str, int] = {}
    for position, email in enumerate(emails):
        code = _tld(email)
        locale = _country_locale(code, longitude, latitude) if code else None
        if locale is not None:
            votes[locale] = votes.get(locale, 0) + 1
            first.setdefault(locale, position)
    if votes:
        best = min(votes, key=lambda loc: (-votes[loc], first[loc]))
        return LocaleChoice(best, "recipient_domain")
    country = country_at(longitude, latitude)
    if country is not None:
        locale = _country_locale(country, longitude, latitude)
        if locale is not None:
            return LocaleChoice(locale, "case_location")
    return LocaleChoice("en", "default")


# ============================================================================ texts


def localize_title(title: str, locale: str) -> str:
    """Localise a generic ``Incident cluster at <landmark>`` title.

    Examples
    --------
    >>> localize_title("Incident cluster at Schulhaus Kopfholz", "de")
    'Vorfallcluster bei Schulhaus Kopfholz'
    >>> localize_title("  ", "fr"), localize_title("Broken lamp", "it")
    ('incident cluster', 'Broken lamp')
    """
    title = title.strip()
    if not title:
        return _EMPTY_TITLE
    template = _TITLE_TEMPLATE.get(locale)
    if template and title.lower().startswith(_TITLE_PREFIX):
        landmark = title[len(_TITLE_PREFIX) :].strip()
        if landmark:
            return template.format(landmark)
    return title


def localize_summary(summary: str, locale: str) -> str:
    """Localise a generic ``Case created from area scope around <landmark>.`` summary.

    Examples
    --------
    >>> localize_summary("Case created from area scope around Schulhaus Kopfholz.", "de")
    'Der Fall wurde aus einem Bereich rund um Schulhaus Kopfholz erstellt.'
    """
    summary = summary.strip()
    template = _SUMMARY_TEMPLATE.get(locale)
    if template and summary.lower().startswith(_SUMMARY_PREFIX):
        landmark = summary[len(_SUMMARY_PREFIX) :].strip().rstrip(".").strip()
        if landmark:
            return template.format(landmark)
    return summary


def _by_severity(reports: Sequence[DraftReport]) -> list[DraftReport]:
    oldest = datetime.min.replace(tzinfo=UTC)

    def key(r: DraftReport) -> tuple[float, float, int]:
        ts = r.timestamp if r.timestamp is not None else oldest
        ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        return (-r.severity_level, -(ts - oldest).total_seconds(), r.seq)

    return sorted(reports, key=key)


def _fallback_summary(reports: Sequence[DraftReport]) -> str:
    if not reports:
        return _NO_REPORTS
    for report in _by_severity(reports):
        text = report.title.strip() or report.summary.strip()
        if text:
            return text
    return _N_REPORTS.format(len(reports))


def _percent(value: float) -> str:
    return f"{round(max(0.0, min(1.0, value)) * 100)}%" if math.isfinite(value) else "0%"


def _evidence_line(report: DraftReport, texts: _Texts) -> str:
    parts = [f"{texts.severity_word} {_percent(report.severity_level)}"]
    if report.timestamp is not None:
        ts = report.timestamp
        ts = ts.astimezone(UTC) if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        parts.append(ts.strftime("%Y-%m-%d %H:%M UTC"))
    if report.latitude is not None and report.longitude is not None:
        parts.append(f"{report.latitude:.5f}, {report.longitude:.5f}")
    title = " ".join(report.title.split()) or texts.untitled
    return f"- {title} ({'; '.join(parts)})"


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    link: str = ""  # a URL shown after the text (rendered as a link in HTML)
    item: bool = False  # an evidence list item


def _paragraphs(
    case: DraftCase,
    reports: Sequence[DraftReport],
    *,
    locale: str,
    case_url: str,
    max_evidence: int,
) -> list[list[_Line]]:
    texts = _TEXTS[locale]
    title = localize_title(case.title, locale)
    summary = localize_summary(case.summary, locale) or _fallback_summary(reports)
    ranked = _by_severity(reports)
    shown = ranked[: max(0, max_evidence)]
    paragraphs: list[list[_Line]] = [
        [_Line(texts.greeting)],
        [_Line(texts.intro.format(title=title))],
        [_Line(texts.summary), _Line(summary)],
        [
            _Line(f"{texts.severity} {_percent(case.severity_score)}"),
            _Line(f"{texts.urgency} {_percent(case.urgency_score)}"),
            _Line(f"{texts.linked} {case.linked_count}"),
            _Line(f"{texts.link} ", link=case_url),
        ],
    ]
    if shown:
        evidence = [_Line(texts.evidence)]
        evidence += [_Line(_evidence_line(r, texts), item=True) for r in shown]
        if len(ranked) > len(shown):
            evidence.append(_Line(texts.more.format(n=len(ranked) - len(shown))))
        paragraphs.append(evidence)
    paragraphs += [[_Line(texts.request)], [_Line(texts.sign_off), _Line("CleanApp")]]
    return paragraphs


def _plain(paragraphs: list[list[_Line]]) -> str:
    return "\n\n".join("\n".join(line.text + line.link for line in para) for para in paragraphs)


def _html(paragraphs: list[list[_Line]]) -> str:
    out: list[str] = []
    for para in paragraphs:
        items = [line for line in para if line.item]
        rest = [line for line in para if not line.item]
        rendered = []
        for line in rest:
            text = html.escape(line.text)
            if line.link:
                href = html.escape(line.link, quote=True)
                text += f'<a href="{href}">{html.escape(line.link)}</a>'
            rendered.append(text)
        if items:
            head, tail = rendered[:1], rendered[1:]
            lis = "".join(f"<li>{html.escape(i.text.removeprefix('- '))}</li>" for i in items)
            out.append(f"<p>{'<br>'.join(head)}</p><ul>{lis}</ul>")
            if tail:
                out.append(f"<p>{'<br>'.join(tail)}</p>")
        else:
            out.append(f"<p>{'<br>'.join(rendered)}</p>")
    return "\n".join(out)


def text_to_html(text: str) -> str:
    r"""Render plain text as HTML: escaped, paragraphs on blank lines, ``<br>`` for breaks.

    Examples
    --------
    >>> text_to_html("a < b\n& c\n\n<script>")
    '<p>a &lt; b<br>&amp; c</p>\n<p>&lt;script&gt;</p>'
    """
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "\n".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.strip("\n").split("\n")) + "</p>"
        for p in paragraphs
    )


def build_draft(
    case: DraftCase,
    reports: Sequence[DraftReport] = (),
    *,
    case_url: str,
    emails: Iterable[str] = (),
    locale: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    max_evidence: int = 5,
) -> EscalationDraft:
    """Draft the escalation e-mail of a case.

    Parameters
    ----------
    case : DraftCase
        The case.
    reports : sequence of DraftReport
        Its linked reports (the evidence and the summary fallback).
    case_url : str
        The public case link (``Settings.public_case_url(case_id)``).
    emails : iterable of str
        The recipients (for the locale choice), in target order.
    locale : str, optional
        An explicit locale (:func:`choose_locale`).
    subject, body : str, optional
        Overrides (used trimmed when non-blank); each is independent. An overridden body is
        sent as is, its HTML is the escaped text.
    max_evidence : int, default 5
        Most severe linked reports listed as evidence.

    Returns
    -------
    EscalationDraft
        Subject, plain body, HTML body and the locale.

    Raises
    ------
    ValueError
        When ``locale`` is not supported.

    Examples
    --------
    >>> d = build_draft(
    ...     DraftCase("case_0123456789abcdef01234567", "Incident cluster at Schulhaus Kopfholz",
    ...               "Case created from area scope around Schulhaus Kopfholz.", 1.0, 1.0, 1),
    ...     [DraftReport(1, "Structural crack in concrete wall", severity_level=0.9)],
    ...     case_url="https://www.cleanapp.io/cases/case_0123456789abcdef01234567",
    ...     emails=["schulverwaltung@adliswil.ch"])
    >>> d.subject
    'CleanApp-Meldung: Vorfallcluster bei Schulhaus Kopfholz'
    >>> print(d.body)  # doctest: +NORMALIZE_WHITESPACE
    Guten Tag,
    <BLANKLINE>
    CleanApp hat den Fall „Vorfallcluster bei Schulhaus Kopfholz“ erfasst.
    <BLANKLINE>
    Kurzbeschreibung:
    Der Fall wurde aus einem Bereich rund um Schulhaus Kopfholz erstellt.
    <BLANKLINE>
    Schweregrad: 100%
    Dringlichkeit: 100%
    Verknüpfte Meldungen: 1
    Fall-Link: https://www.cleanapp.io/cases/case_0123456789abcdef01234567
    <BLANKLINE>
    Belege (schwerwiegendste verknüpfte Meldungen):
    - Structural crack in concrete wall (Schweregrad 90%)
    <BLANKLINE>
    Bitte prüfen Sie den Standort und teilen Sie uns kurz mit, welche Schritte eingeleitet
    werden.
    <BLANKLINE>
    Freundliche Grüsse
    CleanApp
    """
    emails = list(emails)
    choice = choose_locale(
        explicit=locale, emails=emails, longitude=case.longitude, latitude=case.latitude
    )
    paragraphs = _paragraphs(
        case, reports, locale=choice.locale, case_url=case_url, max_evidence=max_evidence
    )
    texts_subject = subject.strip() if subject and subject.strip() else ""
    final_subject = texts_subject or (
        _SUBJECT_PREFIX[choice.locale] + localize_title(case.title, choice.locale)
    )
    if body and body.strip():
        final_body = body.strip()
        html_body = text_to_html(final_body)
    else:
        final_body = _plain(paragraphs)
        html_body = _html(paragraphs)
    return EscalationDraft(
        subject=" ".join(final_subject.split()),
        body=final_body,
        html_body=html_body,
        locale=choice.locale,
        locale_source=choice.source,
    )
