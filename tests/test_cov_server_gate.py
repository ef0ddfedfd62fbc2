"""The server's gate and its operational endpoints, in process (``TestClient``): Host and
key headers, body limits, a state store that cannot be opened, the admin API's teams,
/metrics, readiness, upstream errors and the app's start-up checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from prellm.server import ServerSettings, create_app
from prellm.server.app import app_from_env
from prellm.server.metrics import Metrics

MASTER = "mk-test-master-0000"
M = {"Authorization": f"Bearer {MASTER}"}
VIRTUAL = "pk-0123456789ab-" + "x" * 30  # well formed, in no store
ECHO = {"small": "test/echo", "large": "test/echo", "strategy": "passthrough"}
CHAT = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def app():
    clients: list[TestClient] = []

    def make(base_url: str = "http://127.0.0.1", **settings: object) -> TestClient:
        client = TestClient(create_app(ServerSettings(**settings)), base_url=base_url).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def broken_store(tmp_path, monkeypatch):
    """The data directory is a file: the state store cannot be opened."""
    (tmp_path / "not-a-dir").write_text("x")
    monkeypatch.setenv("PRELLM_DATA_DIR", str(tmp_path / "not-a-dir"))


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    return str(err["message"])


# --- Host and key headers ---------------------------------------------------------------


def test_any_host_header_is_accepted_on_a_public_bind_without_allowed_hosts(app):
    client = app(base_url="http://prellm.internal.example", host="0.0.0.0", **ECHO)
    r = client.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "hi"


def test_two_host_headers_are_refused(app):
    client = app(**ECHO)
    r = client.post(
        "/v1/chat/completions",
        json=CHAT,
        headers=[("host", "127.0.0.1"), ("host", "evil.example")],
    )
    _error(r, 400, "invalid_host")


def test_an_anthropic_key_header_with_another_key_header_is_refused(app):
    client = app(api_keys=["k-one"], **ECHO)
    both = {"Authorization": "Bearer k-one", "x-api-key": "k-one"}
    r = client.post("/v1/chat/completions", json=CHAT, headers=both)
    assert "more than one API key header" in _error(r, 400, "invalid_request")
    twice = [("x-api-key", "k-one"), ("x-api-key", "k-one")]
    r = client.post("/v1/chat/completions", json=CHAT, headers=twice)
    _error(r, 400, "invalid_request")


def test_an_x_api_key_header_authenticates_like_a_bearer_key(app):
    client = app(api_keys=["k-claude"], **ECHO)
    body = {
        "model": "prellm:default",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello"}],
    }
    r = client.post("/v1/messages", json=body, headers={"x-api-key": "k-claude"})
    assert r.status_code == 200 and r.json()["content"][0]["text"] == "hello"
    r = client.post("/v1/messages", json=body, headers={"x-api-key": "k-wrong"})
    assert r.status_code == 401  # in Anthropic's shape, on Anthropic's endpoint
    assert r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "authentication_error"


def test_a_body_streamed_past_the_limit_without_a_length_gets_413(app):
    client = app(max_body_bytes=2000, **ECHO)
    big = json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}).encode()
    chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))  # chunked: no Content-Length
    r = client.post(
        "/v1/chat/completions", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert "over 2000 bytes" in _error(r, 413, "request_too_large")


def test_a_lone_surrogate_in_a_key_is_refused(app):
    client = app(**ECHO)
    raw = (
        '{"model": "prellm:default", "messages": [{"role": "user", "content": "hi", "\\ud800": 1}]}'
    )
    r = client.post(
        "/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"}
    )
    assert "surrogate" in _error(r, 400, "invalid_request")


def test_a_json_schema_response_format_needs_a_name(app):
    client = app(**ECHO)
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}
    r = client.post("/v1/chat/completions", json=body)
    assert "json_schema" in _error(r, 400, "invalid_request")


# --- without a state store, or with one that cannot be opened ------------------------


def test_without_a_ledger_no_key_is_needed_and_readiness_says_no_store(app, monkeypatch):
    monkeypatch.setenv("PRELLM_NO_LEDGER", "1")
    client = app(**ECHO)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    r = client.get("/health/readiness")
    assert r.status_code == 200
    assert {"store": "none", "ok": True, "detail": "PRELLM_NO_LEDGER: no state store"} in r.json()[
        "checks"
    ]
    text = client.get("/metrics").text  # no team gauges without a store
    assert 'prellm_requests_total{route="/v1/chat/completions"' in text
    assert "prellm_team_spend_usd" not in text


def test_a_store_that_cannot_be_opened_fails_closed(app, broken_store):
    client = app(**ECHO)
    # Whether virtual keys exist cannot be told: a request without a key is refused.
    r = client.post("/v1/chat/completions", json=CHAT)
    assert "missing API key" in _error(r, 401, "invalid_api_key")


def test_a_store_that_cannot_be_opened_is_a_503_for_virtual_keys_and_not_ready(
    app, broken_store, monkeypatch
):
    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    client = app(**ECHO)
    r = client.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {VIRTUAL}"}
    )
    assert "cannot open" in _error(r, 503, "state_store_unavailable")
    r = client.get("/health/readiness", headers=M)
    assert r.status_code == 503 and r.json()["status"] == "not ready"
    store = next(c for c in r.json()["checks"] if "store" in c)
    assert store["ok"] is False and "cannot open" in store["detail"]
    r = client.get("/metrics", headers=M)  # still answers, without the team gauges' values
    assert r.status_code == 200 and "prellm_team_spend_usd{" not in r.text


# --- the admin API's teams, and their gauges -------------------------------------------


def test_admin_teams_list_get_patch_and_refusals(app, monkeypatch):
    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    client = app(**ECHO)
    ml = client.post("/admin/teams", json={"name": "ml", "budget_usd": 2}, headers=M).json()
    web = client.post("/admin/teams", json={"name": "web"}, headers=M).json()
    listed = client.get("/admin/teams", headers=M).json()
    assert listed["object"] == "list" and {t["name"] for t in listed["data"]} == {"ml", "web"}
    assert client.get("/admin/teams/ml", headers=M).json()["id"] == ml["id"]
    assert client.get(f"/admin/teams/{web['id']}", headers=M).json()["name"] == "web"
    _error(client.get("/admin/teams/nope", headers=M), 404, "not_found")
    _error(client.patch("/admin/teams/nope", json={"rpm": 5}, headers=M), 404, "not_found")

    r = client.patch("/admin/teams/ml", json={"rpm": 30, "budget_usd": 3}, headers=M)
    assert r.status_code == 200 and (r.json()["rpm"], r.json()["budget_usd"]) == (30, 3)
    r = client.patch("/admin/teams/ml", json={}, headers=M)  # nothing to change
    assert r.status_code == 200 and r.json()["rpm"] == 30
    r = client.patch("/admin/teams/ml", json={"name": "web"}, headers=M)
    assert "exists" in _error(r, 400, "invalid_request")
    assert client.get("/admin/teams/ml", headers=M).status_code == 200  # not renamed

    text = client.get("/metrics", headers=M).text
    assert 'prellm_team_budget_remaining_usd{team="ml"} 3.0' in text
    assert 'prellm_team_spend_usd{team="web"} 0.0' in text
    assert 'prellm_team_budget_remaining_usd{team="web"}' not in text  # no budget, no gauge


def test_metrics_need_the_master_key_not_a_client_key(app, monkeypatch):
    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    client = app(api_keys=["k-one"], **ECHO)
    r = client.get("/metrics", headers={"Authorization": "Bearer k-one"})
    assert "master key" in _error(r, 403, "admin_only")
    assert client.get("/metrics", headers=M).status_code == 200


def test_a_scrape_adds_up_what_every_worker_process_wrote(tmp_path, monkeypatch):
    prom = tmp_path / "prom"
    prom.mkdir()
    worker = (
        "from prellm.server.metrics import Metrics\n"
        "m = Metrics()\n"
        "for _ in range(3): m.record('/v1/chat/completions', 200, 0.1, None, None)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=120)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prom))
    text = Metrics().exposition().decode()  # the scraping process counted nothing itself
    line = 'prellm_requests_total{route="/v1/chat/completions",status="200",strategy="none",team="none"}'
    assert f"{line} 6.0" in text


def test_a_request_refused_before_routing_is_counted_under_other(app):
    client = app(api_keys=["k-one"], metrics_public=True, **ECHO)
    assert client.get("/no/such/path").status_code == 401
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 401
    text = client.get("/metrics").text
    assert 'prellm_requests_total{route="other",status="401"' in text
    assert 'prellm_requests_total{route="/v1/chat/completions",status="401"' in text


# --- upstream errors, readiness, start-up -----------------------------------------------


def test_an_upstream_400_is_the_clients_and_an_upstream_401_is_the_proxys(app, upstream):
    client = openai.OpenAI(
        base_url="http://127.0.0.1/v1",
        api_key="unused",
        max_retries=0,
        http_client=app(strategy="passthrough"),
    )
    pair = "prellm:test/echo->openai/big-model"
    msgs = [{"role": "user", "content": "hi"}]
    upstream.responder = lambda body: (400, "max_tokens is too large")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=pair, messages=msgs)
    assert bad.value.code == "upstream_bad_request"
    upstream.responder = lambda body: (401, "Incorrect API key provided")
    with pytest.raises(openai.APIStatusError) as auth:
        client.chat.completions.create(model=pair, messages=msgs)
    assert auth.value.status_code == 502 and auth.value.code == "upstream_auth_failed"


def test_an_upstream_429_is_a_429_and_a_slow_upstream_a_504(app, upstream):
    body = {
        "model": "prellm:test/echo->openai/big-model",
        "messages": [{"role": "user", "content": "hi"}],
    }
    upstream.responder = lambda body: (429, "Rate limit reached, try again later")
    r = app(strategy="passthrough").post("/v1/chat/completions", json=body)
    _error(r, 429, "upstream_rate_limited")
    client = app(strategy="passthrough", upstream_timeout_s=1)
    upstream.responder = lambda body: time.sleep(3) or "too late"
    r = client.post("/v1/chat/completions", json=body)
    _error(r, 504, "upstream_timeout")


def test_completions_are_refused_past_the_budget_and_attributed_to_the_key(
    app, upstream, monkeypatch
):
    monkeypatch.setenv("PRELLM_MONTHLY_BUDGET", "0.0000001")
    client = app(api_keys=["k-one"], small="test/echo", large="openai/gpt-4o-mini")
    body = {"model": "openai/gpt-4o-mini", "prompt": "Once upon a time", "max_tokens": 500}
    r = client.post("/v1/completions", json=body, headers={"Authorization": "Bearer k-one"})
    assert "budget" in _error(r, 402, "budget_exceeded").lower()
    assert upstream.requests == []  # refused before anything was sent


def test_readiness_reports_a_configuration_that_resolves_no_models(app, tmp_path):
    bad = tmp_path / "prellm.yaml"
    bad.write_text("small_model: [unclosed\n")
    client = app(config=str(bad))
    r = client.get("/health/readiness")
    assert r.status_code == 503
    check = r.json()["checks"][0]
    assert check["model"] is None and check["ok"] is False and check["detail"]


def test_models_list_the_default_large_model_and_openapi_is_built_once(app):
    client = app(small="test/echo", large="openai/big-model")
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["prellm:default", "prellm:openai/big-model"]
    assert client.get("/v1/models/prellm:openai/big-model").json()["owned_by"] == "prellm"
    first = client.get("/openapi.json").json()
    assert client.get("/openapi.json").json() == first
    assert "404" in first["paths"]["/v1/models/{model_id}"]["get"]["responses"]


def test_cors_preflight_answers_for_a_configured_origin(app):
    client = app(cors_origins=["https://app.example"], api_keys=["k-one"], **ECHO)
    r = client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = client.post(
        "/v1/chat/completions",
        json=CHAT,
        headers={"Origin": "https://app.example", "Authorization": "Bearer k-one"},
    )
    assert r.headers["access-control-allow-origin"] == "https://app.example"


def test_a_worker_with_a_bad_database_url_exits_with_the_reason(monkeypatch):
    monkeypatch.setenv("PRELLM_DATABASE_URL", "mysql://db.example/prellm")
    with pytest.raises(SystemExit) as exc:
        app_from_env()
    assert str(exc.value) == (
        "prellm: error: PRELLM_DATABASE_URL: expected postgresql://... or sqlite:///..."
    )


def test_worker_settings_keep_their_own_api_keys(monkeypatch):
    monkeypatch.setenv("PRELLM_SERVER_SETTINGS", json.dumps({"api_keys": ["k-from-settings"]}))
    monkeypatch.setenv("PRELLM_API_KEYS", "k-from-env")
    settings = ServerSettings.from_env()
    assert [k.get_secret_value() for k in settings.api_keys] == ["k-from-settings"]
