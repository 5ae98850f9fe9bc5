"""CSV exports of series and headlines: streamed, RFC 4180, UTF-8, safe to open in a spreadsheet.

Generators yield text chunks (a few thousand rows each) so a web response or a file write holds one chunk
in memory, never the whole export. Text cells a spreadsheet would run as a formula (first visible character
``= + - @ | %``, or a leading tab / carriage return) get a leading apostrophe; numbers we computed stay
numbers; None, NaN and infinities become empty cells. Times are ISO-8601 UTC with a ``Z``.
This module never reads the database itself and never builds a dict per row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from tracker.series import Point

SERIES_COLUMNS = (
    "bucket_start",
    "topic",
    "headlines",
    "scored",
    "mean_sentiment",
    "ci_low",
    "ci_high",
    "positive_share",
    "negative_share",
    "bubble_share",
    "index",
    "index_low",
    "index_high",
)
HEADLINE_COLUMNS = ("published_at", "source", "publisher", "title", "url", "language", "compound", "topics")

# Leading spaces and control characters do not stop a spreadsheet from evaluating what follows them.
_FORMULA = re.compile(r"^[\s\x00-\x1f\x7f]*[=+\-@|%]")
_ROWS_PER_CHUNK = 2000


def iso_z(when: datetime) -> str:
    """``2026-11-30T12:00:00Z``: the one time format of exports and the API."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: exports are in UTC and need aware times")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _safe_str(text: str) -> str:
    if not text:
        return text
    first = text[0]
    if first.isalnum():  # the common case (a headline starts with a letter): one method call per cell
        return text
    if first in "\t\r" or _FORMULA.match(text):
        return "'" + text
    return text


def safe_cell(value: Any) -> Any:
    """A value ready for ``csv.writer``: formula text neutralised, numbers kept, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _safe_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return iso_z(value)
    return _safe_str(str(value))


def _number(value: float | int | None) -> float | int | str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


class _Chunker:
    """A csv.writer over a small buffer whose text is taken out after each batch of rows."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\r\n")

    def take(self) -> str:
        text = self.buf.getvalue()
        self.buf.seek(0)
        self.buf.truncate()
        return text


def _series_row(topic: str, p: Point) -> tuple[Any, ...]:
    return (
        iso_z(p.bucket_start),
        _safe_str(topic),
        p.headlines,
        p.scored,
        _number(p.mean_sentiment),
        _number(p.ci_low),
        _number(p.ci_high),
        _number(p.positive_share),
        _number(p.negative_share),
        _number(p.bubble_share),
        _number(p.index),
        _number(p.index_low),
        _number(p.index_high),
    )


def iter_series_csv_many(
    series: Mapping[str, Sequence[Point]] | Iterable[tuple[str, Sequence[Point]]],
) -> Iterator[str]:
    """One long-format CSV (``SERIES_COLUMNS``) for several topics, as text chunks."""
    out = _Chunker()
    out.writer.writerow(SERIES_COLUMNS)
    items = series.items() if isinstance(series, Mapping) else series
    for topic, points in items:
        for i in range(0, len(points), _ROWS_PER_CHUNK):
            out.writer.writerows(_series_row(topic, p) for p in points[i : i + _ROWS_PER_CHUNK])
            yield out.take()
    tail = out.take()
    if tail:
        yield tail


def iter_series_csv(points: Sequence[Point], topic: str) -> Iterator[str]:
    """The CSV of one topic's points, as text chunks."""
    return iter_series_csv_many([(topic, points)])


def write_series_csv(points: Sequence[Point], topic: str, out: IO[str]) -> None:
    for chunk in iter_series_csv(points, topic):
        out.write(chunk)


def _utc_text(when: Any) -> str:
    if isinstance(when, datetime):
        return iso_z(when)
    # 'YYYY-MM-DD HH:MM:SS[...]' or already 'YYYY-MM-DDTHH:MM:SSZ': the same ten and eight characters.
    return f"{when[:10]}T{when[11:19]}Z"


def iter_headlines_csv(batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[str]:
    """CSV text chunks (``HEADLINE_COLUMNS``) from batches of export rows (``queries.iter_headline_rows``).

    Each row is (published_at, source, publisher, title, url, language, compound, topics); published_at is
    an aware datetime or UTC text ``YYYY-MM-DD HH:MM:SS``. Topic keys are ``[a-z0-9_]`` by construction
    (config validation), so they skip the formula check.
    """
    out = _Chunker()
    out.writer.writerow(HEADLINE_COLUMNS)
    safe = _safe_str
    writerows = out.writer.writerows
    inf = math.inf
    for batch in batches:
        # Inline fast paths (a text starting with a letter or digit is safe): this loop runs per row.
        writerows(
            (
                f"{when[:10]}T{when[11:19]}Z" if type(when) is str else _utc_text(when),
                "" if src is None else (src if src[:1].isalnum() else safe(src)),
                "" if pub is None else (pub if pub[:1].isalnum() else safe(pub)),
                "" if title is None else (title if title[:1].isalnum() else safe(title)),
                "" if url is None else (url if url[:1].isalnum() else safe(url)),
                "" if lang is None else (lang if lang[:1].isalnum() else safe(lang)),
                "" if comp is None or comp != comp or comp == inf or comp == -inf else comp,
                topics or "",
            )
            for when, src, pub, title, url, lang, comp, topics in batch
        )
        yield out.take()
    tail = out.take()  # the header alone when there was no row
    if tail:
        yield tail


def write_headlines_csv(batches: Iterable[Sequence[Sequence[Any]]], out: IO[str]) -> int:
    """Write the headlines CSV to ``out``; returns the number of characters written."""
    written = 0
    for chunk in iter_headlines_csv(batches):
        written += out.write(chunk)
    return written
