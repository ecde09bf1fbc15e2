from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import BerthError
from berth.store.db import Database, Migrations, Tx


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    def add_rows(tx: Tx) -> None:
        tx.execute("INSERT INTO t (a) VALUES (1)")

    v1 = Migrations("demo", ["CREATE TABLE t (a INTEGER); CREATE INDEX t_a ON t (a);"])
    v2 = Migrations("demo", [*v1.steps, add_rows])
    with Database(str(tmp_path / "berth.db")) as db:
        db.migrate(v1)
        assert db.version("demo") == 1
        db.migrate(v2)
        db.migrate(v2)
        assert db.version("demo") == 2
        assert [r["a"] for r in db.query("SELECT a FROM t")] == [1]


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    bad = Migrations("demo", ["CREATE TABLE t (a INTEGER)", "INSERT INTO t VALUES (1); NOPE;"])
    with Database(str(tmp_path / "berth.db")) as db:
        with pytest.raises(Exception, match="syntax error"):
            db.migrate(bad)
        assert db.version("demo") == 1
        assert db.query("SELECT * FROM t") == []


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "berth.db")
    with Database(path) as db:
        db.migrate(Migrations("demo", ["CREATE TABLE t (a)", "CREATE TABLE u (a)"]))
    with Database(path) as db, pytest.raises(BerthError, match="newer than this berth knows"):
        db.migrate(Migrations("demo", ["CREATE TABLE t (a)"]))


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with Database(str(tmp_path / "berth.db")) as db:
        db.execute("CREATE TABLE t (a INTEGER)")
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
        assert db.query("SELECT * FROM t") == []
