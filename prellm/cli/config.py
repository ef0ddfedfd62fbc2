"""``prellm config``: init, show, validate, get, set, schema."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from .main import cli

STARTER = """\
# yaml-language-server: $schema={schema}
# preLLM configuration. Every key is optional; delete what you do not need.
# Found via --config, PRELLM_CONFIG, ./prellm.yaml, then ~/.config/prellm/prellm.yaml.

# The small model analyses the request; the large model answers it.
# A litellm model string, or a mapping with call settings.
small: local/qwen2.5-coder-1.5b
large:
  model: gpt-4o-mini
  fallbacks: [local/qwen2.5-coder-1.5b]   # tried in order when the model fails
  timeout: 60                             # seconds per call
  temperature: 0.2
  max_tokens: 1024

strategy: auto          # auto, classify, structure, split, enrich, passthrough
# domain: devops        # built-in defaults: devops, coding, business, embedded

# Files, relative to this one:
# prompts: prompts.yaml   # override or add prompts (Jinja2, sandboxed)
# rules: rules.yaml       # domain rules: keywords -> strategy, required facts, ask/assume
# schemas: schemas.yaml   # response schemas for response_schema= / --schema
# intents: intents.yaml   # your intent taxonomy

sanitize: true          # redact secrets and personal data before they leave
trace: false            # write a trace for every request to .prellm/traces
# budget:
#   monthly: 20.0         # USD
#   daily: 2.0
"""

KINDS = {"rules": "rules", "schemas": "schemas", "prompts": "prompts", "intents": "intents"}


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"prellm: error: {message}", err=True)
    sys.exit(code)


def schema_path(name: str) -> str:
    return str(resources.files("prellm.data").joinpath("schemas", f"{name}.schema.json"))


@cli.group()
def config() -> None:
    """Configuration files: write a starter, show the effective values, validate."""


@config.command("init")
@click.option(
    "--path", "path", default="prellm.yaml", show_default=True, type=click.Path(dir_okay=False)
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def config_init(path: str, force: bool) -> None:
    """Write a commented starter prellm.yaml."""
    target = Path(path)
    if target.exists() and not force:
        _fail(f"{target} exists; use --force to overwrite")
    target.write_text(STARTER.format(schema=schema_path("config")), encoding="utf-8")
    click.echo(f"wrote {target}", err=True)


@config.command("show")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--domain")
@click.option("--json", "as_json", is_flag=True)
def config_show(config_path: str | None, domain: str | None, as_json: bool) -> None:
    """The effective configuration and where each value came from."""
    import os

    from ..config.loader import load_config
    from ..errors import PreLLMError

    try:
        cfg = load_config(config_path, domain=domain)
    except PreLLMError as exc:
        _fail(str(exc))
    data = cfg.file.model_dump(mode="json")
    rows: dict[str, Any] = {}
    for key, value in data.items():
        source = cfg.sources.get(key, "default")
        env = {"small": "PRELLM_SMALL_MODEL", "large": "PRELLM_LARGE_MODEL"}.get(key)
        if value is None and env and os.environ.get(env):
            value, source = os.environ[env], f"env {env}"
        rows[key] = {"value": value, "source": source}
    rows["rules (effective)"] = {
        "value": [r.name for r in cfg.rules],
        "source": "rules file and domain",
    }
    rows["schemas (effective)"] = {
        "value": sorted(cfg.schemas),
        "source": cfg.file.schemas or "none",
    }
    if as_json:
        click.echo(
            json.dumps({"file": str(cfg.path) if cfg.path else None, "values": rows}, indent=2)
        )
        return
    click.echo(f"# config file: {cfg.path or 'none found'}")
    for key, row in rows.items():
        click.echo(f"{key}: {json.dumps(row['value'], ensure_ascii=False)}    # {row['source']}")


def _kind_of(data: Any, path: Path) -> str:
    if isinstance(data, dict):
        for key, kind in KINDS.items():
            if set(data) == {key}:
                return kind
        if {"name", "context"} <= set(data):
            return "domain"
    return "config"


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def config_validate(files: tuple[str, ...]) -> None:
    """Validate prellm.yaml, prompts, rules, schemas, intents or domain files; list file:line errors."""
    from ..config.files import parse_model
    from ..config.prompts import PromptRegistry, PromptSpec
    from ..config.resources import load_yaml_text
    from ..config.schema import SCHEMA_MODELS, PromptsFile
    from ..errors import PreLLMError

    failed = False
    for f in files:
        path = Path(f)
        try:
            text = path.read_text(encoding="utf-8")
            kind = _kind_of(load_yaml_text(text, str(path)), path)
            model = parse_model(text, SCHEMA_MODELS[kind], str(path))
            if isinstance(model, PromptsFile):  # templates must parse and includes resolve
                merged = dict(PromptRegistry.default().prompts)
                merged.update({k: PromptSpec(**v.model_dump()) for k, v in model.prompts.items()})
                PromptRegistry(merged).check()
            click.echo(f"{path}: ok ({kind})")
        except OSError as exc:
            click.echo(f"{path}:1: cannot read: {exc.strerror}")
            failed = True
        except PreLLMError as exc:
            for line in str(exc).split("; "):
                click.echo(line if line.startswith(str(path)) else f"{path}: {line}")
            failed = True
    sys.exit(2 if failed else 0)


def _config_file(config_path: str | None) -> Path:
    from ..config.loader import find_config

    found = find_config(config_path)
    if found is None:
        _fail("no prellm.yaml found; run `prellm config init` first")
    assert found is not None
    return found


@config.command("get")
@click.argument("key")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
def config_get(key: str, config_path: str | None) -> None:
    """Print one value (dotted keys: large.model)."""
    from ..config.files import load_model
    from ..config.schema import ConfigFile

    value: Any = load_model(_config_file(config_path), ConfigFile).model_dump(mode="json")
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            _fail(f"no key {key!r}")
        value = value[part]
    click.echo(value if isinstance(value, str) else json.dumps(value))


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
def config_set(key: str, value: str, config_path: str | None) -> None:
    """Set one value (parsed as YAML: numbers, booleans, lists) and validate the result."""
    import yaml

    from ..config.files import parse_model
    from ..config.schema import ConfigFile
    from ..errors import PreLLMError

    path = _config_file(config_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = (
                {}
                if node.get(part) is None
                else {"model": node[part]}
                if part in ("small", "large")
                else node[part]
            )
        node = node[part]
    node[parts[-1]] = yaml.safe_load(value)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        parse_model(text, ConfigFile, str(path))
    except PreLLMError as exc:
        _fail(f"not changed: {exc}")
    path.write_text(text, encoding="utf-8")
    click.echo(f"{key} = {value}", err=True)


@config.command("schema")
@click.argument(
    "name", type=click.Choice(["config", "prompts", "rules", "schemas", "intents", "domain"])
)
def config_schema(name: str) -> None:
    """Print the JSON Schema of a file kind (for yaml-language-server / VS Code)."""
    from ..config.schema import json_schema

    click.echo(json.dumps(json_schema(name), indent=2, ensure_ascii=False))
