"""``prellm context show``: what preLLM would add about the project and the machine."""

from __future__ import annotations

import json
import sys

import click

from .main import cli


@cli.group()
def context() -> None:
    """Project and runtime context."""


@context.command("show")
@click.option(
    "--codebase", type=click.Path(exists=True, file_okay=False), default=".", show_default=True
)
@click.option(
    "--query", "-q", default="", help="Rank the project's files by relevance to this query."
)
@click.option(
    "--budget", default=2000, show_default=True, type=click.IntRange(min=50), help="Token budget."
)
@click.option("--runtime/--no-runtime", "runtime", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def show(codebase: str, query: str, budget: int, runtime: bool, as_json: bool) -> None:
    """Print the project summary (with its token count) and the runtime context."""
    from ..context import FolderCompressor, collect_runtime, runtime_text
    from ..errors import PreLLMError
    from ..safety import SensitiveDataFilter

    try:
        summary = FolderCompressor(codebase, budget).summarize(query)
    except PreLLMError as exc:
        click.echo(f"prellm: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    guard = SensitiveDataFilter()  # shown as it would be sent
    text = guard.redact(summary.text)
    info = collect_runtime() if runtime else None
    if as_json:
        out = {
            "codebase": {
                "text": text,
                "tokens": summary.tokens,
                "files_seen": summary.files_seen,
                "files_listed": summary.files_listed,
                "ms": round(summary.ms, 1),
                "languages": summary.languages,
            },
            "runtime": info,
            "redactions": guard.report,
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(text)
    if info:
        click.echo("\n" + guard.redact(runtime_text(info)))
    click.echo(
        f"\n{summary.files_listed} of {summary.files_seen} files · ~{summary.tokens} tokens "
        f"(budget {budget}) · {summary.ms:.0f} ms",
        err=True,
    )
