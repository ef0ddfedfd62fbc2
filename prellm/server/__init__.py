"""The OpenAI-compatible proxy: ``prellm serve``. Needs the ``server`` extra (FastAPI, uvicorn)."""

from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def create_app(settings: ServerSettings | None = None):  # noqa: ANN201 - FastAPI is optional
    from .app import create_app as _create

    return _create(settings)
