"""Time series: sums of headlines per bucket -> points with tone, shares and the AI Bubble Index.

Pure functions only: no database, no clock. The store keeps hourly sums (``tracker.store.rollups``); day and
week buckets are sums of hours. Empty buckets are explicit points (count 0, values None), never interpolated.
The index formula is documented in docs/index.md with a worked example; keep the two in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Bucket = Literal["hour", "day", "week"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day", "week")
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}

# AI Bubble Index parameters (docs/index.md).
TONE_WEIGHT = 0.6
BUBBLE_WEIGHT = 0.4
SHRINK = 5.0  # pseudo-headlines pulling a thin bucket towards the neutral prior
BUBBLE_PRIOR = 0.05  # prior bubble-talk share
BUBBLE_SATURATION = 0.5  # a bubble-talk share of 50 % gives the bubble part its maximum
Z95 = 1.96


@dataclass(slots=True)
class Sums:
    """Additive sums for one bucket: what the rollup table stores, and what buckets add up to."""

    headlines: int = 0
    scored: int = 0
    sum_compound: float = 0.0
    sum_sq_compound: float = 0.0
    positive: int = 0
    negative: int = 0
    neutral: int = 0
    bubble: int = 0

    def add(self, other: Sums) -> None:
        self.headlines += other.headlines
        self.scored += other.scored
        self.sum_compound += other.sum_compound
        self.sum_sq_compound += other.sum_sq_compound
        self.positive += other.positive
        self.negative += other.negative
        self.neutral += other.neutral
        self.bubble += other.bubble


SUM_FIELDS: tuple[str, ...] = tuple(Sums.__dataclass_fields__)


@dataclass(slots=True)
class Point:
    bucket_start: datetime
    headlines: int
    scored: int
    mean_sentiment: float | None
    ci_low: float | None
    ci_high: float | None
    positive_share: float | None
    negative_share: float | None
    bubble_share: float | None
    index: float | None
    index_low: float | None
    index_high: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


POINT_FIELDS = tuple(Point.__dataclass_fields__)


def bucket_floor(when: datetime, bucket: Bucket) -> datetime:
    """Start of the UTC bucket holding ``when`` (weeks start on Monday)."""
    hour = when.replace(minute=0, second=0, microsecond=0)
    if bucket == "hour":
        return hour
    day = hour.replace(hour=0)
    if bucket == "day":
        return day
    return day - timedelta(days=day.weekday())


def bucket_starts(start: datetime, end: datetime, bucket: Bucket) -> Iterator[datetime]:
    """Every bucket start from the bucket holding ``start`` up to, not including, ``end``."""
    current = bucket_floor(start, bucket)
    step = _STEP[bucket]
    while current < end:
        yield current
        current += step


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def mean_ci(sums: Sums) -> tuple[float | None, float | None, float | None]:
    """Mean compound and its normal-approximation 95 % interval (None below two scored headlines)."""
    n = sums.scored
    if n == 0:
        return None, None, None
    mean = sums.sum_compound / n
    if n < 2:
        return mean, None, None
    var = max(0.0, (sums.sum_sq_compound - n * mean * mean) / (n - 1))
    half = Z95 * math.sqrt(var / n)
    return mean, _clamp(mean - half, -1.0, 1.0), _clamp(mean + half, -1.0, 1.0)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + Z95 * Z95 / n
    centre = (p + Z95 * Z95 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _index_of(mean: float, scored: int, bubble_share: float, headlines: int) -> float:
    tone = scored * mean / (scored + SHRINK)  # shrunk towards neutral 0
    bubble = (headlines * bubble_share + SHRINK * BUBBLE_PRIOR) / (headlines + SHRINK)
    sour = (1.0 - tone) / 2.0  # 0 = all glowing, 1 = all dire
    talk = _clamp(bubble / BUBBLE_SATURATION, 0.0, 1.0)
    return 100.0 * (TONE_WEIGHT * sour + BUBBLE_WEIGHT * talk)


def bubble_index(sums: Sums) -> tuple[float | None, float | None, float | None]:
    """The AI Bubble Index (0-100, higher = more souring) and its band, for one bucket.

    Tone (mean compound, shrunk towards neutral by ``SHRINK`` pseudo-headlines) weighs 60 %; bubble-talk share
    (shrunk towards ``BUBBLE_PRIOR``, saturating at ``BUBBLE_SATURATION``) weighs 40 %. The band takes the 95 %
    interval of the mean and the Wilson interval of the share, so it widens when a bucket has few headlines.
    None when no headline in the bucket was scored.
    """
    mean, lo, hi = mean_ci(sums)
    if mean is None:
        return None, None, None
    share = sums.bubble / sums.headlines if sums.headlines else 0.0
    b_lo, b_hi = wilson(sums.bubble, sums.headlines)
    # With one scored headline the mean has no interval: take the widest one.
    m_lo = -1.0 if lo is None else lo
    m_hi = 1.0 if hi is None else hi
    index = _index_of(mean, sums.scored, share, sums.headlines)
    low = _index_of(m_hi, sums.scored, b_lo, sums.headlines)
    high = _index_of(m_lo, sums.scored, b_hi, sums.headlines)
    return round(index, 2), round(min(low, index), 2), round(max(high, index), 2)


def point_from_sums(bucket_start: datetime, sums: Sums) -> Point:
    mean, lo, hi = mean_ci(sums)
    index, index_low, index_high = bubble_index(sums)
    scored = sums.scored
    return Point(
        bucket_start=bucket_start,
        headlines=sums.headlines,
        scored=scored,
        mean_sentiment=None if mean is None else round(mean, 4),
        ci_low=None if lo is None else round(lo, 4),
        ci_high=None if hi is None else round(hi, 4),
        positive_share=round(sums.positive / scored, 4) if scored else None,
        negative_share=round(sums.negative / scored, 4) if scored else None,
        bubble_share=round(sums.bubble / sums.headlines, 4) if sums.headlines else None,
        index=index,
        index_low=index_low,
        index_high=index_high,
    )


def build_series(
    rows: Iterable[tuple[datetime, Sums]], *, bucket: Bucket, start: datetime, end: datetime
) -> list[Point]:
    """Points for every bucket in [start, end): ``rows`` are (time, sums) at any finer grain (hours)."""
    totals: dict[datetime, Sums] = {}
    for when, sums in rows:
        key = bucket_floor(when, bucket)
        acc = totals.get(key)
        if acc is None:
            acc = totals[key] = Sums()
        acc.add(sums)
    return [point_from_sums(b, totals.get(b, Sums())) for b in bucket_starts(start, end, bucket)]


def total(rows: Iterable[Sums]) -> Sums:
    acc = Sums()
    for s in rows:
        acc.add(s)
    return acc
