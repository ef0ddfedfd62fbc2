from __future__ import annotations

import ipaddress
import socket

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


class NetworkBlocked(OSError):
    """A test tried to reach a real remote provider: only 127.0.0.1 is allowed in tests."""


BLOCKED: list[str] = []  # what tests tried to reach, for the test of this guard


def _loopback(host: object) -> bool:
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_remote_providers(monkeypatch):
    """Any connection beyond 127.0.0.1 fails: a test never calls a real remote provider.

    The recording server (``provider``) listens on 127.0.0.1, so a test that wants an
    upstream asks for it; everything else (a default OpenAI URL, a typo'd host) fails.
    """
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(host: object) -> None:
        BLOCKED.append(str(host))
        raise NetworkBlocked(f"network access to {host} is blocked in tests (only 127.0.0.1)")

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            refuse(address[0])
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            refuse(address[0])
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


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
        deadline = time.monotonic() + 60  # a loaded machine imports litellm slowly
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project directory as the cwd, with no user-level config."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRELLM_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture
def upstream(provider, monkeypatch):
    """The recording server as the OpenAI-compatible upstream litellm calls."""
    monkeypatch.setenv("OPENAI_API_BASE", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret-0000")
    return provider
