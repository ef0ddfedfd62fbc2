"""SensitiveDataFilter on the test corpus: recall per kind, false positives, speed.

python benchmarks/bench_sensitive.py
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sensitive_corpus import CLEAN, CONTEXTS, SENSITIVE  # noqa: E402

from prellm.safety import SensitiveDataFilter  # noqa: E402


def main() -> None:
    found: dict[str, list[bool]] = defaultdict(list)
    for kind, value, text in SENSITIVE:
        f = SensitiveDataFilter()
        out = f.redact(text)
        found[kind].append(value not in out and f.restore(out) == text)
    changed = sum(SensitiveDataFilter().redact(t) != t for t in CLEAN)
    hits = sum(sum(v) for v in found.values())
    print(
        f"sensitive samples: {len(SENSITIVE)} ({len(found)} kinds x {len(CONTEXTS)} contexts: {', '.join(CONTEXTS)})"
    )
    print(f"recall: {hits}/{len(SENSITIVE)} = {hits / len(SENSITIVE):.1%}")
    for kind, oks in found.items():
        if not all(oks):
            print(f"  missed {kind}: {oks.count(False)}/{len(oks)}")
    print(f"clean samples: {len(CLEAN)}; false positives: {changed} = {changed / len(CLEAN):.1%}")
    text = "\n".join(t for _, _, t in SENSITIVE) + "\n".join(CLEAN)
    t0 = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        SensitiveDataFilter().redact(text)
    dt = (time.perf_counter() - t0) / rounds
    print(f"speed: {len(text) / dt / 1e6:.2f} MB/s ({len(text)} chars in {dt * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
