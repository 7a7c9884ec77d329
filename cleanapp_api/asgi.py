"""ASGI entry point for servers: ``uvicorn cleanapp_api.asgi:app`` (reads the environment)."""

from __future__ import annotations

from cleanapp_api.app import create_app

app = create_app()
