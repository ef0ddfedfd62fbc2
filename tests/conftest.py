from __future__ import annotations

import pytest
from recording_server import RecordingServer

from prellm.providers.testing import clear_recorded


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No model from the developer's environment leaks into a test; recordings start empty."""
    for var in (
        "PRELLM_SMALL_MODEL",
        "PRELLM_LARGE_MODEL",
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "PRELLM_MONTHLY_BUDGET",
        "PRELLM_DAILY_BUDGET",
        "PRELLM_LOG_LEVEL",
        "PRELLM_NO_LEDGER",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRELLM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PRELLM_TRACE_DIR", str(tmp_path / "traces"))
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


@pytest.fixture
def serve():
    """Start ``prellm serve``'s app with uvicorn on 127.0.0.1; returns its /v1 base URL."""
    import socket
    import threading
    import time

    import uvicorn

    from prellm.server import ServerSettings, create_app

    servers = []

    def start(**settings):
        app = create_app(ServerSettings(**settings))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)
