"""The state backends the store tests run on: SQLite always, PostgreSQL when configured.

PostgreSQL needs ``PRELLM_TEST_DATABASE_URL`` (``source .ci/postgres`` starts a local
cluster and sets it); each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

PG_URL = os.environ.get("PRELLM_TEST_DATABASE_URL")
NO_PG = "PostgreSQL tests need PRELLM_TEST_DATABASE_URL (source .ci/postgres to start one)"
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason=NO_PG)),
]


def with_schema(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema``: a private namespace per test."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def new_schema() -> str:
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(str(PG_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema


def drop_schema(schema: str) -> None:
    import psycopg

    from prellm.store.base import close_backends

    close_backends()
    with psycopg.connect(str(PG_URL), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """'sqlite' (files in the test's PRELLM_DATA_DIR) or a PostgreSQL URL in PRELLM_DATABASE_URL."""
    if request.param == "sqlite":
        monkeypatch.delenv("PRELLM_DATABASE_URL", raising=False)
        yield "sqlite"
        return
    schema = new_schema()
    url = with_schema(str(PG_URL), schema)
    monkeypatch.setenv("PRELLM_DATABASE_URL", url)
    try:
        yield url
    finally:
        drop_schema(schema)
