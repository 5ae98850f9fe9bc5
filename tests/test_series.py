"""The aggregation and the AI Bubble Index on hand-computed series (tracker.series is pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tracker.series import (
    Sums,
    bubble_index,
    bucket_floor,
    bucket_starts,
    build_series,
    mean_ci,
    point_from_sums,
    wilson,
)


def sums_of(compounds: list[float | None], *, bubble: int = 0) -> Sums:
    s = Sums()
    for c in compounds:
        s.headlines += 1
        if c is not None:
            s.scored += 1
            s.sum_compound += c
            s.sum_sq_compound += c * c
            if c >= 0.05:
                s.positive += 1
            elif c <= -0.05:
                s.negative += 1
            else:
                s.neutral += 1
    s.bubble = bubble
    return s


def test_mean_and_interval_by_hand():
    # mean 0; sample variance (0.25 + 0.25 + 0.04 + 0.04) / 3; half-width 1.96 * sqrt(var / 4)
    mean, lo, hi = mean_ci(sums_of([0.5, -0.5, 0.2, -0.2]))
    half = 1.96 * math.sqrt((0.58 / 3) / 4)
    assert mean == pytest.approx(0.0)
    assert lo == pytest.approx(-half)
    assert hi == pytest.approx(half)
    assert half == pytest.approx(0.4309, abs=1e-4)


def test_one_scored_headline_has_a_mean_but_no_interval():
    assert mean_ci(sums_of([0.3])) == (0.3, None, None)
    assert mean_ci(sums_of([None, None])) == (None, None, None)


def test_index_by_hand():
    # tone 0 -> sour 0.5; bubble share shrunk: (0 + 5 * 0.05) / (4 + 5) = 0.02778 -> talk 0.05556
    index, low, high = bubble_index(sums_of([0.5, -0.5, 0.2, -0.2]))
    assert index == pytest.approx(100 * (0.6 * 0.5 + 0.4 * (0.25 / 9) / 0.5), abs=0.01)
    assert index == pytest.approx(32.22, abs=0.01)
    assert low is not None and high is not None
    assert low < index < high


def test_all_dire_and_all_bubble_talk_approaches_100():
    index, _, _ = bubble_index(sums_of([-1.0] * 1000, bubble=1000))
    # tone shrunk: 1000 * -1 / 1005; bubble share shrunk but saturated at 50 %
    assert index == pytest.approx(100 * (0.6 * (1 + 1000 / 1005) / 2 + 0.4), abs=0.01)


def test_band_narrows_as_headlines_grow():
    few = bubble_index(sums_of([0.4, -0.4], bubble=1))
    many = bubble_index(sums_of([0.4, -0.4] * 200, bubble=200))
    assert few[2] - few[1] > 3 * (many[2] - many[1])  # type: ignore[operator]


def test_a_handful_of_items_cannot_swing_the_index():
    # Two glowing headlines move the index far less than two hundred would.
    two = bubble_index(sums_of([1.0, 1.0]))[0]
    lots = bubble_index(sums_of([1.0] * 200))[0]
    neutral = bubble_index(sums_of([0.0] * 200))[0]
    assert two is not None and lots is not None and neutral is not None
    assert abs(neutral - two) < abs(neutral - lots) / 2


def test_unscored_headlines_count_in_volume_not_in_tone():
    p = point_from_sums(datetime(2026, 11, 2, tzinfo=UTC), sums_of([0.6, None, None], bubble=1))
    assert (p.headlines, p.scored) == (3, 1)
    assert p.mean_sentiment == 0.6
    assert p.positive_share == 1.0
    assert p.bubble_share == pytest.approx(0.3333, abs=1e-4)


def test_wilson_interval_contains_the_share_and_handles_zero():
    lo, hi = wilson(1, 10)
    assert lo < 0.1 < hi
    assert wilson(0, 0) == (0.0, 1.0)


def test_hours_add_up_into_days_and_empty_days_are_explicit():
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    rows = [(t0, sums_of([0.5])), (t0 + timedelta(hours=3), sums_of([-0.1, None]))]
    points = build_series(
        rows, bucket="day", start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 4, tzinfo=UTC)
    )
    assert [p.bucket_start.day for p in points] == [1, 2, 3]
    assert [p.headlines for p in points] == [0, 3, 0]
    assert points[1].scored == 2
    assert points[1].mean_sentiment == pytest.approx(0.2)
    empty = points[0]
    assert empty.mean_sentiment is None and empty.index is None and empty.bubble_share is None


def test_weeks_start_on_monday_utc():
    thursday = datetime(2026, 11, 5, 23, 30, tzinfo=UTC)
    assert bucket_floor(thursday, "week") == datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    starts = list(bucket_starts(thursday, datetime(2026, 11, 20, tzinfo=UTC), "week"))
    assert [s.day for s in starts] == [2, 9, 16]
    assert all(s.weekday() == 0 for s in starts)


def test_worked_example_of_docs_index_md():
    from pathlib import Path

    s = Sums(headlines=12, scored=10, positive=3, negative=6, neutral=1, bubble=3)
    for c in (-0.62, -0.45, -0.30, -0.10, 0.00, 0.20, 0.35, -0.55, -0.40, 0.15):
        s.sum_compound += c
        s.sum_sq_compound += c * c
    assert bubble_index(s) == (48.73, 35.43, 68.89)
    assert mean_ci(s)[1] == pytest.approx(-0.3825, abs=1e-4)
    ten = Sums(
        *(
            v * 10
            for v in (
                s.headlines,
                s.scored,
                s.sum_compound,
                s.sum_sq_compound,
                s.positive,
                s.negative,
                s.neutral,
                s.bubble,
            )
        )
    )
    assert bubble_index(ten) == (54.27, 47.17, 62.57)
    one = Sums(headlines=1, scored=1, sum_compound=-0.9, sum_sq_compound=0.81, negative=1, bubble=1)
    assert bubble_index(one) == (51.17, 31.09, 51.67)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "index.md").read_text(encoding="utf-8")
    for figure in ("48.73", "35.43", "68.89", "(48.73, 35.43, 68.89)", "54.27 [47.17, 62.57]", "51.17 [31.09, 51.67]"):
        assert figure in doc
