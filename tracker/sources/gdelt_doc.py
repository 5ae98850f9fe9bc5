"""GDELT DOC 2.0 article lists (``api/v2/doc/doc?mode=artlist&format=json``): JSON -> ``ParseResult``.

GDELT answers query errors and throttling with HTTP 200 and a line of text or HTML, and its JSON may
carry invalid ``\\`` escapes; both are handled here. ``{}`` is GDELT's way of saying "no articles".

It must never raise to its caller, echo an error page unsanitised, or keep an article whose fields have
the wrong types.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr

from tracker.models import ParseResult, RawItem
from tracker.sources.hn_algolia import JSONInputError, body_text, collect_items, load_json
from tracker.sources.rss import (
    SHORT_MAX,
    TITLE_MAX,
    clip,
    clip_or_none,
    normalize_language,
    parse_date,
    scrub,
    url_or_none,
)

# A backslash and what follows, valid escapes first so that "\\\\" is consumed as one unit.
_ESCAPE = re.compile(r'\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt])|\\')


def repair_escapes(text: str) -> str:
    """Double every backslash that does not start a valid JSON escape (GDELT sends e.g. ``\\'``)."""
    return _ESCAPE.sub(lambda m: m.group(0) if len(m.group(0)) > 1 else "\\\\", text)


class _Article(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: StrictStr
    title: StrictStr | None = None
    seendate: StrictStr | None = None
    domain: StrictStr | None = None
    language: StrictStr | None = None
    sourcecountry: StrictStr | None = None


def _item(article: _Article, position: int) -> RawItem | None:
    link = url_or_none(scrub(article.url))
    title = clip(scrub(article.title or ""), TITLE_MAX)
    if not link or not title:
        return None
    raw_date = clip_or_none(article.seendate, 80)
    return RawItem(
        title=title,
        link=link,
        guid=None,
        summary="",
        published_raw=raw_date,
        published=parse_date(raw_date),
        author=None,
        publisher=clip_or_none(scrub(article.domain or ""), SHORT_MAX),
        language=normalize_language(article.language),
        position=position,
    )


def _load(text: str, warnings: list[str]) -> Any:
    # strict=False: raw control characters inside GDELT's strings are data to clean, not a reason to drop all.
    try:
        return load_json(text, strict=False)
    except JSONInputError as exc:
        if not exc.invalid_escape:
            raise
    data = load_json(repair_escapes(text), strict=False)
    warnings.append("repaired invalid backslash escapes in the JSON")
    return data


def parse(body: bytes, content_type: str = "", *, max_items: int = 1000) -> ParseResult:
    """Parse one artlist response (``{"articles": [...]}``; ``{}`` means no articles)."""
    warnings: list[str] = []
    try:
        data = _load(body_text(body, content_type, what="GDELT JSON"), warnings)
    except JSONInputError as exc:
        return ParseResult(error=str(exc))
    if not isinstance(data, dict):
        return ParseResult(error=f"unexpected JSON: top level is {type(data).__name__}, not an object")
    articles = data.get("articles", [])
    if not isinstance(articles, list):
        return ParseResult(error="unexpected JSON: 'articles' is not a list")
    return collect_items(
        articles, _Article, _item, max_items=max_items, noun="articles", result=ParseResult(warnings=warnings)
    )
