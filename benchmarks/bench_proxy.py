"""Proxy overhead of ``prellm serve`` (strategy passthrough) against an instant local upstream,
side by side with the LiteLLM proxy.

    python benchmarks/bench_proxy.py [--requests 2000] [--concurrency 1,10,50]
        [--litellm PATH | --no-litellm]

Starts the upstream and the proxies as separate processes on 127.0.0.1, sends the
same chat request to each directly and through each proxy at each concurrency,
and prints latency p50/p99, requests/s, errors, CPU per request, the added p50/p99,
the ratio of preLLM's added p50 to LiteLLM's, and the proxies' RSS after the run.
A bare forwarder (floor_forwarder.py) runs alongside as the floor: what any Python
proxy adds. Client, upstream and proxies share the cores.

The LiteLLM proxy (``litellm --config``, its own defaults, a master key set) needs
``litellm[proxy]``; give its ``litellm`` executable with ``--litellm`` (or
``LITELLM_PROXY_BIN``) when it lives in another virtualenv, e.g. one made with
``python -m venv /opt/litellm-proxy && /opt/litellm-proxy/bin/pip install 'litellm[proxy]'``.
Both proxies check a bearer key on every request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "ping"}]
PRELLM_MODEL = "prellm:test/echo->openai/bench"  # passthrough: only the large model is called
KEY = "sk-bench-proxy-key-0123456789"  # both proxies authenticate every request with it
LITELLM_CONFIG = """\
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: {api_base}
      api_key: sk-bench
general_settings:
  master_key: {key}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
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


Target = tuple[str, str, int | None]  # url, model, pid (None: not a proxy)


async def load(target: Target, n: int, concurrency: int) -> tuple[list[float], int, float]:
    url, model, _ = target
    body = {"model": model, "messages": MESSAGES}
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
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


def litellm_bin(given: str | None) -> str | None:
    """The LiteLLM proxy's ``litellm`` executable: given, LITELLM_PROXY_BIN, this venv's
    (when the proxy's extras are installed here), else the first on PATH."""
    for candidate in (given, os.environ.get("LITELLM_PROXY_BIN")):
        if candidate:
            return candidate if Path(candidate).is_file() else None
    here = Path(sys.executable).parent / "litellm"
    if here.is_file() and importlib.util.find_spec("backoff") is not None:
        return str(here)
    found = shutil.which("litellm")
    return found if found and Path(found).resolve() != here.resolve() else None


def start_litellm(exe: str, port: int, up_port: int, env: dict[str, str]) -> subprocess.Popen:
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-litellm-{port}.yaml"
    config.write_text(LITELLM_CONFIG.format(api_base=f"http://127.0.0.1:{up_port}/v1", key=KEY))
    return subprocess.Popen(
        [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=config.parent,
        # The shipped price table (no fetch at start), as preLLM does.
        env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_prellm(
    port: int, workers: int, env: dict[str, str], root: Path = ROOT
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "prellm", "serve", "--port", str(port)]
        + ["--strategy", "passthrough", "--workers", str(workers)],
        cwd=root,  # python -m runs the prellm of this checkout
        env={**env, "PRELLM_API_KEYS": KEY},
        stderr=subprocess.DEVNULL,
    )


def report(targets: dict[str, Target], requests: int, concurrency: list[int]) -> None:
    print(
        f"{'conc':>4} {'target':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>6} {'CPU ms/req':>10}"
    )
    for c in concurrency:
        rows = {}
        for name, target in targets.items():
            pid = target[2]
            cpu0 = cpu_seconds(pid) if pid else 0.0
            lat, errors, rps = asyncio.run(load(target, requests, c))
            cpu = f"{(cpu_seconds(pid) - cpu0) * 1000 / requests:10.2f}" if pid else ""
            rows[name] = lat
            print(
                f"{c:>4} {name:<8} {statistics.median(lat):8.2f} {pct(lat, 0.99):8.2f} {rps:8.0f} {errors:>6} {cpu}"
            )
        added = {}
        for name in [n for n in targets if n != "direct"]:
            added[name] = statistics.median(rows[name]) - statistics.median(rows["direct"])
            added99 = pct(rows[name], 0.99) - pct(rows["direct"], 0.99)
            print(f"{c:>4} {'+' + name:<8} {added[name]:8.2f} {added99:8.2f}")
        if "litellm" in added and added["litellm"] > 0:
            for name in [n for n in ("prellm", "baseline") if n in added]:
                ratio = added[name] / added["litellm"]
                print(f"{c:>4} added p50, {name} / litellm: {ratio:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,10,50")
    ap.add_argument("--workers", type=int, default=1, help="prellm serve --workers")
    ap.add_argument("--litellm", metavar="PATH", help="The LiteLLM proxy's litellm executable")
    ap.add_argument("--no-litellm", action="store_true", help="Leave the LiteLLM proxy out")
    ap.add_argument(
        "--baseline",
        metavar="DIR",
        type=Path,
        help="Also run prellm serve from another checkout (e.g. a git worktree of an "
        "earlier commit) as target 'baseline', for before/after figures in one run",
    )
    args = ap.parse_args()
    exe = None if args.no_litellm else litellm_bin(args.litellm)
    if exe is None and not args.no_litellm:
        raise SystemExit(
            "the LiteLLM proxy was not found: install litellm[proxy] (here or in another "
            "venv, then --litellm PATH/bin/litellm), or run with --no-litellm"
        )

    up_port, floor_port, px_port, ll_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "OPENAI_API_BASE": f"http://127.0.0.1:{up_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "UPSTREAM": f"http://127.0.0.1:{up_port}/v1/chat/completions",
    }
    upstream = uvicorn("benchmarks.instant_upstream:app", up_port, env)
    floor = uvicorn("benchmarks.floor_forwarder:app", floor_port, env)
    proxy = start_prellm(px_port, args.workers, env)
    bl_port = free_port()
    base = start_prellm(bl_port, args.workers, env, args.baseline) if args.baseline else None
    litellm = start_litellm(exe, ll_port, up_port, env) if exe else None
    procs = [p for p in (litellm, base, proxy, floor, upstream) if p is not None]
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/", upstream)
        wait_ready(f"http://127.0.0.1:{floor_port}/", floor)
        wait_ready(f"http://127.0.0.1:{px_port}/health/liveness", proxy)
        targets: dict[str, Target] = {
            "direct": (f"http://127.0.0.1:{up_port}/v1/chat/completions", "bench", None),
            "floor": (f"http://127.0.0.1:{floor_port}/v1/chat/completions", "bench", floor.pid),
            "prellm": (f"http://127.0.0.1:{px_port}/v1/chat/completions", PRELLM_MODEL, proxy.pid),
        }
        if base is not None:
            wait_ready(f"http://127.0.0.1:{bl_port}/health/liveness", base)
            url = f"http://127.0.0.1:{bl_port}/v1/chat/completions"
            targets["baseline"] = (url, PRELLM_MODEL, base.pid)
        if litellm is not None:
            # Its start-up (imports, its own checks) takes a while on a busy machine.
            wait_ready(f"http://127.0.0.1:{ll_port}/health/liveliness", litellm, timeout=900)
            url = f"http://127.0.0.1:{ll_port}/v1/chat/completions"
            targets["litellm"] = (url, "bench", litellm.pid)
        for target in targets.values():
            asyncio.run(load(target, 50, 5))  # warm-up: imports, connection pools
        print(
            f"machine: {os.cpu_count()} CPUs · {args.requests} requests per row · strategy passthrough"
            f" · proxy workers: {args.workers} · litellm: {exe or 'not run'}\n"
            "floor: a bare ASGI forwarder (benchmarks/floor_forwarder.py), the least any Python proxy does\n"
        )
        report(targets, args.requests, [int(x) for x in args.concurrency.split(",")])
        print(f"\nprellm RSS after the run ({args.workers} worker(s)): {rss_mb(proxy.pid):.0f} MB")
        if litellm is not None:
            print(f"litellm RSS after the run: {rss_mb(litellm.pid):.0f} MB")
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        (Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-litellm-{ll_port}.yaml").unlink(
            missing_ok=True
        )


if __name__ == "__main__":
    main()
