"""Finding, reading and merging configuration: prellm.yaml, the files it names, a domain.

Order of discovery for prellm.yaml: ``--config`` / ``config=``, ``PRELLM_CONFIG``,
``./prellm.yaml``, then ``$XDG_CONFIG_HOME/prellm/prellm.yaml`` (``~/.config``).
Paths inside it are relative to the file. Every value remembers where it came
from, for ``prellm config show``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .files import load_model, parse_model
from .prompts import PromptRegistry, PromptSpec
from .resources import shipped_yaml
from .schema import (
    ConfigFile,
    DomainFile,
    DomainRule,
    IntentsFile,
    ModelSpec,
    PipelinesFile,
    PipelineSpec,
    PromptsFile,
    ResponseSchemaSpec,
    RulesFile,
    SchemasFile,
)

if TYPE_CHECKING:
    from ..intents import LabelIndex

DOMAINS = ("devops", "coding", "business", "embedded")


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "prellm"


def find_config(explicit: str | Path | None = None) -> Path | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    if env := os.environ.get("PRELLM_CONFIG"):
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"PRELLM_CONFIG names a missing file: {path}")
        return path
    for candidate in (Path("prellm.yaml"), user_config_dir() / "prellm.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_domain(name: str) -> DomainFile:
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}; choose one of: {', '.join(DOMAINS)}")
    text = (
        resources.files("prellm.data")
        .joinpath("domains", f"{name}.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_model(text, DomainFile, f"prellm/data/domains/{name}.yaml")


@dataclass
class Config:
    """The effective configuration of an engine."""

    file: ConfigFile = field(default_factory=ConfigFile)
    path: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)
    prompts: PromptRegistry = field(default_factory=PromptRegistry.default)
    intents: list[dict[str, str]] | None = None
    # Set when the intents file has more intents than its shortlist (by default 8 of > 20).
    intent_shortlist: tuple[LabelIndex, int] | None = None
    rules: list[DomainRule] = field(default_factory=list)
    domain_context: str | None = None
    schemas: dict[str, ResponseSchemaSpec] = field(default_factory=dict)
    sensitive_rules: tuple[Any, ...] | None = None  # None: the shipped rules
    pipelines: dict[str, PipelineSpec] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # every file read, to notice edits
    # (source, its text, the pipelines it defines): checked by prellm.pipelines.check
    pipeline_sources: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def model(self, role: str) -> tuple[str | None, dict[str, Any]]:
        spec = getattr(self.file, role)
        if spec is None:
            return None, {}
        if isinstance(spec, str):
            return spec, {}
        assert isinstance(spec, ModelSpec)
        return spec.model, spec.call_kwargs()


_cache: dict[tuple[Any, ...], tuple[Config, dict[Path, int | None]]] = {}


def load_config(
    path: str | Path | None = None, *, domain: str | None = None, discover: bool = True
) -> Config:
    """The effective configuration, read again only when prellm.yaml changed.

    Engines are made per request (the server makes one for each), so parsing and
    checking every file each time would be work done over and over.
    """
    found = find_config(path) if (path or discover) else None
    stamp = found.stat().st_mtime_ns if found else None
    key = (str(found.resolve()) if found else None, stamp, domain, str(Path.cwd()))
    hit = _cache.get(key)
    if hit is None or any(_mtime(f) != t for f, t in hit[1].items()):
        cfg = _load(found, domain)
        hit = _cache[key] = (cfg, {f: _mtime(f) for f in cfg.files})
    return hit[0]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _load(found: Path | None, domain: str | None) -> Config:
    cfg = Config()
    if found:
        cfg.file = load_model(found, ConfigFile)
        cfg.path = found
        for key in cfg.file.model_fields_set:
            cfg.sources[key] = str(found)
    base = found.parent if found else Path.cwd()

    if found:
        cfg.files.append(found)

    def rel(p: str) -> Path:
        q = Path(p).expanduser()
        q = q if q.is_absolute() else base / q
        cfg.files.append(q)
        return q

    prompts = dict(cfg.prompts.prompts)
    domain = domain or cfg.file.domain
    if domain:
        d = load_domain(domain)
        cfg.domain_context = d.context
        cfg.rules += d.rules
        prompts.update({k: PromptSpec(**v.model_dump()) for k, v in d.prompts.items()})
        cfg.sources["domain"] = f"prellm/data/domains/{domain}.yaml"
    if cfg.file.prompts:
        user = load_model(rel(cfg.file.prompts), PromptsFile)
        prompts.update({k: PromptSpec(**v.model_dump()) for k, v in user.prompts.items()})
    cfg.prompts = PromptRegistry(prompts)
    cfg.prompts.check()
    if cfg.file.rules:
        # A user's rules come first: they win over a domain's defaults.
        cfg.rules = load_model(rel(cfg.file.rules), RulesFile).rules + cfg.rules
    if cfg.file.schemas:
        cfg.schemas = load_model(rel(cfg.file.schemas), SchemasFile).schemas
    shipped = resources.files("prellm.data").joinpath("pipelines.yaml").read_text(encoding="utf-8")
    cfg.pipelines = dict(
        parse_model(shipped, PipelinesFile, "prellm/data/pipelines.yaml").pipelines
    )
    cfg.pipeline_sources.append(("prellm/data/pipelines.yaml", shipped, tuple(cfg.pipelines)))
    if cfg.file.pipelines:
        path = rel(cfg.file.pipelines)
        cfg.pipelines.update(load_model(path, PipelinesFile).pipelines)
        text = path.read_text(encoding="utf-8")
        cfg.pipeline_sources.append((str(path), text, tuple(cfg.pipelines)))
    if cfg.file.sensitive_rules:
        from ..safety.filter import load_rules

        cfg.sensitive_rules = tuple(load_rules([rel(cfg.file.sensitive_rules)]))
    if cfg.file.intents:
        taxonomy = load_model(rel(cfg.file.intents), IntentsFile)
        intents = taxonomy.intents
        names = [i.name for i in intents]
        if len(set(names)) != len(names):
            raise ConfigError(f"{rel(cfg.file.intents)}: duplicate intent names")
        cfg.intents = [i.as_prompt_item() for i in intents]
        from ..intents import LabelIndex, shortlist_size

        # A big taxonomy is shortlisted unless the file says otherwise (shortlist: 0).
        if k := shortlist_size(len(intents), taxonomy.shortlist):
            cfg.intent_shortlist = (LabelIndex(intents), k)
    return cfg


def default_intents() -> list[dict[str, str]]:
    intents: list[dict[str, str]] = shipped_yaml("intents.yaml")["intents"]
    return intents
