"""The case memo as a PDF (fpdf2; the DejaVu fonts that matplotlib ships, so any script prints).

Same sections as the HTML memo (:func:`cleanapp_api.services.memo.memo_html`): title,
metric cards, summary, the map, the evidence table with links to the reports, the
timeline, the targets by role and the deliveries. A4 portrait.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from cleanapp_api.services.memo import Memo, audit_line, metric_cards, short_time

__all__ = ["memo_pdf"]

_FONT: Final = "DejaVu"
_INK: Final = (29, 36, 48)
_MUTED: Final = (86, 96, 110)
_LINE: Final = (213, 219, 227)
_HEADER_FILL: Final = (238, 242, 247)
_TIMELINE_LIMIT: Final = 40


def _time(text: str | None) -> str:
    return short_time(text).removesuffix(" UTC")


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class _MemoPDF(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.footer_text = footer_text
        fonts = _font_dir()
        self.add_font(_FONT, "", str(fonts / "DejaVuSans.ttf"))
        self.add_font(_FONT, "B", str(fonts / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(16, 16, 16)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, f"{self.footer_text} · page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        if self.get_y() > self.h - self.b_margin - 30:  # no heading alone at a page's foot
            self.add_page()
        self.ln(3)
        self.set_font(_FONT, "B", 12.5)
        self.set_text_color(*_INK)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*_LINE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)

    def paragraph(self, text: str, *, size: float = 9.5, muted: bool = False) -> None:
        self.set_font(_FONT, "", size)
        self.set_text_color(*(_MUTED if muted else _INK))
        self.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")


def _cards(pdf: _MemoPDF, cards: list[tuple[str, str]]) -> None:
    width = (pdf.w - pdf.l_margin - pdf.r_margin - 3 * 3) / 4
    top = pdf.get_y()
    for i, (label, value) in enumerate(cards):
        x = pdf.l_margin + i * (width + 3)
        pdf.set_draw_color(*_LINE)
        pdf.rect(x, top, width, 15, round_corners=True, style="D")
        pdf.set_xy(x + 3, top + 1.8)
        pdf.set_font(_FONT, "", 7.5)
        pdf.set_text_color(*_MUTED)
        pdf.cell(width - 6, 4, label)
        pdf.set_xy(x + 3, top + 6.2)
        pdf.set_font(_FONT, "B", 12)
        pdf.set_text_color(*_INK)
        pdf.cell(width - 6, 7, value)
    pdf.set_xy(pdf.l_margin, top + 18)


def memo_pdf(memo: Memo) -> bytes:
    """Render the memo as an A4 PDF.

    Parameters
    ----------
    memo : Memo
        From :func:`cleanapp_api.services.memo.build_memo`.

    Returns
    -------
    bytes
        The PDF document.
    """
    d = memo.detail
    case = d.case
    pdf = _MemoPDF(f"Case memo {case.case_id}")
    pdf.set_title(f"Case memo: {case.title}")
    pdf.set_author("CleanApp Cases")
    pdf.add_page()
    pdf.set_font(_FONT, "B", 17)
    pdf.set_text_color(*_INK)
    pdf.multi_cell(0, 8, case.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.paragraph(
        f"Case {case.case_id} · {case.classification} · updated {short_time(case.updated_at)}",
        size=8.5,
        muted=True,
    )
    pdf.set_font(_FONT, "", 8.5)
    pdf.set_text_color(0, 84, 166)
    pdf.cell(0, 5, memo.case_url, link=memo.case_url, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _cards(pdf, metric_cards(d))
    pdf.heading("Summary")
    pdf.paragraph(case.summary or "No summary yet.")
    pdf.heading("Map of the linked reports")
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.image(io.BytesIO(memo.map_png), x=pdf.l_margin, w=width)
    pdf.heading("Evidence")
    heading = FontFace(emphasis="BOLD", fill_color=_HEADER_FILL)
    pdf.set_font(_FONT, "", 8)
    pdf.set_text_color(*_INK)
    pdf.set_draw_color(*_LINE)
    with pdf.table(
        col_widths=(31, 17, 78, 29, 23), headings_style=heading, line_height=4.6,
        text_align="LEFT", borders_layout="HORIZONTAL_LINES",
    ) as table:  # fmt: skip
        table.row(("Time (UTC)", "Severity", "Title", "Link reason", "Photo"))
        for r in d.linked_reports:
            row = table.row()
            row.cell(_time(r.report_timestamp))
            row.cell(f"{r.severity_level:.2f}")
            row.cell(r.title)
            row.cell(r.link_reason.replace("_", " "))
            row.cell(f"report {r.seq}", link=memo.report_urls[r.seq])
    pdf.heading("Timeline")
    events = d.audit_events[-_TIMELINE_LIMIT:]
    if events:
        pdf.set_font(_FONT, "", 8)
        with pdf.table(
            col_widths=(31, 147), line_height=4.6, text_align="LEFT", first_row_as_headings=False,
            borders_layout="HORIZONTAL_LINES",
        ) as table:  # fmt: skip
            for event in events:
                who = f" by {event.actor_user_id}" if event.actor_user_id else ""
                table.row((_time(event.created_at), f"{audit_line(event)}{who}"))
    else:
        pdf.paragraph("No events.", muted=True)
    pdf.heading("Escalation targets")
    for role, group in memo.targets_by_role:
        pdf.set_font(_FONT, "B", 9)
        pdf.cell(0, 5.5, role.replace("_", " "), new_x="LMARGIN", new_y="NEXT")
        for t in group:
            contact = t.email or t.website or t.phone or ""
            who = t.organization or t.display_name or ""
            pdf.paragraph(f"  {who} <{contact}> (confidence {t.confidence_score:.2f})", size=8.5)
    if not memo.targets_by_role:
        pdf.paragraph("No targets.", muted=True)
    pdf.heading("Deliveries")
    if d.email_deliveries:
        pdf.set_font(_FONT, "", 8)
        with pdf.table(
            col_widths=(70, 25, 30, 43), headings_style=heading, line_height=4.6,
            text_align="LEFT", borders_layout="HORIZONTAL_LINES",
        ) as table:  # fmt: skip
            table.row(("Recipient", "State", "Provider", "Sent (UTC)"))
            for x in d.email_deliveries:
                table.row((x.recipient_email, x.delivery_status, x.provider, _time(x.sent_at)))
    else:
        pdf.paragraph("Nothing sent yet.", muted=True)
    return bytes(pdf.output())
