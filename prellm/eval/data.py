"""Labelled datasets, intent taxonomies and task sets: loaded and validated with clear errors."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..config.resources import load_yaml_text
from ..config.schema import IntentsFile, IntentSpec
from ..errors import ConfigError


class Taxonomy(IntentsFile):
    """An intent taxonomy: the same file as the ``intents:`` of prellm.yaml (name, description, examples)."""

    def names(self) -> list[str]:
        return [i.name for i in self.intents]

    def as_intents(self) -> list[dict[str, str]]:
        return [lb.as_prompt_item() for lb in self.intents]


def _validation(source: str, exc: ValidationError) -> ConfigError:
    e = exc.errors()[0]
    return ConfigError(f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}")


def load_taxonomy(path: str | Path) -> Taxonomy:
    path = Path(path)
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        tax = Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise _validation(str(path), exc) from None
    names = tax.names()
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: duplicate label names")
    return tax


def taxonomy_from_labels(
    labels: list[str], examples: dict[str, list[str]] | None = None
) -> Taxonomy:
    examples = examples or {}
    return Taxonomy(
        intents=[IntentSpec(name=lb, examples=examples.get(lb, [])) for lb in sorted(set(labels))]
    )


def held_out_examples(
    rows: list[dict[str, str]], evaluated: list[dict[str, str]], per_label: int
) -> dict[str, list[str]]:
    """Up to ``per_label`` texts per label from ``rows``, none of them an evaluated text.

    A labelled set without a train split can lend its other items as examples,
    and no evaluated text is ever its own example.
    """
    skip = {r["text"] for r in evaluated}
    found: dict[str, list[str]] = {}
    for r in rows:
        bucket = found.setdefault(r["label"], [])
        if r["text"] not in skip and len(bucket) < per_label:
            bucket.append(r["text"])
    return found


def load_dataset(
    path: str | Path, text_col: str = "text", label_col: str = "label"
) -> list[dict[str, str]]:
    """Rows of a CSV or JSONL file as ``{"text", "label"}``; errors name the file, line and column."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not raw.strip():
        raise ConfigError(f"{path}: the dataset is empty")
    rows: list[dict[str, Any]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for i, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{i}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{i}: each line must be a JSON object")
            rows.append({**obj, "_line": i})
    else:
        reader = csv.DictReader(raw.splitlines())
        for i, obj in enumerate(reader, 2):
            rows.append({**obj, "_line": i})
        header = reader.fieldnames or []
        for col in (text_col, label_col):
            if col not in header:
                raise ConfigError(
                    f"{path}:1: no column {col!r} (columns: {', '.join(header)}); use --text-column/--label-column"
                )
    if not rows:
        raise ConfigError(f"{path}: the dataset has no rows")
    out = []
    for r in rows:
        for col in (text_col, label_col):
            if not str(r.get(col) or "").strip():
                raise ConfigError(f"{path}:{r['_line']}: missing {col!r}")
        out.append({"text": str(r[text_col]).strip(), "label": str(r[label_col]).strip()})
    return out


def sample(rows: list[Any], limit: int | None, seed: int) -> list[Any]:
    """A fixed sample: the same ``limit`` items for the same seed, in a stable order."""
    if limit is None or limit >= len(rows):
        return rows
    idx = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in idx]


class Checks(BaseModel):
    contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None


class Task(BaseModel):
    id: str | None = None
    query: str = Field(min_length=1)
    context: str | None = None
    checks: Checks = Field(default_factory=Checks)
    rewrite: str | None = None  # another system's rewrite of ``query`` (a prompt set's contender)


class TaskSet(BaseModel):
    tasks: list[Task] = Field(min_length=1)


def load_tasks(path: str | Path) -> list[Task]:
    path = Path(path)
    if str(path) == "builtin":
        from importlib import resources

        text, source = (
            resources.files("prellm.data").joinpath("tasks.yaml").read_text(encoding="utf-8"),
            "prellm/data/tasks.yaml",
        )
    else:
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if source.endswith((".jsonl", ".ndjson")):
        items = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{source}:{i}: not valid JSON: {exc.msg}") from None
        data: Any = {"tasks": items}
    else:
        data = load_yaml_text(text, source)
        if isinstance(data, list):
            data = {"tasks": data}
    try:
        tasks = TaskSet.model_validate(data).tasks
    except ValidationError as exc:
        raise _validation(source, exc) from None
    for i, t in enumerate(tasks, 1):
        t.id = t.id or f"task{i}"
    return tasks


def _prompt_records(path: Path) -> list[tuple[int, Any]]:
    """(line or position, record) pairs of a JSONL file or a JSON array (or {"data": [...]})."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = []
        for i, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append((i, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{i}: not valid JSON: {exc.msg}") from None
        return records
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON array of objects (or JSONL)")
    return list(enumerate(data, 1))


def load_prompts(
    path: str | Path, text_field: str = "text", rewrite_field: str | None = None
) -> list[Task]:
    """A prompt set (JSONL, or a JSON array of objects) as tasks without checks.

    ``text_field`` holds the prompt; ``rewrite_field``, if given, another system's
    rewrite of it (BPO's ``optimized_prompt``), answered as an extra contender.
    Task ids are ``<file stem>:<line or position>``, so a seeded sample names the
    same items on every run.
    """
    path = Path(path)
    records = _prompt_records(path)
    if not records:
        raise ConfigError(f"{path}: the prompt set is empty")
    tasks = []
    for where, rec in records:
        if not isinstance(rec, dict):
            raise ConfigError(f"{path}:{where}: each item must be a JSON object")
        for name in [text_field, *([rewrite_field] if rewrite_field else [])]:
            if not isinstance(rec.get(name), str) or not rec[name].strip():
                known = ", ".join(sorted(rec))
                raise ConfigError(
                    f"{path}:{where}: no text in field {name!r} (fields: {known}); "
                    "use --text-field/--rewrite-field"
                )
        tasks.append(
            Task(
                id=f"{path.stem}:{where}",
                query=rec[text_field].strip(),
                rewrite=rec[rewrite_field].strip() if rewrite_field else None,
            )
        )
    return tasks
