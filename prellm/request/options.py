"""A request's own options, typed; and the check that nothing unknown reaches a provider.

preLLM's options are keyword-only parameters of ``run/arun/stream/astream`` and
``preprocess_and_execute``. Everything else must be a parameter that litellm's
``completion()`` accepts (``temperature``, ``api_base``, ``timeout``, ...);
any other name is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pydantic

from ..condense import Material, decode
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..store.keys import Principal

UserContext = str | dict[str, Any] | None
FileInput = str | bytes | Mapping[str, Any] | os.PathLike[str] | Material
ResponseSchema = str | dict[str, Any] | type[pydantic.BaseModel] | None
# Sampling parameters litellm passes on to the providers that take them (Anthropic, Gemini,
# Ollama, OpenAI-compatible servers) though its completion() does not name them; the
# Anthropic endpoint forwards its ``top_k``.
PROVIDER_PARAMS = frozenset({"top_k"})


@dataclass(frozen=True)
class RunOptions:
    """One call's options (``None``: the engine's or configuration's default)."""

    messages: list[dict[str, Any]] | None = None
    strategy: str | None = None
    user_context: UserContext = None
    small_kwargs: Mapping[str, Any] = field(default_factory=dict)
    sanitize: bool | None = None
    codebase_path: str | None = None
    codebase_budget: int = 2000
    collect_runtime: bool = False
    response_schema: ResponseSchema = None
    pipeline: str | None = None
    trace: bool | None = None
    session: str | None = None
    user: str | None = None  # OpenAI's end-user id: memory's key, and sent to the provider
    budget_key: str | None = None  # the caller's API key: spend is attributed to it
    principal: Principal | None = None  # the authenticated caller (virtual key, team, limits)
    deadline_s: float | None = None  # one bound on all of the request's model calls
    cache: bool = True  # the decomposition cache (request/cache.py) for this request
    files: tuple[Material, ...] = ()  # attached material, condensed before analysis
    llm_kwargs: Mapping[str, Any] = field(default_factory=dict)  # checked litellm parameters


def check_llm_kwargs(kwargs: Mapping[str, Any], where: str = "run()") -> dict[str, Any]:
    """``kwargs`` if every name is a litellm ``completion()`` parameter, else a ConfigError."""
    if not kwargs:
        return {}
    from ..providers import completion_params

    known = completion_params()
    unknown = sorted(k for k in kwargs if k not in known and k not in PROVIDER_PARAMS)
    if unknown:
        name = unknown[0]
        options = list(inspect.signature(run_options).parameters)
        close = difflib.get_close_matches(name, [*options, *known, *PROVIDER_PARAMS], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{where}: unknown option {name!r}: not a preLLM option nor a litellm "
            f"completion() parameter{hint}"
        )
    return dict(kwargs)


def run_options(
    *,
    messages: list[dict[str, Any]] | None = None,
    strategy: str | None = None,
    user_context: UserContext = None,
    small_kwargs: Mapping[str, Any] | None = None,
    sanitize: bool | None = None,
    codebase_path: str | None = None,
    codebase_budget: int = 2000,
    collect_runtime: bool = False,
    response_schema: ResponseSchema = None,
    pipeline: str | None = None,
    trace: bool | None = None,
    session: str | None = None,
    user: str | None = None,
    budget_key: str | None = None,
    principal: Principal | None = None,
    deadline_s: float | None = None,
    cache: bool = True,
    files: Sequence[FileInput] | None = None,
    **llm_kwargs: Any,
) -> RunOptions:
    """One call's options; every name not listed here must be a litellm parameter.

    ``messages`` an OpenAI-style chat; ``strategy`` for this call; ``user_context``
    facts the user gives; ``small_kwargs`` for the small model's call; ``sanitize``
    the sensitive-data filter on/off; ``codebase_path``/``codebase_budget`` a project
    summarised into the context; ``collect_runtime`` OS and tool facts;
    ``response_schema`` a schemas.yaml name, a dict or a Pydantic model (the answer
    comes back validated in ``result.parsed``); ``pipeline`` a configured pipeline;
    ``trace`` write a Markdown trace; ``session``/``user`` memory; ``budget_key``
    the caller's key the spend is attributed to; ``principal`` the authenticated caller
    (a virtual key: its team's and its models, budgets and rates apply); ``deadline_s``
    one time limit for all of the request's model calls, retries included (past it:
    ``ProviderTimeoutError``); ``cache=False`` runs the small model even when an
    identical analysis is cached (and does not store this one); ``files`` material
    attached to the question (logs, traces, diffs, documents): each a ``str`` of
    content, ``bytes``, a ``{"name", "content"}`` dict or a ``pathlib.Path`` to read;
    condensed to an evidence section.
    """
    return RunOptions(
        messages=messages,
        strategy=strategy,
        user_context=user_context,
        small_kwargs=dict(small_kwargs or {}),
        sanitize=sanitize,
        codebase_path=codebase_path,
        codebase_budget=codebase_budget,
        collect_runtime=collect_runtime,
        response_schema=response_schema,
        pipeline=pipeline,
        trace=trace,
        session=session,
        user=user,
        budget_key=budget_key,
        principal=principal,
        deadline_s=deadline_s,
        cache=cache,
        files=materials(files),
        llm_kwargs=check_llm_kwargs(llm_kwargs),
    )


def materials(files: Sequence[FileInput] | None) -> tuple[Material, ...]:
    """Attached files as ``Material``: content as given; a ``Path`` is read (the caller's
    own disk: the server never passes paths, only inline content)."""
    if isinstance(files, (str, bytes)) or (files is not None and not isinstance(files, Sequence)):
        raise ConfigError("files must be a list (of strings, bytes, dicts or paths)")
    out = []
    for i, f in enumerate(files or (), 1):
        if isinstance(f, Material):
            out.append(f)
            continue
        name, content = f"file{i}", cast(Any, f)
        if isinstance(f, Mapping):
            name, content = str(f.get("name") or name), f.get("content")
        if isinstance(content, os.PathLike):
            name, content = os.fspath(content), _read(content)
        if isinstance(content, bytes):
            content = decode(content)[0]  # not UTF-8: replacement characters, noted later
        if not isinstance(content, str):
            raise ConfigError(f"files[{i - 1}]: expected text, bytes, a path or {{name, content}}")
        out.append(Material(name, content))
    return tuple(out)


def _read(path: os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None


def with_options(method: Any) -> inspect.Signature:
    """``method``'s signature with ``**options`` spelled out as ``run_options``' parameters."""
    own = [p for p in inspect.signature(method).parameters.values() if p.kind != p.VAR_KEYWORD]
    extra = list(inspect.signature(run_options).parameters.values())
    return inspect.signature(method).replace(parameters=[*own, *extra])
