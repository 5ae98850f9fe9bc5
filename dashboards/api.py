"""The JSON API and the CSV downloads: thin routes over ``tracker.store.queries`` and ``tracker.export``.

Parameters are checked by ``dashboards.params`` (4xx naming the parameter); non-finite floats become null
before JSON encoding (Starlette refuses NaN and would answer 500). CSV responses are streamed.
Never builds SQL and never returns HTML.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from dashboards.context import AppContext, ctx
from dashboards.params import (
    Filters,
    parse_language,
    parse_limit,
    parse_offset,
    parse_order,
    parse_source,
    parse_topics,
    parse_window,
)
from tracker.export import iso_z, iter_headlines_csv, iter_series_csv_many
from tracker.models import ALL_TOPIC
from tracker.series import Point
from tracker.store import queries

router = APIRouter()

_TOPIC_DOC = "Topic key (see /api/topics) or `all` for every AI-infrastructure headline."
_START_DOC = "ISO-8601 start (inclusive), e.g. 2026-11-01T00:00:00Z; no offset means UTC. Default: end - 30 days."
_END_DOC = "ISO-8601 end (exclusive). Default: now."
_RANGE_DOC = "7d, 30d, 90d or 1y ending now; ignored when start or end is given."
_BUCKET_DOC = "hour, day or week (UTC; weeks start on Monday). Default: day (hour for 7d, week for 1y)."


def jsonable(value: Any) -> Any:
    """Plain JSON values: times as ISO-8601 UTC, NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def point_json(p: Point) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies every value, which costs more than the query.
    return {
        "bucket_start": iso_z(p.bucket_start),
        "headlines": p.headlines,
        "scored": p.scored,
        "mean_sentiment": _finite(p.mean_sentiment),
        "ci_low": _finite(p.ci_low),
        "ci_high": _finite(p.ci_high),
        "positive_share": _finite(p.positive_share),
        "negative_share": _finite(p.negative_share),
        "bubble_share": _finite(p.bubble_share),
        "index": _finite(p.index),
        "index_low": _finite(p.index_low),
        "index_high": _finite(p.index_high),
    }


def read_filters(
    c: AppContext,
    *,
    topics: list[str],
    range_: str | None,
    start: str | None,
    end: str | None,
    bucket: str | None,
    language: str | None,
    source: str | None,
    default_topics: tuple[str, ...] = (ALL_TOPIC,),
) -> Filters:
    """Check every filter of a request; raises BadParameter / NotFound."""
    lo, hi, range_name, chosen, cs, ce = parse_window(now=c.now(), range_=range_, start=start, end=end, bucket=bucket)
    parsed_topics = parse_topics(topics, c.config.topic_keys(), default=default_topics)
    lang = parse_language(language)
    src = parse_source(source, queries.source_names(c.engine())) if source else None
    return Filters(
        start=lo,
        end=hi,
        bucket=chosen,
        range=range_name,
        topics=parsed_topics,
        language=lang,
        source=src,
        custom_start=cs,
        custom_end=ce,
    )


def _series_payload(c: AppContext, f: Filters, topic: str) -> dict[str, Any]:
    points = queries.series(
        c.engine(), topic=topic, bucket=f.bucket, start=f.start, end=f.end, language=f.language, source=f.source
    )
    total = sum(p.headlines for p in points)
    scored = sum(p.scored for p in points)
    return {
        "topic": topic,
        "bucket": f.bucket,
        "start": iso_z(points[0].bucket_start) if points else iso_z(f.start),
        "end": iso_z(f.end),
        "language": f.language,
        "source": f.source,
        "headlines": total,
        "scored": scored,
        "unscored": total - scored,
        "points": [point_json(p) for p in points],
    }


@router.get("/api/series", tags=["api"], summary="Tone, shares and the AI Bubble Index per bucket")
def api_series(
    request: Request,
    topic: str = Query(ALL_TOPIC, description=_TOPIC_DOC, max_length=64),
    bucket: str | None = Query(None, description=_BUCKET_DOC, max_length=10),
    start: str | None = Query(None, description=_START_DOC, max_length=40),
    end: str | None = Query(None, description=_END_DOC, max_length=40),
    range: str | None = Query(None, description=_RANGE_DOC, max_length=10),
    language: str | None = Query(None, description="Only headlines in this language (en, fr...).", max_length=8),
    source: str | None = Query(
        None, description="Only headlines carried by this source (see /api/sources).", max_length=200
    ),
) -> JSONResponse:
    """One point per bucket, empty buckets included (count 0, values null). Points cover whole buckets:
    ``start`` is rounded down to its bucket. ``unscored`` counts headlines in volume but not in tone."""
    c = ctx(request)
    f = read_filters(
        c, topics=[topic], range_=range, start=start, end=end, bucket=bucket, language=language, source=source
    )
    return JSONResponse(_series_payload(c, f, f.topics[0]))


@router.get("/api/headlines", tags=["api"], summary="Headlines, newest (or most positive / negative) first")
def api_headlines(
    request: Request,
    topic: str = Query(ALL_TOPIC, description=_TOPIC_DOC, max_length=64),
    start: str | None = Query(None, description=_START_DOC, max_length=40),
    end: str | None = Query(None, description=_END_DOC, max_length=40),
    range: str | None = Query(None, description=_RANGE_DOC, max_length=10),
    language: str | None = Query(None, max_length=8),
    source: str | None = Query(None, max_length=200),
    order: str | None = Query(None, description="newest, positive or negative.", max_length=10),
    limit: int | None = Query(None, description="Page size, 1-500 (default 50)."),
    offset: int | None = Query(None, description="Headlines to skip (default 0)."),
) -> JSONResponse:
    c = ctx(request)
    f = read_filters(
        c, topics=[topic], range_=range, start=start, end=end, bucket=None, language=language, source=source
    )
    lim, off, ordering = parse_limit(limit), parse_offset(offset), parse_order(order)
    common = {"topic": f.topics[0], "start": f.start, "end": f.end, "language": f.language, "source": f.source}
    items = queries.headlines(c.engine(), **common, order=ordering, limit=lim, offset=off)  # type: ignore[arg-type]
    total = queries.count_headlines(c.engine(), **common)  # type: ignore[arg-type]
    return JSONResponse(
        {
            "topic": f.topics[0],
            "start": iso_z(f.start),
            "end": iso_z(f.end),
            "order": ordering,
            "total": total,
            "limit": lim,
            "offset": off,
            "next_offset": off + lim if off + lim < total else None,
            "items": jsonable(items),
        }
    )


@router.get("/api/headlines/{headline_id:int}", tags=["api"], summary="One headline, with why it scored as it did")
def api_headline(request: Request, headline_id: int) -> JSONResponse:
    c = ctx(request)
    item = queries.headline(c.engine(), headline_id)
    if item is None:
        return JSONResponse({"detail": f"headline_id: no headline {headline_id}"}, status_code=404)
    explanation = None
    if item["compound"] is not None:
        from dashboards.pages import explain_headline

        explanation = explain_headline(item["title"], item["language"])
    return JSONResponse(jsonable({**item, "explanation": explanation}))


@router.get("/api/topics", tags=["api"], summary="Configured topics with their headline count over 30 days")
def api_topics(request: Request) -> JSONResponse:
    c = ctx(request)
    return JSONResponse({"topics": jsonable(queries.list_topics(c.engine(), c.config, now=c.now()))})


@router.get("/api/sources", tags=["api"], summary="Sources and their fetch state (last error, next fetch)")
def api_sources(request: Request) -> JSONResponse:
    c = ctx(request)
    return JSONResponse({"sources": jsonable(queries.source_status(c.engine()))})


def _csv_response(chunks: Iterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        _read_ahead(chunk.encode("utf-8") for chunk in chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


_AHEAD = 3  # chunks (of a few thousand rows each) made before the client has taken them: bounded memory


async def _read_ahead(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Make the next chunks in a thread while the server sends the current one.

    Starlette asks a sync iterator for its next chunk only after the last one was sent; the database's
    work (SQLite writes the lines with the GIL released) and the sending then take turns. A producer thread
    with a small queue lets them overlap. A client that hangs up stops the producer at its next chunk and
    closes the iterator (and so the database cursor).
    """
    q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it in the response
            q.put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="csv-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = await anyio.to_thread.run_sync(q.get)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _stamp(f: Filters) -> str:
    return f"{f.start:%Y%m%d}-{f.end:%Y%m%d}"


@router.get("/export/series.csv", tags=["csv"], summary="Series as one long-format CSV (topic may repeat)")
def export_series(
    request: Request,
    topic: list[str] = Query([ALL_TOPIC], description=_TOPIC_DOC + " Repeat for several topics."),
    bucket: str | None = Query(None, description=_BUCKET_DOC, max_length=10),
    start: str | None = Query(None, description=_START_DOC, max_length=40),
    end: str | None = Query(None, description=_END_DOC, max_length=40),
    range: str | None = Query(None, description=_RANGE_DOC, max_length=10),
    language: str | None = Query(None, max_length=8),
    source: str | None = Query(None, max_length=200),
) -> StreamingResponse:
    c = ctx(request)
    f = read_filters(
        c, topics=topic, range_=range, start=start, end=end, bucket=bucket, language=language, source=source
    )
    engine = c.engine()

    def each_topic() -> Iterator[tuple[str, list[Point]]]:
        for t in f.topics:
            yield (
                t,
                queries.series(
                    engine, topic=t, bucket=f.bucket, start=f.start, end=f.end, language=f.language, source=f.source
                ),
            )

    name = f"series-{'-'.join(f.topics)[:60]}-{f.bucket}-{_stamp(f)}.csv"
    return _csv_response(iter_series_csv_many(each_topic()), name)


@router.get("/export/headlines.csv", tags=["csv"], summary="Headlines as CSV, newest first (streamed)")
def export_headlines(
    request: Request,
    topic: str = Query(ALL_TOPIC, description=_TOPIC_DOC, max_length=64),
    start: str | None = Query(None, description=_START_DOC, max_length=40),
    end: str | None = Query(None, description=_END_DOC, max_length=40),
    range: str | None = Query(None, description=_RANGE_DOC, max_length=10),
    language: str | None = Query(None, max_length=8),
    source: str | None = Query(None, max_length=200),
    bucket: str | None = Query(None, description="Accepted (and ignored) so a page's download link can pass it."),
) -> StreamingResponse:
    c = ctx(request)
    f = read_filters(
        c, topics=[topic], range_=range, start=start, end=end, bucket=bucket, language=language, source=source
    )
    rows = queries.iter_headline_lines(
        c.engine(), topic=f.topics[0], start=f.start, end=f.end, language=f.language, source=f.source
    )
    return _csv_response(iter_headlines_csv(rows), f"headlines-{f.topics[0]}-{_stamp(f)}.csv")
