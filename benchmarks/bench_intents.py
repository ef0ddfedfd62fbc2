"""Intent classification with the classify step on Banking77 and CLINC150 (from ../shared/datasets).

    python benchmarks/bench_intents.py [--small local/qwen2.5-coder-1.5b] [--items 300] [--oos 100] [--shortlist 8]

Banking77: a fixed sample (seed 0) of the test split, 77 labels, once with the full
label set and once in two stages: BM25 retrieval over label names and a few examples
per label picks K candidates, then the model chooses (examples are test items outside
the evaluated sample; Banking77's train split is not here). CLINC150: a fixed sample of
the in-scope test items (150 labels plus out_of_scope) and of the out-of-scope test
items, two stages with examples from the train split; the retrieval score under which
out_of_scope is offered first is calibrated on the validation split. Reports in-scope
accuracy and the out-of-scope detection rate. Retrieval's own top-1 is printed as a
baseline. Results are cached per item in .prellm/eval/, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from prellm.config.schema import IntentSpec
from prellm.eval.classify import OUT_OF_SCOPE, SUMMARY_KEYS, run_classify
from prellm.eval.data import (
    Taxonomy,
    held_out_examples,
    load_dataset,
    sample,
    taxonomy_from_labels,
)
from prellm.intents import LabelIndex, calibrate_oos_score

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def progress(name: str):
    t0 = time.perf_counter()

    def tick(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            rate = (time.perf_counter() - t0) / done
            print(f"  {name}: {done}/{total} ({rate:.1f} s/item)", file=sys.stderr, flush=True)

    return tick


def measure(results: dict, key: str, title: str, rows: list[dict], tax: Taxonomy, **kw) -> None:
    """Run the classify step over ``rows`` (cached per item), keep and print its figures."""
    report = run_classify(rows, taxonomy=tax, on_item=progress(key), **kw)
    results[key] = report
    shown = ", ".join(f"{k}={report[k]}" for k in SUMMARY_KEYS if k in report)
    print(f"{title}: {shown}", flush=True)


def retrieval_top1(rows: list[dict], tax: Taxonomy, oos_score: float | None = None) -> float:
    """Accuracy of retrieval alone: its best label (or out_of_scope under the score)."""
    index = LabelIndex(tax.intents)
    hits = 0
    for r in rows:
        best = index.rank(r["text"], 1)[0]
        pred = OUT_OF_SCOPE if oos_score is not None and best.score < oos_score else best.name
        hits += pred == r["label"]
    return round(hits / len(rows), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", default="local/qwen2.5-coder-1.5b")
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--oos", type=int, default=100)
    ap.add_argument("--shortlist", type=int, default=8)
    ap.add_argument("--only", choices=["banking77", "clinc150"], default=None)
    ap.add_argument(
        "--names-shortlist", action="store_true", help="Also the two-stage run by label names alone"
    )
    ap.add_argument(
        "--examples",
        type=int,
        default=10,
        help="Examples per label (held out from the evaluated sample)",
    )
    args = ap.parse_args()
    results: dict = {}
    if args.only in (None, "banking77"):
        path = SHARED / "banking77" / "test.csv"
        every = load_dataset(path, "text", "category")
        rows = sample(every, args.items, seed=0)
        labels = json.loads((SHARED / "banking77" / "categories.json").read_text())
        tax = taxonomy_from_labels(labels)
        name = f"Banking77 {len(rows)} items"
        measure(
            results,
            "banking77_full",
            f"{name}, 77 labels",
            rows,
            tax,
            small=args.small,
            dataset=str(path),
        )
        if args.names_shortlist:
            measure(
                results,
                "banking77_shortlist",
                f"{name}, shortlist of {args.shortlist} by label names",
                rows,
                tax,
                small=args.small,
                dataset=str(path),
                shortlist_k=args.shortlist,
            )
        # Banking77's train split is not here: examples come from test items outside the sample.
        tax_ex = taxonomy_from_labels(labels, held_out_examples(every, rows, args.examples))
        print(f"Banking77 retrieval top-1 alone: {retrieval_top1(rows, tax_ex)}", flush=True)
        measure(
            results,
            "banking77_shortlist_examples",
            f"{name}, shortlist of {args.shortlist} by {args.examples} held-out examples per label",
            rows,
            tax_ex,
            small=args.small,
            dataset=str(path),
            shortlist_k=args.shortlist,
        )
    if args.only in (None, "clinc150"):
        path = SHARED / "clinc150" / "data_full.json"
        data = json.loads(path.read_text())
        train = [{"text": t, "label": lb} for t, lb in data["train"]]
        in_scope = taxonomy_from_labels(
            [r["label"] for r in train], held_out_examples(train, [], args.examples)
        )
        tax = Taxonomy(
            intents=in_scope.intents
            + [
                IntentSpec(
                    name=OUT_OF_SCOPE,
                    description="none of the other labels fits; the request is outside what this assistant handles",
                )
            ]
        )
        rows = sample([{"text": t, "label": lb} for t, lb in data["test"]], args.items, seed=0)
        rows += sample(
            [{"text": t, "label": OUT_OF_SCOPE} for t, _ in data["oos_test"]], args.oos, seed=0
        )
        oos_score = calibrate_oos_score(
            LabelIndex(tax.intents),
            [t for t, _ in sample(data["val"], 1000, seed=0)],
            [t for t, _ in data["oos_val"]],
        )
        print(
            f"CLINC150 out_of_scope score calibrated on the validation split: {oos_score:.2f}; "
            f"retrieval top-1 alone: {retrieval_top1(rows, tax, oos_score)}",
            flush=True,
        )
        measure(
            results,
            "clinc150_shortlist",
            f"CLINC150 {args.items} in-scope + {args.oos} out-of-scope, shortlist of {args.shortlist}",
            rows,
            tax,
            small=args.small,
            dataset=str(path),
            shortlist_k=args.shortlist,
            oos_score=oos_score,
        )
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
