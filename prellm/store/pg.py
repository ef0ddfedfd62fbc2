"""The PostgreSQL backend: a psycopg 3 connection pool shared by every store of a process.

Synchronous (psycopg_pool.ConnectionPool): the request path calls the stores from
the event loop as it does SQLite, and a round trip to a nearby PostgreSQL is a
fraction of a millisecond. Connections are in autocommit; a ``transaction()`` is
one ``BEGIN … COMMIT`` whose advisory locks (one per key, team or limit scope)
serialise the check-and-hold of that scope in every process. Writes are batched
with the next statement (see ``PgTx``), so round trips stay few.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import ConfigError
from .db import Backend, Migration, Tx, apply, pg_sql, redact_url
from .errors import StoreUnavailableError

VALUES_RE = re.compile(r"VALUES\s*(\([?,\s]+\))")
MIGRATION_LOCK = 0x70726C6D  # pg_advisory_xact_lock id for migrations ("prlm")
POOL_TIMEOUT_S = float(os.environ.get("PRELLM_DB_TIMEOUT", "5"))


def lock_id(scope: str) -> int:
    """A scope's advisory lock: 64 bits of its SHA-256."""
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big", signed=True)


class PgTx:
    """Statements on one connection. Inside a transaction, writes (``later``, ``many``) wait
    and go with the next read or the COMMIT, as one simple-query message: a check-and-hold
    is two round trips (BEGIN + locks + the check; the writes + COMMIT), a settle one."""

    dialect = "postgresql"
    FLUSH_CHARS = 1_000_000

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.pending: list[str] = []
        self._client: psycopg.ClientCursor[Any] | None = None

    def _literal(self, sql: str, params: Sequence[Any]) -> str:
        if not params:
            return sql
        if self._client is None:
            self._client = psycopg.ClientCursor(self.conn)
        return self._client.mogrify(pg_sql(sql), tuple(params))

    def _exec(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        if not self.pending:
            return self.conn.execute(pg_sql(sql) if params else sql, tuple(params) or None)
        text = "; ".join([*self.pending, self._literal(sql, params)])
        self.pending.clear()
        cur = self.conn.execute(text)
        while cur.nextset():
            pass
        return cur

    def flush(self) -> None:
        if self.pending:
            text = "; ".join(self.pending)
            self.pending.clear()
            self.conn.execute(text)

    def later(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.pending.append(self._literal(sql, params))
        if sum(map(len, self.pending)) > self.FLUSH_CHARS:
            self.flush()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._exec(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One multi-row ``INSERT … VALUES (…), (…)`` where the SQL allows it."""
        m = VALUES_RE.search(sql)
        if m is None or len(rows) < 2:
            for row in rows:
                self.later(sql, row)
            return
        for start in range(0, len(rows), 500):
            groups = ", ".join(self._literal(m.group(1), row) for row in rows[start : start + 500])
            self.later(sql[: m.start(1)] + groups + sql[m.end(1) :])

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._exec(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._exec(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._exec(sql, params).fetchone()
        return next(iter(row.values())) if row else None


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Per connection: commits do not wait for the WAL to reach the disk (as SQLite's
    ``synchronous=NORMAL`` in WAL mode): a crash of the database server may lose the
    last moments of writes, never consistency. ``PRELLM_DB_SYNCHRONOUS_COMMIT=on`` waits."""
    mode = os.environ.get("PRELLM_DB_SYNCHRONOUS_COMMIT", "off").strip().lower()
    if mode in ("on", "off", "local", "remote_write", "remote_apply"):
        conn.execute(f"SET synchronous_commit = {mode}")


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url, self.where = url, redact_url(url)
        self.pool: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ConnectionPool[Any]:
        """The pool, opened on first use (again after ``close()``: stores keep their backend)."""
        if self.pool is None:
            with self._lock:
                if self.pool is None:
                    size = int(os.environ.get("PRELLM_DB_POOL_SIZE", "10"))
                    pool: ConnectionPool[Any] = ConnectionPool(
                        self.url,
                        min_size=1,
                        max_size=max(size, 1),
                        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
                        timeout=POOL_TIMEOUT_S,
                        open=False,
                        name="prellm",
                        configure=_configure,
                    )
                    pool.open(wait=False)
                    self.pool = pool
        return self.pool

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool().connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(f"{self.where}: database unavailable ({first})") from None

    @contextmanager
    def transaction(self, locks: Sequence[str] = ()) -> Iterator[Tx]:
        """BEGIN, the scopes' advisory locks (sorted: no two transactions wait on each other
        in a cycle), the body, COMMIT; the first two go with the body's first statement."""
        with self._connection() as conn:
            tx = PgTx(conn)
            tx.pending.append("BEGIN")
            if locks:
                ids = sorted({lock_id(s) for s in locks})
                tx.pending.append("SELECT " + ", ".join(f"pg_advisory_xact_lock({i})" for i in ids))
            try:
                yield tx
                tx.pending.append("COMMIT")
                tx.flush()
            except BaseException:
                tx.pending.clear()
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connection() as conn:
            yield PgTx(conn)

    def version(self, store: str) -> int:
        """One round trip: it is also the request path's "is the database there" check."""
        try:
            with self.read() as tx:
                return int(
                    tx.scalar("SELECT version FROM prellm_schema WHERE store = ?", (store,)) or 0
                )
        except psycopg.errors.UndefinedTable:
            return 0

    def migrate(self, store: str, migrations: Sequence[Migration]) -> int:
        try:
            return self._migrate(store, migrations)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"{self.where}: migration of {store!r} failed ({first})") from None

    def _migrate(self, store: str, migrations: Sequence[Migration]) -> int:
        with self.transaction() as tx:
            tx.run(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            tx.run(
                "CREATE TABLE IF NOT EXISTS prellm_schema (store TEXT PRIMARY KEY, "
                "version INTEGER NOT NULL, applied TEXT NOT NULL DEFAULT '')"
            )
            row = tx.one("SELECT version, applied FROM prellm_schema WHERE store = ?", (store,))
            version, applied = (row["version"], row["applied"]) if row else (0, "")
            if version > len(migrations):
                raise ConfigError(
                    f"{self.where}: store {store!r} written by a newer preLLM (schema {version}, "
                    f"this one knows {len(migrations)}); upgrade preLLM"
                )
            names = [n for n in applied.split(",") if n]
            for migration in migrations[version:]:
                apply(tx, migration)
                names.append(migration.name)
            if len(migrations) > version or row is None:
                tx.run(
                    "INSERT INTO prellm_schema (store, version, applied) VALUES (?, ?, ?) "
                    "ON CONFLICT (store) DO UPDATE SET version = excluded.version, "
                    "applied = excluded.applied",
                    (store, len(migrations), ",".join(names)),
                )
        return len(migrations)

    def close(self) -> None:
        with self._lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()
