"""The PostgreSQL backend: a psycopg 3 connection pool shared by every store of a process.

Synchronous (psycopg_pool.ConnectionPool): the request path calls the stores from
the event loop as it does SQLite, and a round trip to a nearby PostgreSQL is a
fraction of a millisecond. Connections are in autocommit; a ``transaction()`` is
one ``BEGIN … COMMIT`` whose row locks (``SELECT … FOR UPDATE``) serialise the
writers that touch the same key, team or limit, in every process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import ConfigError
from .db import Backend, Migration, Tx, apply, pg_sql, redact_url
from .errors import StoreUnavailableError

MIGRATION_LOCK = 0x70726C6D  # pg_advisory_xact_lock id for migrations ("prlm")
POOL_TIMEOUT_S = float(os.environ.get("PRELLM_DB_TIMEOUT", "5"))


class PgTx:
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def _exec(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        return self.conn.execute(pg_sql(sql) if params else sql, tuple(params) or None)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._exec(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(pg_sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._exec(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._exec(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._exec(sql, params).fetchone()
        return next(iter(row.values())) if row else None


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url, self.where = url, redact_url(url)
        size = int(os.environ.get("PRELLM_DB_POOL_SIZE", "10"))
        self.pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(size, 1),
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
            timeout=POOL_TIMEOUT_S,
            open=False,
            name="prellm",
        )
        self._opened = False
        self._lock = threading.Lock()

    def _open(self) -> None:
        if not self._opened:
            with self._lock:
                if not self._opened:
                    self.pool.open(wait=False)
                    self._opened = True

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._open()
        try:
            with self.pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(f"{self.where}: database unavailable ({first})") from None

    @contextmanager
    def transaction(self, pipeline: bool = False) -> Iterator[Tx]:
        """``pipeline``: the statements (writes only) go in one round trip with BEGIN/COMMIT."""
        with self._connection() as conn:
            if pipeline:
                with conn.pipeline(), conn.transaction():
                    yield PgTx(conn)
            else:
                with conn.transaction():
                    yield PgTx(conn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connection() as conn:
            yield PgTx(conn)

    def version(self, store: str) -> int:
        with self.read() as tx:
            exists = tx.scalar("SELECT to_regclass('prellm_schema') IS NOT NULL")
            if not exists:
                return 0
            return int(
                tx.scalar("SELECT version FROM prellm_schema WHERE store = ?", (store,)) or 0
            )

    def migrate(self, store: str, migrations: Sequence[Migration]) -> int:
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
        if self._opened:
            self.pool.close()
            self._opened = False
