"""The OpenAI-compatible proxy: ``prellm serve``. Needs the ``server`` extra (FastAPI, uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import ServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServerSettings", "create_app"]


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    from .app import create_app as _create

    return _create(settings)
