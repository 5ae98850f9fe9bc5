"""The store on SQLite and the real PostgreSQL: idempotent ingest, sightings, rollups, claims and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from tracker.config import parse_config
from tracker.models import Headline, HeadlineRow, HeadlineTopic, Rollup, Score, Sighting, Source, TopicHit
from tracker.store import ingest
from tracker.store.rollups import hourly_sums, rebuild_rollups
from tracker.store.sources import backoff, claim_due, holder_id, record_error, record_success, sync_sources

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
[[sources]]
name = "one"
kind = "rss"
url = "https://one.example/feed"
every = "30m"
[[sources]]
name = "two"
kind = "rss"
url = "https://two.example/feed"
[[topics]]
key = "nvda"
label = "NVIDIA"
kind = "ticker"
terms = ["nvidia"]
""",
    "test.toml",
)


def headline(
    n: int, *, key: str | None = None, fp: str | None = None, when: datetime = NOW, topics=("nvda",), compound=-0.5
) -> Headline:
    return Headline(
        dedupe_key=key or f"url:{n}",
        title_fp=fp or f"fp{n}",
        title=f"Nvidia headline {n}",
        summary="",
        url=f"https://news.example/{n}",
        guid=None,
        publisher="Example",
        author=None,
        published_at=when,
        published_raw=None,
        date_flag="ok",
        language="en",
        topics=[TopicHit(t, 1.0, True) for t in topics],
        score=None if compound is None else Score(compound, 0.0, 0.5, 0.5, "test", "1"),
    )


def claims(engine, *, holder="h:1", now=NOW, force=True):
    with engine.begin() as conn:
        sync_sources(conn, CONFIG, now=now)
    return {c.name: c for c in claim_due(engine, now=now, holder=holder, force=force)}


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()


def test_same_collection_twice_adds_nothing(engine):
    c = claims(engine)["one"]
    batch = [headline(i) for i in range(5)] + [headline(0)]  # a feed repeating an item
    first = ingest.save_fetch(engine, c, batch, now=NOW, status=200, etag='W/"x"', last_modified=None)
    assert (first.new, first.seen) == (5, 0)
    c = claims(engine, now=NOW + timedelta(hours=1))["one"]
    second = ingest.save_fetch(
        engine, c, batch, now=NOW + timedelta(hours=1), status=200, etag='W/"x"', last_modified=None
    )
    assert (second.new, second.seen) == (0, 5)
    assert count(engine, HeadlineRow) == 5
    assert count(engine, Sighting) == 5
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(Rollup.headlines)).where(Rollup.topic == "nvda")).scalar_one() == 5


def test_same_story_in_two_feeds_is_one_headline_with_two_sightings(engine):
    cs = claims(engine)
    ingest.save_fetch(engine, cs["one"], [headline(1)], now=NOW, status=200, etag=None, last_modified=None)
    report = ingest.save_fetch(engine, cs["two"], [headline(1)], now=NOW, status=200, etag=None, last_modified=None)
    assert (report.new, report.seen) == (0, 1)
    with engine.connect() as conn:
        assert conn.execute(select(HeadlineRow.sightings)).scalar_one() == 2
    assert count(engine, Sighting) == 2
    with engine.connect() as conn:  # counted once in the series
        assert conn.execute(select(func.sum(Rollup.headlines)).where(Rollup.topic == "all")).scalar_one() == 1


def test_syndicated_copy_under_another_url_is_a_sighting_within_three_days(engine):
    cs = claims(engine)
    ingest.save_fetch(engine, cs["one"], [headline(1, fp="same")], now=NOW, status=200, etag=None, last_modified=None)
    near = headline(2, fp="same", when=NOW + timedelta(days=2))
    far = headline(3, fp="same", when=NOW + timedelta(days=5))
    report = ingest.save_fetch(engine, cs["two"], [near, far], now=NOW, status=200, etag=None, last_modified=None)
    assert (report.new, report.seen) == (1, 1)
    with engine.connect() as conn:
        urls = set(conn.execute(select(HeadlineRow.url)).scalars())
    assert urls == {"https://news.example/1", "https://news.example/3"}


def test_edited_republication_keeps_the_first_version(engine):
    c = claims(engine)["one"]
    ingest.save_fetch(engine, c, [headline(1)], now=NOW, status=200, etag=None, last_modified=None)
    edited = headline(1)
    edited.title = "Nvidia headline 1 (updated)"
    ingest.save_fetch(engine, c, [edited], now=NOW, status=200, etag=None, last_modified=None)
    with engine.connect() as conn:
        assert conn.execute(select(HeadlineRow.title)).scalar_one() == "Nvidia headline 1"


def test_untagged_headlines_are_kept_but_not_in_series(engine):
    c = claims(engine)["one"]
    ingest.save_fetch(
        engine, c, [headline(1, topics=()), headline(2)], now=NOW, status=200, etag=None, last_modified=None
    )
    with engine.connect() as conn:
        tagged = dict(conn.execute(select(HeadlineRow.url, HeadlineRow.tagged)).all())
        assert tagged == {"https://news.example/1": False, "https://news.example/2": True}
        assert conn.execute(select(func.sum(Rollup.headlines)).where(Rollup.topic == "all")).scalar_one() == 1
    assert count(engine, HeadlineTopic) == 1


def test_rollups_rebuilt_equal_rollups_kept_at_ingest(engine):
    c = claims(engine)["one"]
    batch = [
        headline(
            i,
            when=NOW - timedelta(minutes=37 * i),
            compound=[-0.8, 0.0, 0.3, None][i % 4],
            topics=("nvda", "ai_bubble") if i % 3 else ("nvda",),
        )
        for i in range(40)
    ]
    ingest.save_fetch(engine, c, batch, now=NOW, status=200, etag=None, last_modified=None)
    window = dict(start=NOW - timedelta(days=2), end=NOW + timedelta(hours=1))
    with engine.connect() as conn:
        before = {t: hourly_sums(conn, topic=t, **window) for t in ("all", "nvda", "ai_bubble")}
    with engine.begin() as conn:
        rebuild_rollups(conn)
    with engine.connect() as conn:
        after = {t: hourly_sums(conn, topic=t, **window) for t in ("all", "nvda", "ai_bubble")}
    assert before == after
    nvda = before["nvda"]
    assert sum(s.headlines for _, s in nvda) == 40
    assert sum(s.scored for _, s in nvda) == 30
    assert sum(s.negative for _, s in nvda) == 10 and sum(s.positive for _, s in nvda) == 10
    assert sum(s.bubble for _, s in nvda) == len([i for i in range(40) if i % 3])


def test_validators_are_saved_with_the_items_and_kept_on_error(engine):
    c = claims(engine)["one"]
    ingest.save_fetch(
        engine, c, [headline(1)], now=NOW, status=200, etag='W/"abc"', last_modified="Mon, 30 Nov 2026 10:00:00 GMT"
    )
    c = claims(engine)["one"]
    ingest.save_error(engine, c, now=NOW, status=503, error="HTTP 503")
    with engine.connect() as conn:
        row = conn.execute(select(Source).where(Source.name == "one")).one()
    assert row.etag == 'W/"abc"' and row.last_modified == "Mon, 30 Nov 2026 10:00:00 GMT"
    assert row.last_error == "HTTP 503" and row.consecutive_errors == 1 and row.last_status == 503
    assert row.next_fetch_at > NOW + timedelta(minutes=25)


def test_error_backoff_grows_and_respects_retry_after_with_a_cap(engine):
    c = claims(engine)["one"]
    with engine.begin() as conn:
        record_error(conn, c, now=NOW, status=429, error="HTTP 429", retry_at=NOW + timedelta(days=30))
        row = conn.execute(select(Source.next_fetch_at, Source.lease_holder).where(Source.name == "one")).one()
    assert row.next_fetch_at == NOW + timedelta(hours=24)
    assert row.lease_holder is None
    delays = [backoff(1800, n).total_seconds() for n in (1, 2, 3, 4)]
    assert delays == sorted(delays) and delays[0] >= 1800 * 0.9
    assert backoff(1800, 50) == timedelta(hours=24)
    # Jitter: sources failing together do not retry together, and stay within 10 % of the doubling.
    import random

    rng = random.Random(5)
    spread = {backoff(1800, 2, rng=rng).total_seconds() for _ in range(20)}
    assert len(spread) > 10 and all(3600 * 0.9 <= d <= 3600 * 1.1 for d in spread)


def test_a_leased_source_is_not_claimed_twice_and_a_dead_holder_is_taken_over(engine):
    first = claims(engine, holder="other-host:1", force=False)
    assert set(first) == {"one", "two"}
    assert claims(engine, holder="me:2", force=False) == {}
    # Leases of a process that died on this host are taken over at once.
    host = holder_id().rsplit(":", 1)[0]
    with engine.begin() as conn:
        conn.execute(update(Source.__table__).where(Source.name == "one").values(lease_holder=f"{host}:999999999"))
    assert set(claims(engine, holder="me:2", force=False)) == {"one"}
    # Others' leases once they expire.
    assert claims(engine, holder="third:3", now=NOW + timedelta(minutes=14), force=False) == {}
    assert set(claims(engine, holder="third:3", now=NOW + timedelta(minutes=16), force=False)) == {"one", "two"}


def test_sync_disables_removed_sources_and_resets_changed_urls(engine):
    claims(engine)
    changed = parse_config(
        '[[sources]]\nname = "one"\nkind = "rss"\nurl = "https://one.example/new-feed"\n', "changed.toml"
    )
    with engine.begin() as conn:
        conn.execute(update(Source.__table__).where(Source.name == "one").values(etag="e", consecutive_errors=3))
        sync_sources(conn, changed, now=NOW)
        rows = {r.name: r for r in conn.execute(select(Source))}
    assert rows["two"].enabled is False
    assert rows["one"].url.endswith("new-feed") and rows["one"].etag is None and rows["one"].consecutive_errors == 0


def test_day_rollups_are_the_hours_summed_by_day_after_ingest_and_after_a_partial_rebuild(engine):
    from tracker.models import RollupDay
    from tracker.series import Sums

    c = claims(engine)["one"]
    batch = [headline(i, when=NOW - timedelta(hours=7 * i), compound=[-0.6, 0.2, None][i % 3]) for i in range(30)]
    ingest.save_fetch(engine, c, batch, now=NOW, status=200, etag=None, last_modified=None)

    def compare() -> None:
        with engine.connect() as conn:
            hours = hourly_sums(conn, topic="nvda", start=NOW - timedelta(days=30), end=NOW + timedelta(days=1))
            days = conn.execute(select(RollupDay).where(RollupDay.topic == "nvda")).all()
        expected: dict[datetime, Sums] = {}
        for hour, s in hours:
            expected.setdefault(hour.replace(hour=0), Sums()).add(s)
        got = {
            r.bucket_start: Sums(
                r.headlines, r.scored, r.sum_compound, r.sum_sq_compound, r.positive, r.negative, r.neutral, r.bubble
            )
            for r in days
        }
        assert set(got) == set(expected) and len(got) > 5
        for day, s in expected.items():
            g = got[day]
            assert (g.headlines, g.scored, g.positive, g.negative, g.neutral) == (
                s.headlines,
                s.scored,
                s.positive,
                s.negative,
                s.neutral,
            )
            assert abs(g.sum_compound - s.sum_compound) < 1e-9

    compare()
    with engine.begin() as conn:
        rebuild_rollups(conn, since=NOW - timedelta(days=3, hours=5))  # mid-day: that whole day is rebuilt
    compare()


def test_after_two_days_asleep_each_source_is_fetched_once_not_once_per_missed_interval(engine):
    # A laptop closed for two days: every source is overdue by ~96 intervals of 30 min; it is due once.
    first = claims(engine, force=False)
    with engine.begin() as conn:
        for c in first.values():
            record_success(conn, c, now=NOW, status=200, etag=None, last_modified=None, not_modified=False, new=0)
    later = NOW + timedelta(days=2)
    woke = claims(engine, now=later, holder="h:2", force=False)
    assert set(woke) == set(first)
    with engine.begin() as conn:
        for c in woke.values():
            record_success(conn, c, now=later, status=200, etag=None, last_modified=None, not_modified=False, new=0)
    assert claims(engine, now=later + timedelta(minutes=1), holder="h:3", force=False) == {}
    with engine.connect() as conn:
        due = conn.execute(select(Source.next_fetch_at)).scalars().all()
    assert all(d >= later + timedelta(minutes=29) for d in due)  # the next one is an interval ahead of waking
