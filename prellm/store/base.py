"""A store: its migrations, on the backend the configuration names, opened on first use."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from ..errors import ConfigError
from .db import (
    Backend,
    Migration,
    SQLiteBackend,
    Tx,
    data_dir,
    database_url,
    redact_url,
    sqlite_dir_from_url,
)

_pg_backends: dict[str, Backend] = {}
_pg_lock = threading.Lock()


def postgres(url: str) -> Backend:
    """The process's pool for ``url`` (one per URL, shared by every store)."""
    with _pg_lock:
        backend = _pg_backends.get(url)
        if backend is None:
            try:
                from .pg import PostgresBackend
            except ImportError:
                raise ConfigError(
                    "PRELLM_DATABASE_URL names PostgreSQL, which needs psycopg: "
                    "pip install 'prellm-engine[postgres]'"
                ) from None

            backend = _pg_backends[url] = PostgresBackend(url)
        return backend


def close_backends() -> None:
    """Close the PostgreSQL pools (tests, and processes that fork)."""
    with _pg_lock:
        for backend in _pg_backends.values():
            backend.close()
        _pg_backends.clear()


class Store:
    """A store on a backend: opened and migrated on first use.

    ``path`` given: that SQLite file. Else ``url`` or ``PRELLM_DATABASE_URL``
    (PostgreSQL), else ``FILENAME`` in ``data_dir()``.
    """

    NAME: str  # the store's name in PostgreSQL's prellm_schema
    FILENAME: str
    MIGRATIONS: Sequence[str | Migration]

    def __init__(self, path: str | Path | None = None, *, url: str | None = None) -> None:
        self._url = None if path else (url or database_url())
        folder = sqlite_dir_from_url() or data_dir()
        self.path = Path(path) if path else folder / self.FILENAME
        self._backend: Backend | None = None
        self._open_lock = threading.Lock()

    @classmethod
    def migrations(cls) -> list[Migration]:
        return [
            m if isinstance(m, Migration) else Migration(f"{cls.NAME}-{i + 1}", m)
            for i, m in enumerate(cls.MIGRATIONS)
        ]

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            with self._open_lock:
                if self._backend is None:
                    backend = postgres(self._url) if self._url else SQLiteBackend(self.path)
                    backend.migrate(self.NAME, self.migrations())
                    self._backend = backend
        return self._backend

    @property
    def dialect(self) -> str:
        return "postgresql" if self._url else "sqlite"

    @property
    def where(self) -> str:
        return redact_url(self._url) if self._url else str(self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection (SQLite stores only)."""
        backend = self.backend
        if not isinstance(backend, SQLiteBackend):
            raise ConfigError(f"{self.where}: not a SQLite store")
        return backend.conn

    @property
    def schema_version(self) -> int:
        return self.backend.version(self.NAME)

    def transaction(self, locks: Sequence[str] = ()) -> AbstractContextManager[Tx]:
        """A write transaction: a ``Tx`` (context manager), holding ``locks`` (scopes)."""
        return self.backend.transaction(locks)

    def read(self) -> AbstractContextManager[Tx]:
        return self.backend.read()


SQLiteStore = Store  # the earlier name
