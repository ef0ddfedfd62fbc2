"""Checking pipelines when a configuration is loaded: every name a pipeline uses exists,
every condition parses, no pipeline calls itself."""

from __future__ import annotations

import weakref

from ..config.files import _locate
from ..config.loader import Config
from ..config.prompts import PromptRegistry
from ..config.schema import PipelineSpec, ResponseSchemaSpec
from ..errors import ConfigError
from ..strategies import STRATEGIES
from . import expr
from .functions import FUNCTIONS

_checked: weakref.WeakValueDictionary[int, Config] = weakref.WeakValueDictionary()


def check_config(cfg: Config) -> Config:
    """``cfg`` once its shipped and user pipelines are checked (each Config once)."""
    if _checked.get(id(cfg)) is cfg:
        return cfg
    for source, text, names in cfg.pipeline_sources:
        check_pipelines(cfg.pipelines, cfg.prompts, cfg.schemas, source, text, names)
    if cfg.file.pipeline and cfg.file.pipeline not in cfg.pipelines:
        raise ConfigError(f"{cfg.path}: pipeline: unknown pipeline {cfg.file.pipeline!r}")
    _checked[id(cfg)] = cfg
    return cfg


def check_pipelines(
    pipelines: dict[str, PipelineSpec],
    prompts: PromptRegistry,
    schemas: dict[str, ResponseSchemaSpec],
    source: str,
    text: str | None = None,
    names: tuple[str, ...] | None = None,
) -> None:
    """Every name a pipeline uses exists, every condition parses, no pipeline calls itself."""

    def fail(pipeline: str, i: int, key: str, message: str) -> None:
        line = _locate(text, ("pipelines", pipeline, "steps", i, key))[0] if text else None
        raise ConfigError(f"{source}:{line or 1}: pipelines.{pipeline}.steps.{i}.{key}: {message}")

    for pname, spec in pipelines.items():
        if names is not None and pname not in names:
            continue
        for i, step in enumerate(spec.steps):
            if step.type == "llm" and step.prompt not in prompts.prompts:
                fail(pname, i, "prompt", f"unknown prompt {step.prompt!r}")
            if step.type == "llm":
                name = step.schema_ or ""
                if not ((name in STRATEGIES and STRATEGIES[name].prompt) or name in schemas):
                    fail(pname, i, "schema", f"unknown schema {name!r}")
            if step.type == "function" and step.function not in FUNCTIONS:
                fail(
                    pname,
                    i,
                    "function",
                    f"unknown function {step.function!r}; known: {', '.join(FUNCTIONS)}",
                )
            if step.type == "pipeline" and step.pipeline not in pipelines:
                fail(pname, i, "pipeline", f"unknown pipeline {step.pipeline!r}")
            for key, src in (
                ("when", step.when),
                ("strategy", step.strategy if step.strategy not in STRATEGIES else None),
                *((f"input.{k}", v) for k, v in step.input.items()),
                *((f"args.{k}", v) for k, v in step.args.items() if isinstance(v, str)),
            ):
                if src is not None:
                    try:
                        expr.parse(src)
                    except ConfigError as exc:
                        fail(pname, i, key.split(".")[0], str(exc))

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise ConfigError(
                f"{source}: pipeline cycle: {' -> '.join([*path[path.index(name) :], name])}"
            )
        for step in pipelines[name].steps:
            if step.type == "pipeline" and step.pipeline in pipelines:
                visit(step.pipeline, [*path, name])

    for name in pipelines if names is None else names:
        visit(name, [])
