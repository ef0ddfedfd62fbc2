"""``prellm serve`` as a real process: binds 127.0.0.1, prints its URL and a ready line, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, *args: str, **env: str) -> subprocess.Popen:
    """``prellm serve`` on test/echo with passthrough, stderr piped for its status lines."""
    return subprocess.Popen(
        [sys.executable, "-m", "prellm", "serve", "--port", str(port), "--small", "test/echo"]
        + ["--large", "test/echo", "--strategy", "passthrough", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )


def test_serve_starts_answers_and_stops_on_sigterm(tmp_path, provider):
    port = _free_port()
    keys = tmp_path / "keys"
    keys.write_text("# one key per line\nk-123\n")
    proc = _serve(
        port,
        "--api-keys-file",
        str(keys),
        OPENAI_API_BASE=provider.url,
        OPENAI_API_KEY="sk-up",
    )
    try:
        first = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}/v1" in first and "auth on (1 key(s))" in first
        assert "k-123" not in first
        assert "ready" in proc.stderr.readline()
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"Authorization": "Bearer k-123"},
            json={"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hi"

        # A request in flight when SIGTERM arrives still gets its answer.
        import threading

        def slow(body):
            time.sleep(1.5)
            return "finished in flight"

        provider.responder = slow
        answers = []
        t = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    headers={"Authorization": "Bearer k-123"},
                    json={
                        "model": "prellm:test/echo->openai/up",
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    timeout=30,
                )
            )
        )
        t.start()
        deadline = time.monotonic() + 20
        while not provider.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert provider.requests, "the upstream never saw the in-flight request"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    t.join(30)
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest and "stopped" in rest
    assert answers[0].status_code == 200
    assert answers[0].json()["choices"][0]["message"]["content"] == "finished in flight"


def test_serve_rejects_a_bad_alias_with_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "prellm", "serve", "--alias", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "NAME=SMALL->LARGE" in r.stderr


def test_serve_reports_an_unreadable_keys_file_with_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "prellm", "serve", "--api-keys-file", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot read API keys file" in r.stderr


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def test_workers_share_the_keys_without_copying_them_into_the_environment(tmp_path):
    port = _free_port()
    keys = tmp_path / "keys"
    keys.write_text("k-worker-secret\n")
    proc = _serve(port, "--workers", "2", "--api-keys-file", str(keys))
    try:
        assert "auth on (1 key(s))" in proc.stderr.readline()
        assert "ready" in proc.stderr.readline() and "ready" in proc.stderr.readline()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(6):  # a new connection each time: both workers answer
            assert httpx.post(url, json=body, timeout=30).status_code == 401
            r = httpx.post(
                url, json=body, headers={"Authorization": "Bearer k-worker-secret"}, timeout=30
            )
            assert r.status_code == 200, r.text
        workers = _children(proc.pid)
        assert len(workers) >= 2
        for pid in [proc.pid, *workers]:
            assert b"k-worker-secret" not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
