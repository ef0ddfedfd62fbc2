"""Condense: big attached material becomes ranked evidence before the small model reads it.

Material is what the caller attached (``files``: the CLI's ``--file``, the API's
``files=``, the proxy's ``prellm.files``) or a block pasted after the question
that ``prellm.condense.split_paste`` recognises (a log, a trace, a diff, a
document) when the request is too big for the small model. The question itself
is never condensed. In order:

1. the sensitive-data filter runs on the material (placeholders stay placeholders);
2. the material is mined without a model (log templates, exception chains, diff
   hunks, relevant sections: ``prellm.condense``);
3. when the findings the small model should read still exceed what it reads in one
   call, they are read in chunks (map: one schema-constrained call each) and merged
   by program (reduce), not by another free-text call;
4. the small model's analysis gets the findings within its budget; the large
   model gets the question, the strategy's composition and an evidence section
   within ``condense.evidence_tokens`` (plus the raw tail, when asked for).

Small material that fits the small model's share is attached as it is.
``result.condensed`` says what was done, step by step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator
from typing import Any

import pydantic

from .. import condense as mining
from .. import providers
from ..config.schema import CondenseSpec
from ..messages import Conversation
from ..models import Condensed, CondenseStep, StageEvent
from ..structured import analysis_call, ask_json
from .deps import EngineDeps
from .state import RequestState

ORDINARY = frozenset({"template"})  # log lines without a sign of trouble: not read in map
NO_QUESTION = "What does this material show? Point out the problems and their likely causes."
PROMPT_TOKENS = 700  # the analysis prompt around the material, roughly


class MapFinding(pydantic.BaseModel):
    kind: str = pydantic.Field(max_length=40)
    summary: str = pydantic.Field(max_length=300)
    count: int = pydantic.Field(1, ge=0)
    evidence: str = pydantic.Field("", max_length=300)


class MapOutput(pydantic.BaseModel):
    findings: list[MapFinding] = pydantic.Field(default_factory=list, max_length=8)


async def condense(deps: EngineDeps, state: RequestState) -> AsyncGenerator[StageEvent, None]:
    spec = deps.config.file.condense
    question, materials = _materials(deps, state, spec)
    if not materials:
        return
    size = sum(len(m.text.encode("utf-8", "replace")) for m in materials)
    yield StageEvent(
        stage="condense", status="start", detail={"materials": len(materials), "bytes": size}
    )
    record = Condensed(input_bytes=size)
    state.condensed = record
    materials = await _redact(state, materials, record)
    fits = mining.count_tokens(question + "".join(m.text for m in materials)) <= _share(deps, spec)
    if fits:
        _attach_whole(state, question, materials, record)
    else:
        mined = await _mine(materials, question, record)
        async for event in _read(deps, state, spec, question, mined, record):
            yield event
        _attach_evidence(state, spec, question, mined, materials, record)
    yield StageEvent(stage="condense", status="done", detail=_summary(record))


def _materials(
    deps: EngineDeps, state: RequestState, spec: CondenseSpec
) -> tuple[str, list[mining.Material]]:
    """The question and the material attached to it (none: nothing to condense)."""
    query = state.conv.query
    if state.opts.files:
        return query, list(state.opts.files)
    if mining.count_tokens(query) <= _share(deps, spec):
        return query, []
    question, block = mining.split_paste(query)
    if block is None:
        state.notices.append(
            "the request is larger than the small model reads and no attached material "
            "(log, trace, diff, document) was recognised in it: attach it with --file / files="
        )
        return query, []
    if not question.strip():
        state.notices.append("only material was pasted, no question: asked what it shows")
        question = NO_QUESTION
    return question, [mining.Material("pasted", block)]


def _share(deps: EngineDeps, spec: CondenseSpec) -> int:
    """Tokens of request the small model may read in one call."""
    return max(256, int(providers.context_window(deps.small) * spec.share) - PROMPT_TOKENS)


async def _redact(
    state: RequestState, materials: list[mining.Material], record: Condensed
) -> list[mining.Material]:
    """The filter runs on the material first: nothing after this sees a secret."""
    for m in materials:
        if "\ufffd" in m.text:
            record.notes.append(f"{m.name}: not UTF-8, decoded with replacement")
    guard = state.guard
    if guard is None:
        return materials
    t0 = time.perf_counter()
    redacted = await asyncio.to_thread(
        lambda: [dataclasses.replace(m, text=guard.redact(m.text)) for m in materials]
    )
    record.steps.append(CondenseStep(step="redact", bytes_in=record.input_bytes, ms=_ms(t0)))
    return redacted


async def _mine(
    materials: list[mining.Material], question: str, record: Condensed
) -> mining.Condensed:
    t0 = time.perf_counter()

    def mine() -> tuple[mining.Condensed, int]:
        found = mining.condense(materials, question)
        return found, mining.count_tokens(found.render(budget_tokens=10**9))

    mined, tokens = await asyncio.to_thread(mine)
    record.materials = dict(mined.kinds)
    record.input_lines = mined.input_lines
    record.templates = mined.templates
    record.findings = len(mined.findings)
    record.window = list(mined.window)
    record.notes.extend(mined.notes)
    record.steps.append(
        CondenseStep(
            step="mine",
            bytes_in=record.input_bytes,
            tokens_out=tokens,
            ms=_ms(t0),
        )
    )
    return mined


async def _read(
    deps: EngineDeps,
    state: RequestState,
    spec: CondenseSpec,
    question: str,
    mined: mining.Condensed,
    record: Condensed,
) -> AsyncGenerator[StageEvent, None]:
    """What the small model's analysis reads of the findings: directly, or mapped and reduced."""
    notable = _subset(mined, [f for f in mined.findings if f.kind not in ORDINARY])
    listing = brief(notable.findings, 10**9)
    if mining.count_tokens(listing) <= spec.map_tokens or not notable.findings:
        state.material_context = brief(mined.findings, spec.small_tokens)
        return
    chunks = mining.chunk(listing, 2 * spec.small_tokens)
    if len(chunks) > spec.max_map_calls:
        record.notes.append(
            f"the small model read the {spec.max_map_calls} highest-ranked of "
            f"{len(chunks)} chunks of findings; the rest are in the evidence as ranked"
        )
        chunks = chunks[: spec.max_map_calls]
    found: list[list[mining.Finding]] = []
    for i, text in enumerate(chunks, 1):
        yield StageEvent(
            stage="condense",
            status="progress",
            model=deps.small,
            detail={"part": i, "of": len(chunks)},
        )
        found.append(await _map(deps, state, question, text, i, len(chunks), record))
    t0 = time.perf_counter()
    merged = _subset(mined, mining.merge(found))
    state.material_context = brief(merged.findings, spec.small_tokens)
    state.material_notes = merged.render(budget_tokens=spec.evidence_tokens // 4)
    record.steps.append(
        CondenseStep(
            step="reduce",
            bytes_in=sum(len(c.encode()) for c in chunks),
            tokens_out=mining.count_tokens(state.material_context),
            ms=_ms(t0),
        )
    )


async def _map(
    deps: EngineDeps,
    state: RequestState,
    question: str,
    text: str,
    part: int,
    parts: int,
    record: Condensed,
) -> list[mining.Finding]:
    """One chunk of findings read by the small model: what matters, as findings."""
    t0 = time.perf_counter()
    variables = {"question": question, "chunk": text, "part": part, "parts": parts}
    small_kwargs = {**deps.small_kwargs, **state.opts.small_kwargs}
    messages, params = analysis_call(deps.prompts, "condense.map", variables, small_kwargs)
    out = await ask_json(
        deps.small,
        messages,
        MapOutput,
        schema_name="condense_findings",
        prompts=deps.prompts,
        params=params,
        stage=f"map_{part}",
        role="small",
        deadline=state.deadline,
    )
    state.account(out.stages)
    record.small_calls += len(out.stages)
    for attempt in out.attempts:
        state.step("condense map", **attempt)
    data = MapOutput.model_validate(out.data) if out.data is not None else MapOutput()
    if out.data is None:
        record.notes.append(
            f"map {part}: the small model's reading failed ({out.error or 'no reply'})"
        )
    record.steps.append(
        CondenseStep(
            step=f"map_{part}",
            bytes_in=len(text.encode()),
            tokens_out=sum(s.completion_tokens for s in out.stages),
            ms=_ms(t0),
        )
    )
    return [
        mining.Finding(
            kind=f.kind.strip().lower().replace(" ", "_") or "fact",
            severity=1,
            summary=f.summary,
            count=f.count,
            examples=[f.evidence] if f.evidence else [],
            material="small model",
        )
        for f in data.findings
    ]


def brief(findings: list[mining.Finding], budget_tokens: int) -> str:
    """One line a finding, ranked, no example lines: what the small model reads. Its
    prompt evaluation is the cost (a 1.5B model on 2 cores reads ~40 tokens a second at
    2k tokens of context), so the large model alone gets the examples."""
    lines: list[str] = []
    used = 0
    for f in findings:
        where = f" ({', '.join(f.sources[:2])})" if f.sources else ""
        line = f"- {f.kind} ×{f.count}{where}: {f.summary[:100]}"
        used += mining.count_tokens(line) + 1
        if used > budget_tokens:
            lines.append(f"- … {len(findings) - len(lines)} more findings, lower ranked")
            break
        lines.append(line)
    return "\n".join(lines)


def _subset(mined: mining.Condensed, findings: list[mining.Finding]) -> mining.Condensed:
    return dataclasses.replace(mined, findings=findings)


def _attach_whole(
    state: RequestState, question: str, materials: list[mining.Material], record: Condensed
) -> None:
    """Small material goes as it is: fenced after the question, for both models."""
    blocks = [f"Attached {m.name}:\n```\n{m.text.rstrip()}\n```" for m in materials]
    evidence = "\n\n".join(blocks)
    record.materials = {m.name: m.kind or mining.detect_kind(m.text) for m in materials}
    record.input_lines = sum(m.text.count("\n") + 1 for m in materials)
    record.output_tokens = mining.count_tokens(evidence)
    record.notes.append("small enough to attach whole: not condensed")
    state.material_context = evidence
    _set_question(state, question, evidence)


def _attach_evidence(
    state: RequestState,
    spec: CondenseSpec,
    question: str,
    mined: mining.Condensed,
    materials: list[mining.Material],
    record: Condensed,
) -> None:
    t0 = time.perf_counter()
    tail = _tail(materials, spec.tail_lines)
    notes = state.material_notes
    budget = spec.evidence_tokens - (mining.count_tokens(notes) if notes else 0)
    evidence = mined.render(budget_tokens=max(200, budget), tail=tail)
    if notes:
        evidence = f"The small model's reading of the material:\n{notes}\n\n{evidence}"
    record.output_tokens = mining.count_tokens(evidence)
    record.findings_sent = sum(1 for f in mined.findings if f.summary in evidence)
    record.steps.append(
        CondenseStep(step="evidence", bytes_in=0, tokens_out=record.output_tokens, ms=_ms(t0))
    )
    _set_question(state, question, evidence)


def _tail(materials: list[mining.Material], lines: int) -> str | None:
    if lines <= 0:
        return None
    return "\n".join(
        f"Last {lines} lines of {m.name}:\n" + "\n".join(m.text.splitlines()[-lines:])
        for m in materials
    )


def _set_question(state: RequestState, question: str, evidence: str) -> None:
    """The analysed turn becomes the question alone; the evidence follows it to the large model."""
    state.conv = Conversation(state.conv.replace_last(question), state.conv.last_user)
    state.evidence = evidence
    state.step("condense", condensed=state.condensed.model_dump() if state.condensed else None)


def _summary(record: Condensed) -> dict[str, Any]:
    return {
        "bytes": record.input_bytes,
        "lines": record.input_lines,
        "templates": record.templates,
        "findings": record.findings,
        "tokens": record.output_tokens,
        "small_calls": record.small_calls,
        "ms": round(sum(s.ms for s in record.steps)),
    }


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
