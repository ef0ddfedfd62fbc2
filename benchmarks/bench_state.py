"""Proxy overhead with the state store on SQLite vs PostgreSQL (strategy passthrough).

    python benchmarks/bench_state.py [--requests 1000] [--concurrency 1,10]
        [--database-url postgresql://…]   # default: PRELLM_TEST_DATABASE_URL (.ci/postgres)

For each backend a ``prellm serve`` (one worker) runs against the instant upstream of
bench_proxy.py with a priced large model, so every request writes the ledger and the
spend totals. Two rows per backend and concurrency: ``anon`` (no key: the ledger
settle only) and ``key`` (a virtual key with a budget and a rate limit: the key's
lookup, the atomic budget + rate-window hold, the settle). ``+p50``/``+p99`` are the
latency added over calling the upstream directly; ``CPU ms/req`` is the proxy
process's own CPU (PostgreSQL's server processes not included). PostgreSQL runs in a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import uuid

import httpx
from bench_proxy import ROOT, cpu_seconds, free_port, load, pct, uvicorn, wait_ready

MODEL = "prellm:test/echo->openai/gpt-4o-mini"
MASTER = "mk-bench-state"


def with_schema(url: str, schema: str) -> str:
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({"options": f"-csearch_path={schema}"})))


def make_key(env: dict[str, str]) -> str:
    """A virtual key with a budget and a rate limit that the run stays inside."""
    code = (
        "from prellm.store import BudgetTracker\n"
        "key, _ = BudgetTracker().keys.create_key('bench', budget_usd=1000.0, rpm=1000000)\n"
        "print(key)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return out.stdout.strip()


async def run(url: str, n: int, concurrency: int, key: str | None) -> tuple[list[float], int]:
    import bench_proxy

    bench_proxy.BODY = {"model": MODEL, "messages": [{"role": "user", "content": "ping"}]}
    headers = {"Authorization": f"Bearer {key or MASTER}"}
    original = httpx.AsyncClient

    class Authed(original):  # type: ignore[misc, valid-type]
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, headers=headers, **kw)  # type: ignore[arg-type]

    httpx.AsyncClient = Authed  # type: ignore[misc]
    try:
        lat, errors, _ = await load(url, n, concurrency)
    finally:
        httpx.AsyncClient = original  # type: ignore[misc]
    return lat, errors


def bench_backend(name: str, env: dict[str, str], args: argparse.Namespace, direct: dict) -> None:
    port = free_port()
    key = make_key(env)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "prellm", "serve", "--port", str(port), "--strategy", "passthrough"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/liveness", proxy)
        asyncio.run(run(url, 50, 5, key))  # warm-up: imports, pools, prepared statements
        for c in args.concurrency:
            for label, k in (("anon", None), ("key", key)):
                cpu0 = cpu_seconds(proxy.pid)
                lat, errors = asyncio.run(run(url, args.requests, c, k))
                cpu = (cpu_seconds(proxy.pid) - cpu0) * 1000 / args.requests
                p50, p99 = statistics.median(lat), pct(lat, 0.99)
                d50, d99 = direct[c]
                print(
                    f"{name:<10} {label:<5} {c:>4} {p50:8.2f} {p99:8.2f} {errors:>6}"
                    f" {p50 - d50:+9.2f} {p99 - d99:+9.2f} {cpu:10.2f}"
                )
    finally:
        proxy.terminate()
        proxy.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", default="1,10")
    ap.add_argument("--database-url", default=os.environ.get("PRELLM_TEST_DATABASE_URL"))
    args = ap.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    up_port = free_port()
    base = {
        **os.environ,
        "OPENAI_API_BASE": f"http://127.0.0.1:{up_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "PRELLM_MASTER_KEY": MASTER,
    }
    base.pop("PRELLM_DATABASE_URL", None)
    upstream = uvicorn("benchmarks.instant_upstream:app", up_port, base)
    schema = "bench_" + uuid.uuid4().hex[:8]
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/", upstream)
        up = f"http://127.0.0.1:{up_port}/v1/chat/completions"
        asyncio.run(load(up, 50, 5))
        direct = {}
        for c in args.concurrency:
            lat, _, _ = asyncio.run(load(up, args.requests, c))
            direct[c] = (statistics.median(lat), pct(lat, 0.99))
        print(f"machine: {os.cpu_count()} CPUs · {args.requests} requests per row · 1 worker\n")
        print(
            f"{'backend':<10} {'auth':<5} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
            f" {'+p50 ms':>9} {'+p99 ms':>9} {'CPU ms/req':>10}"
        )
        for c in args.concurrency:
            print(f"{'direct':<10} {'-':<5} {c:>4} {direct[c][0]:8.2f} {direct[c][1]:8.2f}")
        with tempfile.TemporaryDirectory() as data:
            bench_backend("sqlite", {**base, "PRELLM_DATA_DIR": data}, args, direct)
        if args.database_url:
            import psycopg

            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            pg = with_schema(args.database_url, schema)
            with tempfile.TemporaryDirectory() as data:
                env = {**base, "PRELLM_DATA_DIR": data, "PRELLM_DATABASE_URL": pg}
                bench_backend("postgresql", env, args, direct)
        else:
            print("postgresql: skipped (no --database-url / PRELLM_TEST_DATABASE_URL)")
    finally:
        upstream.terminate()
        upstream.wait(10)
        if args.database_url:
            import psycopg

            with psycopg.connect(args.database_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
