"""Database engines: SQLite (WAL, busy timeout, write lock taken up front) or PostgreSQL, by URL.

The schema is created on first use: ``open_engine`` adds the tables, nullable columns and indexes that are
missing (nothing is altered or dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from tracker import models  # noqa: F401  (registers every table on SQLModel.metadata)

_engines: dict[str, Engine] = {}


def _normalise_url(url: str) -> str:
    # Users write postgresql://...; SQLAlchemy's default driver for that is psycopg2, which we do not ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, issue BEGIN: the module's implicit transactions
        # would open deferred ones, which fail at once with "database is locked" on a read->write upgrade.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction takes the write lock up front: waiting for it (busy_timeout) beats failing
        # later on a read->write upgrade. Readers (the dashboard, exports) ask for ``readonly`` and, thanks to
        # WAL, never wait for writers.
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``, created once per process and URL, with the schema in place."""
    url = _normalise_url(url)
    if url in _engines:
        return _engines[url]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    if create:
        _create_schema(engine)
    _engines[url] = engine
    return engine


# What a column added to an existing table starts as, when NULL would be wrong for the rows already there.
# ``alert_rules.told`` (what receivers were last told) follows from the state the rule was left in.
_BACKFILL = {
    ("alert_rules", "told"): (
        "UPDATE alert_rules SET told = CASE"
        " WHEN state = 'firing' THEN 'firing'"
        " WHEN state IN ('nodata', 'error') AND pending_since IS NOT NULL THEN state"
        " WHEN last_notified_at IS NOT NULL THEN 'resolved' END"
    ),
}

_SCHEMA_LOCK = 0x7472_6163_6B65_72  # "tracker": the advisory lock key held while the schema is brought up to date


def _create_schema(engine: Engine) -> None:
    """Tables that are missing, then the columns and indexes that existing tables lack.

    ``create_all`` skips existing tables: a nullable column or an index added by a later release is added
    once, when an existing database is first opened by it (a new index on a large table blocks writers
    while it is built: once, at the first start). Nothing is ever altered or dropped; a change beyond
    adding (a type, a constraint) needs a real migration.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting together (collector and dashboard after an upgrade) would both find an
            # index missing and both create it; one waits here for the other instead. SQLite's writers are
            # already one at a time (BEGIN IMMEDIATE).
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
        SQLModel.metadata.create_all(conn)
        present = inspect(conn)
        for table in SQLModel.metadata.sorted_tables:
            have = {c["name"] for c in present.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable or column.primary_key:
                    raise RuntimeError(f"table {table.name} lacks the NOT NULL column {column.name}: migrate by hand")
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                if (table.name, column.name) in _BACKFILL:
                    conn.exec_driver_sql(_BACKFILL[(table.name, column.name)])
            for index in table.indexes:
                index.create(conn, checkfirst=True)


def read_connection(engine: Engine) -> Any:
    """A connection for reading only: on SQLite it does not take the write lock. Use as a context manager."""
    return engine.connect().execution_options(readonly=True)


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
