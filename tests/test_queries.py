"""The read side (tracker.store.queries) on SQLite and on PostgreSQL, on hand-made rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from factories import Item, add_items, add_source, at, sample_items

from tracker.config import load_config
from tracker.series import bucket_floor
from tracker.store import queries

NOV1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV5 = datetime(2026, 11, 5, tzinfo=UTC)


@pytest.fixture
def filled(engine):
    add_items(engine, sample_items())
    return engine


def test_series_from_rollups_sums_days_and_keeps_empty_buckets(filled):
    points = queries.series(filled, topic="nvda", bucket="day", start=NOV1, end=NOV5)
    assert [p.bucket_start.day for p in points] == [1, 2, 3, 4]
    assert [p.headlines for p in points] == [0, 3, 1, 0]
    assert [p.scored for p in points] == [0, 3, 0, 0]
    nov2 = points[1]
    assert nov2.mean_sentiment == pytest.approx((0.6 - 0.4 - 0.8) / 3, abs=1e-4)
    assert nov2.bubble_share == pytest.approx(1 / 3, abs=1e-4)
    assert points[2].mean_sentiment is None  # the one headline of Nov 3 is unscored


def test_series_all_counts_every_tagged_headline_once(filled):
    points = queries.series(filled, topic="all", bucket="week", start=NOV1, end=NOV5)
    assert sum(p.headlines for p in points) == 6  # "Weather today" is untagged
    assert sum(p.scored for p in points) == 5


def test_series_filters_by_language(filled):
    points = queries.series(filled, topic="all", bucket="day", start=NOV1, end=NOV5, language="fr")
    assert [p.headlines for p in points] == [0, 0, 1, 0]


def test_source_filter_aggregates_from_headlines_and_sightings(filled):
    # feed-fr carried the French headline and, as a second sighting, the AMD story.
    points = queries.series(filled, topic="all", bucket="day", start=NOV1, end=NOV5, source="feed-fr")
    assert [p.headlines for p in points] == [0, 0, 2, 0]
    assert points[2].mean_sentiment == pytest.approx(0.1)
    assert points[2].bubble_share == pytest.approx(0.5)
    hourly = queries.series(filled, topic="ai_bubble", bucket="hour", start=at(3, 0), end=at(3, 12), source="feed-fr")
    assert [p.headlines for p in hourly if p.headlines] == [1]
    assert hourly[9].bucket_start == at(3, 9)


def test_source_series_matches_rollups_when_one_source_carries_everything(engine):
    add_items(engine, [it for it in sample_items() if it.source == "feed-a" and not it.also_seen_in])
    a = queries.series(engine, topic="nvda", bucket="hour", start=NOV1, end=NOV5)
    b = queries.series(engine, topic="nvda", bucket="hour", start=NOV1, end=NOV5, source="feed-a")
    assert [p.as_dict() for p in a] == [p.as_dict() for p in b]


def test_unknown_source_is_an_error(filled):
    with pytest.raises(queries.UnknownSource):
        queries.series(filled, topic="all", bucket="day", start=NOV1, end=NOV5, source="nope")


def test_count_unscored(filled):
    assert queries.count_unscored(filled, topic="all", start=NOV1, end=NOV5) == 1
    assert queries.count_unscored(filled, topic="amd", start=NOV1, end=NOV5) == 0


def test_headlines_orders_and_fields(filled):
    newest = queries.headlines(filled, topic="nvda")
    assert [h["title"] for h in newest][:2] == ["Nvidia unveils a new chip", "AI bubble fears grow as Nvidia falls"]
    neg = queries.headlines(filled, topic="all", order="negative", limit=2)
    assert [h["compound"] for h in neg] == [-0.8, -0.4]
    pos = queries.headlines(filled, topic=None, order="positive", limit=1)
    assert pos[0]["title"] == "Nvidia soars on record AI demand"
    h = neg[0]
    assert h["topics"] == ["nvda", "ai_bubble"]
    assert h["source"] == "feed-a" and h["date_inferred"] is False
    assert h["published_at"] == at(2, 11)
    assert set(h) == {
        "id", "title", "url", "source", "publisher", "published_at", "date_inferred", "date_flag",
        "language", "compound", "scorer", "topics", "summary",
    }  # fmt: skip


def test_headlines_filters_and_pages(filled):
    assert [h["title"] for h in queries.headlines(filled, source="feed-fr")] == [
        "AMD wins a data-centre deal",
        "La bulle de l'IA inquiète",
    ]
    assert len(queries.headlines(filled, topic="all")) == 6
    assert len(queries.headlines(filled)) == 7  # no topic: untagged headlines too
    page2 = queries.headlines(filled, topic="nvda", limit=2, offset=2)
    assert [h["title"] for h in page2] == ["Nvidia shares slip", "Nvidia soars on record AI demand"]
    window = queries.headlines(filled, topic="nvda", start=at(2, 10), end=at(2, 11))
    assert [h["title"] for h in window] == ["Nvidia shares slip"]
    assert queries.count_headlines(filled, topic="nvda", language="en") == 4
    with pytest.raises(ValueError, match="order"):
        queries.headlines(filled, order="random")


def test_export_lines_use_the_topics_column_and_iso_times(filled):
    batches = list(queries.iter_headline_lines(filled, topic="all", batch=2))
    assert [len(b) for b in batches] == [2, 2, 2]
    lines = [line for b in batches for line in b]
    assert (
        lines[0]
        == '2026-11-03T15:00:00Z,"feed-a","Example News","AMD wins a data-centre deal","https://example.com/f","en",0.5,amd'
    )
    unscored = next(line for line in lines if "Nvidia unveils a new chip" in line)
    assert unscored.split(",")[6] == ""


def test_list_topics_counts_thirty_days(filled):
    config = load_config(None)
    topics = queries.list_topics(filled, config, now=at(4))
    by_key = {t["key"]: t for t in topics}
    assert topics[0]["key"] == "all"
    assert by_key["all"]["headlines_30d"] == 6
    assert by_key["nvda"] == {"key": "nvda", "label": by_key["nvda"]["label"], "kind": "ticker",
                              "ticker": "NVDA", "headlines_30d": 4}  # fmt: skip
    assert len(topics) == len(config.topics) + 1
    later = {
        t["key"]: t["headlines_30d"] for t in queries.list_topics(filled, config, now=datetime(2027, 1, 1, tzinfo=UTC))
    }
    assert later["all"] == 0


def test_failing_sources(engine):
    add_source(engine, "good")
    add_source(engine, "broken", errors=3, last_error="HTTP 503")
    failing = queries.failing_sources(engine)
    assert [(s["name"], s["last_error"], s["consecutive_errors"]) for s in failing] == [("broken", "HTTP 503", 3)]
    assert [s["name"] for s in queries.source_status(engine)] == ["broken", "good"]


def test_languages_and_ping(filled):
    assert queries.languages(filled, since=NOV1) == ["en", "fr"]
    queries.ping(filled)


def test_naive_or_odd_values_are_bound_not_interpolated(engine):
    tricky = "x' OR '1'='1"
    add_items(engine, [Item(tricky, at(2), ("nvda",), 0.1, source="s'; DROP TABLE headlines; --")])
    assert queries.headlines(engine, source="s'; DROP TABLE headlines; --")[0]["title"] == tricky
    with pytest.raises(queries.UnknownSource):
        queries.headlines(engine, source=tricky)


def _many_scored(engine) -> list[tuple[int, Item]]:
    import random

    rng = random.Random(7)
    items = []
    for i in range(120):
        topics = rng.choice((("nvda",), ("amd",), ("nvda", "ai_bubble"), ()))
        compound = None if i % 17 == 0 else rng.choice((0.9, -0.9, 0.5, -0.5, 0.0, round(rng.uniform(-1, 1), 3)))
        # Every fifth headline shares its time with the one before: the id tie-break is exercised too.
        when = items[-1].published_at if i % 5 == 4 else at(1 + i % 28, i % 24, month=10 + i % 2)
        items.append(Item(f"h{i}", when, topics, compound, language=rng.choice(("en", "fr"))))
    return list(zip(add_items(engine, items), items, strict=True))


@pytest.mark.parametrize("best", [1, 4, 30, 1000])
@pytest.mark.parametrize("order", ["positive", "negative"])
def test_best_scored_shortcut_gives_the_same_page_as_sorting_the_window(engine, monkeypatch, best, order):
    stored = _many_scored(engine)
    monkeypatch.setattr(queries, "_BEST_SCORED", best)
    sign = -1 if order == "positive" else 1
    windows = [(at(1, month=10), at(1, month=12)), (at(3, month=10), at(9, month=10)), (at(5, 0), at(5, 1))]
    for topic in ("all", "nvda", None):
        for language in (None, "fr"):
            for start, end in windows:
                expected = sorted(
                    (
                        (sign * it.compound, -it.published_at.timestamp(), -hid)
                        for hid, it in stored
                        if it.compound is not None
                        and start <= it.published_at < end
                        and (language is None or it.language == language)
                        and (topic is None or (topic == "all" and it.topics) or topic in it.topics)
                    ),
                )
                want = [-key[2] for key in expected]
                for limit, offset in ((5, 0), (3, 2), (200, 0)):
                    got = queries.headlines(
                        engine, topic=topic, start=start, end=end, language=language, order=order,
                        limit=limit, offset=offset,
                    )  # fmt: skip
                    assert [h["id"] for h in got] == want[offset : offset + limit], (topic, language, start, limit)


def test_day_and_week_series_from_the_day_rollups_match_the_hours(engine):
    # Items on Sundays, Mondays and around midnight: the week sums made in SQL start on Mondays.
    stored = _many_scored(engine)
    start, end = at(1, 0, month=10), at(1, 0, month=12)
    hours = queries.series(engine, topic="all", bucket="hour", start=start, end=end)
    for bucket in ("day", "week"):
        points = queries.series(engine, topic="all", bucket=bucket, start=start, end=end)
        lo, _ = queries.series_range(start, end, bucket)
        assert points[0].bucket_start == lo and all(p.bucket_start.tzinfo is not None for p in points)
        if bucket == "week":
            assert all(p.bucket_start.weekday() == 0 for p in points)
        expected: dict = {}
        for h in hours:
            key = bucket_floor(h.bucket_start, bucket)  # type: ignore[arg-type]
            got = expected.setdefault(key, [0, 0])
            got[0] += h.headlines
            got[1] += h.scored
        assert {p.bucket_start: [p.headlines, p.scored] for p in points if p.headlines} == {
            k: v for k, v in expected.items() if v[0]
        }
        assert sum(p.headlines for p in points) == sum(1 for _, it in stored if it.topics)
        many = queries.series_many(engine, topics=["nvda", "all"], bucket=bucket, start=start, end=end)
        assert [p.as_dict() for p in many["all"]] == [p.as_dict() for p in points]
