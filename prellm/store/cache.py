"""StateCache: small JSON values with a time to live, shared by every worker and replica.

A SQLite file (``cache.db`` in ``data_dir()``) by default, the PostgreSQL database
when ``PRELLM_DATABASE_URL`` names one. Each namespace holds at most
``max_entries`` values: every ``put`` takes the namespace's next sequence number
(one atomic UPDATE … RETURNING) and drops what is ``max_entries`` behind it, so the
oldest writes go first and the bound is exact. An expired value is never returned;
``purge()`` deletes them (``put`` does it now and then too).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from .base import Store
from .db import Migration

MIGRATIONS = [
    Migration(
        "cache-1-entries",
        """
        CREATE TABLE cache_entries (
            namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            expires {REAL} NOT NULL, seq {BIGINT} NOT NULL, PRIMARY KEY (namespace, key));
        CREATE INDEX cache_entries_seq ON cache_entries(namespace, seq);
        CREATE INDEX cache_entries_expires ON cache_entries(expires);
        CREATE TABLE cache_namespaces (namespace TEXT PRIMARY KEY, seq {BIGINT} NOT NULL)
        """,
    ),
]
MAX_ENTRIES = 10_000  # per namespace
PURGE_EVERY = 200  # puts between two purges of expired entries, per process

_shared: dict[tuple[str, str], StateCache] = {}
_shared_lock = threading.Lock()


class StateCache(Store):
    NAME = "cache"
    FILENAME = "cache.db"
    MIGRATIONS = MIGRATIONS

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        url: str | None = None,
        max_entries: int = MAX_ENTRIES,
        limits: dict[str, int] | None = None,
    ) -> None:
        """``max_entries`` per namespace; ``limits`` overrides it for named namespaces."""
        super().__init__(path, url=url)
        self.max_entries, self.limits = max_entries, dict(limits or {})
        self._puts = 0

    @classmethod
    def shared(cls) -> StateCache:
        """One cache (one connection or pool) per database and process."""
        probe = cls()
        key = (probe.dialect, probe.where)
        with _shared_lock:
            cache = _shared.get(key)
            if cache is None:
                cache = _shared[key] = probe
            return cache

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        """The value stored under (namespace, key), unless missing or expired."""
        with self.read() as tx:
            raw = tx.scalar(
                "SELECT value FROM cache_entries WHERE namespace = ? AND key = ? AND expires > ?",
                (namespace, key, time.time()),
            )
        return json.loads(raw) if raw is not None else None

    def put(self, namespace: str, key: str, value: dict[str, Any], ttl_s: float) -> None:
        """Store ``value`` (JSON) for ``ttl_s`` seconds, replacing what was there."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        bound = self.limits.get(namespace, self.max_entries)
        expires = time.time() + ttl_s
        with self.transaction() as tx:
            seq = tx.scalar(
                "INSERT INTO cache_namespaces (namespace, seq) VALUES (?, 1) ON CONFLICT (namespace) "
                "DO UPDATE SET seq = cache_namespaces.seq + 1 RETURNING seq",
                (namespace,),
            )
            tx.later(
                "INSERT INTO cache_entries (namespace, key, value, expires, seq) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                "expires = excluded.expires, seq = excluded.seq",
                (namespace, key, text, expires, seq),
            )
            tx.later(
                "DELETE FROM cache_entries WHERE namespace = ? AND seq <= ?",
                (namespace, int(seq) - bound),
            )
        self._puts += 1
        if self._puts % PURGE_EVERY == 0:
            self.purge()

    def purge(self) -> int:
        """Delete every expired entry; how many went."""
        with self.transaction() as tx:
            return tx.run("DELETE FROM cache_entries WHERE expires <= ?", (time.time(),))

    def delete(self, namespace: str, key: str) -> bool:
        with self.transaction() as tx:
            return (
                tx.run(
                    "DELETE FROM cache_entries WHERE namespace = ? AND key = ?", (namespace, key)
                )
                > 0
            )

    def size(self, namespace: str) -> int:
        """Entries in ``namespace``, expired ones not yet purged included."""
        with self.read() as tx:
            return int(
                tx.scalar("SELECT COUNT(*) FROM cache_entries WHERE namespace = ?", (namespace,))
            )
