"""Synthetic material for condensing: pod logs, CI logs, stack traces in noise, all seeded.

    python benchmarks/material.py --kind pod|ci|traces --lines N --seed S --out FILE [--noise]
    python benchmarks/material.py --bench            # condense time and output size, 1k/10k/100k

Importable: ``pod_log``, ``ci_log`` and ``traces_log`` return ``(text, planted)`` where
``planted`` lists the incidents put in, each ``{"type": kind, "count": n, ...}`` with the
finding kind condensing should report and how many log lines (or failing tests, or
exceptions) make it up. ``noise=True`` gives the same kind of material with no incident
at all; condensing it must report no incident kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC)
Planted = list[dict[str, Any]]

_PATHS = ("/api/users/{}", "/api/orders/{}", "/api/cart/{}", "/api/products/{}", "/api/search")
_METHODS = ("GET", "GET", "GET", "POST", "PUT")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _suffix(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


def _pods(rng: random.Random) -> dict[str, list[str]]:
    api_rs, worker_rs = _hex(rng, 4), _hex(rng, 4)
    return {
        "api": [f"api-{api_rs}-{_suffix(rng)}" for _ in range(3)],
        "worker": [f"worker-{worker_rs}-{_suffix(rng)}" for _ in range(2)],
        "db": ["db-0"],
    }


def _api_noise(rng: random.Random, pod: str, t: datetime) -> str:
    roll = rng.random()
    if roll < 0.55:
        path = rng.choice(_PATHS).format(rng.randint(1, 99999))
        status = rng.choice((200, 200, 200, 201, 204, 304, 404))
        msg = f"{rng.choice(_METHODS)} {path} {status} {rng.randint(1, 180)}ms"
    elif roll < 0.7:
        msg = f"cache hit key=user:{rng.randint(1, 99999)}"
    elif roll < 0.8:
        msg = "GET /healthz 200 1ms"
    elif roll < 0.9:
        msg = f"authorized user={rng.randint(1, 99999)} req={_hex(rng, 12)}"
    elif roll < 0.97:
        msg = f"flushed {rng.randint(10, 500)} metrics, 0 errors"
    else:
        msg = f"pool stats active={rng.randint(1, 20)} idle={rng.randint(0, 10)}"
    level = "INFO " if rng.random() < 0.5 else ""  # access lines often carry no level
    return f"[pod/{pod}/app] {_iso(t)} {level}{msg}"


def _worker_noise(rng: random.Random, pod: str, t: datetime) -> str:
    job = rng.choice(("email", "invoice", "thumbnail", "report"))
    fields = {"ts": _iso(t), "level": "info"}
    if rng.random() < 0.8:
        fields |= {"msg": "job done", "job": f"{job}-{rng.randint(1, 9999)}"}
        fields["ms"] = str(rng.randint(5, 900))
    else:
        fields |= {"msg": "queue poll", "depth": str(rng.randint(0, 40))}
    return f"[pod/{pod}/worker] " + json.dumps(fields, separators=(",", ":"))


def _db_noise(rng: random.Random, t: datetime) -> str:
    roll = rng.random()
    if roll < 0.5:
        msg = f"LOG:  duration: {rng.uniform(0.1, 40):.3f} ms"
    elif roll < 0.8:
        msg = f"LOG:  connection authorized: user=app database=shop pid={rng.randint(100, 9999)}"
    else:
        msg = f"LOG:  checkpoint complete: wrote {rng.randint(1, 900)} buffers"
    return f"[pod/db-0/postgres] {_iso(t)} {msg}"


def _noise_line(rng: random.Random, pods: dict[str, list[str]], t: datetime) -> str:
    roll = rng.random()
    if roll < 0.78:
        return _api_noise(rng, rng.choice(pods["api"]), t)
    if roll < 0.88:
        return _worker_noise(rng, rng.choice(pods["worker"]), t)
    return _db_noise(rng, t)


def _timeline(rng: random.Random, n: int) -> list[datetime]:
    t = START
    out = []
    for _ in range(n):
        t += timedelta(milliseconds=rng.randint(20, 160))
        out.append(t)
    return out


def _pod_incidents(
    rng: random.Random, lines: int, pods: dict[str, list[str]], times: list[datetime]
) -> tuple[list[tuple[datetime, str]], Planted]:
    """The planted lines (time, text) and what they are."""
    span = times[-1] - times[0]
    scale = max(1, lines // 1000)
    out: list[tuple[datetime, str]] = []
    spike_at = times[0] + span * 0.4  # the deploy: an error spike right after it
    n_err = 10 * scale
    for k in range(n_err):
        t = spike_at + timedelta(milliseconds=k * 150 + rng.randint(0, 100))
        ip = f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}"
        text = f"ERROR payment call failed: dial tcp {ip}:8443: connect: connection refused"
        out.append((t, f"[pod/{rng.choice(pods['api'])}/app] {_iso(t)} {text}"))
    n_oom = 2 if lines < 5000 else 3
    for k in range(n_oom):
        t = times[0] + span * (0.2 + 0.25 * k)
        text = f"Memory cgroup out of memory: Killed process {rng.randint(1000, 9999)} (java)"
        out.append((t, f"{_iso(t)} Warning OOMKilling node/node-{k + 1} {text}"))
    n_crash = min(30, 4 + scale)
    worker = pods["worker"][0]
    for k in range(n_crash):
        t = times[0] + span * (0.55 + 0.3 * k / n_crash)
        text = f"Back-off restarting failed container worker in pod {worker}"
        out.append((t, f"{_iso(t)} Warning BackOff pod/{worker} {text}"))
    n_slow = 8 * scale
    burst = times[0] + span * 0.75
    for k in range(n_slow):
        t = burst + timedelta(milliseconds=k * 200 + rng.randint(0, 150))
        query = f"SELECT * FROM orders WHERE customer_id = {rng.randint(1, 99999)}"
        text = f"LOG:  duration: {rng.uniform(2000, 9000):.3f} ms  statement: {query}"
        out.append((t, f"[pod/db-0/postgres] {_iso(t)} {text}"))
    planted = [
        {"type": "error", "count": n_err, "what": "deploy-time error spike (connection refused)"},
        {"type": "oom_kill", "count": n_oom, "what": "OOM kills"},
        {"type": "crash_loop", "count": n_crash, "what": "crash-loop back-offs of a worker"},
        {"type": "slow_query", "count": n_slow, "what": "slow-query burst on db-0"},
    ]
    return out, planted


def pod_log(lines: int = 10_000, seed: int = 0, noise: bool = False) -> tuple[str, Planted]:
    """Several pods' logs (kubectl --prefix --timestamps, one pod JSON) and k8s events."""
    rng = random.Random(seed)
    pods = _pods(rng)
    n_noise = lines
    times = _timeline(rng, n_noise)
    incidents: list[tuple[datetime, str]] = []
    planted: Planted = []
    if not noise:
        incidents, planted = _pod_incidents(rng, lines, pods, times)
        deploy = times[0] + (times[-1] - times[0]) * 0.4 - timedelta(seconds=2)
        note = f"[pod/{pods['api'][0]}/app] {_iso(deploy)} INFO starting api version=v2.4.1"
        incidents.append((deploy, note))
        n_noise = lines - len(incidents)
    rows = [(t, _noise_line(rng, pods, t)) for t in times[:n_noise]]
    rows += incidents
    rows.sort(key=lambda row: row[0])
    return "\n".join(text for _, text in rows) + "\n", planted


_MODULES = ("cart", "orders", "users", "search", "payments", "inventory", "auth", "email")


def _ci_setup(ts: Callable[[], str]) -> list[str]:
    lines = [f"{ts()} ##[group]Run actions/checkout@v4", f"{ts()} ##[endgroup]"]
    for pkg in ("fastapi-0.115.0", "pydantic-2.9.2", "httpx-0.27.2", "pytest-8.3.3"):
        lines.append(f"{ts()} Collecting {pkg.split('-')[0]}=={pkg.split('-')[1]}")
        lines.append(f"{ts()}   Downloading {pkg}-py3-none-any.whl (94 kB)")
    lines += [
        f"{ts()} Successfully installed fastapi httpx pydantic pytest",
        f"{ts()} ============================= test session starts ==============================",
        f"{ts()} platform linux -- Python 3.11.9, pytest-8.3.3, pluggy-1.5.0",
    ]
    return lines


def _ci_failure(ts: Callable[[], str], test: str) -> list[str]:
    name = test.split("::")[-1]
    return [
        f"{ts()} =================================== FAILURES ===================================",
        f"{ts()} ___________________________ {name} ___________________________",
        f"{ts()} ",
        f"{ts()}     def {name}():",
        f"{ts()}         cart = Cart(items=[Item(price=20), Item(price=21)])",
        f"{ts()} >       assert cart.total() == 42",
        f"{ts()} E       AssertionError: assert 41 == 42",
        f"{ts()} E        +  where 41 = <bound method Cart.total of Cart(items=2)>()",
        f"{ts()} ",
        f"{ts()} {test.split('::')[0]}:57: AssertionError",
        f"{ts()} =========================== short test summary info ============================",
        f"{ts()} FAILED {test} - AssertionError: assert 41 == 42",
    ]


def ci_log(lines: int = 10_000, seed: int = 0, noise: bool = False) -> tuple[str, Planted]:
    """A GitHub Actions pytest run: thousands of passing tests, one failing with its traceback."""
    rng = random.Random(seed)
    clock = [START]

    def ts() -> str:
        clock[0] += timedelta(milliseconds=rng.randint(1, 40))
        return clock[0].strftime("%Y-%m-%dT%H:%M:%S.") + f"{clock[0].microsecond:06d}0Z"

    head = _ci_setup(ts)
    failing = f"tests/test_{rng.choice(_MODULES)}.py::test_checkout_total"
    tail_len = 3 if noise else 15
    n_tests = max(1, lines - len(head) - tail_len - 1)
    fail_at = -1 if noise else rng.randrange(n_tests)
    out = [*head, f"{ts()} collected {n_tests} items"]
    for i in range(n_tests):
        pct = (i + 1) * 100 // n_tests
        if i == fail_at:
            out.append(f"{ts()} {failing} FAILED [{pct:3d}%]")
            continue
        module = _MODULES[i % len(_MODULES)]
        out.append(f"{ts()} tests/test_{module}.py::test_{module}_case_{i} PASSED [{pct:3d}%]")
    if noise:
        out.append(
            f"{ts()} ======================= {n_tests} passed in 123.45s ======================="
        )
        out += [f"{ts()} Post job cleanup.", f"{ts()} Cleaning up orphan processes"]
        return "\n".join(out[:lines]) + "\n", []
    out += _ci_failure(ts, failing)
    out.append(f"{ts()} =============== 1 failed, {n_tests - 1} passed in 123.45s ===============")
    out.append(f"{ts()} ##[error]Process completed with exit code 1.")
    out.append(f"{ts()} Post job cleanup.")
    planted = [
        {"type": "test_failure", "count": 1, "what": failing},
        {"type": "error", "count": 1, "what": "the job's exit-code line"},
    ]
    return "\n".join(out[:lines]) + "\n", planted


JAVA_TRACE = """\
{ts} ERROR [http-nio-8080-exec-3] c.s.web.OrderController - Request processing failed
org.springframework.web.util.NestedServletException: Request processing failed; nested exception is java.lang.IllegalStateException: inventory mismatch for sku 4471
\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)
\tat org.springframework.web.servlet.FrameworkServlet.doPost(FrameworkServlet.java:909)
\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:681)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)
\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:764)
\tat org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:227)
\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:162)
\tat com.shop.web.AuthFilter.doFilter(AuthFilter.java:52)
\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:197)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.lang.IllegalStateException: inventory mismatch for sku 4471
\tat com.shop.inventory.StockService.reserve(StockService.java:88)
\tat com.shop.order.OrderService.place(OrderService.java:42)
\tat com.shop.web.OrderController.create(OrderController.java:31)
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
\tat java.base/java.lang.reflect.Method.invoke(Method.java:568)
\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:205)
\t... 48 more"""

PYTHON_TRACE = """\
{ts} ERROR [worker-2] app.jobs - job sync_rates crashed
Traceback (most recent call last):
  File "/app/jobs/sync.py", line 41, in fetch_rates
    resp = session.get(url, timeout=5)
  File "/usr/local/lib/python3.11/site-packages/requests/sessions.py", line 602, in get
    return self.request("GET", url, **kwargs)
  File "/usr/local/lib/python3.11/site-packages/requests/adapters.py", line 507, in send
    raise ConnectTimeout(e, request=request)
requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='rates.example.com', port=443): Max retries exceeded

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/jobs/runner.py", line 77, in run
    rates = fetch_rates()
  File "/app/jobs/sync.py", line 45, in fetch_rates
    raise RateSyncError("could not refresh rates")
app.jobs.errors.RateSyncError: could not refresh rates"""


def _java_noise(rng: random.Random, t: datetime) -> str:
    stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    roll = rng.random()
    if roll < 0.5:
        msg = f"INFO [http-nio-8080-exec-{rng.randint(1, 9)}] c.s.web.OrderController - order {rng.randint(1000, 99999)} placed in {rng.randint(3, 300)} ms"
    elif roll < 0.8:
        msg = f"INFO [scheduler-1] c.s.inventory.StockService - stock sync done, {rng.randint(1, 900)} skus"
    else:
        msg = (
            f"DEBUG [worker-{rng.randint(1, 4)}] app.jobs - polled queue, {rng.randint(0, 50)} jobs"
        )
    return f"{stamp} {msg}"


def traces_log(lines: int = 10_000, seed: int = 0, noise: bool = False) -> tuple[str, Planted]:
    """An application log with a Java and a Python stack trace (each a chain of two) in it."""
    rng = random.Random(seed)
    java, python = JAVA_TRACE.split("\n"), PYTHON_TRACE.split("\n")
    n_noise = lines if noise else max(2, lines - len(java) - len(python))
    times = _timeline(rng, n_noise)
    out = [_java_noise(rng, t) for t in times]
    if noise:
        return "\n".join(out) + "\n", []
    for block, at in ((java, n_noise // 3), (python, 2 * n_noise // 3)):
        t = times[min(at, len(times) - 1)]
        stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
        out[at:at] = [block[0].format(ts=stamp), *block[1:]]
    planted = [
        {"type": "error", "count": 2, "what": "the log lines that announce each trace"},
        {
            "type": "exception",
            "count": 1,
            "summary": "NestedServletException: Request processing failed",
        },
        {
            "type": "exception",
            "count": 1,
            "summary": "Caused by: java.lang.IllegalStateException: inventory mismatch",
        },
        {
            "type": "exception",
            "count": 1,
            "summary": "app.jobs.errors.RateSyncError: could not refresh rates",
        },
        {
            "type": "exception",
            "count": 1,
            "summary": "During handling of: requests.exceptions.ConnectTimeout",
        },
    ]
    return "\n".join(out) + "\n", planted


GENERATORS: dict[str, Callable[..., tuple[str, Planted]]] = {
    "pod": pod_log,
    "ci": ci_log,
    "traces": traces_log,
}


def bench(sizes: tuple[int, ...] = (1_000, 10_000, 100_000), budget: int = 3000) -> None:
    """Condense time, input size, templates and output tokens for pod logs of each size."""
    sys.path.insert(0, ".")
    from prellm.condense import Material, condense, count_tokens

    for n in sizes:
        text, planted = pod_log(n, seed=1)
        started, cpu = time.perf_counter(), time.process_time()
        result = condense([Material("pod.log", text)])
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        rendered = result.render(budget)
        whole = count_tokens(result.render(10**9))
        found = {
            p["type"]: sum(f.count for f in result.findings if f.kind == p["type"]) for p in planted
        }
        recall = sum(found[p["type"]] == p["count"] for p in planted)
        print(
            f"{n:>7} lines {len(text.encode()) / 1e6:6.2f} MB  condense {took:6.2f} s"
            f" (cpu {cpu:5.2f} s)"
            f"  templates {result.templates:4d}  findings {len(result.findings):4d}"
            f"  rendered {count_tokens(rendered):5d} tokens (all findings {whole})"
            f"  planted recovered {recall}/{len(planted)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(GENERATORS), default="pod")
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", action="store_true", help="no incidents at all")
    parser.add_argument("--out", default="-", help="file to write (default stdout)")
    parser.add_argument("--planted", help="also write the planted incidents as JSON here")
    parser.add_argument("--bench", action="store_true", help="time condense on 1k/10k/100k")
    args = parser.parse_args(argv)
    if args.bench:
        bench()
        return 0
    text, planted = GENERATORS[args.kind](args.lines, seed=args.seed, noise=args.noise)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    if args.planted:
        with open(args.planted, "w", encoding="utf-8") as fh:
            json.dump(planted, fh, indent=2)
    print(json.dumps(planted), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
