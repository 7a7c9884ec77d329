"""The case memo: ``GET /cases/{case_id}/memo.html`` and ``/memo.pdf`` (bearer token)."""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from litestar import Controller, Response, get
from litestar.params import FromPath

from cleanapp_api.auth import BEARER_SECURITY, requires_auth
from cleanapp_api.dependencies import AppSettings, DbEngine
from cleanapp_api.errors import error_responses
from cleanapp_api.services.memo import case_memo, memo_html
from cleanapp_api.services.memo_pdf import memo_pdf

__all__ = ["MemoController"]

_GUARDS = [requires_auth]
_DESCRIPTION = (
    "Title, status and metric cards, summary, a map of the linked reports over the case "
    "outline (rendered on the server), the evidence table with links to the reports, the "
    "timeline, the escalation targets by role and the deliveries. 404 `case not found`."
)


class MemoController(Controller):
    """The case memo, as a page and as a PDF."""

    path = "/cases/{case_id:str}"
    tags = ("cases",)

    @get(
        "/memo.html",
        summary="Case memo (HTML)",
        description=_DESCRIPTION,
        guards=_GUARDS,
        security=BEARER_SECURITY,
        media_type="text/html",
        responses=error_responses(404, auth=True),
    )
    async def memo_page(
        self, case_id: FromPath[str], db_engine: DbEngine, settings: AppSettings
    ) -> Response[str]:
        """Return the case memo as one self-contained HTML page."""
        memo = await anyio.to_thread.run_sync(partial(case_memo, db_engine, settings, case_id))
        return Response(memo_html(memo), media_type="text/html; charset=utf-8")

    @get(
        "/memo.pdf",
        summary="Case memo (PDF)",
        description=_DESCRIPTION,
        guards=_GUARDS,
        security=BEARER_SECURITY,
        media_type="application/pdf",
        responses=error_responses(404, auth=True),
    )
    async def memo_document(
        self, case_id: FromPath[str], db_engine: DbEngine, settings: AppSettings
    ) -> Response[bytes]:
        """Return the case memo as an A4 PDF (a download)."""

        def render() -> tuple[bytes, str]:
            memo = case_memo(db_engine, settings, case_id)
            return memo_pdf(memo), memo.filename_stem

        document, stem = await anyio.to_thread.run_sync(render)
        return Response(
            document,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{stem}.pdf"'},
        )
