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
    "--judge",
    metavar="MODEL",
    help="A model that compares answers pairwise, both orders (any litellm model; "
    "default with --text-field: the embedded model, else the large one).",
)
@click.option("--strategies", default="passthrough,classify,structure,enrich", show_default=True)
@click.option(
    "--text-field",
    metavar="FIELD",
    help="Read TASKS as a prompt set (JSONL, or a JSON array) with the prompt in FIELD.",
)
@click.option(
    "--rewrite-field",
    metavar="FIELD",
    help="With --text-field: a field holding another system's rewrite of the prompt, "
    "answered by the same large model as an extra contender.",
)
@click.option(
    "--rewrite-name",
    default="rewrite",
    show_default=True,
    help="The rewrite contender's name in the report (e.g. bpo).",
)
@click.option("--limit", type=click.IntRange(min=1), help="A fixed sample of N items (by --seed).")
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
    text_field: str | None,
    rewrite_field: str | None,
    rewrite_name: str,
    limit: int | None,
    seed: int,
    max_tokens: int | None,
    as_json: bool,
    html_path: str | None,
) -> None:
    """Run each strategy on TASKS (YAML/JSONL tasks, a prompt set with --text-field, or
    'builtin') and score the answers: checks, and wins/ties/losses against passthrough
    (and against the prompt set's own rewrite) by a position-swapped judge."""
    from ..errors import PreLLMError
    from ..eval.compare import run_compare
    from ..eval.data import load_prompts, load_tasks, sample
    from ..providers import resolve_models

    names = _compare_names(strategies, rewrite_field and rewrite_name)
    if rewrite_field and not text_field:
        raise click.UsageError("--rewrite-field needs --text-field")
    try:
        small_model, large_model, _ = resolve_models(small, large)
        every = load_prompts(tasks, text_field, rewrite_field) if text_field else load_tasks(tasks)
        items = sample(every, limit, seed)
        judge = judge or (_default_judge(large_model) if text_field else None)
        rewrite = rewrite_name if rewrite_field else None
        with _progress("compare") as progress:
            bar = progress.add_task("runs", total=len(items) * (len(names) + bool(rewrite)))
            report = run_compare(
                items,
                small_model,
                large_model,
                names,
                judge_model=judge,
                seed=seed,
                max_tokens=max_tokens,
                rewrite=rewrite,
                on_item=lambda done, total: progress.update(bar, completed=done),
            )
    except PreLLMError as exc:
        click.echo(f"prellm: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    report["tasks_file"], report["sample"] = tasks, {"limit": limit, "seed": seed}
    _finish(
        report,
        as_json,
        html_path,
        f"prellm eval compare · {Path(tasks).name} · {small_model} → {large_model}"
        + (f" · judge {judge}" if judge else ""),
        _compare_table(report),
        _compare_charts(report),
    )


def _default_judge(large: str) -> str:
    """A prompt set has no checks: the judge is its only score."""
    from ..providers import DEFAULT_LOCAL_MODEL, embedded_installed

    return DEFAULT_LOCAL_MODEL if embedded_installed() else large


def _compare_names(strategies: str, rewrite: str | None) -> list[str]:
    """The --strategies list (passthrough always included), checked."""
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    bad = [s for s in names if s not in strategy_names()]
    if bad:
        raise click.BadParameter(f"unknown strategy {bad[0]!r}", param_hint="--strategies")
    if rewrite and rewrite in strategy_names():
        raise click.BadParameter(
            f"{rewrite!r} is a strategy's name; choose another", param_hint="--rewrite-name"
        )
    return ["passthrough", *[s for s in names if s != "passthrough"]]


def _wtl(v: dict[str, Any] | None) -> str:
    return f"{v['wins']}/{v['ties']}/{v['losses']}" if v else "-"


def _compare_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per contender; columns with nothing to show (no checks, no cost) are left out."""
    rewrite, s = report.get("rewrite"), report["strategies"]
    checks = any(v["check_pass_rate"] is not None for v in s.values())
    cost = any(v["cost_usd"] for v in s.values())
    rows = []
    for name, v in s.items():
        row: dict[str, Any] = {"strategy": name, "tasks": v["tasks"]}
        if checks:
            row["checks passed"] = v["check_pass_rate"]
        row["W/T/L vs passthrough"] = "-" if name == "passthrough" else _wtl(v)
        row["win rate"] = v["win_rate_vs_passthrough"]
        if rewrite:
            row[f"W/T/L vs {rewrite}"] = "-" if name == rewrite else _wtl(v.get(f"vs_{rewrite}"))
        row.update(
            {
                "judge by position": v["judge_position_picks"],
                "s/answer p50": v["seconds_p50"],
                "small s mean": v["small_seconds_mean"],
                "errors": v["errors"],
                "tokens/task": v["tokens_per_task"],
            }
        )
        if cost:
            row["cost USD"] = v["cost_usd"]
        rows.append(row)
    return rows


def _compare_charts(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    s = report["strategies"]
    charts = {
        "check pass rate": {k: v["check_pass_rate"] for k, v in s.items()},
        "win rate vs passthrough": {k: v["win_rate_vs_passthrough"] for k, v in s.items()},
        "seconds per answer (p50)": {k: v["seconds_p50"] for k, v in s.items()},
        "cost (USD)": {k: v["cost_usd"] for k, v in s.items()},
    }
    if rw := report.get("rewrite"):
        charts[f"win rate vs {rw}"] = {
            k: (v.get(f"vs_{rw}") or {}).get("win_rate") for k, v in s.items()
        }
    return charts
