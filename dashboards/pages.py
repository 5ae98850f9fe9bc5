"""HTML pages: the overview and one page per topic, rendered with autoescaping Jinja2 templates.

Filters live in the query string (a plain GET form), so a view can be bookmarked and the back button works;
download buttons carry the exact window shown. Feed text is escaped by the templates, links are rendered
only for http(s) URLs, figures are embedded as escaped JSON and drawn by static/app.js (no inline script).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dashboards import figures
from dashboards.api import read_filters
from dashboards.context import AppContext, ctx, script_json
from dashboards.params import RANGES, NotFound, parse_offset
from tracker.models import ALL_TOPIC
from tracker.series import BUCKETS
from tracker.store import queries

router = APIRouter()
log = logging.getLogger(__name__)
TOP_HEADLINES = 8
TABLE_PAGE = 50


def safe_href(url: str | None) -> str | None:
    """The URL if it is http(s) and plausible, else None: ``javascript:``, ``data:`` and the rest get no link."""
    if not url or len(url) > 2048 or any(ord(ch) < 0x21 for ch in url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _router() -> Any:
    """The sentiment router (None when the scorers cannot be built)."""
    from tracker.sentiment import get_router

    try:
        return get_router()
    except Exception:  # a broken scorer set-up costs the explanations, not the page
        log.exception("the sentiment router could not be built: no score explanations")
        return None


def _contributions(result: Any) -> list[dict[str, Any]]:
    contributions = getattr(result, "contributions", None) or []
    return [
        {"token": c.token, "kind": c.kind, "effect": c.effect, "target": getattr(c, "target", None)}
        for c in contributions[:20]
    ]


def explain_headlines(items: list[tuple[str, str]]) -> list[list[dict[str, Any]] | None]:
    """Which words and phrases moved each headline's score, and by how much (None where nothing explains it).

    One call for the whole table, so the optional model scorer encodes the headlines together."""
    router_ = _router()
    if router_ is None or not items:
        return [None] * len(items)
    try:
        results = router_.explain_many(items)
    except Exception:  # an explanation is a nicety: a scorer bug must not take the page down
        log.exception("explain failed")
        return [None] * len(items)
    return [_contributions(r) for r in results]


def explain_headline(title: str, language: str) -> list[dict[str, Any]] | None:
    """Which words and phrases moved a headline's score, and by how much (None when no scorer explains it)."""
    return explain_headlines([(title, language)])[0]


def _headline_view(h: dict[str, Any]) -> dict[str, Any]:
    return {**h, "href": safe_href(h.get("url")), "when": h["published_at"].strftime("%Y-%m-%d %H:%M")}


def _common(c: AppContext, request: Request, f: Any, **extra: Any) -> dict[str, Any]:
    engine = c.engine()
    return {
        "filters": f,
        "ranges": [*RANGES, "custom"],
        "buckets": BUCKETS,
        "topic_labels": c.topic_labels(),
        "topic_keys": c.config.topic_keys(),
        "languages": queries.languages(engine, since=f.start),
        "sources": queries.source_names(engine),
        "path": request.url.path,
        **extra,
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview(
    request: Request,
    range: str | None = Query(None, max_length=10),
    start: str | None = Query(None, max_length=40),
    end: str | None = Query(None, max_length=40),
    bucket: str | None = Query(None, max_length=10),
    topic: list[str] = Query([]),
    language: str | None = Query(None, max_length=8),
    source: str | None = Query(None, max_length=200),
) -> HTMLResponse:
    c = ctx(request)
    f = read_filters(
        c,
        topics=topic,
        range_=range,
        start=start,
        end=end,
        bucket=bucket,
        language=language,
        source=source,
        default_topics=tuple(c.config.topic_keys()),
    )
    engine = c.engine()
    shown = tuple(t for t in f.topics if t != ALL_TOPIC)
    window = {"start": f.start, "end": f.end, "language": f.language, "source": f.source}
    index_points = queries.series(engine, topic=ALL_TOPIC, bucket=f.bucket, **window)  # type: ignore[arg-type]
    if f.source is None:
        multiples = queries.series_many(
            engine, topics=shown, bucket=f.bucket, start=f.start, end=f.end, language=f.language
        )
    else:
        multiples = {t: queries.series(engine, topic=t, bucket=f.bucket, **window) for t in shown}  # type: ignore[arg-type]
    labels = c.topic_labels()
    positive = queries.headlines(engine, topic=ALL_TOPIC, order="positive", limit=TOP_HEADLINES, **window)  # type: ignore[arg-type]
    negative = queries.headlines(engine, topic=ALL_TOPIC, order="negative", limit=TOP_HEADLINES, **window)  # type: ignore[arg-type]
    total = sum(p.headlines for p in index_points)
    scored = sum(p.scored for p in index_points)
    latest = next((p for p in reversed(index_points) if p.index is not None), None)
    figs = {
        "fig-index": figures.index_figure(index_points, validate=False).to_json(),
        "fig-bubble": figures.bubble_share_figure(index_points, validate=False).to_json(),
        "fig-multiples": figures.small_multiples_figure(multiples, labels, validate=False).to_json(),
    }
    context = _common(
        c,
        request,
        f,
        title="Overview",
        figures={k: script_json(v) for k, v in figs.items()},
        positive=[_headline_view(h) for h in positive],
        negative=[_headline_view(h) for h in negative],
        failing=queries.failing_sources(engine),
        total=total,
        scored=scored,
        unscored=total - scored,
        latest=latest,
        series_query=f.export_query(topics=(ALL_TOPIC, *shown)),
        headlines_query=f.export_query(topics=(ALL_TOPIC,)),
        shown_topics=shown,
    )
    return c.templates.TemplateResponse(request, "overview.html", context)


@router.get("/topics/{key}", response_class=HTMLResponse, include_in_schema=False)
def topic_page(
    request: Request,
    key: str,
    range: str | None = Query(None, max_length=10),
    start: str | None = Query(None, max_length=40),
    end: str | None = Query(None, max_length=40),
    bucket: str | None = Query(None, max_length=10),
    language: str | None = Query(None, max_length=8),
    source: str | None = Query(None, max_length=200),
    offset: int | None = Query(None),
) -> HTMLResponse:
    c = ctx(request)
    if key != ALL_TOPIC and key not in c.config.topic_keys():
        raise NotFound("topic", f"no topic {key[:64]!r}")
    f = read_filters(
        c, topics=[key], range_=range, start=start, end=end, bucket=bucket, language=language, source=source
    )
    off = parse_offset(offset)
    engine = c.engine()
    window = {"start": f.start, "end": f.end, "language": f.language, "source": f.source}
    points = queries.series(engine, topic=key, bucket=f.bucket, **window)  # type: ignore[arg-type]
    rows = queries.headlines(engine, topic=key, order="newest", limit=TABLE_PAGE, offset=off, **window)  # type: ignore[arg-type]
    count = queries.count_headlines(engine, topic=key, **window)  # type: ignore[arg-type]
    label = c.topic_labels().get(key, key)
    # Scored headlines only, in the table's order, explained in one call.
    explained = iter(explain_headlines([(h["title"], h["language"]) for h in rows if h["compound"] is not None]))
    table = []
    for h in rows:
        view = _headline_view(h)
        view["explanation"] = next(explained) if h["compound"] is not None else None
        table.append(view)
    total = sum(p.headlines for p in points)
    scored = sum(p.scored for p in points)
    figs = {
        "fig-tone": figures.tone_figure(points, title=f"{label}: tone and volume", validate=False).to_json(),
        "fig-index": figures.index_figure(points, title=f"{label}: AI Bubble Index", validate=False).to_json(),
        "fig-headlines": figures.headlines_figure(rows, title="Latest headlines by score", validate=False).to_json(),
    }
    context = _common(
        c,
        request,
        f,
        title=label,
        key=key,
        label=label,
        figures={k: script_json(v) for k, v in figs.items()},
        table=table,
        count=count,
        offset=off,
        page=TABLE_PAGE,
        prev_query=f.query(offset=max(0, off - TABLE_PAGE)) if off > 0 else None,
        next_query=f.query(offset=off + TABLE_PAGE) if off + TABLE_PAGE < count else None,
        total=total,
        scored=scored,
        unscored=total - scored,
        series_query=f.export_query(),
        headlines_query=f.export_query(),
    )
    return c.templates.TemplateResponse(request, "topic.html", context)
