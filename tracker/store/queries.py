"""The read side: what the dashboard, the JSON API, the CSV exports and the CLI ask of the database.

Series come from the hourly rollups (a request never scans headlines) unless a source filter is set; then
they are summed in SQL from the headlines of that source in the time range, through the indexes on
``headline_topics (topic, published_at)`` / ``headlines (published_at)`` and the unique
``sightings (headline_id, source_id)``. Every query binds its values: nothing from a request is ever
interpolated into SQL. This module never writes and never interpolates missing buckets (``build_series``
makes empty buckets explicit).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, literal, literal_column, select, true, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from tracker.config import Config
from tracker.export import sql_headline_line, sql_safe_text, sql_score, sql_utc_iso
from tracker.models import (
    ALL_TOPIC,
    BUBBLE_TOPIC,
    NEGATIVE_AT,
    POSITIVE_AT,
    HeadlineRow,
    HeadlineTopic,
    Rollup,
    RollupDay,
    Sighting,
    Source,
    UTCDateTime,
)
from tracker.series import SUM_FIELDS, Bucket, Point, Sums, bucket_floor, bucket_starts, build_series
from tracker.store.engine import read_connection
from tracker.store.rollups import hourly_sums

_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_HT = HeadlineTopic.__table__  # type: ignore[attr-defined]
_S = Source.__table__  # type: ignore[attr-defined]
_SI = Sighting.__table__  # type: ignore[attr-defined]
_R = Rollup.__table__  # type: ignore[attr-defined]
_RD = RollupDay.__table__  # type: ignore[attr-defined]
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}

ORDERS = ("newest", "positive", "negative")


class UnknownSource(LookupError):
    """A source filter that names no configured source."""


def series_range(start: datetime, end: datetime, bucket: Bucket) -> tuple[datetime, datetime]:
    """The whole buckets covering [start, end): a point always sums its complete bucket."""
    starts = list(bucket_starts(start, end, bucket))
    if not starts:
        floor = bucket_floor(start, bucket)
        return floor, floor
    return starts[0], starts[-1] + _STEP[bucket]


def _source_id(conn: Connection, name: str) -> int:
    sid = conn.execute(select(_S.c.id).where(_S.c.name == name)).scalar()
    if sid is None:
        raise UnknownSource(name)
    return int(sid)


def _headline_filter(
    conn: Connection,
    *,
    topic: str | None,
    start: datetime | None,
    end: datetime | None,
    language: str | None,
    source: str | None,
    time_index: bool = True,
) -> tuple[Any, list[ColumnElement[bool]]]:
    """FROM clause and conditions selecting headlines; ``topic='all'`` means every tagged headline.

    ``time_index=False`` keeps SQLite from using a time index for the window (the window is then a filter on
    rows found another way); PostgreSQL's planner has histograms and needs no such hint.
    """
    conds: list[ColumnElement[bool]] = []
    if topic is not None and topic != ALL_TOPIC:
        # Range on the (topic, published_at) index of headline_topics, then headlines by primary key.
        from_: Any = _HT.join(_H, _H.c.id == _HT.c.headline_id)
        conds.append(_HT.c.topic == topic)
        time_col = _HT.c.published_at
    else:
        from_ = _H
        time_col = _H.c.published_at
        if topic == ALL_TOPIC:
            conds.append(_H.c.tagged.is_(True))
    if not time_index and conn.dialect.name == "sqlite":
        # SQLite's unary plus: the same value, but not a column an index range can use.
        time_col = type_coerce(literal_column(f"+{time_col.table.name}.{time_col.name}"), UTCDateTime())
    if start is not None:
        conds.append(time_col >= start)
    if end is not None:
        conds.append(time_col < end)
    if language is not None:
        conds.append(_H.c.language == language)
    if source is not None:
        sid = _source_id(conn, source)
        # The unique (headline_id, source_id) index answers this per headline of the range.
        conds.append(exists().where(and_(_SI.c.headline_id == _H.c.id, _SI.c.source_id == sid)))
    return from_, conds


def _hour_expr(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return func.date_trunc("hour", _H.c.published_at, "UTC")
    return func.strftime("%Y-%m-%d %H:00:00", _H.c.published_at)


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _source_sums(
    conn: Connection,
    *,
    topic: str,
    start: datetime,
    end: datetime,
    language: str | None,
    source: str,
) -> list[tuple[datetime, Sums]]:
    from_, conds = _headline_filter(conn, topic=topic, start=start, end=end, language=language, source=source)
    if topic == ALL_TOPIC:
        conds.append(_H.c.tagged.is_(True))
    c = _H.c.compound
    padded = literal(" ") + _H.c.topics + literal(" ")
    hour = _hour_expr(conn).label("hour")
    stmt = (
        select(
            hour,
            func.count(),
            func.count(c),
            func.coalesce(func.sum(c), 0.0),
            func.coalesce(func.sum(c * c), 0.0),
            func.sum(case((c >= POSITIVE_AT, 1), else_=0)),
            func.sum(case((c <= NEGATIVE_AT, 1), else_=0)),
            func.sum(case((and_(c > NEGATIVE_AT, c < POSITIVE_AT), 1), else_=0)),
            func.sum(case((padded.like(f"% {BUBBLE_TOPIC} %"), 1), else_=0)),
        )
        .select_from(from_)
        .where(and_(true(), *conds))
        .group_by(hour)
        .order_by(hour)
    )
    return [(_as_utc(row[0]), Sums(*(0 if v is None else v for v in row[1:]))) for row in conn.execute(stmt)]


def _hour_text_expr(conn: Connection) -> Any:
    """The rollup hour as something cheap to read back: text on SQLite, a timestamp on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return _R.c.bucket_start
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff': the prefix skips the type's per-row conversion (a year
    # of hours is 8,760 rows per topic).
    return func.substr(_R.c.bucket_start, 1, 19)


def _day_or_week_expr(conn: Connection, grain: str) -> Any:
    """The day rollup's day, or the Monday starting its week (``series.bucket_floor``), cheap to read back."""
    col = _RD.c.bucket_start
    if conn.dialect.name == "postgresql":
        return col if grain == "day" else func.date_trunc("week", col, "UTC")
    day = func.substr(col, 1, 10)  # 'YYYY-MM-DD': parsed by hand, no per-row type conversion
    if grain == "day":
        return day
    # strftime('%w') counts from Sunday = 0; a week starts on Monday.
    return func.date(day, func.printf("-%d days", (func.strftime("%w", day) + 6) % 7))


def _parse_grain(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    if len(text) == 10:
        return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), tzinfo=UTC)
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rollup_sums(
    conn: Connection,
    *,
    topics: Sequence[str],
    start: datetime,
    end: datetime,
    language: str | None = None,
    grain: str = "hour",
) -> dict[str, list[tuple[datetime, Sums]]]:
    """(time, sums) per topic from the rollups in [start, end), summed by hour, UTC day or week in SQL.

    Day and week series read the day rollups: 365 rows for a year instead of 8,760 hours times the
    languages, and weeks are summed by the database (53 rows a year). ``start`` and ``end`` must be on the
    grain's boundaries for the sums to be whole.
    """
    by_topic: dict[str, list[tuple[datetime, Sums]]] = {t: [] for t in topics}
    if not topics:
        return by_topic
    # Days and weeks come from the day table (24 times fewer rows than the hours); hours from the hour table.
    table = _R if grain == "hour" else _RD
    when = (_hour_text_expr(conn) if grain == "hour" else _day_or_week_expr(conn, grain)).label("g")
    cols = [func.sum(getattr(table.c, f)) for f in SUM_FIELDS]
    topic_cond = table.c.topic == topics[0] if len(topics) == 1 else table.c.topic.in_(list(topics))
    conds = [topic_cond, table.c.bucket_start >= start, table.c.bucket_start < end]
    if language is not None:
        conds.append(table.c.language == language)
    stmt = (
        select(table.c.topic, when, *cols)
        .where(and_(*conds))
        .group_by(table.c.topic, when)
        .order_by(table.c.topic, when)
    )
    for row in conn.execute(stmt):
        by_topic[row[0]].append((_parse_grain(row[1]), Sums(*(0 if v is None else v for v in row[2:]))))
    return by_topic


def series(
    engine: Engine,
    *,
    topic: str,
    bucket: Bucket,
    start: datetime,
    end: datetime,
    language: str | None = None,
    source: str | None = None,
) -> list[Point]:
    """One point per bucket covering [start, end) for ``topic`` (or ``all``); empty buckets are explicit."""
    lo, hi = series_range(start, end, bucket)
    with read_connection(engine) as conn:
        if source is None:
            rows = rollup_sums(conn, topics=[topic], start=lo, end=hi, language=language, grain=bucket)[topic]
        else:
            rows = _source_sums(conn, topic=topic, start=lo, end=hi, language=language, source=source)
    return build_series(rows, bucket=bucket, start=lo, end=hi)


def series_many(
    engine: Engine,
    *,
    topics: Sequence[str],
    bucket: Bucket,
    start: datetime,
    end: datetime,
    language: str | None = None,
) -> dict[str, list[Point]]:
    """Points for several topics from the rollups in one query (the overview's small multiples)."""
    lo, hi = series_range(start, end, bucket)
    with read_connection(engine) as conn:
        by_topic = rollup_sums(conn, topics=topics, start=lo, end=hi, language=language, grain=bucket)
    return {t: build_series(rows, bucket=bucket, start=lo, end=hi) for t, rows in by_topic.items()}


def count_unscored(
    engine: Engine,
    *,
    topic: str,
    start: datetime,
    end: datetime,
    language: str | None = None,
    source: str | None = None,
) -> int:
    """Headlines in [start, end) that count in volume but have no sentiment score."""
    with read_connection(engine) as conn:
        if source is None:
            rows = hourly_sums(
                conn, topic=topic, start=start, end=end, languages=None if language is None else [language]
            )
        else:
            rows = _source_sums(conn, topic=topic, start=start, end=end, language=language, source=source)
    return sum(s.headlines - s.scored for _, s in rows)


def _order_by(order: str) -> tuple[list[Any], list[ColumnElement[bool]]]:
    if order == "positive":
        return [_H.c.compound.desc(), _H.c.published_at.desc(), _H.c.id.desc()], [_H.c.compound.is_not(None)]
    if order == "negative":
        return [_H.c.compound.asc(), _H.c.published_at.desc(), _H.c.id.desc()], [_H.c.compound.is_not(None)]
    if order == "newest":
        return [_H.c.published_at.desc(), _H.c.id.desc()], []
    raise ValueError(f"order must be one of {', '.join(ORDERS)}")


def _headline_columns() -> tuple[Any, ...]:
    """The columns of a headline as the API, the pages and ``tracker headlines`` show it (see ``_headline_dict``)."""
    return (
        _H.c.id, _H.c.title, _H.c.url, _S.c.name, _H.c.publisher, _H.c.published_at, _H.c.date_flag,
        _H.c.language, _H.c.compound, _H.c.scorer, _H.c.topics, _H.c.summary,
    )  # fmt: skip


def _headline_dict(r: Sequence[Any]) -> dict[str, Any]:
    return {
        "id": r[0], "title": r[1], "url": r[2], "source": r[3], "publisher": r[4], "published_at": r[5],
        "date_inferred": r[6] != "ok", "date_flag": r[6], "language": r[7], "compound": r[8], "scorer": r[9],
        "topics": r[10].split(), "summary": r[11],
    }  # fmt: skip


def headlines(
    engine: Engine,
    *,
    topic: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    language: str | None = None,
    source: str | None = None,
    order: str = "newest",
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """A page of headlines as plain dicts (feed text raw: the caller escapes it where shown).

    ``order="positive"|"negative"`` over a wide window (the overview's "most positive of the year") would sort
    every scored headline of the window. It first looks among the ``_BEST_SCORED`` best-scored headlines of
    all time, through the (compound, published_at) index: if that holds a full page of the window's
    headlines, it is the right page (whatever lies outside scores lower). Otherwise, as for a narrow or
    heavily filtered window, the window itself is sorted (as it always is for one topic on SQLite).
    """
    ordering, extra = _order_by(order)
    filters = {"topic": topic, "start": start, "end": end, "language": language, "source": source}
    with read_connection(engine) as conn:

        def page(*more: ColumnElement[bool], time_index: bool = True) -> list[Any]:
            from_, conds = _headline_filter(conn, **filters, time_index=time_index)  # type: ignore[arg-type]
            stmt = (
                select(*_headline_columns())
                .select_from(from_.join(_S, _S.c.id == _H.c.source_id))
                .where(and_(true(), *conds, *extra, *more))
                .order_by(*ordering)
                .limit(limit)
                .offset(offset)
            )
            return list(conn.execute(stmt).all())

        rows = None
        # Measured on 2 M headlines (docs/benchmarks.md): on SQLite a topic filter makes the shortcut's plan
        # worse than sorting the topic's window (30 against 5 ms for a week); PostgreSQL gains either way.
        by_topic_on_sqlite = conn.dialect.name == "sqlite" and topic not in (None, ALL_TOPIC)
        if order != "newest" and limit > 0 and not by_topic_on_sqlite:
            bound = _best_scored_bound(conn, order)
            if bound is not None:
                cond = _H.c.compound >= bound if order == "positive" else _H.c.compound <= bound
                rows = page(cond, time_index=False)
                if len(rows) < limit:
                    rows = None  # the window's page reaches past the best-scored: sort the window itself
        if rows is None:
            rows = page()
    return [_headline_dict(r) for r in rows]


_BEST_SCORED = 20_000


def _best_scored_bound(conn: Connection, order: str) -> float | None:
    """The compound of the ``_BEST_SCORED``-th most positive (or negative) headline; None if there are fewer."""
    col = _H.c.compound.desc() if order == "positive" else _H.c.compound.asc()
    stmt = select(_H.c.compound).where(_H.c.compound.is_not(None)).order_by(col).limit(1).offset(_BEST_SCORED - 1)
    value = conn.execute(stmt).scalar()
    return None if value is None else float(value)


def headline(engine: Engine, headline_id: int) -> dict[str, Any] | None:
    """One headline with its full score and sighting count, or None."""
    extra = (_H.c.pos, _H.c.neu, _H.c.neg, _H.c.scorer_version, _H.c.sightings, _H.c.first_seen_at)
    with read_connection(engine) as conn:
        stmt = (
            select(*_headline_columns(), *extra)
            .select_from(_H.join(_S, _S.c.id == _H.c.source_id))
            .where(_H.c.id == headline_id)
        )
        r = conn.execute(stmt).first()
    if r is None:
        return None
    base = len(_headline_columns())
    return {**_headline_dict(r), **{c.name: r[base + i] for i, c in enumerate(extra)}}


def count_headlines(
    engine: Engine,
    *,
    topic: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    language: str | None = None,
    source: str | None = None,
) -> int:
    with read_connection(engine) as conn:
        from_, conds = _headline_filter(conn, topic=topic, start=start, end=end, language=language, source=source)
        return int(conn.execute(select(func.count()).select_from(from_).where(and_(true(), *conds))).scalar_one())


def iter_headline_lines(
    engine: Engine,
    *,
    topic: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    language: str | None = None,
    source: str | None = None,
    batch: int = 5000,
) -> Iterator[list[str]]:
    """Batches of headline CSV lines (``tracker.export.HEADLINE_COLUMNS``), newest first, streamed.

    The export's hot path (a million rows at 200,000 rows/s): the database writes each line
    (``tracker.export.sql_headline_line``) from the stored space-separated ``topics``, so Python receives one
    string per row and no SQLAlchemy row objects.
    """
    with read_connection(engine) as conn:
        from_, conds = _headline_filter(conn, topic=topic, start=start, end=end, language=language, source=source)
        if conn.dialect.name == "postgresql":
            yield from _copy_lines(conn, from_, conds, batch)
            return
        line = sql_headline_line(
            conn.dialect.name, published_at=_H.c.published_at, source=_S.c.name, publisher=_H.c.publisher,
            title=_H.c.title, url=_H.c.url, language=_H.c.language, compound=_H.c.compound, topics=_H.c.topics,
        )  # fmt: skip
        stmt = _export_select((line,), from_, conds)
        # sqlite3 steps its cursor lazily, so reading the DB-API cursor directly streams too, and skips
        # building a SQLAlchemy row per record. No stream_results here: its buffering would read ahead.
        result = conn.execute(stmt)
        cursor = result.cursor
        try:
            while rows := cursor.fetchmany(batch):
                yield [r[0] for r in rows]
        finally:
            result.close()


_QUOTED = ("source", "publisher", "title", "url", "language")


def _export_select(cols: Sequence[Any], from_: Any, conds: list[ColumnElement[bool]]) -> Any:
    """The export's rows, newest first, with their source's name at hand."""
    return (
        select(*cols)
        .select_from(from_.join(_S, _S.c.id == _H.c.source_id))
        .where(and_(true(), *conds))
        .order_by(_H.c.published_at.desc(), _H.c.id.desc())
    )


def _copy_lines(conn: Connection, from_: Any, conds: list[ColumnElement[bool]], batch: int) -> Iterator[list[str]]:
    """The export's lines on PostgreSQL: ``COPY (...) TO STDOUT`` in CSV, one message per row.

    The server formats and quotes every cell in C (measured about twice as fast as building each line in SQL
    and fetching it as a row); we neutralise formula cells in the SELECT and quote every text cell, as the
    SQLite path does, and strip each row's newline so the caller ends lines the same way on both databases.
    """
    cols = (
        sql_utc_iso(_H.c.published_at, "postgresql").label("published_at"),
        *(sql_safe_text(col).label(name) for name, col in zip(_QUOTED, (_S.c.name, _H.c.publisher, _H.c.title,
          _H.c.url, _H.c.language), strict=True)),
        sql_score(_H.c.compound).label("compound"),
        _H.c.topics.label("topics"),
    )  # fmt: skip
    stmt = _export_select(cols, from_, conds)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE ({', '.join(_QUOTED)}))"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql, compiled.params) as copy:
            lines: list[str] = []
            for row in copy:
                lines.append(bytes(row)[:-1].decode("utf-8"))
                if len(lines) >= batch:
                    yield lines
                    lines = []
            if lines:
                yield lines
    finally:
        cursor.close()


def list_topics(engine: Engine, config: Config, *, now: datetime) -> list[dict[str, Any]]:
    """``all`` then every configured topic, with its headline count over the 30 days before ``now``."""
    since = bucket_floor(now - timedelta(days=30), "hour")
    stmt = (
        select(_R.c.topic, func.sum(_R.c.headlines))
        .where(_R.c.bucket_start >= since, _R.c.bucket_start <= now)
        .group_by(_R.c.topic)
    )
    with read_connection(engine) as conn:
        counts = {t: int(n or 0) for t, n in conn.execute(stmt)}
    out: list[dict[str, Any]] = [
        {
            "key": ALL_TOPIC,
            "label": "All AI infrastructure",
            "kind": "all",
            "ticker": None,
            "headlines_30d": counts.get(ALL_TOPIC, 0),
        }
    ]
    for t in config.topics:
        out.append(
            {"key": t.key, "label": t.label, "kind": t.kind, "ticker": t.ticker, "headlines_30d": counts.get(t.key, 0)}
        )
    return out


def _source_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "url": r.url,
            "enabled": bool(r.enabled),
            "last_fetch_at": r.last_fetch_at,
            "last_success_at": r.last_success_at,
            "last_error_at": r.last_error_at,
            "last_error": r.last_error,
            "last_status": r.last_status,
            "consecutive_errors": r.consecutive_errors,
            "next_fetch_at": r.next_fetch_at,
            "items_total": r.items_total,
        }
        for r in rows
    ]


def source_status(engine: Engine) -> list[dict[str, Any]]:
    """Every stored source with its fetch state, by name."""
    with read_connection(engine) as conn:
        rows = conn.execute(select(_S).order_by(_S.c.name)).all()
    return _source_dicts(rows)


def source_names(engine: Engine) -> list[str]:
    with read_connection(engine) as conn:
        return [r[0] for r in conn.execute(select(_S.c.name).order_by(_S.c.name))]


def languages(engine: Engine, *, since: datetime) -> list[str]:
    """Languages seen in the rollups since ``since`` (for the language filter)."""
    stmt = select(_R.c.language).where(_R.c.bucket_start >= since, _R.c.topic == ALL_TOPIC).distinct()
    with read_connection(engine) as conn:
        return sorted(r[0] for r in conn.execute(stmt))


def failing_sources(engine: Engine) -> list[dict[str, Any]]:
    """Enabled sources whose last fetch failed, most errors first."""
    stmt = (
        select(_S)
        .where(_S.c.enabled.is_(True), _S.c.consecutive_errors > 0)
        .order_by(_S.c.consecutive_errors.desc(), _S.c.name)
    )
    with read_connection(engine) as conn:
        rows = conn.execute(stmt).all()
    return _source_dicts(rows)


def ping(engine: Engine) -> None:
    """Raise if the database cannot be reached."""
    with read_connection(engine) as conn:
        conn.execute(select(literal(1))).scalar_one()
