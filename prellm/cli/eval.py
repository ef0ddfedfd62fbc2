"""``prellm eval classify`` and ``prellm eval compare``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .main import cli
from .params import strategy_names


def _progress(total_hint: str) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        f"[bold]{total_hint}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "eta",
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _finish(
    report: dict[str, Any],
    as_json: bool,
    html_path: str | None,
    title: str,
    table: list[dict[str, Any]],
    charts: dict[str, dict[str, float | None]],
) -> None:
    from ..eval.report import html_report, print_table

    if html_path:
        Path(html_path).write_text(html_report(title, [(title, table, charts)]), encoding="utf-8")
        click.echo(f"report written to {html_path}", err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_table(title, table)
    if report.get("interrupted"):
        click.echo(
            f"interrupted: partial results; run again to resume (cache {report.get('cache')})",
            err=True,
        )


@cli.group("eval")
def eval_group() -> None:
    """Measure preprocessing: intent accuracy on labelled data, strategies side by side."""


@eval_group.command("classify")
@click.argument("dataset", type=click.Path(dir_okay=False))
@click.option(
    "--small",
    metavar="MODEL",
    help="Small model (default: PRELLM_SMALL_MODEL or the embedded one).",
)
@click.option(
    "--taxonomy",
    type=click.Path(dir_okay=False),
    help="YAML labels (name, description, examples); default: the dataset's labels.",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="A fixed sample of N items (by --seed).")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--shortlist",
    type=click.IntRange(min=0),
    help="Two stages: retrieve K candidate labels, then let the model choose "
    "(default: 8 with more than 20 labels; 0: offer every label).",
)
@click.option(
    "--no-shortlist", is_flag=True, help="Offer every label, however many (--shortlist 0)."
)
@click.option(
    "--oos-score",
    type=float,
    help="With --shortlist and an out_of_scope label: retrieval score under which "
    "out_of_scope is offered first (calibrate it on held-out data).",
)
@click.option(
    "--examples",
    default=10,
    show_default=True,
    type=click.IntRange(min=0, max=10),
    help="With --shortlist and no --taxonomy: examples per label for retrieval, taken from "
    "dataset items outside the evaluated sample.",
)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--report",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report.",
)
def eval_classify(
    dataset: str,
    small: str | None,
    taxonomy: str | None,
    text_column: str,
    label_column: str,
    limit: int | None,
    seed: int,
    shortlist: int | None,
    no_shortlist: bool,
    oos_score: float | None,
    examples: int,
    as_json: bool,
    html_path: str | None,
) -> None:
    """Run the classify step over DATASET (CSV or JSONL) and report accuracy, macro-F1 and more."""
    from ..errors import PreLLMError
    from ..eval.classify import SUMMARY_KEYS, run_classify
    from ..eval.data import (
        held_out_examples,
        load_dataset,
        load_taxonomy,
        sample,
        taxonomy_from_labels,
    )
    from ..intents import shortlist_size
    from ..providers import resolve_models

    if no_shortlist and shortlist:
        raise click.UsageError("--no-shortlist and --shortlist K: choose one")
    try:
        small_model = resolve_models(small, small or "test/unused")[0]
        every = load_dataset(dataset, text_column, label_column)
        rows = sample(every, limit, seed)
        tax = load_taxonomy(taxonomy) if taxonomy else None
        labels = len(tax.intents) if tax else len({r["label"] for r in every})
        # A big label set is shortlisted by default, as in the engine; a taxonomy file's
        # shortlist: applies unless the command line says otherwise.
        asked = shortlist if shortlist is not None else (tax.shortlist if tax else None)
        shortlist = shortlist_size(labels, 0 if no_shortlist else asked) or None
        if tax is None:
            # Labels come from the whole dataset: a --limit sample must not shrink the choice.
            # Retrieval needs words to match, so a shortlist borrows unevaluated items.
            lent = held_out_examples(every, rows, examples) if shortlist and examples else None
            tax = taxonomy_from_labels([r["label"] for r in every], lent)
        with _progress(f"classify {Path(dataset).name}") as progress:
            task = progress.add_task("items", total=len(rows))
            report = run_classify(
                rows,
                small_model,
                tax,
                dataset=dataset,
                shortlist_k=shortlist,
                oos_score=oos_score,
                seed=seed,
                on_item=lambda done, total: progress.update(task, completed=done),
            )
    except PreLLMError as exc:
        click.echo(f"prellm: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    table = [{k.replace("_", " "): report[k] for k in SUMMARY_KEYS if k in report}]
    _finish(
        report,
        as_json,
        html_path,
        f"prellm eval classify · {Path(dataset).name} · {small_model}",
        table,
        {"accuracy": {"accuracy": report["accuracy"], "macro-F1": report["macro_f1"]}},
    )
    if not as_json and report["worst_confusions"]:
        click.echo(
            "worst confusions: "
            + "; ".join(
                f"{c['gold']} → {c['predicted']} ×{c['count']}" for c in report["worst_confusions"]
            )
        )


@eval_group.command("compare")
@click.argument("tasks", default="builtin")
@click.option("--small", metavar="MODEL")
@click.option("--large", metavar="MODEL")
@click.option(
    "--judge", metavar="MODEL", help="A model that compares answers pairwise (both orders)."
)
@click.option("--strategies", default="passthrough,classify,structure,enrich", show_default=True)
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--max-tokens", type=click.IntRange(min=1), help="Cap each answer (faster on a local model)."
)
@click.option("--json", "as_json", is_flag=True)
@click.option("--report", "html_path", type=click.Path(dir_okay=False))
def eval_compare(
    tasks: str,
    small: str | None,
    large: str | None,
    judge: str | None,
    strategies: str,
    limit: int | None,
    seed: int,
    max_tokens: int | None,
    as_json: bool,
    html_path: str | None,
) -> None:
    """Run each strategy on TASKS (YAML/JSONL, or 'builtin') and score the answers."""
    from ..errors import PreLLMError
    from ..eval.compare import run_compare
    from ..eval.data import load_tasks, sample
    from ..providers import resolve_models

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    bad = [s for s in names if s not in strategy_names()]
    if bad:
        raise click.BadParameter(f"unknown strategy {bad[0]!r}", param_hint="--strategies")
    try:
        small_model, large_model, _ = resolve_models(small, large)
        items = sample(load_tasks(tasks), limit, seed)
        with _progress("compare") as progress:
            bar = progress.add_task("runs", total=len(items) * len(set(names) | {"passthrough"}))
            report = run_compare(
                items,
                small_model,
                large_model,
                names,
                judge_model=judge,
                seed=seed,
                max_tokens=max_tokens,
                on_item=lambda done, total: progress.update(bar, completed=done),
            )
    except PreLLMError as exc:
        click.echo(f"prellm: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    table = [
        {
            "strategy": s,
            "tasks": v["tasks"],
            "checks passed": v["check_pass_rate"],
            "win rate": v["win_rate_vs_passthrough"],
            "W/T/L": f"{v['wins']}/{v['ties']}/{v['losses']}",
            "errors": v["errors"],
            "tokens/task": v["tokens_per_task"],
            "cost USD": v["cost_usd"],
        }
        for s, v in report["strategies"].items()
    ]
    charts = {
        "check pass rate": {s: v["check_pass_rate"] for s, v in report["strategies"].items()},
        "win rate vs passthrough": {
            s: v["win_rate_vs_passthrough"] for s, v in report["strategies"].items()
        },
        "cost (USD)": {s: v["cost_usd"] for s, v in report["strategies"].items()},
    }
    _finish(
        report,
        as_json,
        html_path,
        f"prellm eval compare · {small_model} → {large_model}",
        table,
        charts,
    )
