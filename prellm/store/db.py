"""Opening a SQLite store: WAL mode, versioned migrations, clear errors for bad files.

Each store lists its migrations in order; ``PRAGMA user_version`` records how many
have run, so a newer preLLM opens (and upgrades) an older file, and refuses a file
written by a newer preLLM instead of misreading it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError


def data_dir() -> Path:
    """``PRELLM_DATA_DIR``, else ``$XDG_DATA_HOME/prellm``, else ``~/.local/share/prellm``."""
    if env := os.environ.get("PRELLM_DATA_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "prellm"


def open_db(path: Path, migrations: list[str]) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        _wal(conn)
        # Durable in WAL mode, without an fsync per commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.OperationalError as exc:  # locked, read-only, unreadable directory...
        raise ConfigError(f"{path}: cannot open the database ({exc})") from None
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"{path}: not a usable SQLite database ({exc}); move it away to start afresh"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open: {exc.strerror}") from None
    if version > len(migrations):
        raise ConfigError(
            f"{path}: written by a newer preLLM (schema {version}, this one knows {len(migrations)})"
        )
    try:
        while version < len(migrations):
            # Re-read under the write lock: another process may have migrated meanwhile.
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < len(migrations):
                for statement in filter(None, (s.strip() for s in migrations[version].split(";"))):
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: migration failed ({exc})") from None
    return conn


def _wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. The switch needs a moment alone with a new file and does not wait
    for the busy timeout, so processes that open the same new file at once retry it."""
    for attempt in range(100):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


class SQLiteStore:
    """A store in one SQLite file: opened (and migrated) on first use, one connection,
    write transactions serialised within the process and across processes."""

    FILENAME: str
    MIGRATIONS: list[str]

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else data_dir() / self.FILENAME
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.path, self.MIGRATIONS)
        return self._conn

    @property
    def schema_version(self) -> int:
        return schema_version(self.conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so a check and the write after it
        are atomic against other processes; any exception rolls back."""
        with self._lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
