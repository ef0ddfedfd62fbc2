"""``prellm serve`` beyond loopback: keys or an explicit ``--no-auth``, else exit 2 in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from prellm.cli import serve as serve_mod
from prellm.cli.main import cli

AUTH_VARS = (
    "PRELLM_API_KEYS",
    "PRELLM_API_KEYS_FILE",
    "PRELLM_MASTER_KEY",
    "PRELLM_SERVER_SETTINGS",
)
MODELS = ["--small", "test/echo", "--large", "test/echo", "--strategy", "passthrough"]


@pytest.fixture
def started(monkeypatch):
    """Replaces uvicorn: records (host, port) instead of serving."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(
        serve_mod, "_run", lambda host, port, workers, verbose: calls.append((host, port))
    )
    _clean_env(monkeypatch)
    return calls


def _clean_env(monkeypatch):
    """No keys from outside; and what ``serve`` puts in os.environ is undone after the test."""
    for var in AUTH_VARS:
        monkeypatch.setenv(var, "")  # records the original value for teardown
        monkeypatch.delenv(var)


def _serve(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["serve", *MODELS, *args], env=env)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "prellm.example"])
def test_a_public_host_without_keys_is_refused(started, host):
    r = _serve("--host", host)
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert "\n" not in err and "refusing to serve" in err and "--no-auth" in err
    assert started == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_needs_no_keys(started, host):
    r = _serve("--host", host)
    assert r.exit_code == 0, r.stderr
    assert started == [(host, 8080)]


def test_keys_from_the_environment_allow_a_public_host(started):
    r = _serve("--host", "0.0.0.0", env={"PRELLM_API_KEYS": "k-1,k-2"})
    assert r.exit_code == 0, r.stderr
    assert "auth on (2 key(s))" in r.stderr and "k-1" not in r.stderr
    assert started == [("0.0.0.0", 8080)]


def test_a_keys_file_allows_a_public_host(started, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("k-file\n")
    r = _serve("--host", "0.0.0.0", "--api-keys-file", str(keys))
    assert r.exit_code == 0, r.stderr
    assert started == [("0.0.0.0", 8080)]


def test_an_empty_keys_file_is_no_auth(started, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# nobody yet\n")
    r = _serve("--host", "0.0.0.0", "--api-keys-file", str(keys))
    assert r.exit_code == 2 and "refusing to serve" in r.stderr


def test_a_master_key_allows_a_public_host(started):
    r = _serve("--host", "0.0.0.0", env={"PRELLM_MASTER_KEY": "mk-1"})
    assert r.exit_code == 0, r.stderr
    assert "mk-1" not in r.stderr


def test_a_blank_master_key_is_no_key(started):
    r = _serve("--host", "0.0.0.0", env={"PRELLM_MASTER_KEY": "  "})
    assert r.exit_code == 2 and "refusing to serve" in r.stderr


def test_no_auth_must_be_explicit_and_is_said(started):
    r = _serve("--host", "0.0.0.0", "--no-auth")
    assert r.exit_code == 0, r.stderr
    assert "no auth" in r.stderr
    assert started == [("0.0.0.0", 8080)]


def test_no_auth_with_keys_is_a_contradiction(started):
    r = _serve("--host", "0.0.0.0", "--no-auth", env={"PRELLM_API_KEYS": "k-1"})
    assert r.exit_code == 2 and "--no-auth" in r.stderr and "k-1" not in r.stderr
    assert started == []


def test_the_real_command_exits_2_with_one_line(monkeypatch):
    _clean_env(monkeypatch)
    r = subprocess.run(
        [sys.executable, "-m", "prellm", "serve", "--host", "0.0.0.0", "--port", "1", *MODELS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("prellm: error: refusing to serve")
