"""Big inputs end to end: seeded material with planted incidents, through the engine.

    python benchmarks/bench_condense.py                      # pod logs, 1k/10k/100k lines
    python benchmarks/bench_condense.py --kinds pod,ci,traces --sizes 1000,10000
    python benchmarks/bench_condense.py --small test/echo    # the mining alone, no model

For each material and size: wall time from the call to the moment the large model is
asked (the small model is the embedded one unless --small says otherwise), the small
calls spent, the tokens the large model receives (litellm's tokenizer for gpt-4o-mini;
preLLM's own estimate in brackets), and recall of the planted incidents in that request
(an incident counts when a finding line names its kind and its exact count).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import material  # noqa: E402  (benchmarks/material.py: the seeded generator)

from prellm import PreLLM  # noqa: E402
from prellm.providers.testing import register_function  # noqa: E402

QUESTIONS = {
    "pod": "Zdiagnozuj problem z K8s podami: why do the pods restart and what failed?",
    "ci": "Why did this CI run fail?",
    "traces": "What went wrong in these services?",
}
GENERATORS = {"pod": material.pod_log, "ci": material.ci_log, "traces": material.traces_log}


class Upstream:
    """The large model: answers at once and keeps what it was sent, and when."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.at = 0.0

    def __call__(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        self.at = time.perf_counter()
        self.sent = messages
        return "ok"


def recall(text: str, planted: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """How many planted incidents the request names with their kind and exact count."""
    lines = text.splitlines()
    missed = []
    for p in planted:
        kind, count = p["type"].upper(), p["count"]
        pattern = re.compile(rf"\b{re.escape(kind)}\b.*×{count}\b")
        if not any(pattern.search(line) for line in lines):
            missed.append(f"{p['type']}×{count}")
    return len(planted) - len(missed), missed


def tokens(messages: list[dict[str, Any]]) -> int:
    import litellm

    return int(litellm.token_counter(model="gpt-4o-mini", messages=messages))


def run_one(engine: PreLLM, up: Upstream, kind: str, lines: int, seed: int) -> dict[str, Any]:
    text, planted = GENERATORS[kind](lines, seed=seed)
    t0 = time.perf_counter()
    result = engine.run(QUESTIONS[kind], files=[{"name": f"{kind}.log", "content": text}])
    sent = json.dumps(up.sent, ensure_ascii=False)
    found, missed = recall("\n".join(str(m.get("content")) for m in up.sent), planted)
    c = result.condensed
    return {
        "kind": kind,
        "lines": lines,
        "kb": len(text.encode()) // 1024,
        "to_large_s": round(up.at - t0, 2),
        "small_calls": sum(1 for s in result.stages if s.role == "small"),
        "tokens": tokens(up.sent),
        "estimate": c.output_tokens if c else None,
        "recall": f"{found}/{len(planted)}",
        "missed": missed,
        "strategy": result.strategy,
        "fallback": result.decomposition.fallback_reason,
        "chars_sent": len(sent),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="pod")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--small", default=None, help="small model (default: the embedded one)")
    ap.add_argument("--strategy", default="structure")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    args = ap.parse_args(argv)
    up = Upstream()
    large = register_function("bench-large", up)
    engine = PreLLM(args.small, large, args.strategy, budget=False)
    engine.run("warm up: say hi", strategy=args.strategy)  # model load is not the figure
    print(f"small model: {engine.models[0]}; strategy {args.strategy}; seed {args.seed}")
    head = f"{'kind':6} {'lines':>7} {'KB':>6} {'to large s':>10} {'small':>5} {'tokens':>7} {'recall':>6}"
    print(head)
    for kind in args.kinds.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            row = run_one(engine, up, kind, size, args.seed)
            if args.json:
                print(json.dumps(row))
                continue
            print(
                f"{kind:6} {size:>7} {row['kb']:>6} {row['to_large_s']:>10.2f} "
                f"{row['small_calls']:>5} {row['tokens']:>7} {row['recall']:>6}"
                + (f"  missed {', '.join(row['missed'])}" if row["missed"] else "")
                + (f"  fallback: {row['fallback']}" if row["fallback"] else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
