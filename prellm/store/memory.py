"""UserMemory: past interactions and explicit preferences, per user and session.

What is stored has been through the sensitive-data filter: secrets never reach
the disk. The small model may get the last relevant interactions as context;
they reach the large model only through what a strategy composes.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import ConfigError
from .base import Store
from .db import Migration

MIGRATIONS = [
    Migration(
        "memory-1-interactions-preferences",
        """
        CREATE TABLE interactions (
            id {ID}, ts {REAL} NOT NULL, "user" TEXT NOT NULL, session TEXT NOT NULL,
            query TEXT NOT NULL, intent TEXT, strategy TEXT, summary TEXT, answer_summary TEXT);
        CREATE INDEX interactions_session ON interactions("user", session, ts);
        CREATE TABLE preferences ("user" TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            ts {REAL} NOT NULL, PRIMARY KEY ("user", key))
        """,
    ),
]
_INSERT = (
    'INSERT INTO interactions (ts, "user", session, query, intent, strategy, summary, answer_summary) '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_PREFERENCE = (
    'INSERT INTO preferences ("user", key, value, ts) VALUES (?, ?, ?, ?) '
    'ON CONFLICT ("user", key) DO UPDATE SET value = excluded.value, ts = excluded.ts'
)
ANSWER_SUMMARY_CHARS = 300


class Interaction(BaseModel):
    ts: float
    user: str = Field(min_length=1, max_length=200)
    session: str = Field(min_length=1, max_length=200)
    query: str = Field(max_length=20_000)
    intent: str | None = None
    strategy: str | None = None
    summary: str | None = None
    answer_summary: str | None = None


class Preference(BaseModel):
    user: str = Field(min_length=1)
    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
    value: str = Field(max_length=500)
    ts: float


class MemoryExport(BaseModel):
    """The JSON file ``prellm session export`` writes and ``import`` accepts."""

    format: str = Field(pattern=r"^prellm-memory$")
    version: int = Field(ge=1, le=1)
    interactions: list[Interaction]
    preferences: list[Preference] = Field(default_factory=list)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


class UserMemory(Store):
    NAME = "memory"
    FILENAME = "memory.db"
    MIGRATIONS = MIGRATIONS

    def add(
        self,
        user: str,
        session: str,
        query: str,
        *,
        intent: str | None,
        strategy: str | None,
        summary: str | None,
        answer: str,
    ) -> None:
        answer_summary = " ".join(answer.split())[:ANSWER_SUMMARY_CHARS]
        with self.transaction() as tx:
            tx.later(
                _INSERT,
                (time.time(), user, session, query, intent, strategy, summary, answer_summary),
            )

    def relevant(self, user: str, session: str, query: str, n: int = 3) -> list[dict[str, Any]]:
        """The last ``n`` interactions of this session most related to ``query`` (recent first on ties)."""
        with self.read() as tx:
            rows = tx.all(
                'SELECT * FROM interactions WHERE "user" = ? AND session = ? ORDER BY ts DESC LIMIT 50',
                (user, session),
            )
        q = _words(query)
        ranked = sorted(enumerate(rows), key=lambda t: (-len(q & _words(t[1]["query"])), t[0]))
        return [r for _, r in ranked[:n]]

    def context_text(self, user: str, session: str, query: str, n: int = 3) -> str | None:
        items = self.relevant(user, session, query, n)
        prefs = self.preferences(user)
        lines = [f"- asked: {i['query'][:200]} → {i['answer_summary'] or ''}"[:400] for i in items]
        parts = []
        if prefs:
            parts.append("User preferences: " + ", ".join(f"{k}={v}" for k, v in prefs.items()))
        if lines:
            parts.append("Earlier in this session:\n" + "\n".join(lines))
        return "\n".join(parts) or None

    def sessions(self, user: str | None = None) -> list[dict[str, Any]]:
        with self.read() as tx:
            return tx.all(
                'SELECT "user", session, COUNT(*) AS interactions, MIN(ts) AS first, MAX(ts) AS last '
                "FROM interactions "
                + ('WHERE "user" = ? ' if user else "")
                + 'GROUP BY "user", session ORDER BY last DESC',
                (user,) if user else (),
            )

    def show(self, session: str) -> list[dict[str, Any]]:
        with self.read() as tx:
            return tx.all("SELECT * FROM interactions WHERE session = ? ORDER BY ts", (session,))

    def set_preference(self, user: str, key: str, value: str) -> None:
        Preference(user=user, key=key, value=value, ts=time.time())  # validates
        with self.transaction() as tx:
            tx.later(_UPSERT_PREFERENCE, (user, key, value, time.time()))

    def preferences(self, user: str) -> dict[str, str]:
        with self.read() as tx:
            rows = tx.all(
                'SELECT key, value FROM preferences WHERE "user" = ? ORDER BY key', (user,)
            )
        return {r["key"]: r["value"] for r in rows}

    def export_data(self) -> MemoryExport:
        with self.read() as tx:
            rows = tx.all("SELECT * FROM interactions ORDER BY ts")
            prefs = tx.all('SELECT "user", key, value, ts FROM preferences')
        return MemoryExport(
            format="prellm-memory",
            version=1,
            interactions=[Interaction(**{k: r[k] for k in Interaction.model_fields}) for r in rows],
            preferences=[Preference(**r) for r in prefs],
        )

    def export(self, path: str | Path) -> int:
        data = self.export_data()
        Path(path).write_text(data.model_dump_json(indent=2), encoding="utf-8")
        return len(data.interactions)

    def import_(self, path: str | Path) -> int:
        """Validate the whole file first; write all of it or nothing."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            data = MemoryExport.model_validate(raw)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        except ValidationError as exc:
            e = exc.errors()[0]
            raise ConfigError(
                f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}; nothing was imported"
            ) from None
        return self.import_data(data)

    def import_data(self, data: MemoryExport) -> int:
        with self.transaction() as tx:
            tx.many(
                _INSERT,
                [
                    (i.ts, i.user, i.session, i.query, i.intent, i.strategy, i.summary)
                    + (i.answer_summary,)
                    for i in data.interactions
                ],
            )
            tx.many(_UPSERT_PREFERENCE, [(p.user, p.key, p.value, p.ts) for p in data.preferences])
        return len(data.interactions)

    def clear(self, session: str | None = None) -> int:
        with self.transaction() as tx:
            if session:
                return tx.run("DELETE FROM interactions WHERE session = ?", (session,))
            n = tx.run("DELETE FROM interactions")
            tx.run("DELETE FROM preferences")
            return n
