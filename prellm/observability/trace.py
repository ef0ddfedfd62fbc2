"""Execution traces: the decision path of one request, as Markdown for people and JSON for machines.

Every text in a trace passes the request's sensitive-data filter first, so a
redacted value stays redacted here too.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import PreLLMResult


def trace_dir() -> Path:
    return Path(os.environ.get("PRELLM_TRACE_DIR") or Path(".prellm") / "traces")


@dataclass
class Trace:
    """Steps recorded while a request runs. ``hide`` redacts every text put into it."""

    hide: Any = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.time)
    steps: list[dict[str, Any]] = field(default_factory=list)

    def _clean(self, value: Any) -> Any:
        if self.hide is None:
            return value
        if isinstance(value, str):
            return self.hide(value)
        if isinstance(value, list):
            return [self._clean(v) for v in value]
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        return value

    def step(self, name: str, **data: Any) -> None:
        self.steps.append({"step": name, **self._clean(data)})

    def document(self, result: PreLLMResult) -> dict[str, Any]:
        r = result
        return {
            "request_id": self.request_id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "strategy": {
                "requested": r.requested_strategy,
                "chosen": r.strategy,
                "reason": r.decomposition.strategy_reason,
            },
            "models": {"small": r.small_model_used, "large": r.model_used},
            "steps": self.steps,
            "decomposition": self._clean(r.decomposition.model_dump(mode="json")),
            "stages": [s.model_dump(mode="json") for s in r.stages],
            "usage": {k: v.model_dump() for k, v in r.usage.items()},
            "cost_usd": r.cost_usd,
            "timings_ms": r.timings_ms,
            "redactions": r.redactions,
            "notices": r.notices,
        }

    def write(self, result: PreLLMResult, directory: Path | None = None) -> Path:
        directory = directory or trace_dir()
        directory.mkdir(parents=True, exist_ok=True)
        doc = self.document(result)
        stem = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.started)) + f"-{self.request_id}"
        (directory / f"{stem}.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        path = directory / f"{stem}.md"
        path.write_text(markdown(doc), encoding="utf-8")
        return path


def _fence(text: Any) -> str:
    body = text if isinstance(text, str) else json.dumps(text, indent=2, ensure_ascii=False)
    return f"~~~~\n{body}\n~~~~"


def markdown(doc: dict[str, Any]) -> str:
    s = doc["strategy"]
    out = [
        f"# preLLM trace {doc['request_id']}",
        "",
        f"- started: {doc['started']}",
        f"- models: small `{doc['models']['small']}`, large `{doc['models']['large']}`",
        f"- strategy: requested `{s['requested']}`, chosen `{s['chosen']}`"
        + (f" — {s['reason']}" if s["reason"] else ""),
        f"- tokens: {doc['usage']['total']['prompt_tokens']} in, {doc['usage']['total']['completion_tokens']} out; "
        f"cost ${doc['cost_usd']['total']:.6f}; time {doc['timings_ms']['total']} ms",
    ]
    if doc["redactions"]:
        out.append(
            "- redacted before sending: "
            + ", ".join(f"{k} ×{v}" for k, v in doc["redactions"].items())
        )
    for n in doc["notices"]:
        out.append(f"- note: {n}")
    stage_by_name = {st["stage"]: st for st in doc["stages"]}
    for i, step in enumerate(doc["steps"], 1):
        name = step["step"]
        out += ["", f"## {i}. {name}"]
        st = stage_by_name.get(step.get("stage", ""))
        if st:
            out.append(
                f"`{st['model']}` · {st['prompt_tokens']} in / {st['completion_tokens']} out · "
                f"${(st['cost_usd'] or 0):.6f} · {st['ms']:.0f} ms"
                + ("" if st["ok"] else f" · failed: {st['error']}")
            )
        for key, value in step.items():
            if key in ("step", "stage") or value in (None, "", [], {}):
                continue
            out += ["", f"**{key.replace('_', ' ')}**", "", _fence(value)]
    out += ["", "## decomposition", "", _fence(doc["decomposition"]), ""]
    return "\n".join(out)
