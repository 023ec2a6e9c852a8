"""The shared backend: PostgreSQL through psycopg 3, for replicas on several machines.

`PgDatabase` offers the small part of sqlite-utils' Database that the ledger and its tests use
(`execute`, `query`, `db["table"].rows_where/insert/update/count/create`, `table_names`), with the
ledger's shared SQL (`?` placeholders, see dialect.py). Connections come from a small pool and run in
autocommit; `transaction()` pins one connection to the thread and takes a transaction-scoped advisory
lock first — the PostgreSQL twin of SQLite's BEGIN IMMEDIATE, so every read-then-write step of the
ledger (job runs, leases, confirmations) is atomic across all replicas.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus

from bot.ledger.backend import LedgerError
from bot.ledger.dialect import POSTGRESQL, quote

WRITE_LOCK = 0x6F7073626F74        # "opsbot": the advisory lock every ledger write transaction takes
MAX_IDLE = 8


def safe_url(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class Rows:
    """A finished statement's result, read into memory (the connection is back in the pool already)."""

    def __init__(self, rows: list[tuple], rowcount: int, description: Sequence[Any] | None):
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.description = [(c.name,) for c in description] if description else None

    def fetchone(self) -> tuple | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple]:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


class PgDatabase:
    dialect = POSTGRESQL

    def __init__(self, url: str):
        self.url = url
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._pks: dict[str, list[str]] = {}

    # -- connections -----------------------------------------------------------------------------

    def _take(self) -> psycopg.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10, application_name="opsbot")
        except psycopg.OperationalError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            reason = lines[0] if lines else type(exc).__name__
            raise LedgerError(f"ledger database {safe_url(self.url)} unreachable: {reason}") from None

    def _give(self, conn: psycopg.Connection) -> None:
        if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
            with self._lock:
                if len(self._idle) < MAX_IDLE:
                    self._idle.append(conn)
                    return
        conn.close()

    def _drop_idle(self) -> None:
        """After a connection error the others are likely dead too (server restart): start afresh."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        conn = self._take()
        try:
            yield conn
        except psycopg.OperationalError:
            conn.close()
            self._drop_idle()
            raise
        finally:
            if not conn.closed:
                self._give(conn)

    @contextmanager
    def transaction(self) -> Iterator[PgDatabase]:
        if getattr(self._local, "conn", None) is not None:     # already inside one on this thread
            yield self
            return
        with self._conn() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
                    yield self
            finally:
                self._local.conn = None

    def close(self) -> None:
        self._drop_idle()

    # -- statements ------------------------------------------------------------------------------

    def execute(self, sql: str, params: Iterable[Any] | None = None) -> Rows:
        with self._conn() as conn:
            cursor = conn.execute(self.dialect.sql(sql), list(params or []))
            rows = cursor.fetchall() if cursor.description else []
            return Rows(rows, cursor.rowcount, cursor.description)

    def executemany(self, sql: str, params: Iterable[Iterable[Any]]) -> None:
        with self._conn() as conn, conn.cursor() as cursor:
            cursor.executemany(self.dialect.sql(sql), [list(p) for p in params])

    def query(self, sql: str, params: Iterable[Any] | None = None) -> Iterator[dict[str, Any]]:
        result = self.execute(sql, params)
        names = [c[0] for c in result.description or []]
        for row in result.fetchall():
            yield dict(zip(names, row, strict=True))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "ORDER BY table_name")]

    def primary_key(self, table: str) -> list[str]:
        if table not in self._pks:
            self._pks[table] = [r[0] for r in self.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary",
                [quote(table)])]
        return self._pks[table]

    def size_bytes(self) -> int:
        return int(self.execute("SELECT pg_database_size(current_database())").fetchone()[0])

    def __getitem__(self, table: str) -> PgTable:
        return PgTable(self, table)


class PgTable:
    """sqlite-utils' Table, the parts the ledger's callers use."""

    def __init__(self, db: PgDatabase, name: str):
        self.db = db
        self.name = name
        self.last_pk: Any = None

    @property
    def _pk(self) -> str:
        pks = self.db.primary_key(self.name)
        if len(pks) != 1:
            raise ValueError(f"table {self.name}: expected one primary key column, found {pks}")
        return pks[0]

    def rows_where(self, where: str | None = None, where_args: Iterable[Any] | None = None, *,
                   order_by: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        sql = f"SELECT * FROM {quote(self.name)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.query(sql, where_args)

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    @property
    def count(self) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {quote(self.name)}").fetchone()[0])

    def get(self, pk: Any) -> dict[str, Any]:
        rows = list(self.rows_where(f"{quote(self._pk)} = ?", [pk]))
        if not rows:
            raise KeyError(f"{self.name}: no row {pk!r}")
        return rows[0]

    def insert(self, record: dict[str, Any]) -> PgTable:
        columns = ", ".join(quote(c) for c in record)
        marks = ", ".join("?" for _ in record)
        self.last_pk = self.db.execute(
            f"INSERT INTO {quote(self.name)} ({columns}) VALUES ({marks}) RETURNING {quote(self._pk)}",
            list(record.values())).fetchone()[0]
        return self

    def update(self, pk: Any, updates: dict[str, Any]) -> PgTable:
        assignments = ", ".join(f"{quote(c)} = ?" for c in updates)
        self.db.execute(f"UPDATE {quote(self.name)} SET {assignments} WHERE {quote(self._pk)} = ?",
                        [*updates.values(), pk])
        self.last_pk = pk
        return self

    @property
    def columns_dict(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", [self.name])}

    def create(self, columns: dict[str, type], pk: str | None = None,
               foreign_keys: Iterable[tuple[str, str, str]] = ()) -> PgTable:
        types = self.db.dialect.types
        parts = []
        for name, kind in columns.items():
            if name == pk:
                parts.append(f"{quote(name)} {self.db.dialect.id_pk if kind is int else types[kind] + ' PRIMARY KEY'}")
            else:
                parts.append(f"{quote(name)} {types[kind]}")
        parts += [f"FOREIGN KEY ({quote(col)}) REFERENCES {quote(table)} ({quote(other)})"
                  for col, table, other in foreign_keys]
        self.db.execute(f"CREATE TABLE {quote(self.name)} ({', '.join(parts)})")
        return self

    def create_index(self, columns: Sequence[str], unique: bool = False) -> PgTable:
        name = f"idx_{self.name}_{'_'.join(columns)}"
        self.db.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote(name)} ON {quote(self.name)} "
                        f"({', '.join(quote(c) for c in columns)})")
        return self


class PostgresBackend:
    dialect = POSTGRESQL
    path = None

    def __init__(self, url: str):
        self.url = url
        self._db = PgDatabase(url)

    def __str__(self) -> str:
        return safe_url(self.url)

    @property
    def db(self) -> PgDatabase:
        return self._db

    def transaction(self):
        return self._db.transaction()

    def schema_version(self, db: PgDatabase) -> int:
        db.execute("CREATE TABLE IF NOT EXISTS ledger_schema (id SMALLINT PRIMARY KEY CHECK (id = 1), "
                   "version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM ledger_schema WHERE id = 1").fetchone()
        return row[0] if row else 0

    def set_schema_version(self, db: PgDatabase, version: int) -> None:
        db.execute("INSERT INTO ledger_schema (id, version) VALUES (1, ?) "
                   "ON CONFLICT (id) DO UPDATE SET version = excluded.version", [version])

    def table_names(self) -> list[str]:
        return [t for t in self._db.table_names() if t != "ledger_schema"]

    def size_bytes(self) -> int:
        return self._db.size_bytes()

    def close(self) -> None:
        self._db.close()
