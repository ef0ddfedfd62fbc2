"""Virtual keys and teams: lifecycle (CLI and admin API), authentication, model allow-lists,
budgets and the sliding-window rate limits, on both state backends."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from click.testing import CliRunner
from test_backends_fixtures import backend  # noqa: F401 - the fixture

from prellm.cli.main import cli
from prellm.errors import BudgetExceededError, ConfigError
from prellm.store import BudgetTracker
from prellm.store.errors import RateLimitedError
from prellm.store.ratelimit import WINDOW_S

PRICED = "openai/gpt-4o-mini"
MASTER = "mk-test-master-0000"


def registry():
    return BudgetTracker().keys


def chat(model: str = "prellm:test/echo->openai/gpt-4o-mini", content: str = "hi") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


# --- lifecycle over the CLI ------------------------------------------------------------


def test_key_lifecycle_over_the_cli(backend):  # noqa: F811
    run = CliRunner().invoke
    r = run(cli, ["teams", "create", "--name", "ml", "--budget", "2", "--rpm", "100"])
    assert r.exit_code == 0, r.output
    team_id = r.stdout.strip()
    r = run(
        cli,
        ["keys", "create", "--name", "ci", "--team", "ml", "--budget", "0.5"]
        + ["--budget-period", "day", "--rpm", "10", "--tpm", "5000", "--models", "gpt-4o-mini"]
        + ["--expires", "2099-01-01"],
    )
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    assert key.startswith("pk-") and r.stdout.count("pk-") == 1  # the key, once, on stdout
    key_id = key.split("-")[1]

    listed = run(cli, ["keys", "list", "--json"]).stdout
    rows = json.loads(listed)
    assert [r["id"] for r in rows] == [key_id] and key not in listed
    assert key.split("-", 2)[2] not in listed and "hash" not in rows[0]
    row = rows[0]
    assert (row["team_id"], row["team_name"], row["status"]) == (team_id, "ml", "active")
    assert (row["budget_usd"], row["budget_period"], row["rpm"], row["tpm"]) == (
        0.5,
        "day",
        10,
        5000,
    )
    assert row["models"] == ["gpt-4o-mini"]
    assert key not in run(cli, ["keys", "list"]).stdout

    r = run(cli, ["keys", "update", key_id, "--rpm", "none", "--budget", "1", "--team", "none"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert (row["rpm"], row["budget_usd"], row["team_id"]) == (None, 1.0, None)
    r = run(cli, ["teams", "update", "ml", "--tpm", "9000", "--name", "ml-platform"])
    assert json.loads(r.stdout)["tpm"] == 9000
    assert json.loads(run(cli, ["teams", "list", "--json"]).stdout)[0]["name"] == "ml-platform"

    assert registry().authenticate(key)[0].key_id == key_id
    assert run(cli, ["keys", "revoke", key_id]).exit_code == 0
    assert registry().authenticate(key) == (None, "API key revoked")
    assert json.loads(run(cli, ["keys", "list", "--json"]).stdout)[0]["status"] == "revoked"

    r = run(cli, ["keys", "update", "nope", "--rpm", "1"])
    assert r.exit_code == 2 and "no key 'nope'" in r.stderr
    r = run(cli, ["keys", "create", "--name", "x", "--rpm", "0"])
    assert r.exit_code == 2
    r = run(cli, ["teams", "create", "--name", "ml-platform"])
    assert r.exit_code == 2 and "exists" in r.stderr


def test_authentication_finds_the_key_by_id_and_compares_its_hash(backend):  # noqa: F811
    reg = registry()
    key, record = reg.create_key("app")
    assert reg.authenticate(key)[0].name == "app"
    prefix, key_id, secret = key.split("-", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert reg.authenticate(f"pk-{key_id}-{flipped}") == (None, "invalid API key")
    assert reg.authenticate(f"pk-000000000000-{secret}") == (None, "invalid API key")
    assert reg.authenticate("sk-not-ours") == (None, "invalid API key")
    old, _ = reg.create_key("old", expires=time.time() - 1)
    assert reg.authenticate(old) == (None, "API key expired")
    reg.update_key(record["id"], expires="2000-01-01")
    assert reg.authenticate(key) == (None, "API key expired")
    with pytest.raises(ConfigError, match="not a date"):
        reg.create_key("bad", expires="next tuesday")


# --- limits, at the store ---------------------------------------------------------------


def test_the_rate_window_slides_exactly_at_its_boundary(backend):  # noqa: F811
    reg = registry()
    _, record = reg.create_key("r", rpm=3)
    p = reg.authenticate(_)[0]
    tracker = BudgetTracker()
    t0 = 1_000_000.0
    for dt in (0.0, 10.0, 20.0):
        tracker.admit_principal(p, ["m"], 0.0, 1, now=t0 + dt)
    with pytest.raises(RateLimitedError) as refused:
        tracker.admit_principal(p, ["m"], 0.0, 1, now=t0 + 59.999)
    assert refused.value.retry_after == pytest.approx(0.001, abs=1e-6)
    # At exactly 60 s the first request has left the window; the next two have not.
    tracker.admit_principal(p, ["m"], 0.0, 1, now=t0 + WINDOW_S)
    with pytest.raises(RateLimitedError) as refused:
        tracker.admit_principal(p, ["m"], 0.0, 1, now=t0 + WINDOW_S + 1)
    assert refused.value.retry_after == pytest.approx(9.0)
    assert "3 requests per minute" in str(refused.value)


def test_tokens_per_minute_count_estimates_then_real_usage(backend):  # noqa: F811
    from prellm.models import StageRecord

    reg = registry()
    key, _ = reg.create_key("t", tpm=1000)
    p = reg.authenticate(key)[0]
    tracker = BudgetTracker()
    t0 = time.time()
    held = tracker.admit_principal(p, ["m"], 0.0, 900, now=t0)
    with pytest.raises(RateLimitedError, match="1000 tokens per minute"):
        tracker.admit_principal(p, ["m"], 0.0, 200, now=t0 + 1)
    # The request settles having used 100 tokens, not the 900 it held.
    stage = StageRecord(stage="large", model="m", role="large", prompt_tokens=60)
    tracker.settle(held, [stage.model_copy(update={"completion_tokens": 40, "ms": 1.0})])
    tracker.admit_principal(p, ["m"], 0.0, 800, now=t0 + 2)
    with pytest.raises(RateLimitedError, match="over the 1000 tokens per minute"):
        tracker.admit_principal(p, ["m"], 0.0, 1001, now=t0 + 3)


def test_key_and_team_budgets_hold_and_attribute_spend(backend):  # noqa: F811
    from prellm.models import StageRecord

    reg = registry()
    team = reg.create_team("ml", budget_usd=1.0)
    key, record = reg.create_key("a", team="ml", budget_usd=0.6)
    other, _ = reg.create_key("b", team=team["id"])
    tracker = BudgetTracker()
    pa, pb = reg.authenticate(key)[0], reg.authenticate(other)[0]
    held = tracker.admit_principal(pa, ["m"], 0.5, 10)
    with pytest.raises(BudgetExceededError, match="key 'a' monthly budget"):
        tracker.admit_principal(pa, ["m"], 0.2, 10)
    tracker.admit_principal(pb, ["m"], 0.4, 10)
    with pytest.raises(BudgetExceededError, match="team 'ml' monthly budget"):
        tracker.admit_principal(pb, ["m"], 0.2, 10)
    stage = StageRecord(stage="large", model="m", role="large", cost_usd=0.25, ms=1.0)
    tracker.settle(held, [stage], api_key=key)
    assert reg.key(record["id"])["spent_usd"] == pytest.approx(0.25)
    assert reg.team("ml")["spent_usd"] == pytest.approx(0.25)
    spend = reg.spend()
    assert spend["spent_usd"] == pytest.approx(0.25)
    assert {k["name"]: k["spent_usd"] for k in spend["keys"]} == {"a": 0.25, "b": 0.0}
    # A refused request that had reserved against the global limits gives that back.
    rid = tracker.reserve(["m"], 0.3)
    with pytest.raises(BudgetExceededError):
        tracker.admit_principal(pa, ["m"], 0.6, 10, reservation=rid)
    with tracker.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM reservations WHERE id = ?", (rid,)) == 0


# --- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def admin(serve, upstream, monkeypatch, tmp_path):
    """A server with a master key and traces on; returns (v1 url, admin client)."""
    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    url = serve(small="test/echo", large=PRICED, strategy="passthrough", trace=True)
    base = url.removesuffix("/v1")
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {MASTER}"}, timeout=30)
    yield url, client
    client.close()


def _post(url: str, key: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def test_admin_api_lifecycle_and_a_key_refused_at_once(backend, admin, upstream, tmp_path):  # noqa: F811
    url, client = admin
    assert client.post("/admin/teams", json={"name": "ml", "budget_usd": 5}).status_code == 201
    r = client.post(
        "/admin/keys", json={"name": "ci", "team": "ml", "models": ["gpt-4o-mini"], "rpm": 50}
    )
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    assert r.json()["team_name"] == "ml"

    ok = _post(url, key, chat())
    assert ok.status_code == 200, ok.text
    refused = _post(url, key, chat("prellm:test/echo->openai/gpt-4o"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"
    assert len(upstream.requests) == 1

    listed = client.get("/admin/keys")
    assert key not in listed.text and listed.json()["data"][0]["spent_usd"] > 0
    spend = client.get("/admin/spend").json()
    assert spend["teams"][0]["name"] == "ml" and spend["teams"][0]["spent_usd"] > 0
    r = client.patch(f"/admin/keys/{key_id}", json={"models": None, "rpm": None})
    assert r.json()["models"] == [] and r.json()["rpm"] is None
    assert _post(url, key, chat("prellm:test/echo->openai/gpt-4o")).status_code == 200
    assert client.get("/admin/keys/nope").status_code == 404

    # Only the master key may administer; a virtual key may not, nor may no key.
    assert httpx.get(f"{url.removesuffix('/v1')}/admin/keys", timeout=10).status_code == 401
    forbidden = httpx.get(
        f"{url.removesuffix('/v1')}/admin/keys", headers={"Authorization": f"Bearer {key}"}
    )
    assert forbidden.status_code == 403

    assert client.post(f"/admin/keys/{key_id}/revoke").json()["status"] == "revoked"
    r = _post(url, key, chat())
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert len(upstream.requests) == 2

    traces = "".join(p.read_text() for p in (tmp_path / "traces").rglob("*") if p.is_file())
    assert key_id in traces and key not in traces and key.split("-", 2)[2] not in traces


def test_limited_keys_get_402_and_429_with_retry_after(backend, admin, upstream):  # noqa: F811
    url, client = admin
    tight = client.post("/admin/keys", json={"name": "tight", "rpm": 2}).json()["key"]
    poor = client.post("/admin/keys", json={"name": "poor", "budget_usd": 0.0001}).json()["key"]
    assert [_post(url, tight, chat()).status_code for _ in range(2)] == [200, 200]
    r = _post(url, tight, chat())
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    r = _post(url, poor, chat())
    assert r.status_code == 402 and r.json()["error"]["code"] == "budget_exceeded"
    assert len(upstream.requests) == 2
    # The static keys and the master key stay unlimited.
    assert _post(url, MASTER, chat()).status_code == 200


def test_the_admin_api_is_off_without_a_master_key(serve, upstream):
    url = serve(small="test/echo", large=PRICED, strategy="passthrough")
    r = httpx.get(f"{url.removesuffix('/v1')}/admin/keys", timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"
