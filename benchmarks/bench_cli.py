"""CLI wall time, one process per call, with and without the background model host.

    python benchmarks/bench_cli.py [--runs N] [--first-runs K] [--mode host|nohost|both]

Each call is ``prellm QUERY --strategy classify --large test/echo --json``: the
small stage runs on the embedded model, the deterministic test model stands in
for a remote large model (whose network time is not preLLM's). Wall time is
measured around the whole process, as a user waits for it.

* ``nohost`` (before): ``PRELLM_NO_HOST=1``, every call loads the model itself.
* ``host`` (after): a private data directory; a "first call" starts the host (the
  model load included) and is repeated ``--first-runs`` times, the host stopped
  in between; "later calls" reach the warm host. The host's RSS is reported.

Every call's result is checked: a call whose small stage fell back (timed out,
failed) is counted and shown, since its time is not the small model's. To time
the code before this change, point PYTHONPATH at a checkout of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = [
    "Wdróż aplikację na produkcję",
    "Deploy app to prod",
    "Why does my Python script crash with KeyError: 'id'?",
    "Dlaczego mój kontener Docker restartuje się co minutę?",
    "Configure nginx as a reverse proxy for port 8080",
    "Set up Prometheus alerts for disk usage above 90%",
    "Fix the memory leak in my Node.js server",
    "Skonfiguruj GitLab CI do testów w Pythonie",
    "Explain what a Kubernetes readiness probe does",
    "Write a bash script that backs up /var/www every night",
    "Napisz skrypt, który codziennie robi backup bazy PostgreSQL",
    "How much VAT do I add to an invoice for a client in Germany?",
    "Create a FreeRTOS task that blinks an LED every 500 ms on STM32",
    "Automate weekly cost reports from AWS to Slack",
    "Przeanalizuj koszty chmury za ostatni miesiąc",
    "Refactor this function to use async/await",
]
_next = iter(range(10**6))


def query() -> str:
    """A query not asked before in this run (a cached decomposition would skip the small
    model); past the list, numbered variants."""
    i = next(_next)
    return QUERIES[i % len(QUERIES)] + (f" (#{i // len(QUERIES)})" if i >= len(QUERIES) else "")


def call(env: dict[str, str], small: str, config: str | None = None) -> dict[str, object]:
    cmd = [sys.executable, "-m", "prellm", query(), "--strategy", "classify"]
    cmd += ["--small", small, "--large", "test/echo", "--json"]
    cmd += ["--config", config] if config else []
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - t0
    row: dict[str, object] = {"wall_s": wall, "ok": out.returncode == 0, "fallback": None}
    if out.returncode == 0:
        result = json.loads(out.stdout)
        row["fallback"] = result["decomposition"].get("fallback_reason")
        row["cache"] = result.get("cache")
        row["small_ms"] = next(
            (s["ms"] for s in result["stages"] if s.get("role") == "small"), None
        )
    else:
        row["error"] = out.stderr.strip().splitlines()[-1:] or ["?"]
    return row


def host(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prellm", "host", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def summary(label: str, rows: list[dict[str, object]]) -> None:
    walls = [float(r["wall_s"]) for r in rows]  # type: ignore[arg-type]
    bad = [r for r in rows if not r["ok"] or r["fallback"] or r.get("cache") == "hit"]
    small = [float(r["small_ms"]) for r in rows if r.get("small_ms") is not None]  # type: ignore[arg-type]
    line = f"{label:<28} n={len(rows):<3} p50 {statistics.median(walls):6.2f} s  max {max(walls):6.2f} s"
    if small:
        line += f"  small stage p50 {statistics.median(small) / 1000:5.2f} s"
    if bad:
        line += f"  ({len(bad)} fell back, failed or hit a cache: {bad[0].get('fallback') or bad[0].get('error') or 'cache'})"
    print(line, flush=True)


def run_nohost(args: argparse.Namespace, base_env: dict[str, str]) -> None:
    env = {**base_env, "PRELLM_NO_HOST": "1"}
    rows = [call(env, args.small, args.config) for _ in range(args.runs)]
    summary("no host: first call", rows[:1])
    summary("no host: later calls", rows[1:] or rows)


def run_host(args: argparse.Namespace, base_env: dict[str, str]) -> None:
    env = dict(base_env)
    env.pop("PRELLM_NO_HOST", None)
    first: list[dict[str, object]] = []
    for _ in range(args.first_runs):
        host(env, "stop")
        first.append(call(env, args.small, args.config))
    later = [call(env, args.small, args.config) for _ in range(args.runs)]
    summary("host: first call (starts it)", first)
    summary("host: later calls", later)
    status = host(env, "status", "--json")
    st = json.loads(status.stdout) if status.stdout.strip() else {}
    rss = st.get("rss_bytes")
    print(
        f"host pid {st.get('pid')}: RSS {rss / 2**20:.0f} MiB, {st.get('requests')} requests"
        if rss
        else "host: no status"
    )
    host(env, "stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="later calls (default 10)")
    parser.add_argument("--first-runs", type=int, default=3, help="host cold starts (default 3)")
    parser.add_argument("--mode", choices=["host", "nohost", "both"], default="both")
    parser.add_argument("--small", default="local/qwen2.5-coder-1.5b")
    parser.add_argument(
        "--small-timeout",
        type=float,
        help="seconds the small stage may take (default preLLM's 60): on a loaded machine, "
        "to time the stage instead of its timeout",
    )
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="pb", dir="/tmp")  # short: the socket path must fit
    args.config = None
    if args.small_timeout:
        args.config = os.path.join(data, "prellm.yaml")
        with open(args.config, "w") as fh:
            fh.write(f"small:\n  model: {args.small}\n  timeout: {args.small_timeout}\n")
    env = {**os.environ, "PRELLM_DATA_DIR": data, "PRELLM_NO_LEDGER": "1"}
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    try:
        if args.mode in ("nohost", "both"):
            run_nohost(args, env)
        if args.mode in ("host", "both"):
            run_host(args, env)
    finally:
        host(env, "stop")
        shutil.rmtree(data, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
