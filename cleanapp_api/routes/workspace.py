"""The case workspace: the web pages the service serves under ``/app/``.

The pages are static files (``cleanapp_api/workspace/static``: our HTML, script and style,
plus the front-end libraries that ``scripts/setup_web.sh`` vendors from npm with the
lockfile), so nothing is fetched from a CDN at run time. The pages call the JSON API
(``/api/v4``) with the bearer token the person signed in with. ``GET /app/config.json``
tells them the API prefix and the basemap (``WORKSPACE_TILE_URL``; empty: no basemap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from litestar import Response, get
from litestar.static_files import create_static_files_router

from cleanapp_api.dependencies import AppSettings
from cleanapp_api.settings import Settings
from cleanapp_geo.cases import ASSIGNABLE_STATUSES, STATUS_TRANSITIONS

__all__ = ["STATIC_DIR", "WORKSPACE_PATH", "workspace_content_security_policy", "workspace_routes"]

WORKSPACE_PATH: Final = "/app"
STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "workspace" / "static"
API_BASE: Final = "/api/v4"


def workspace_content_security_policy(settings: Settings) -> str:
    """Build the pages' Content-Security-Policy: our origin only, plus the tile server's images.

    Parameters
    ----------
    settings : Settings
        Supplies ``workspace_tile_url``.

    Returns
    -------
    str
        The header value.

    Examples
    --------
    >>> s = Settings(database_url="postgresql+psycopg:///x", jwt_secret="k",
    ...              workspace_tile_url="https://tiles.example.org/{z}/{x}/{y}.png")
    >>> workspace_content_security_policy(s).split("; ")[1]
    "img-src 'self' data: blob: https://tiles.example.org"
    """
    images = "'self' data: blob:"
    if settings.workspace_tile_url:
        parts = urlsplit(settings.workspace_tile_url.replace("{s}", "a"))
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        f"img-src {images}; "
        "style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


@get(f"{WORKSPACE_PATH}/config.json", include_in_schema=False)
async def workspace_config(settings: AppSettings) -> Response[dict[str, Any]]:
    """Answer the pages' configuration: the API prefix, the basemap, the status lifecycle."""
    return Response(
        {
            "api_base": API_BASE,
            "tile_url": settings.workspace_tile_url,
            "tile_attribution": settings.workspace_tile_attribution,
            "statuses": list(ASSIGNABLE_STATUSES),
            "status_transitions": {k: list(v) for k, v in STATUS_TRANSITIONS.items()},
        },
        headers={"Cache-Control": "no-store"},
    )


def workspace_routes(settings: Settings) -> list[Any]:
    """List the workspace's route handlers: its configuration and its static files.

    Parameters
    ----------
    settings : Settings
        Decides the pages' Content-Security-Policy.

    Returns
    -------
    list
        Handlers to mount at the application's root.
    """
    policy = workspace_content_security_policy(settings)

    async def add_policy(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = policy
        return response

    static = create_static_files_router(
        path=WORKSPACE_PATH,
        directories=[STATIC_DIR],
        html_mode=True,
        name="workspace",
        after_request=add_policy,
    )
    return [workspace_config, static]
