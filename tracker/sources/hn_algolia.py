"""Hacker News search through Algolia (``hn.algolia.com/api/v1/search[_by_date]``): JSON -> ``ParseResult``.

Also holds the hardened JSON reader the other JSON sources use: no NaN or Infinity, no float overflow,
nesting bombs and 5,000-digit integers reported as errors (``RecursionError`` is not a ``ValueError``).

It must never raise to its caller, keep a hit whose fields have the wrong types, or decode the HTML of
``story_text`` (that is ``tracker.clean``'s job).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, ValidationError

from tracker.models import ParseResult, RawItem
from tracker.sources.rss import (
    SUMMARY_MAX,
    TITLE_MAX,
    clip,
    clip_or_none,
    date_from_epoch,
    parse_date,
    scrub,
    snippet,
    url_or_none,
)

HN_ITEM_URL = "https://news.ycombinator.com/item?id="
PUBLISHER = "Hacker News"


class JSONInputError(ValueError):
    """The body is not JSON this tracker will read; ``invalid_escape`` marks a repairable ``\\`` problem."""

    def __init__(self, message: str, *, invalid_escape: bool = False) -> None:
        super().__init__(message)
        self.invalid_escape = invalid_escape


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def body_text(body: bytes, content_type: str, *, what: str = "JSON") -> str:
    """The body as text, or ``JSONInputError`` when it is empty or plainly not JSON (an HTML or text page)."""
    text = body.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise JSONInputError("empty response")
    if stripped[0] not in "{[":
        kind = "an HTML page" if stripped.startswith("<") else f"{content_type.split(';')[0].strip() or 'text'}"
        raise JSONInputError(f"not {what} (got {kind}: {snippet(stripped)!r})")
    return text


def load_json(text: str, *, strict: bool = True) -> Any:
    """``json.loads`` hardened for untrusted bodies; every failure is a ``JSONInputError`` with a short message."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, strict=strict)
    except RecursionError:
        raise JSONInputError("invalid JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        escape = exc.msg.startswith("Invalid \\escape") or exc.msg.startswith("Invalid \\uXXXX")
        raise JSONInputError(
            f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", invalid_escape=escape
        ) from None
    except ValueError as exc:  # NaN, 1e999, an integer of more digits than Python converts
        raise JSONInputError(f"invalid JSON ({snippet(str(exc), 80)})") from None


def collect_items(
    records: list[Any],
    model: type[BaseModel],
    build: Callable[[Any, int], RawItem | None],
    *,
    max_items: int,
    noun: str,
    result: ParseResult,
) -> ParseResult:
    """Validate each JSON record with ``model`` and ``build`` an item: bad records are skipped and counted."""
    if len(records) > max_items:
        result.warnings.append(f"{len(records)} {noun} in the response; kept the first {max_items}")
        records = records[:max_items]
    for position, raw in enumerate(records):
        try:
            item = build(model.model_validate(raw), position)
        except ValidationError:
            item = None
        if item is None:
            result.skipped += 1
        else:
            result.items.append(item)
    if result.skipped:
        result.warnings.append(f"{result.skipped} {noun} skipped (missing or mistyped fields)")
    return result


class _Hit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    objectID: StrictStr | StrictInt
    title: StrictStr | None = None
    story_title: StrictStr | None = None  # comment hits carry their story's title here
    url: StrictStr | None = None
    story_text: StrictStr | None = None
    comment_text: StrictStr | None = None
    author: StrictStr | None = None
    created_at: StrictStr | None = None
    created_at_i: StrictInt | StrictFloat | None = None


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    return host[4:] if host.startswith("www.") else host


def _item(hit: _Hit, position: int) -> RawItem | None:
    guid = str(hit.objectID).strip()
    title = clip(scrub(hit.title or hit.story_title or ""), TITLE_MAX)
    summary = clip(scrub(hit.story_text or hit.comment_text or ""), SUMMARY_MAX)
    if not guid or not (title or summary):
        return None
    story_url = url_or_none(scrub(hit.url or ""))
    host = _host(story_url)
    # The epoch is exact; the ISO string is kept as the raw date because a person can read it.
    raw_date = clip_or_none(hit.created_at, 80) or (str(hit.created_at_i) if hit.created_at_i is not None else None)
    published = date_from_epoch(hit.created_at_i) if hit.created_at_i is not None else None
    if published is None:
        published = parse_date(hit.created_at)
    return RawItem(
        title=title,
        # Text posts (Ask HN) and non-web urls link to the discussion instead.
        link=story_url if host else HN_ITEM_URL + guid,
        guid=guid,
        summary=summary,
        published_raw=raw_date,
        published=published,
        author=clip_or_none(scrub(hit.author or "")),
        publisher=host or PUBLISHER,
        language=None,
        position=position,
    )


def parse(body: bytes, content_type: str = "", *, max_items: int = 1000) -> ParseResult:
    """Parse one Algolia search response (``{"hits": [...], ...}``)."""
    try:
        data = load_json(body_text(body, content_type))
    except JSONInputError as exc:
        return ParseResult(error=str(exc))
    if not isinstance(data, dict):
        return ParseResult(error=f"unexpected JSON: top level is {type(data).__name__}, not an object")
    hits = data.get("hits")
    if not isinstance(hits, list):
        return ParseResult(error="unexpected JSON: no 'hits' list")
    return collect_items(hits, _Hit, _item, max_items=max_items, noun="hits", result=ParseResult())
