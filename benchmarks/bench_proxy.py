"""Proxy overhead of ``prellm serve`` (strategy passthrough) against an instant local upstream.

    python benchmarks/bench_proxy.py [--requests 2000] [--concurrency 1,10,50]

Starts the upstream and the proxy as separate processes on 127.0.0.1, sends the
same chat request to each directly and through the proxy at each concurrency,
and prints latency p50/p99, requests/s, errors, the added p50/p99, and the
proxy's RSS after the run. A bare forwarder (floor_forwarder.py) runs alongside as
the floor: what any Python proxy adds. Client, upstream and proxies share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BODY = {
    "model": "prellm:test/echo->openai/bench",
    "messages": [{"role": "user", "content": "ping"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


async def load(url: str, n: int, concurrency: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=BODY)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - t0
    return latencies, errors, n / elapsed


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def tree(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's workers with --workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids += tree(int(child))
    return pids


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its workers have used so far."""
    total = 0
    for p in tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def uvicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,10,50")
    ap.add_argument("--workers", type=int, default=1, help="prellm serve --workers")
    args = ap.parse_args()

    up_port, floor_port, px_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "OPENAI_API_BASE": f"http://127.0.0.1:{up_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "UPSTREAM": f"http://127.0.0.1:{up_port}/v1/chat/completions",
    }
    upstream = uvicorn("benchmarks.instant_upstream:app", up_port, env)
    floor = uvicorn("benchmarks.floor_forwarder:app", floor_port, env)
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prellm",
            "serve",
            "--port",
            str(px_port),
            "--strategy",
            "passthrough",
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/", upstream)
        wait_ready(f"http://127.0.0.1:{floor_port}/", floor)
        wait_ready(f"http://127.0.0.1:{px_port}/health/liveness", proxy)
        targets = {
            "direct": (f"http://127.0.0.1:{up_port}/v1/chat/completions", None),
            "floor": (f"http://127.0.0.1:{floor_port}/v1/chat/completions", floor.pid),
            "proxy": (f"http://127.0.0.1:{px_port}/v1/chat/completions", proxy.pid),
        }
        for url, _ in targets.values():
            asyncio.run(load(url, 50, 5))  # warm-up: imports, connection pools
        print(
            f"machine: {os.cpu_count()} CPUs · {args.requests} requests per row · strategy passthrough"
            f" · proxy workers: {args.workers}\n"
            "floor: a bare ASGI forwarder (benchmarks/floor_forwarder.py), the least any Python proxy does\n"
        )
        print(
            f"{'conc':>4} {'target':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>6} {'CPU ms/req':>10}"
        )
        for c in [int(x) for x in args.concurrency.split(",")]:
            rows = {}
            for name, (url, pid) in targets.items():
                cpu0 = cpu_seconds(pid) if pid else 0.0
                lat, errors, rps = asyncio.run(load(url, args.requests, c))
                cpu = f"{(cpu_seconds(pid) - cpu0) * 1000 / args.requests:10.2f}" if pid else ""
                rows[name] = lat
                print(
                    f"{c:>4} {name:<7} {statistics.median(lat):8.2f} {pct(lat, 0.99):8.2f} {rps:8.0f} {errors:>6} {cpu}"
                )
            for name in ("floor", "proxy"):
                added50 = statistics.median(rows[name]) - statistics.median(rows["direct"])
                added99 = pct(rows[name], 0.99) - pct(rows["direct"], 0.99)
                print(f"{c:>4} {'+' + name:<7} {added50:8.2f} {added99:8.2f}")
        print(f"\nproxy RSS after the run ({args.workers} worker(s)): {rss_mb(proxy.pid):.0f} MB")
    finally:
        for p in (proxy, floor, upstream):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
