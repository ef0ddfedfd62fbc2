"""Every shipped sensitive-data pattern on its own, on every adversarial input: is it linear?

python benchmarks/sensitive_patterns_probe.py [--size 1000000] [--top 15]

Runs each pattern of prellm/data/sensitive.yaml (and each prefilter) with plain
``re.finditer`` over the whole of each adversarial input (no anchors, no windows:
the worst case), at ``size`` and at a quarter of it. A linear pattern takes about
4x as long on the larger input; a backtracking one 16x or worse. Prints the
slowest pattern/input pairs and the largest growth ratio among those that take
long enough to measure.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sensitive_eval import MB, adversarial_inputs  # noqa: E402

from prellm.safety.rules import default_rules  # noqa: E402


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for rule in default_rules():
        out.append((rule.spec.name, re.compile(rule.spec.pattern)))
        if rule.spec.prefilter:
            out.append((rule.spec.name + ".prefilter", re.compile(rule.spec.prefilter)))
    return out


def _time(pattern: re.Pattern[str], text: str) -> float:
    t0 = time.perf_counter()
    for _ in pattern.finditer(text):
        pass
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=MB)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    big, small = adversarial_inputs(args.size), adversarial_inputs(args.size // 4)
    rows = []
    for name, pattern in _patterns():
        for input_name, text in big.items():
            t_big = _time(pattern, text)
            t_small = _time(pattern, small[input_name]) if t_big > 0.02 else 0.0
            rows.append((t_big, t_big / t_small if t_small else 0.0, name, input_name))
    rows.sort(reverse=True)
    print(f"{len(_patterns())} patterns x {len(big)} inputs of {args.size / 1e6:.1f} MB")
    print(f"worst: {rows[0][0] * 1000:.0f} ms ({rows[0][2]} on {rows[0][3]!r})")
    measurable = [r for r in rows if r[0] > 0.02]
    if measurable:
        worst_ratio = max(measurable, key=lambda r: r[1])
        print(
            f"largest growth x4 size -> x{worst_ratio[1]:.1f} time "
            f"({worst_ratio[2]} on {worst_ratio[3]!r}, {worst_ratio[0] * 1000:.0f} ms)"
        )
    for t, ratio, name, input_name in rows[: args.top]:
        print(f"  {t * 1000:7.1f} ms  x{ratio:4.1f}  {name:28s} {input_name!r}")


if __name__ == "__main__":
    main()
