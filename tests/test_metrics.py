"""``GET /metrics``: parsed with prometheus_client's own parser, the counters match the
requests made; protected by the master key unless public; summed across workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

PRICED = "openai/gpt-4o-mini"
MASTER = "mk-metrics-master-0000"
CHAT = "/v1/chat/completions"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        v
        for n, ls, v in samples(text)
        if n == name and all(ls.get(k) == want for k, want in labels.items())
    )


def test_counters_match_the_requests_made(serve, upstream, monkeypatch):
    from prellm.store import BudgetTracker

    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    reg = BudgetTracker().keys
    reg.create_team("ml", budget_usd=1.0)
    key, _ = reg.create_key("app", team="ml", models=["gpt-4o-mini"])
    from prellm.providers.testing import register_function

    small = register_function("metrics_small", lambda messages, params: "no JSON at all")
    url = serve(small=small, large=PRICED, strategy="passthrough")
    base = url.removesuffix("/v1")
    auth = {"Authorization": f"Bearer {key}"}
    body = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}

    for _ in range(3):
        assert httpx.post(f"{base}{CHAT}", json=body, headers=auth, timeout=60).status_code == 200
    stream = {**body, "stream": True}
    for _ in range(2):
        with httpx.stream("POST", f"{base}{CHAT}", json=stream, headers=auth, timeout=60) as r:
            lines = [line for line in r.iter_lines() if line]
            assert r.status_code == 200 and lines[-1] == "data: [DONE]"
    mail = {**body, "messages": [{"role": "user", "content": "mail ops@firma.pl about it"}]}
    assert httpx.post(f"{base}{CHAT}", json=mail, headers=auth, timeout=60).status_code == 200
    fallback = {**body, "prellm": {"strategy": "structure"}}  # the small model's answer: no JSON
    assert httpx.post(f"{base}{CHAT}", json=fallback, headers=auth, timeout=60).status_code == 200
    other = {**body, "model": "prellm:openai/gpt-4o"}
    assert httpx.post(f"{base}{CHAT}", json=other, headers=auth, timeout=60).status_code == 403
    assert httpx.post(f"{base}{CHAT}", json=body, timeout=60).status_code == 401

    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{base}/metrics", headers=auth, timeout=10).status_code == 403
    r = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {MASTER}"}, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text

    ok = total(text, "prellm_requests_total", route=CHAT, status="200", team="ml")
    assert ok == 7
    # strategy: what ran (the request whose analysis failed went through unprocessed)
    assert total(text, "prellm_requests_total", status="200", strategy="passthrough") == 7
    assert total(text, "prellm_requests_total", route=CHAT, status="403", team="ml") == 1
    assert total(text, "prellm_requests_total", route=CHAT, status="401") == 1
    assert total(text, "prellm_requests_total", route="/metrics") == 2  # 401, 403; not this one
    assert total(text, "prellm_requests_total") == 11
    for stage in ("total", "large", "overhead"):
        assert total(text, "prellm_stage_duration_seconds_count", stage=stage) == 7
    large_calls = len(upstream.requests)
    assert large_calls == 7
    prompt = total(text, "prellm_tokens_total", model=PRICED, role="large", kind="prompt")
    completion = total(text, "prellm_tokens_total", model=PRICED, role="large", kind="completion")
    assert (prompt, completion) == (11 * large_calls, 7 * large_calls)
    assert total(text, "prellm_spend_usd_total", model=PRICED, role="large") > 0
    assert total(text, "prellm_redactions_total") >= 1
    assert total(text, "prellm_small_model_fallbacks_total") == 1
    left = total(text, "prellm_team_budget_remaining_usd", team="ml")
    spent = total(text, "prellm_team_spend_usd", team="ml")
    assert spent > 0 and left == pytest.approx(1.0 - spent)
    assert key not in text and MASTER not in text


def test_metrics_public_needs_no_key(serve, upstream, monkeypatch):
    monkeypatch.setenv("PRELLM_MASTER_KEY", MASTER)
    url = serve(small="test/echo", large="test/echo", strategy="passthrough", metrics_public=True)
    base = url.removesuffix("/v1")
    r = httpx.get(f"{base}/metrics", timeout=10)
    assert r.status_code == 200 and "prellm_requests" in r.text
    assert httpx.get(f"{base}/admin/keys", timeout=10).status_code == 401  # the rest stays shut


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_workers_add_up_in_one_scrape(tmp_path):
    port = _port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "prellm", "serve", "--port", str(port), "--workers", "2"]
        + ["--small", "test/echo", "--large", "test/echo", "--strategy", "passthrough"]
        + ["--metrics-public"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    ready = threading.Semaphore(0)

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "ready" in line:
                ready.release()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.acquire(timeout=90) and ready.acquire(timeout=90)  # both workers
        base = f"http://127.0.0.1:{port}"
        body = {"model": "prellm:default", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(12):  # fresh connections: the kernel spreads them over the workers
            assert httpx.post(f"{base}{CHAT}", json=body, timeout=60).status_code == 200
        pids = {f.name for f in (tmp_path / "prom").glob("counter_*.db")}
        text = httpx.get(f"{base}/metrics", timeout=10).text
        assert total(text, "prellm_requests_total", route=CHAT, status="200") == 12
        assert pids  # written by the workers, per process
    finally:
        proc.terminate()
        proc.wait(30)
