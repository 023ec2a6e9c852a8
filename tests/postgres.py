"""PostgreSQL fixtures: one real server per test session (tests/pg.py), a fresh schema per test.

Where no PostgreSQL binaries exist, the tests that need them are skipped with a message that says why.
A new schema costs ~1 ms against ~200 ms for a new database, so each test gets one (its URL sets the
search path).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.pg import PostgresUnavailable, TempPostgres, free_port

__all__ = ["free_port", "ledger_target", "pg_server", "pg_url"]


def _admin(server: TempPostgres, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempPostgres]:
    try:
        server = TempPostgres(settings=("max_connections=300", "shared_buffers=32MB")).start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: TempPostgres) -> Iterator[str]:
    """A fresh, empty schema on the session's server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE SCHEMA "{name}"')
    yield f"{pg_server.url()}?options=-csearch_path%3D{name}"
    _admin(pg_server, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request, tmp_path) -> str:
    """Where a test's ledger lives: a SQLite file, then a PostgreSQL URL (the same tests run on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    return request.getfixturevalue("pg_url")
