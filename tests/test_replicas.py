"""Two ``prellm serve`` processes on one PostgreSQL share keys, budgets and rate limits
exactly. The two servers start once for the module (each start imports litellm)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from recording_server import RecordingServer
from test_backends_fixtures import NO_PG, PG_URL, drop_schema, new_schema, with_schema

from prellm.providers import cost_of
from prellm.store import BudgetTracker

PRICED = "openai/gpt-4o-mini"
MASTER = "mk-replicas-master-0000"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    def __init__(self, provider_url: str, extra_env: dict[str, str]) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log: list[str] = []
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PRELLM_MASTER_KEY": MASTER,
            "OPENAI_API_BASE": provider_url,
            "OPENAI_API_KEY": "sk-upstream-0000",
            **extra_env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prellm", "serve", "--port", str(self.port), "-v"]
            + ["--small", "test/echo", "--large", PRICED, "--strategy", "passthrough"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "ready" in line:
                self.ready.set()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not PG_URL:
        pytest.skip(NO_PG)
    schema = new_schema()
    env = {
        "PRELLM_DATABASE_URL": with_schema(PG_URL, schema),
        "PRELLM_DATA_DIR": str(tmp_path_factory.mktemp("replicas")),
    }
    upstream = RecordingServer().start()
    servers = [Replica(upstream.url, env), Replica(upstream.url, env)]
    try:
        for s in servers:
            assert s.ready.wait(90), "".join(s.log)
        yield servers, upstream, env["PRELLM_DATABASE_URL"]
    finally:
        for s in servers:
            s.stop()
        upstream.stop()
        drop_schema(schema)


@pytest.fixture
def replicas(cluster, monkeypatch):
    servers, upstream, url = cluster
    monkeypatch.setenv("PRELLM_DATABASE_URL", url)  # this process reads the same store
    upstream.requests.clear()
    upstream.usage = RecordingServer().usage
    return servers


@pytest.fixture
def provider(cluster):
    return cluster[1]


def _chat(url: str, key: str, model: str = "prellm:default", **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=60)


def _admin(url: str, method: str, path: str, **kw: object) -> httpx.Response:
    base = url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {MASTER}"}
    return httpx.request(method, f"{base}{path}", headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def _burst(replicas: list[Replica], key: str, n: int, **extra: object) -> list[httpx.Response]:
    """``n`` concurrent requests, alternately to each replica."""
    with ThreadPoolExecutor(n) as pool:
        futures = [
            pool.submit(_chat, replicas[i % len(replicas)].url, key, **extra) for i in range(n)
        ]
        return [f.result() for f in futures]


def test_two_replicas_share_a_budget_and_a_rate_limit_exactly(replicas, provider):
    a, b = replicas
    provider.usage = {"prompt_tokens": 40, "completion_tokens": 1000}
    budget = 0.005
    r = _admin(
        a.url, "POST", "/admin/keys", json={"name": "shared", "budget_usd": budget, "rpm": 10}
    )
    key = r.json()["key"]

    results = _burst(replicas, key, 40, max_tokens=1000)
    codes = [r.status_code for r in results]
    accepted = codes.count(200)
    assert set(codes) <= {200, 402, 429} and 1 <= accepted <= 10, codes
    assert all(r.headers.get("Retry-After") for r in results if r.status_code == 429)
    assert len(provider.requests) == accepted  # no refused request reached the upstream
    one_reservation = cost_of(PRICED, 2000, 1000) or 0.0  # an upper bound of one request's hold
    spend = _admin(b.url, "GET", "/admin/spend").json()
    spent = next(k["spent_usd"] for k in spend["keys"] if k["id"] == r.json()["id"])
    assert 0 < spent <= budget + one_reservation
    with BudgetTracker().read() as tx:
        ledger = tx.scalar("SELECT SUM(cost_usd) FROM calls WHERE key_id = ?", (r.json()["id"],))
    assert spent == pytest.approx(ledger)

    # A rate limit alone: exactly rpm requests in the minute, across both replicas.
    provider.requests.clear()
    r = _admin(b.url, "POST", "/admin/keys", json={"name": "rated", "rpm": 10})
    rated = r.json()["key"]
    results = _burst(replicas, rated, 40)
    codes = [r.status_code for r in results]
    assert codes.count(200) == 10 and codes.count(429) == 30, codes
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in results if r.status_code == 429)
    assert len(provider.requests) == 10

    logs = "".join(a.log + b.log)
    assert "POST /v1/chat/completions" in logs  # the access log was on
    assert logs.count("state store: postgresql") == 2 and ":***@" in logs
    for secret in (key, rated, key.split("-", 2)[2], rated.split("-", 2)[2], MASTER):
        assert secret not in logs


def test_revoked_expired_and_model_limited_keys_on_every_replica(replicas, provider):
    a, b = replicas
    r = _admin(a.url, "POST", "/admin/keys", json={"name": "mini", "models": ["gpt-4o-mini"]})
    key, key_id = r.json()["key"], r.json()["id"]
    assert [_chat(s.url, key).status_code for s in replicas] == [200, 200]
    for s in replicas:
        r = _chat(s.url, key, model="prellm:test/echo->openai/gpt-4o")
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
    assert len(provider.requests) == 2

    assert _admin(b.url, "POST", f"/admin/keys/{key_id}/revoke").status_code == 200
    for s in replicas:  # at once: no cache to wait out
        r = _chat(s.url, key)
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]

    other = _admin(a.url, "POST", "/admin/keys", json={"name": "temp"}).json()
    assert _chat(b.url, other["key"]).status_code == 200
    past = time.time() - 1
    assert (
        _admin(b.url, "PATCH", f"/admin/keys/{other['id']}", json={"expires": past}).status_code
        == 200
    )
    for s in replicas:
        r = _chat(s.url, other["key"])
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert len(provider.requests) == 3
