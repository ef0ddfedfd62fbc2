"""Running a query for the CLI: stream the answer, show progress, map errors to exit codes."""

from __future__ import annotations

import sys
import traceback
from typing import Any


def _err(console: Any, message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def run_query(
    *,
    small: str | None,
    large: str | None,
    strategy: str | None,
    request: dict[str, Any],
    as_json: bool,
    stream: bool,
    quiet: bool,
    debug: bool,
    session: str | None = None,
    config: str | None = None,
    domain: str | None = None,
    out_format: str = "json",
) -> int:
    from rich.console import Console

    from ..engine import PreLLM
    from ..errors import PreLLMError

    err = Console(stderr=True, highlight=False)
    try:
        from ..host.client import use_host  # our models without litellm; local/ in the host

        use_host()
        from ..store import UserMemory

        engine = PreLLM(
            small,
            large,
            strategy,
            config=config,
            domain=domain,
            memory=UserMemory() if session else None,
        )
        if not stream:
            with (
                err.status("preprocessing and answering…", spinner="dots") if not quiet else _Null()
            ):
                result = engine.run(**request)
            _notices(err, result, quiet)
            _trace_tree(err, result)
            if as_json:
                sys.stdout.write(result.model_dump_json(indent=2) + "\n")
            elif result.parsed is not None:
                import json

                import yaml

                if out_format == "yaml":
                    sys.stdout.write(
                        yaml.safe_dump(result.parsed, sort_keys=False, allow_unicode=True)
                    )
                else:
                    sys.stdout.write(json.dumps(result.parsed, indent=2, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(result.content.rstrip("\n") + "\n")
            return 0
        result, shown = _streamed(engine, request, err, quiet)
        _notices(err, result, quiet, skip=shown)
        _trace_tree(err, result)
        if not quiet:
            _err(err, _summary(result))
        return 0
    except PreLLMError as exc:
        if debug:
            traceback.print_exc()
        _err(err, f"prellm: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err(err, "prellm: interrupted")
        return 130
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if debug:
            traceback.print_exc()
        _err(
            err,
            f"prellm: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
        )
        return 1


def _streamed(engine: Any, request: dict[str, Any], err: Any, quiet: bool) -> tuple[Any, set[str]]:
    """Stream the answer to stdout and progress to stderr; the result and notices shown."""
    from ..models import PreLLMResult, StageEvent

    final: PreLLMResult | None = None
    wrote, last = False, ""
    shown: set[str] = set()
    for event in engine.stream(**request):
        if isinstance(event, str):
            if not wrote:
                event = event.lstrip()  # models often open with a space or newline
                if not event:
                    continue
            sys.stdout.write(event)
            sys.stdout.flush()
            wrote, last = True, event or last
        elif isinstance(event, StageEvent):
            if event.status == "notice":
                shown.add(event.detail["message"])
            if not quiet:
                _progress(err, event)
        elif isinstance(event, PreLLMResult):
            final = event
    if wrote and not last.endswith("\n"):  # the answer ends with one newline, as unstreamed
        sys.stdout.write("\n")
    assert final is not None
    return final, shown


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(err: Any, e: Any) -> None:
    d = e.detail
    if e.status == "notice":
        _err(err, f"note: {d.get('message')}")
    elif e.stage == "condense":
        _err(err, _condense_line(e.status, d))
    elif e.status == "start" and e.stage == "small":
        _err(err, f"· analysing with {e.model} ({d.get('strategy')})…")
    elif e.status == "done" and e.stage == "small":
        _err(err, f"· {d.get('strategy')} (intent {d.get('intent')}) in {d.get('ms')} ms")
    elif e.status == "fallback":
        _err(err, f"· preprocessing skipped: {d.get('reason')}")
    elif e.status == "start" and e.stage == "parts":
        _err(err, f"· answering {d.get('count')} sub-queries with {e.model}…")
    elif e.status == "start" and e.stage == "large":
        _err(err, f"· answering with {e.model}…")


def _condense_line(status: str, d: dict[str, Any]) -> str:
    if status == "start":
        return f"· condensing {d.get('bytes', 0) / 1024:.0f} KB of attached material…"
    if status == "progress":
        return f"· the small model reads findings {d.get('part')}/{d.get('of')}…"
    return (
        f"· condensed {d.get('lines')} lines to {d.get('findings')} findings "
        f"({d.get('templates')} templates), {d.get('tokens')} tokens of evidence, "
        f"{d.get('small_calls')} small calls, {d.get('ms', 0) / 1000:.1f} s"
    )


def _notices(err: Any, result: Any, quiet: bool, skip: set[str] | None = None) -> None:
    if quiet:
        return
    for n in result.notices:
        if n not in (skip or set()):
            _err(err, f"note: {n}")


def _summary(result: Any) -> str:
    u = result.usage["total"]
    cost = result.cost_usd["total"]
    return (
        f"· {result.strategy} · {u.prompt_tokens}+{u.completion_tokens} tokens · "
        f"${cost:.6f} · {result.timings_ms['total'] / 1000:.1f} s"
    )


def _trace_tree(err: Any, result: Any) -> None:
    """A compact tree of the decision path, when the request was traced."""
    if not result.trace_path:
        return
    from rich.tree import Tree

    d = result.decomposition
    tree = Tree(f"trace {result.trace_path}")
    for st in result.stages:
        line = f"{st.stage} · {st.model} · {st.prompt_tokens}+{st.completion_tokens} tok · ${(st.cost_usd or 0):.6f} · {st.ms:.0f} ms"
        tree.add(line + ("" if st.ok else f" · failed: {st.error}"))
    choice = tree.add(
        f"strategy {result.requested_strategy} → {result.strategy}"
        + (f" ({d.strategy_reason})" if d.strategy_reason else "")
    )
    if d.fallback_reason:
        choice.add(f"fallback: {d.fallback_reason}")
    if d.intent:
        choice.add(f"intent {d.intent} · domain {d.domain} · missing {len(d.missing)}")
    if result.redactions:
        tree.add("redacted: " + ", ".join(f"{k} ×{v}" for k, v in result.redactions.items()))
    err.print(tree)
