"""``prellm "query"`` / ``prellm query "query"``: run one request from the shell.

Unix habits: the answer goes to stdout (streamed as it arrives), progress and
notices to stderr, ``-`` or a pipe reads the query from stdin, ``--json`` prints
exactly one JSON object. Exit codes: 0 ok, 1 runtime or provider failure,
2 usage or configuration error; the cause is one line on stderr, with a
traceback only under ``--debug``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from .params import STRATEGY


class DefaultToQuery(click.Group):
    """A group whose unknown first word is a query: ``prellm "Deploy app"`` == ``prellm query "Deploy app"``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["query", *args]
        elif not args and not sys.stdin.isatty():
            args = ["query"]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        """Every command's preLLM errors end the same way: one line, exit 2 or 1."""
        from ..errors import PreLLMError

        try:
            return super().invoke(ctx)
        except PreLLMError as exc:
            if "--debug" in sys.argv:
                import traceback

                traceback.print_exc()
            click.echo(f"prellm: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=DefaultToQuery, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prellm")
def cli() -> None:
    """preLLM: a small LLM turns a weak prompt into a good one; a large LLM answers it.

    \b
    prellm "Deploy app to prod"
    prellm "Wdróż aplikację" --small ollama/qwen2.5:3b --large gpt-4o-mini --strategy structure
    echo "Explain this error" | prellm - --json
    """


@cli.command()
@click.argument("text", required=False)
@click.option(
    "--small",
    "small",
    metavar="MODEL",
    help="Small model (litellm string); default PRELLM_SMALL_MODEL or the embedded model.",
)
@click.option(
    "--large",
    "large",
    metavar="MODEL",
    help="Large model (litellm string); default PRELLM_LARGE_MODEL or the embedded model.",
)
@click.option(
    "--strategy",
    "-s",
    type=STRATEGY,
    default=None,
    help="How the prompt is rewritten [default: from the config, else auto].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="prellm.yaml to use (else discovered).",
)
@click.option(
    "--pipeline",
    help="Run a pipeline (built-in: classify, structure, split, enrich, dual_agent_full, passthrough).",
)
@click.option("--domain", help="Built-in domain defaults: devops, coding, business, embedded.")
@click.option(
    "--schema",
    "schema_name",
    metavar="NAME",
    help="Ask for a response schema from schemas.yaml; prints the validated object.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["json", "yaml"]),
    default="json",
    show_default=True,
    help="Output format of --schema.",
)
@click.option(
    "--context",
    "-c",
    "context",
    metavar="TEXT",
    help="What the user's situation is (environment, versions...).",
)
@click.option(
    "--system",
    metavar="TEXT",
    help="A system prompt for the large model, kept ahead of preLLM's guidance.",
)
@click.option("--temperature", type=float, help="Large model temperature.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Large model max_tokens.")
@click.option(
    "--codebase",
    type=click.Path(exists=True, file_okay=False),
    help="Add a compact summary of this project.",
)
@click.option(
    "--file",
    "-f",
    "files",
    multiple=True,
    metavar="PATH",
    help="Attach a file (log, trace, diff, document) to the question; repeatable; "
    "'-' reads it from stdin. Big material is condensed to ranked evidence.",
)
@click.option(
    "--runtime",
    "collect_runtime",
    is_flag=True,
    help="Add OS, tools and git state (never env values).",
)
@click.option(
    "--no-sanitize",
    is_flag=True,
    help="Send secrets and personal data as they are (they are redacted by default).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Run the small model even when the same analysis is cached (and do not cache it).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print exactly one JSON object: the PreLLMResult."
)
@click.option(
    "--no-stream",
    is_flag=True,
    help="Print the answer when it is complete instead of streaming it.",
)
@click.option(
    "--trace", is_flag=True, help="Write a Markdown+JSON trace to .prellm/traces and show its tree."
)
@click.option(
    "--session",
    metavar="ID",
    help="Remember this exchange in session ID and use what it remembers.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress or notices on stderr.")
@click.option(
    "--verbose",
    "-v",
    count=True,
    help="Log more (-v info, -vv debug); PRELLM_LOG_LEVEL also works.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def query(
    text: str | None,
    small: str | None,
    large: str | None,
    strategy: str | None,
    config_path: str | None,
    pipeline: str | None,
    domain: str | None,
    schema_name: str | None,
    out_format: str,
    context: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    codebase: str | None,
    files: tuple[str, ...],
    collect_runtime: bool,
    no_sanitize: bool,
    no_cache: bool,
    as_json: bool,
    no_stream: bool,
    trace: bool,
    session: str | None,
    quiet: bool,
    verbose: int,
    debug: bool,
) -> None:
    """Preprocess TEXT with the small model and answer it with the large one ('-' reads stdin)."""
    attached = _attached(files, query_on_stdin=text is None or text == "-")
    if text is None or text == "-":
        if sys.stdin.isatty():
            raise click.UsageError(
                'give a query, e.g. prellm "Deploy app to prod", or pipe one in with -'
            )
        text = sys.stdin.read()
    if not text.strip():
        raise click.UsageError("the query is empty")
    messages = (
        [{"role": "system", "content": system}, {"role": "user", "content": text}]
        if system
        else None
    )
    request: dict[str, Any] = {
        "query": None if system else text,
        "messages": messages,
        "user_context": context,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "sanitize": False if no_sanitize else None,
        "cache": False if no_cache else None,
        "codebase_path": codebase,
        "files": attached or None,
        "collect_runtime": collect_runtime or None,
        "trace": trace or None,
        "response_schema": schema_name,
        "pipeline": pipeline,
        "session": session,
    }
    from ..observability.logging import setup_logging
    from .run import run_query

    setup_logging(verbose)

    code = run_query(
        small=small,
        large=large,
        strategy=strategy,
        request={k: v for k, v in request.items() if v is not None},
        as_json=as_json,
        stream=not (as_json or no_stream or schema_name),
        quiet=quiet,
        debug=debug,
        session=session,
        config=config_path,
        domain=domain,
        out_format=out_format,
    )
    sys.exit(code)


def _attached(paths: tuple[str, ...], *, query_on_stdin: bool) -> list[Any]:
    """``--file`` arguments as the engine's ``files``: bytes read here, decoded there."""
    if paths.count("-") > 1:
        raise click.UsageError("--file - can be given once: stdin is read once")
    if "-" in paths and query_on_stdin:
        raise click.UsageError(
            "with --file -, stdin is the file: give the question as an argument, e.g. "
            'cat app.log | prellm "Why do the pods restart?" --file -'
        )
    out: list[Any] = []
    for path in paths:
        if path == "-":
            out.append({"name": "stdin", "content": sys.stdin.buffer.read()})
            continue
        try:
            with open(path, "rb") as fh:
                out.append({"name": path, "content": fh.read()})
        except OSError as exc:
            raise click.BadParameter(
                f"{path}: {exc.strerror or exc}", param_hint="--file"
            ) from None
    return out


def main() -> None:
    cli()
