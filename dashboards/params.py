"""Query-string filters shared by the API, the CSV downloads and the pages, parsed and checked in one place.

Every bad value raises ``BadParameter`` (-> 400) or ``NotFound`` (-> 404) with a message that names the
parameter, so a request never reaches the database with a value it cannot handle and never ends in a 500.
Pure: no database, no clock (``now`` is passed in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from tracker.models import ALL_TOPIC
from tracker.series import BUCKETS, Bucket

RANGES: dict[str, timedelta] = {
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
DEFAULT_RANGE = "30d"
# Ceiling on points per series: a year of hours is fine, ten years of hours is a mistake, not a chart.
MAX_POINTS = 10_000
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
_AUTO_BUCKET = {"7d": "hour", "30d": "day", "90d": "day", "1y": "week"}
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


class BadParameter(ValueError):
    """A query parameter the request cannot be served with; the message starts with its name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class NotFound(LookupError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def parse_time(name: str, value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 time (``Z`` or an offset; no offset means UTC) or a plain date."""
    text = value.strip()
    if not text or len(text) > 40:
        raise BadParameter(name, "expected an ISO-8601 time such as 2026-11-30T12:00:00Z")
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            when = datetime.combine(d, time(0), tzinfo=UTC)
            return when + timedelta(days=1) if end_of_day else when
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, f"{value!r} is not an ISO-8601 time such as 2026-11-30T12:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


@dataclass(frozen=True)
class Filters:
    """What a view shows: a time window, a bucket, topics, a language and a source."""

    start: datetime
    end: datetime
    bucket: Bucket
    range: str = DEFAULT_RANGE
    topics: tuple[str, ...] = ()
    language: str | None = None
    source: str | None = None
    custom_start: str = ""
    custom_end: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def query(self, **override: Any) -> str:
        """The query string of this view (with ``override``), for links and download buttons."""
        params: list[tuple[str, str]] = [("range", self.range)]
        if self.range == "custom":
            params += [("start", self.custom_start), ("end", self.custom_end)]
        params.append(("bucket", self.bucket))
        params += [("topic", t) for t in self.topics]
        if self.language:
            params.append(("language", self.language))
        if self.source:
            params.append(("source", self.source))
        for key, value in override.items():
            params = [(k, v) for k, v in params if k != key]
            if isinstance(value, (list, tuple)):
                params += [(key, str(v)) for v in value]
            elif value is not None:
                params.append((key, str(value)))
        return urlencode(params)

    def export_query(self, *, topics: tuple[str, ...] | None = None) -> str:
        """Exact start and end of this view, so a download exports what the page shows even later."""
        params: list[tuple[str, str]] = [
            ("start", self.start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("end", self.end.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("bucket", self.bucket),
        ]
        params += [("topic", t) for t in (self.topics if topics is None else topics)]
        if self.language:
            params.append(("language", self.language))
        if self.source:
            params.append(("source", self.source))
        return urlencode(params)

    def with_topics(self, topics: tuple[str, ...]) -> Filters:
        return replace(self, topics=topics)


def parse_bucket(value: str | None, default: Bucket = "day") -> Bucket:
    if value is None or value == "":
        return default
    if value not in BUCKETS:
        raise BadParameter("bucket", f"must be one of {', '.join(BUCKETS)}, not {value[:20]!r}")
    return value


def parse_language(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value != "und" and not _LANGUAGE_RE.match(value):
        raise BadParameter("language", "expected a language code such as en or fr")
    return value


def parse_source(value: str | None, known: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in known:
        raise NotFound("source", f"no source named {value[:100]!r}")
    return value


def parse_topics(values: list[str], known: list[str], *, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    if not values:
        return default
    if len(values) > 100:
        raise BadParameter("topic", "at most 100 topics")
    out: list[str] = []
    for v in values:
        if v != ALL_TOPIC and v not in known:
            raise NotFound("topic", f"no topic {v[:64]!r}")
        if v not in out:
            out.append(v)
    return tuple(out)


def parse_window(
    *,
    now: datetime,
    range_: str | None,
    start: str | None,
    end: str | None,
    bucket: str | None,
) -> tuple[datetime, datetime, str, Bucket, str, str]:
    """(start, end, range, bucket, custom_start, custom_end) from the query string.

    ``start``/``end`` win over ``range`` (they make it ``custom``); the bucket defaults to one that gives a
    readable number of points for the range.
    """
    if start or end:
        hi = parse_time("end", end, end_of_day=True) if end else now
        lo = parse_time("start", start) if start else hi - RANGES[DEFAULT_RANGE]
        range_name = "custom"
    else:
        range_name = range_ or DEFAULT_RANGE
        if range_name == "custom":
            range_name = DEFAULT_RANGE  # "custom" without dates: fall back rather than fail
        if range_name not in RANGES:
            raise BadParameter("range", f"must be one of {', '.join([*RANGES, 'custom'])}")
        hi = now
        lo = now - RANGES[range_name]
    if lo >= hi:
        raise BadParameter("start", "must be before end")
    if lo.year < 1990 or hi.year > 2200:
        raise BadParameter("start" if lo.year < 1990 else "end", "out of the supported years (1990-2200)")
    chosen = parse_bucket(bucket, _AUTO_BUCKET.get(range_name, "day"))  # type: ignore[arg-type]
    if (hi - lo) / _STEP[chosen] > MAX_POINTS:
        raise BadParameter("bucket", f"{chosen} buckets over this range give more than {MAX_POINTS} points")
    return lo, hi, range_name, chosen, start or "", end or ""


def parse_limit(value: int | None, default: int = 50) -> int:
    if value is None:
        return default
    if not 1 <= value <= MAX_LIMIT:
        raise BadParameter("limit", f"must be between 1 and {MAX_LIMIT}")
    return value


def parse_offset(value: int | None) -> int:
    if value is None:
        return 0
    if not 0 <= value <= MAX_OFFSET:
        raise BadParameter("offset", f"must be between 0 and {MAX_OFFSET}")
    return value


def parse_order(value: str | None) -> str:
    if value is None or value == "":
        return "newest"
    if value not in ("newest", "positive", "negative"):
        raise BadParameter("order", "must be newest, positive or negative")
    return value
