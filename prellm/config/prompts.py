"""The prompt registry: named Jinja2 templates, rendered in a sandbox.

Templates come from ``prellm/data/prompts.yaml``. Rendering uses Jinja2's
``SandboxedEnvironment`` with ``StrictUndefined``: a template can neither run
code nor silently drop a missing variable.
"""

from __future__ import annotations

import functools
from functools import cached_property
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError
from .resources import shipped_yaml


class PromptSpec(BaseModel):
    text: str
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)


class PromptRegistry:
    def __init__(self, prompts: dict[str, PromptSpec]) -> None:
        self.prompts = prompts

    @classmethod
    @functools.cache
    def default(cls) -> PromptRegistry:
        """The shipped prompts, built once per process (templates compile once too)."""
        raw = shipped_yaml("prompts.yaml") or {}
        try:
            return cls({k: PromptSpec.model_validate(v) for k, v in raw["prompts"].items()})
        except Exception as exc:
            raise ConfigError(f"prellm/data/prompts.yaml: {exc}") from None

    @cached_property
    def _env(self) -> Any:
        from jinja2 import FunctionLoader, StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        def load(name: str) -> str | None:
            spec = self.prompts.get(name)
            return spec.text if spec else None

        return SandboxedEnvironment(
            loader=FunctionLoader(load),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            keep_trailing_newline=False,
        )

    REQUIRED = (
        "analyze.system",
        "analyze.common",
        "analyze.repair",
        "analyze.classify",
        "analyze.structure",
        "analyze.split",
        "analyze.enrich",
        "analyze.auto",
        "compose.classify",
        "compose.structure",
        "compose.enrich",
        "compose.split.part",
        "compose.split.merge",
    )

    def check(self) -> None:
        """Every template parses, every include names a known prompt, no include cycle."""
        from jinja2 import TemplateSyntaxError, meta

        graph: dict[str, set[str]] = {}
        for name, spec in self.prompts.items():
            try:
                ast = self._env.parse(spec.text)
            except TemplateSyntaxError as exc:
                raise ConfigError(
                    f"prompt {name!r}: template line {exc.lineno}: {exc.message}"
                ) from None
            refs = {r for r in meta.find_referenced_templates(ast) if r is not None}
            unknown = sorted(refs - set(self.prompts))
            if unknown:
                raise ConfigError(f"prompt {name!r} includes unknown prompt {unknown[0]!r}")
            graph[name] = refs
        missing = [n for n in self.REQUIRED if n not in self.prompts]
        if missing:
            raise ConfigError(f"prompt {missing[0]!r} is missing")

        def visit(node: str, path: list[str]) -> None:
            if node in path:
                raise ConfigError(
                    "prompt include cycle: " + " -> ".join([*path[path.index(node) :], node])
                )
            for nxt in graph.get(node, ()):
                visit(nxt, [*path, node])

        for name in graph:
            visit(name, [])

    def spec(self, name: str) -> PromptSpec:
        try:
            return self.prompts[name]
        except KeyError:
            raise ConfigError(f"unknown prompt {name!r}") from None

    def render(self, name: str, **variables: Any) -> str:
        from jinja2 import TemplateError

        self.spec(name)
        try:
            text = self._env.get_template(name).render(**variables)
        except TemplateError as exc:
            raise ConfigError(f"prompt {name!r}: {type(exc).__name__}: {exc}") from None
        # Templates are written for readability; collapse the blank lines they leave.
        lines = [ln.rstrip() for ln in text.strip().splitlines()]
        out: list[str] = []
        for ln in lines:
            if ln or (out and out[-1]):
                out.append(ln)
        return "\n".join(out)
