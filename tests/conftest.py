from __future__ import annotations

import pytest
from recording_server import RecordingServer

from prellm.providers.testing import clear_recorded


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No model from the developer's environment leaks into a test; recordings start empty."""
    for var in ("PRELLM_SMALL_MODEL", "PRELLM_LARGE_MODEL", "OPENAI_API_KEY", "OPENAI_API_BASE"):
        monkeypatch.delenv(var, raising=False)
    clear_recorded()
    yield
    clear_recorded()


@pytest.fixture
def provider():
    """A recording OpenAI-compatible server on 127.0.0.1 standing in for a remote model."""
    server = RecordingServer().start()
    yield server
    server.stop()


@pytest.fixture
def remote(provider):
    """litellm kwargs that send the large model's calls to the recording server."""
    return {"api_base": provider.url, "api_key": "sk-test-not-a-real-key-0000"}
