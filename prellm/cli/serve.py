"""``prellm serve``: the OpenAI-compatible proxy on uvicorn."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .main import cli
from .params import STRATEGY

MASTER_KEY_ENV = "PRELLM_MASTER_KEY"


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind; 0.0.0.0 exposes it to the network.",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--small", metavar="MODEL", help="Default small model.")
@click.option("--large", metavar="MODEL", help="Default large model.")
@click.option(
    "--strategy",
    "-s",
    type=STRATEGY,
    default=None,
    help="Default strategy [default: prellm.yaml's strategy or pipeline, else auto].",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="prellm.yaml (default: PRELLM_CONFIG, ./prellm.yaml, ~/.config/prellm/prellm.yaml).",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="NAME=SMALL->LARGE",
    help="A model name clients may use (repeatable).",
)
@click.option(
    "--api-keys-file",
    type=click.Path(dir_okay=False),
    help="Bearer keys, one per line (also PRELLM_API_KEYS).",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve without keys on a non-loopback --host (refused otherwise).",
)
@click.option(
    "--cors-origin",
    "cors",
    multiple=True,
    help="Allow browser calls from this origin (repeatable; off by default).",
)
@click.option(
    "--allow-model",
    "allow_models",
    multiple=True,
    metavar="PATTERN",
    help="Glob of remote model strings clients may name (repeatable; default: any).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Host header names accepted (repeatable; default: loopback names on a loopback bind).",
)
@click.option(
    "--timeout",
    "timeout_s",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="One deadline in seconds for a request's model calls, retries included.",
)
@click.option("--max-body-bytes", default=1_000_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--trace",
    is_flag=True,
    help="Write a trace for every request (to PRELLM_TRACE_DIR or .prellm/traces).",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--metrics-public",
    is_flag=True,
    help="Serve /metrics without a key (default: the master key when auth is on).",
)
@click.option("--verbose", "-v", is_flag=True, help="Access log and info messages.")
def serve(
    host: str,
    port: int,
    small: str | None,
    large: str | None,
    strategy: str | None,
    config_path: str | None,
    aliases: tuple[str, ...],
    api_keys_file: str | None,
    no_auth: bool,
    cors: tuple[str, ...],
    allow_models: tuple[str, ...],
    allowed_hosts: tuple[str, ...],
    timeout_s: float,
    max_body_bytes: int,
    trace: bool,
    workers: int,
    metrics_public: bool,
    verbose: bool,
) -> None:
    """Serve an OpenAI-compatible API (/v1/chat/completions) that preprocesses every request."""
    try:
        import uvicorn  # noqa: F401

        from ..server.settings import SETTINGS_ENV, ServerSettings
    except ImportError:
        click.echo(
            "prellm: error: the server needs its extra: pip install 'prellm-engine[server]'",
            err=True,
        )
        sys.exit(2)
    from ..errors import ConfigError

    try:
        settings = ServerSettings(
            small=small,
            large=large,
            strategy=strategy,
            config=os.path.abspath(config_path) if config_path else None,
            aliases=_aliases(aliases),
            api_keys=_keys(api_keys_file),
            cors_origins=list(cors),
            host=host,
            allow_models=list(allow_models),
            allowed_hosts=list(allowed_hosts),
            upstream_timeout_s=timeout_s,
            max_body_bytes=max_body_bytes,
            trace=trace,
            metrics_public=metrics_public,
        )
        _check_config(settings.config)
        backend = _backend()
        _check_exposure(host, bool(settings.api_keys), no_auth)
    except ConfigError as exc:
        click.echo(f"prellm: error: {exc}", err=True)
        sys.exit(2)
    os.environ[SETTINGS_ENV] = settings.to_env()
    if api_keys_file:  # a path, not a secret: each worker reads the keys itself
        os.environ["PRELLM_API_KEYS_FILE"] = os.path.abspath(api_keys_file)
    auth = (
        f"auth on ({len(settings.api_keys)} key(s))"
        if settings.api_keys
        else "no auth (set PRELLM_API_KEYS to require keys)"
    )
    click.echo(
        f"prellm: serving OpenAI-compatible API on http://{host}:{port}/v1 · {auth}"
        f" · state store: {backend}",
        err=True,
    )
    if workers > 1:
        _multiprocess_metrics()
    _run(host, port, workers, verbose)


def _backend() -> str:
    """Where keys, limits, spend and memory live, checked now: a bad URL or a database
    newer than this preLLM stops the server here (exit 2)."""
    from ..store import BudgetTracker
    from ..store.base import close_backends
    from ..store.errors import StoreUnavailableError

    tracker = BudgetTracker()
    try:
        version = tracker.schema_version
    except StoreUnavailableError as exc:  # may come up later: readiness says so meanwhile
        return f"{tracker.dialect} {tracker.where} (not reachable yet: {exc})"
    finally:
        close_backends()  # the workers open their own pools
    return f"{tracker.dialect} {tracker.where} (schema v{version})"


def _multiprocess_metrics() -> None:
    """Workers write their metrics to one directory a scrape adds up (emptied at start)."""
    import shutil
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        for f in Path(path).glob("*.db"):
            f.unlink()
        return
    path = tempfile.mkdtemp(prefix="prellm-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    import atexit

    atexit.register(shutil.rmtree, path, True)


def _check_exposure(host: str, has_keys: bool, no_auth: bool) -> None:
    """Beyond loopback, serving needs keys or an explicit ``--no-auth``."""
    from ..errors import ConfigError
    from ..server.guard import loopback as _loopback

    has_keys = has_keys or bool(os.environ.get(MASTER_KEY_ENV, "").strip())
    if no_auth and has_keys:
        raise ConfigError("--no-auth contradicts the API keys that are set; drop one of them")
    if no_auth or has_keys or _loopback(host):
        return
    raise ConfigError(
        f"refusing to serve on {host} without auth: set PRELLM_API_KEYS, --api-keys-file "
        f"or {MASTER_KEY_ENV}, or pass --no-auth to serve openly"
    )


def _aliases(aliases: tuple[str, ...]) -> dict[str, Any]:
    from ..server.settings import ModelPair

    pairs = {}
    for a in aliases:
        name, sep, spec = a.partition("=")
        small_m, arrow, large_m = spec.replace("→", "->").partition("->")
        if not sep or not arrow or not name.strip():
            raise click.BadParameter(f"{a!r}: expected NAME=SMALL->LARGE", param_hint="--alias")
        pairs[name.strip()] = ModelPair(
            small=small_m.strip() or None, large=large_m.strip() or None
        )
    return pairs


def _keys(api_keys_file: str | None) -> list[Any]:
    from ..server.settings import load_api_keys

    return list(load_api_keys(api_keys_file))


def _check_config(path: str | None) -> None:
    """A bad prellm.yaml stops the server here, not at its first request."""
    from ..config.loader import load_config
    from ..pipelines.check import check_config

    check_config(load_config(path))


def _run(host: str, port: int, workers: int, verbose: bool) -> None:
    import signal

    import uvicorn

    from ..observability.logging import uvicorn_log_config

    def stopped(signum: int, frame: object) -> None:
        # uvicorn has already drained in-flight requests when it re-raises the signal.
        click.echo("prellm: stopped", err=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGINT, stopped)
    uvicorn.run(
        "prellm.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info" if verbose else "warning",
        log_config=uvicorn_log_config(verbose),
        access_log=verbose,
        timeout_graceful_shutdown=30,
    )
