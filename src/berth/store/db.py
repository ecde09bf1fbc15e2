"""berth's metadata database: one SQLite file in WAL mode (``<root>/berth.db``).

Each component (images, containers, networks, volumes, build cache, ...)
owns its tables and declares them as an ordered list of migrations::

    IMAGES = Migrations("images", [
        "CREATE TABLE images (id TEXT PRIMARY KEY, ...)",        # version 1
        "ALTER TABLE images ADD COLUMN created TEXT",            # version 2
    ])
    db.migrate(IMAGES)

The table ``schema_versions(component, version)`` records how many of a
component's migrations have been applied; ``migrate`` applies the rest, each
in its own transaction, so a crash leaves the schema at a known version.
Migrations are append-only: never edit one that has shipped, add another.
A migration is SQL text (may hold several statements) or a function taking
the transaction (:class:`Tx`).

The connection is shared by the threads of one process behind a lock;
several processes may open the same file (WAL readers do not block the
writer; writers wait up to ``busy_timeout``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from berth.errors import BerthError

Migration = str | Callable[["Tx"], None]


class Migrations:
    """The ordered schema history of one component."""

    def __init__(self, component: str, steps: Sequence[Migration]) -> None:
        self.component = component
        self.steps = list(steps)

    @property
    def version(self) -> int:
        return len(self.steps)


class Database:
    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions"
            " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self, component: str) -> int:
        row = self.query_one("SELECT version FROM schema_versions WHERE component = ?", component)
        return int(row["version"]) if row else 0

    def migrate(self, migrations: Migrations) -> None:
        """Bring ``migrations.component`` to its newest version."""
        with self._lock:
            current = self.version(migrations.component)
            if current > migrations.version:
                raise BerthError(
                    f"{self.path}: the {migrations.component} schema is at version {current}, "
                    f"newer than this berth knows ({migrations.version}); upgrade berth"
                )
            for number in range(current, migrations.version):
                step = migrations.steps[number]
                with self.transaction() as conn:
                    if callable(step):
                        step(conn)
                    else:
                        conn.executescript_in_tx(step)
                    conn.execute(
                        "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
                        " ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                        (migrations.component, number + 1),
                    )

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def execute(self, sql: str, *params: Any) -> int:
        """Run one statement outside an explicit transaction; return rows changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row


class Tx:
    """The connection inside a transaction (statements only; no commit here)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def executescript_in_tx(self, script: str) -> None:
        """Several statements, without the implicit COMMIT of executescript."""
        for statement in _split_sql(script):
            self._conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    out, current = [], ""
    for ch in script:
        current += ch
        if ch == ";" and sqlite3.complete_statement(current):
            if current.strip(" \t\n;"):
                out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out
