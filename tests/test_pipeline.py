"""End to end: a real local HTTP server, the real fetcher, parsers, cleaning, tagging, scoring and the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import make_config, rss
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from tracker.models import HeadlineRow, Sighting, Source
from tracker.pipeline import run_once
from tracker.store.engine import open_engine

KIND_OF = {".xml": "rss", ".rss": "rss", ".json": "hn_algolia", ".txt": "rss"}

# What must come out of each real-world file (../shared/fixtures/feeds/README.md says what each exercises).
EXPECT = {
    "feed-rs__feed-rs__feed-rs_fixture_rss2_rss_2.0_invalid_1.xml": "error",
    "feed-rs__feed-rs__feed-rs_fixture_rss1_rss_1.0_iso8859.xml": "items",
    "feed-rs__feed-rs__feed-rs_fixture_rss2_rss_2.0_ilgiornale.xml": "items",
    "Ranchero-Software__RSParser__Tests_RSParserTests_Resources_livemint.xml": "items",
    "Ranchero-Software__RSParser__Tests_RSParserTests_Resources_macworld.rss": "items",
    "kurtmckee__feedparser__tests_encoding_bozo_double-encoded-html.xml": "either",
    "kurtmckee__feedparser__tests_illformed_http_high_bit_date.xml": "either",
    "kurtmckee__feedparser__tests_illformed_rss_incomplete_cdata.xml": "either",
    "krugis__newsfeedagents__tests_fixtures_hn_search_by_date.json": "items",
    "marcogarciagz__databricks-stock-pipeline__data_nvda.us.txt__TRIMMED_last250.txt": "error",
}


def _rows(engine, model, *where):
    with engine.connect() as conn:
        return conn.execute(select(model).where(*where)).all()


def test_every_shared_feed_ingests_or_records_an_error(feeds_dir: Path, httpserver: HTTPServer, db_url: str):
    files = sorted(p for p in feeds_dir.iterdir() if p.suffix in KIND_OF)
    assert {p.name for p in files} == set(EXPECT), "a fixture file without an expectation"
    sources = []
    for i, path in enumerate(files):
        httpserver.expect_request(f"/f{i}").respond_with_data(
            path.read_bytes(), content_type="application/octet-stream"
        )
        sources.append((f"s{i}", KIND_OF[path.suffix], httpserver.url_for(f"/f{i}")))
    config = make_config(db_url, sources)
    engine = open_engine(db_url)
    report = run_once(engine, config, force=True, alerts=False)
    by_name = {r.name: r for r in report.sources}
    assert len(by_name) == len(files)
    for i, path in enumerate(files):
        r = by_name[f"s{i}"]
        outcome = EXPECT[path.name]
        if outcome == "error":
            assert r.error and r.new == 0, (path.name, r)
        elif outcome == "items":
            assert r.error is None and r.new > 0, (path.name, r)
        else:
            assert r.error or r.new >= 0
        src = _rows(engine, Source, Source.name == f"s{i}")[0]
        assert (src.last_error is not None) == bool(r.error)
        assert src.consecutive_errors == (1 if r.error else 0)
    # Text is stored as valid UTF-8 with no NUL; every key is set.
    for row in _rows(engine, HeadlineRow):
        assert "\x00" not in row.title and row.dedupe_key
        row.title.encode("utf-8")
    golem = [
        h
        for h in _rows(engine, HeadlineRow)
        if h.source_id
        == _rows(
            engine,
            Source,
            Source.name == f"s{files.index(feeds_dir / 'feed-rs__feed-rs__feed-rs_fixture_rss1_rss_1.0_iso8859.xml')}",
        )[0].id
    ]
    assert golem and all(h.language == "de" and h.date_flag == "ok" for h in golem)
    assert not any("cpx.golem.de" in h.summary for h in golem), "tracking pixel kept"
    hn = [h for h in _rows(engine, HeadlineRow) if h.publisher and "Airlines" in h.title]
    assert all("ai_models" not in h.topics.split() for h in hn)
    # The same collection again adds nothing.
    again = run_once(engine, config, force=True, alerts=False)
    assert sum(r.new for r in again.sources) == 0
    assert len(_rows(engine, HeadlineRow)) == sum(r.new for r in report.sources)


SEED = [
    {
        "title": "Anthropic To Spend $50 Billion On US AI Infrastructure",
        "link": "https://slashdot.org/story/1?utm_source=rss1.0mainlinkanon&utm_medium=feed",
        "summary": "&lt;p&gt;Anthropic plans data centers.&lt;/p&gt;&lt;a href=&quot;https://slashdot.org/story/1&quot;&gt;Read more of this story&lt;/a&gt; at Slashdot.",
        "date": "Mon, 30 Nov 2026 09:00:00 GMT",
    },
    {
        "title": "Michael Burry parie contre Nvidia et Palantir et dénonce la bulle de l'IA",
        "link": "https://www.example.fr/burry-nvidia-palantir",
        "summary": "Le gestionnaire accuse les géants de l'IA de sous-estimer l'amortissement de leurs puces.",
        "date": "Tue, 11 Nov 2026 08:00:00 GMT",
    },
]


def test_seed_material_slashdot_and_a_french_article_arriving_twice(httpserver: HTTPServer, db_url: str):
    httpserver.expect_request("/slashdot").respond_with_data(rss(SEED[:1]), content_type="application/rss+xml")
    # The French article arrives twice: once here, once in another feed under a tracking-laden URL.
    twice = [SEED[1], {**SEED[1], "link": SEED[1]["link"] + "?utm_source=twitter&utm_medium=social"}]
    httpserver.expect_request("/fr").respond_with_data(rss(twice, language="fr"), content_type="application/rss+xml")
    httpserver.expect_request("/fr2").respond_with_data(
        rss(SEED[1:], language="fr"), content_type="application/rss+xml"
    )
    config = make_config(
        db_url,
        [
            ("slashdot", "rss", httpserver.url_for("/slashdot")),
            ("fr", "rss", httpserver.url_for("/fr")),
            ("fr2", "rss", httpserver.url_for("/fr2")),
        ],
    )
    engine = open_engine(db_url)
    report = run_once(engine, config, force=True, alerts=False)
    assert sum(r.new for r in report.sources) == 2
    rows = {r.language: r for r in _rows(engine, HeadlineRow)}
    assert set(rows) == {"en", "fr"}
    en, fr = rows["en"], rows["fr"]
    assert "Read more" not in en.summary and "Slashdot" not in en.summary and "<p>" not in en.summary
    assert "utm_" not in (en.url or "")
    assert en.compound is not None and en.scorer
    assert {"ai_bubble", "nvda", "pltr", "depreciation"} <= set(fr.topics.split())
    assert fr.sightings == 2
    assert len(_rows(engine, Sighting, Sighting.headline_id == fr.id)) == 2


def test_a_broken_source_records_its_error_and_the_others_go_on(httpserver: HTTPServer, db_url: str):
    httpserver.expect_request("/ok").respond_with_data(
        rss([{"title": "Nvidia stock soars on record AI demand", "link": "https://n.example/1"}]),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/500").respond_with_data("boom", status=500)
    httpserver.expect_request("/html").respond_with_data(
        "<!DOCTYPE html><html><body>Please log in</body></html>", content_type="text/html"
    )
    config = make_config(
        db_url,
        [
            ("ok", "rss", httpserver.url_for("/ok")),
            ("err", "rss", httpserver.url_for("/500")),
            ("html", "rss", httpserver.url_for("/html")),
            ("down", "rss", "http://127.0.0.1:9/feed"),
        ],
        connect_timeout=1.0,
    )
    engine = open_engine(db_url)
    report = {r.name: r for r in run_once(engine, config, force=True, alerts=False).sources}
    assert report["ok"].new == 1 and report["ok"].error is None
    assert "500" in (report["err"].error or "")
    assert "not a feed" in (report["html"].error or "").lower() or "html" in (report["html"].error or "").lower()
    assert report["down"].error
    states = {s.name: s for s in _rows(engine, Source)}
    assert states["err"].consecutive_errors == 1 and states["ok"].consecutive_errors == 0


def test_conditional_get_sends_validators_back_and_a_304_writes_nothing(httpserver: HTTPServer, db_url: str):
    body = rss([{"title": "Broadcom beats estimates on AI chip demand", "link": "https://n.example/avgo"}])
    seen_headers: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen_headers.append(dict(request.headers))
        if request.headers.get("If-None-Match") == 'W/"v1"':
            return Response(status=304, headers={"ETag": 'W/"v1"'})
        return Response(body, headers={"ETag": 'W/"v1"', "Content-Type": "application/rss+xml"})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    config = make_config(db_url, [("avgo", "rss", httpserver.url_for("/feed"))])
    engine = open_engine(db_url)
    first = run_once(engine, config, force=True, alerts=False).sources[0]
    second = run_once(engine, config, force=True, alerts=False).sources[0]
    assert first.new == 1 and second.not_modified and second.new == 0 and second.error is None
    assert seen_headers[1].get("If-None-Match") == 'W/"v1"'
    assert "ai-bubble-tracker" in seen_headers[0].get("User-Agent", "")


def test_non_public_sources_are_refused_by_default(httpserver: HTTPServer, db_url: str):
    httpserver.expect_request("/feed").respond_with_data(rss([{"title": "x", "link": "https://n.example/x"}]))
    config = make_config(db_url, [("local", "rss", httpserver.url_for("/feed"))], allow_private_networks=False)
    report = run_once(open_engine(db_url), config, force=True, alerts=False).sources[0]
    assert report.error and "non-public" in report.error
    assert len(httpserver.log) == 0


@pytest.mark.parametrize("n", [3])
def test_due_sources_only(httpserver: HTTPServer, sqlite_url: str, n: int):
    for i in range(n):
        httpserver.expect_request(f"/f{i}").respond_with_data(
            rss([{"title": f"AMD item {i}", "link": f"https://n.example/{i}"}])
        )
    config = make_config(sqlite_url, [(f"s{i}", "rss", httpserver.url_for(f"/f{i}")) for i in range(n)])
    engine = open_engine(sqlite_url)
    assert len(run_once(engine, config, alerts=False).sources) == n
    assert run_once(engine, config, alerts=False).sources == []  # nothing is due half an hour early
    assert len(httpserver.log) == n


def test_a_feed_that_repeats_one_guid_or_one_link_keeps_every_story(httpserver: HTTPServer, db_url: str):
    def feed(items: str) -> bytes:
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()

    titles = ("Nvidia beats estimates", "AMD slumps on weak guidance", "TSMC raises capex")
    same_guid = "".join(f'<item><title>{t}</title><guid isPermaLink="false">item</guid></item>' for t in titles)
    # Every item linked to the home page, and the last story repeated word for word.
    homepage = "".join(f"<item><title>{t} again</title><link>https://example.com/</link></item>" for t in titles)
    homepage += "<item><title>TSMC raises capex again</title><link>https://example.com/</link></item>"
    httpserver.expect_request("/guid").respond_with_data(feed(same_guid), content_type="application/rss+xml")
    httpserver.expect_request("/home").respond_with_data(feed(homepage), content_type="application/rss+xml")
    config = make_config(
        db_url, [("guid", "rss", httpserver.url_for("/guid")), ("home", "rss", httpserver.url_for("/home"))]
    )
    engine = open_engine(db_url)
    first = run_once(engine, config, force=True, alerts=False)
    assert {r.name: r.new for r in first.sources} == {"guid": 3, "home": 3}
    again = run_once(engine, config, force=True, alerts=False)  # keys are stable from one fetch to the next
    assert sum(r.new for r in again.sources) == 0
    stored = sorted(r.title for r in _rows(engine, HeadlineRow))
    assert stored == sorted([*titles, *(f"{t} again" for t in titles)])
    # Later the home-page feed carries one new story alone: a home page is no key, so it is not taken for
    # the first story that had that link.
    alone = "<item><title>Broadcom wins a hyperscaler deal</title><link>https://example.com/</link></item>"
    # And the one-guid feed sends a single new story under its guid: the source is known to repeat keys.
    lone_guid = '<item><title>Intel cuts its dividend</title><guid isPermaLink="false">item</guid></item>'
    httpserver.clear()
    httpserver.expect_request("/home").respond_with_data(feed(alone), content_type="application/rss+xml")
    httpserver.expect_request("/guid").respond_with_data(feed(lone_guid), content_type="application/rss+xml")
    third = run_once(engine, config, force=True, alerts=False)
    assert {r.name: r.new for r in third.sources} == {"guid": 1, "home": 1}
    flags = {s.name: s.repeats_keys for s in _rows(engine, Source)}
    assert flags["guid"] is True and not flags["home"]  # a home-page link is no key at all, nothing to repeat
    fourth = run_once(engine, config, force=True, alerts=False)  # and the lone story's key is stable
    assert sum(r.new for r in fourth.sources) == 0


class Raw304(Response):
    """Werkzeug drops Last-Modified from a 304 (an "entity header" in RFC 2616); real servers send it."""

    def get_wsgi_headers(self, environ):  # type: ignore[no-untyped-def]
        return self.headers


def test_errors_then_a_304_clear_the_error_count_and_keep_the_new_last_modified(httpserver: HTTPServer, db_url: str):
    body = rss([{"title": "Micron jumps on memory demand", "link": "https://n.example/mu"}])
    script = iter(["ok", "500", "500", "304"])

    def handler(request: Request) -> Response:
        step = next(script)
        if step == "ok":
            return Response(body, headers={"Last-Modified": "Mon, 30 Nov 2026 10:00:00 GMT",
                                           "Content-Type": "application/rss+xml"})  # fmt: skip
        if step == "500":
            return Response("boom", status=500)
        assert request.headers.get("If-Modified-Since") == "Mon, 30 Nov 2026 10:00:00 GMT"
        return Raw304(status=304, headers={"Last-Modified": "Tue, 01 Dec 2026 08:00:00 GMT"})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    config = make_config(db_url, [("mu", "rss", httpserver.url_for("/feed"))])
    engine = open_engine(db_url)
    for _ in range(3):
        run_once(engine, config, force=True, alerts=False)
    (state,) = _rows(engine, Source)
    assert state.consecutive_errors == 2 and state.last_modified == "Mon, 30 Nov 2026 10:00:00 GMT"
    report = run_once(engine, config, force=True, alerts=False).sources[0]
    assert report.not_modified and report.error is None
    (state,) = _rows(engine, Source)
    assert state.consecutive_errors == 0 and state.last_error is None
    assert state.last_modified == "Tue, 01 Dec 2026 08:00:00 GMT"
    assert len(_rows(engine, HeadlineRow)) == 1


@pytest.mark.parametrize(("retry_after", "at_least"), [("7200", 7200), ("garbage", 0)])
def test_a_429_retry_after_sets_the_next_fetch(httpserver: HTTPServer, db_url: str, retry_after: str, at_least: int):
    from datetime import UTC, datetime, timedelta

    httpserver.expect_request("/feed").respond_with_data("slow down", status=429, headers={"Retry-After": retry_after})
    config = make_config(db_url, [("busy", "rss", httpserver.url_for("/feed"))])
    engine = open_engine(db_url)
    before = datetime.now(UTC)
    report = run_once(engine, config, force=True, alerts=False).sources[0]
    assert "429" in (report.error or "")
    (state,) = _rows(engine, Source)
    wait = state.next_fetch_at - before
    assert state.consecutive_errors == 1
    assert wait >= timedelta(seconds=at_least)
    assert wait <= timedelta(hours=24, minutes=1)  # never parked beyond the cap


def test_an_undated_item_keeps_its_first_seen_time_when_fetched_again_later(httpserver: HTTPServer, db_url: str):
    from datetime import UTC, datetime, timedelta

    from tracker.store import queries

    httpserver.expect_request("/feed").respond_with_data(
        rss([{"title": "Palantir wins an AI contract", "link": "https://n.example/pltr"}]),
        content_type="application/rss+xml",
    )
    config = make_config(db_url, [("nodate", "rss", httpserver.url_for("/feed"))])
    engine = open_engine(db_url)
    t1 = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert run_once(engine, config, now=t1, force=True, alerts=False).sources[0].new == 1
    assert run_once(engine, config, now=t1 + timedelta(hours=6), force=True, alerts=False).sources[0].new == 0
    (row,) = _rows(engine, HeadlineRow)
    assert row.published_at == t1 and row.first_seen_at == t1 and row.date_flag == "inferred"
    (shown,) = queries.headlines(engine, start=t1 - timedelta(days=1), end=t1 + timedelta(days=1))
    assert shown["date_inferred"] is True and shown["published_at"] == t1
