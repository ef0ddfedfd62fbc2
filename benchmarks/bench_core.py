"""Start-up time and small-stage latency on this machine.

    python benchmarks/bench_core.py [--queries N] [--strategies classify,structure,...]

Prints: `import prellm` and `prellm --help` wall time (median of 7 runs, minus a
bare interpreter start for the import), then per strategy the small stage's
latency p50/p95 with the embedded model, the small calls per query and the small
model's output tokens (the decomposition cache off, so every query reaches the model),
and last the decomposition cache: the same query asked again in a warm process, timed
end to end (``engine.run``), with its small calls. The large model is the deterministic
test model, so only the preprocessing is timed. State (cache, traces) goes to a fresh
temporary data directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = [
    "Deploy app to prod",
    "Wdróż aplikację na produkcję",
    "Why does my Python script crash with KeyError: 'id'?",
    "Dlaczego mój kontener Docker restartuje się co minutę?",
    "Refactor this function to use async/await",
    "Explain what a Kubernetes readiness probe does",
    "Write a bash script that backs up /var/www every night",
    "Napisz skrypt, który codziennie robi backup bazy PostgreSQL",
    "Configure nginx as a reverse proxy for port 8080",
    "Skonfiguruj GitLab CI do testów w Pythonie",
    "Analyze these logs and tell me why latency spiked",
    "How much VAT do I add to an invoice for a client in Germany?",
    "Create a FreeRTOS task that blinks an LED every 500 ms on STM32",
    "Automate weekly cost reports from AWS to Slack",
    "What is the difference between Helm and Kustomize, and which should I use?",
    "Przeanalizuj koszty chmury za ostatni miesiąc",
    "Set up Prometheus alerts for disk usage above 90%",
    "Fix the memory leak in my Node.js server",
    "Explain the CAP theorem with an example",
    "Zautomatyzuj wysyłanie faktur do klientów co miesiąc",
]


def median_seconds(cmd: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def startup() -> None:
    bare = median_seconds([sys.executable, "-c", "pass"])
    imp = median_seconds([sys.executable, "-c", "import prellm"])
    exe = shutil.which("prellm") or os.path.join(os.path.dirname(sys.executable), "prellm")
    hlp = median_seconds([exe, "--help"])
    print(
        f"import prellm:  {(imp - bare) * 1000:7.1f} ms (over a bare interpreter start of {bare * 1000:.0f} ms)"
    )
    print(f"prellm --help:  {hlp * 1000:7.1f} ms (whole process)")


def small_stage(strategies: list[str], n: int) -> None:
    from prellm import PreLLM

    local = "local/qwen2.5-coder-1.5b"
    t0 = time.perf_counter()
    PreLLM(local, "test/echo", "passthrough").run("warm up", max_tokens=1)
    from prellm.providers.embedded import get_runtime

    get_runtime("qwen2.5-coder-1.5b")
    print(
        f"embedded model ready in {time.perf_counter() - t0:.1f} s (load, first run assembles and hashes the GGUF)"
    )
    print(
        f"\n{'strategy':<10} {'n':>3} {'p50 s':>7} {'p95 s':>7} {'calls/q':>8} {'out tok':>8} {'fallbacks':>9}"
    )
    queries = (QUERIES * (n // len(QUERIES) + 1))[:n]
    for name in strategies:
        engine = PreLLM(local, "test/echo", name)
        # A first call per strategy fills llama.cpp's prompt cache, as in steady use.
        engine.run(queries[0], cache=False)
        ms, calls, out_tokens, fallbacks = [], [], [], 0
        for q in queries:
            r = engine.run(q, cache=False)
            small = [s for s in r.stages if s.role == "small"]
            ms.append(sum(s.ms for s in small) / 1000)
            calls.append(len(small))
            out_tokens.append(sum(s.completion_tokens for s in small))
            fallbacks += r.decomposition.fallback_reason is not None
        print(
            f"{name:<10} {n:>3} {statistics.median(ms):7.2f} {pct(ms, 0.95):7.2f} "
            f"{statistics.mean(calls):8.2f} {statistics.mean(out_tokens):8.1f} {fallbacks:>9}"
        )


def cache_hits(n: int, strategy: str = "structure") -> None:
    """The same query again: end-to-end time of the hit and its small calls."""
    from prellm import PreLLM

    engine = PreLLM("local/qwen2.5-coder-1.5b", "test/echo", strategy)
    ms, small_calls, hits = [], [], 0
    for q in QUERIES[:n]:
        engine.run(q)  # a miss: analysed and stored
        t0 = time.perf_counter()
        r = engine.run(q)
        ms.append((time.perf_counter() - t0) * 1000)
        small_calls.append(sum(s.role == "small" for s in r.stages))
        hits += r.cache == "hit"
    print(
        f"\ncache hit ({strategy}, n={n}): p50 {statistics.median(ms):.1f} ms, "
        f"p95 {pct(ms, 0.95):.1f} ms end to end, {statistics.mean(small_calls):.2f} small calls, "
        f"{hits}/{n} hits"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--strategies", default="classify,structure,split,enrich,auto")
    ap.add_argument("--startup-only", action="store_true")
    ap.add_argument("--cache-queries", type=int, default=10, help="0: no cache-hit row")
    args = ap.parse_args()
    os.environ["PRELLM_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-core-")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    startup()
    if not args.startup_only:
        if args.strategies:
            small_stage(args.strategies.split(","), args.queries)
        if args.cache_queries:
            cache_hits(min(args.cache_queries, len(QUERIES)))


if __name__ == "__main__":
    main()
