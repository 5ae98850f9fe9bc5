"""Rollups: sums per (topic, hour, language) and per (topic, UTC day, language), kept up to date at ingest.

A chart or an alert reads these sums instead of scanning headlines. ``topic = 'all'`` sums every tagged
headline once. Ingest adds deltas with additive upserts (``n = n + excluded.n``), which stay right when
two collectors write at once; the day table gets the same deltas summed by day. ``rebuild_rollups``
recomputes both from the headlines (after a rescore).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select

from tracker.models import ALL_TOPIC, BUBBLE_TOPIC, NEGATIVE_AT, POSITIVE_AT, HeadlineRow, Rollup, RollupDay
from tracker.series import SUM_FIELDS, Sums, bucket_floor

RollupKey = tuple[str, datetime, str]  # topic, hour start, language
_T = Rollup.__table__  # type: ignore[attr-defined]
_TD = RollupDay.__table__  # type: ignore[attr-defined]
_H = HeadlineRow.__table__  # type: ignore[attr-defined]


def add_headline(
    deltas: dict[RollupKey, Sums],
    *,
    published_at: datetime,
    language: str,
    topics: Sequence[str],
    compound: float | None,
) -> None:
    """Count one tagged headline into ``deltas`` under each of its topics and under ``all``."""
    if not topics:
        return  # untagged headlines are kept but are not AI-infrastructure news: no series
    hour = bucket_floor(published_at, "hour")
    bubble = 1 if BUBBLE_TOPIC in topics else 0
    for topic in (ALL_TOPIC, *topics):
        key = (topic, hour, language)
        s = deltas.get(key)
        if s is None:
            s = deltas[key] = Sums()
        s.headlines += 1
        s.bubble += bubble
        if compound is not None:
            s.scored += 1
            s.sum_compound += compound
            s.sum_sq_compound += compound * compound
            if compound >= POSITIVE_AT:
                s.positive += 1
            elif compound <= NEGATIVE_AT:
                s.negative += 1
            else:
                s.neutral += 1


def sqlite_time(when: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it, for statements sent straight to the driver."""
    # isoformat is several times faster than strftime, and timespec keeps the microseconds SQLAlchemy writes.
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_upsert(table: str) -> str:
    return (
        f"INSERT INTO {table} (topic, bucket_start, language, {', '.join(SUM_FIELDS)}) "
        f"VALUES (?, ?, ?, {', '.join('?' * len(SUM_FIELDS))}) "
        "ON CONFLICT (topic, bucket_start, language) DO UPDATE SET "
        + ", ".join(f"{f} = {f} + excluded.{f}" for f in SUM_FIELDS)
    )


def _pg_upsert(table: str) -> str:
    return (
        f"INSERT INTO {table} (topic, bucket_start, language, {', '.join(SUM_FIELDS)}) "
        "SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::text[], "
        + ", ".join("%s::float8[]" if f.startswith("sum_") else "%s::int[]" for f in SUM_FIELDS)
        + ") ON CONFLICT (topic, bucket_start, language) DO UPDATE SET "
        + ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in SUM_FIELDS)
    )


_UPSERTS = {
    ("sqlite", "rollups"): _sqlite_upsert("rollups"),
    ("sqlite", "rollups_daily"): _sqlite_upsert("rollups_daily"),
    ("postgresql", "rollups"): _pg_upsert("rollups"),
    ("postgresql", "rollups_daily"): _pg_upsert("rollups_daily"),
}


def by_day(deltas: dict[RollupKey, Sums]) -> dict[RollupKey, Sums]:
    """Hourly deltas summed by UTC day (hour keys are UTC bucket starts)."""
    days: dict[RollupKey, Sums] = {}
    for (topic, hour, language), s in deltas.items():
        key = (topic, hour.replace(hour=0), language)
        acc = days.get(key)
        if acc is None:
            acc = days[key] = Sums()
        acc.add(s)
    return days


def _upsert(conn: Connection, table: str, deltas: dict[RollupKey, Sums]) -> None:
    ordered = sorted(deltas.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))
    sql = _UPSERTS[(conn.dialect.name, table)]
    if conn.dialect.name == "sqlite":
        # Straight to the driver: SQLAlchemy's per-parameter processing cost more than the upsert itself.
        conn.exec_driver_sql(
            sql, [(t, sqlite_time(h), lang, *(getattr(s, f) for f in SUM_FIELDS)) for (t, h, lang), s in ordered]
        )
        return
    # PostgreSQL: one statement over column arrays (executemany went row by row through psycopg).
    columns: list[list[Any]] = [[], [], [], *([] for _ in SUM_FIELDS)]
    for (t, h, lang), s in ordered:
        for col, value in zip(columns, (t, h, lang, *(getattr(s, f) for f in SUM_FIELDS)), strict=True):
            col.append(value)
    conn.exec_driver_sql(sql, tuple(columns))


def apply_deltas(conn: Connection, deltas: dict[RollupKey, Sums]) -> None:
    """Add hourly ``deltas`` to the hour and day tables inside the caller's transaction."""
    if not deltas:
        return
    _upsert(conn, "rollups", deltas)
    _upsert(conn, "rollups_daily", by_day(deltas))


def rebuild_rollups(conn: Connection, *, since: datetime | None = None) -> None:
    """Recompute the rollups from the day holding ``since`` (everything when None) from the headlines."""
    # From the start of the day, so the day table's first day is rebuilt whole.
    start = bucket_floor(since, "day") if since is not None else None
    query = select(_H.c.published_at, _H.c.language, _H.c.topics, _H.c.compound).where(_H.c.tagged.is_(True))
    if start is not None:
        query = query.where(_H.c.published_at >= start)
    for table in (_T, _TD):
        conn.execute(delete(table) if start is None else delete(table).where(table.c.bucket_start >= start))
    deltas: dict[RollupKey, Sums] = {}
    for published_at, language, topics, compound in conn.execute(query.execution_options(yield_per=20000)):
        add_headline(deltas, published_at=published_at, language=language, topics=topics.split(), compound=compound)
        if len(deltas) > 200_000:
            apply_deltas(conn, deltas)
            deltas = {}
    apply_deltas(conn, deltas)


def hourly_sums(
    conn: Connection,
    *,
    topic: str,
    start: datetime,
    end: datetime,
    languages: Iterable[str] | None = None,
) -> list[tuple[datetime, Sums]]:
    """(hour, sums) for one topic in [start, end), languages added together (or only those given)."""
    cols = [func.sum(getattr(_T.c, f)) for f in SUM_FIELDS]
    cond = [_T.c.topic == topic, _T.c.bucket_start >= start, _T.c.bucket_start < end]
    langs = list(languages) if languages is not None else None
    if langs is not None:
        cond.append(_T.c.language.in_(langs))
    stmt = select(_T.c.bucket_start, *cols).where(and_(*cond)).group_by(_T.c.bucket_start).order_by(_T.c.bucket_start)
    out: list[tuple[datetime, Sums]] = []
    for row in conn.execute(stmt):
        values = [0 if v is None else v for v in row[1:]]
        out.append((row[0], Sums(*values)))
    return out
