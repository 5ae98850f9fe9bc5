"""CSV exports of series and headlines: streamed, RFC 4180, UTF-8, safe to open in a spreadsheet.

Generators yield text chunks (a few thousand rows each) so a web response or a file write holds one chunk
in memory, never the whole export. Text cells a spreadsheet would run as a formula (first visible character
``= + - @ | %``, or a leading tab / carriage return) get a leading apostrophe; numbers we computed stay
numbers; None, NaN and infinities become empty cells. Times are ISO-8601 UTC with a ``Z``.
Headline exports are written by the database itself, a whole CSV line per row (``sql_headline_line``), so a
million rows cost Python one string each; this module never reads the database and never builds a dict per row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Text, and_, case, cast, func, literal, or_
from sqlalchemy.sql.elements import ColumnElement

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
# The characters that start a formula, and the ones that may stand before them (below, for the SQL form).
FORMULA_STARTS = "=+-@|%"
_FORMULA = re.compile(r"^[\s\x00-\x1f\x7f]*[" + re.escape(FORMULA_STARTS) + "]")
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


# What may precede a formula's first character and still let a spreadsheet run it: Unicode whitespace and
# control characters (the class ``_FORMULA`` starts with; NUL never reaches the database). For the SQL below.
_FORMULA_LEAD = "".join(c for c in map(chr, range(1, 0x3001)) if c.isspace() or c < " " or c == "\x7f")


def sql_text_cell(value: Any, dialect: str) -> ColumnElement[str]:
    """A text column (NULL = empty) as a quoted CSV cell built by the database, neutralised as ``safe_cell`` does.

    The headline export's hot path: the database writes whole CSV lines (``sql_headline_line``), so Python
    only joins them. Every text cell is quoted (RFC 4180 allows it), inner quotes doubled. Most cells start
    with a letter (code points 65-123 hold no formula or blank character) and hold no quote: they take a
    short path that halves the export's database time (measured: docs/benchmarks.md).
    """
    text = func.coalesce(value, "")
    if dialect == "postgresql":
        first_code, has_quote = func.ascii(text), func.strpos(text, '"') > 0
    else:
        first_code, has_quote = func.unicode(text), func.instr(text, '"') > 0
    safe = case((_sql_formula(text), literal("'") + text), else_=text)
    quoted = literal('"') + func.replace(safe, '"', '""') + literal('"')
    return case((and_(first_code.between(65, 123), ~has_quote), literal('"') + text + literal('"')), else_=quoted)


def _sql_formula(text: Any) -> ColumnElement[bool]:
    """True where a spreadsheet would run ``text`` as a formula (the rule of ``_FORMULA``, in SQL)."""
    first = func.substr(func.ltrim(text, literal(_FORMULA_LEAD)), 1, 1)
    return or_(first.in_(list(FORMULA_STARTS)), func.substr(text, 1, 1).in_(["\t", "\r"]))


def sql_safe_text(value: Any) -> ColumnElement[str]:
    """A text column neutralised as ``safe_cell`` does, unquoted (NULL stays NULL): for PostgreSQL's COPY, which
    quotes the cells itself. Cells starting with a letter skip the formula test, as in ``sql_text_cell``."""
    return case((func.ascii(value).between(65, 123), value), (_sql_formula(value), literal("'") + value), else_=value)


def sql_utc_iso(published_at: Any, dialect: str) -> ColumnElement[str]:
    """A stored time as ``2026-11-30T12:00:00Z`` (``iso_z``), computed by the database."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", published_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    # SQLite keeps UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': slicing it beats strftime().
    return func.substr(published_at, 1, 10) + literal("T") + func.substr(published_at, 12, 8) + literal("Z")


def sql_score(compound: Any) -> ColumnElement[float]:
    """The compound score, NULL when missing or outside [-1, 1] (which covers NaN and infinities)."""
    return case((compound.between(-1.0, 1.0), compound), else_=None)


def sql_headline_line(
    dialect: str, *, published_at: Any, source: Any, publisher: Any, title: Any, url: Any, language: Any,
    compound: Any, topics: Any,
) -> ColumnElement[str]:  # fmt: skip
    """One ``HEADLINE_COLUMNS`` CSV line (no terminator) as a SQL expression for ``dialect``.

    published_at becomes ISO-8601 UTC with a ``Z``; compound stays a bare number (empty when NULL or out of
    [-1, 1], which covers NaN and infinities); topics are ``[a-z0-9_]`` keys by construction, written bare.
    """
    score = func.coalesce(cast(sql_score(compound), Text), "")
    cells = [sql_utc_iso(published_at, dialect), *(sql_text_cell(c, dialect) for c in (source, publisher, title,
             url, language)), score, func.coalesce(topics, "")]  # fmt: skip
    line = cells[0]
    for cell in cells[1:]:
        line = line + literal(",") + cell
    return line


def iter_headlines_csv(batches: Iterable[Sequence[str]]) -> Iterator[str]:
    """CSV text chunks: the header, then each batch of lines from ``queries.iter_headline_lines``."""
    yield ",".join(HEADLINE_COLUMNS) + "\r\n"
    for lines in batches:
        if lines:
            yield "\r\n".join(lines) + "\r\n"
