"""The source parsers against the real-world samples in ../shared/fixtures/feeds.

Each file has an explicit expectation below, taken from that folder's README; a file that appears without
one fails the run, so nobody adds a sample and forgets to say what it should do. The folder is absent in
a fresh clone: the ``feeds_dir`` fixture then skips these tests.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker import sources
from tracker.models import ParseResult
from tracker.sources.rss import parse_date

SHARED_FEEDS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "feeds"
NOT_SAMPLES = {"README.md", "PROVENANCE.tsv"}
FAST = 2.0


def check_invalid_1(result: ParseResult, body: bytes) -> None:
    # A Reuters feed cut off by a server exception: an error for the source, nothing stored.
    assert result.error is not None
    assert result.items == []


def check_golem_rss1(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    assert len(result.items) == body.count(b"<item ") == 1
    (only,) = result.items
    assert only.title == "Digitalministerium: Neue Glasfaserförderung mit Schnellkasse"  # umlaut intact
    assert "Förderung für den Ausbau" in only.summary
    assert only.published_raw == "2023-01-25T19:03:02+01:00"  # RSS 1.0: dc:date, no pubDate
    assert only.published == datetime(2023, 1, 25, 18, 3, 2, tzinfo=UTC)
    assert only.author == "Achim Sawall"
    # The README's "language de" is reached by detection (tracker.language): the feed declares no
    # language, and the parser only passes on what a feed declares.
    assert only.language is None and result.feed_language is None


def check_ilgiornale(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    (only,) = result.items
    assert only.published_raw == "Tue, 15 Nov 2022 20:15:04 Z"
    assert only.published == datetime(2022, 11, 15, 20, 15, 4, tzinfo=UTC)
    assert only.published is not None and only.published.tzinfo is UTC
    assert only.language == "it" and result.feed_language == "it"
    assert only.title.startswith("Arrestato in Pakistan Shabbar Abbas. In Italia è accusato")
    assert only.author == "Angela Leucci"  # RSS 2.0 "email (Name)"


def check_livemint(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    assert len(result.items) == body.count(b"<item>") == 25
    for item in result.items:
        assert item.link is not None and item.link == item.link.strip()
        assert item.link.startswith("https://www.livemint.com/")
        assert item.guid is not None and item.guid.isdigit()  # numeric, not a permalink
        assert item.published is not None  # "<![CDATA[...]]> </pubDate>": padded, still read
    assert result.items[0].title == "PM Modi-Xi Jinping informal summit in Varanasi this October: Report"


def check_macworld(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    assert len(result.items) == body.count(b"<item>") == 30
    for item in result.items:
        assert item.link or item.title
        assert item.guid is None  # the feed has none: the dedupe key comes from the link (tracker.clean)
    assert result.items[0].title == "Best smart lock"
    assert result.feed_language == "en"


def check_double_encoded(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    assert len(result.items) == 1
    text = result.items[0].summary
    assert text
    text.encode("utf-8")  # valid text, whatever the mojibake became


def check_high_bit_date(result: ParseResult, body: bytes) -> None:
    # The Greek date sits on the channel: the feed is valid and has no items; the date itself reads as None.
    assert result.error is None
    assert all(item.published is None for item in result.items)
    raw = re.search(rb"<pubDate>(.*?)</pubDate>", body)
    assert raw is not None
    assert parse_date(raw.group(1).decode("iso-8859-7")) is None


def check_incomplete_cdata(result: ParseResult, body: bytes) -> None:
    assert result.error is not None or result.items  # error or partial; the time limit is checked for all


def check_hn(result: ParseResult, body: bytes) -> None:
    assert result.error is None
    hits = json.loads(body)["hits"]
    assert len(result.items) == len(hits) == 5
    assert [item.guid for item in result.items] == [hit["objectID"] for hit in hits]
    ask = next(item for item in result.items if item.title.startswith("Ask HN"))
    assert ask.link == f"https://news.ycombinator.com/item?id={ask.guid}"
    assert ask.publisher == "Hacker News"
    assert "&#x27;" in ask.summary  # entities are left for cleaning
    porter = result.items[0]
    assert porter.publisher == "cbc.ca"
    assert porter.published == datetime(2026, 8, 9, 16, 33, 20, tzinfo=UTC)


def check_stooq(result: ParseResult, body: bytes) -> None:
    assert result.error is not None and result.error.startswith("not a feed")
    assert result.items == []


EXPECTATIONS: dict[str, tuple[str, Callable[[ParseResult, bytes], None]]] = {
    "feed-rs__feed-rs__feed-rs_fixture_rss2_rss_2.0_invalid_1.xml": ("rss", check_invalid_1),
    "feed-rs__feed-rs__feed-rs_fixture_rss1_rss_1.0_iso8859.xml": ("rss", check_golem_rss1),
    "feed-rs__feed-rs__feed-rs_fixture_rss2_rss_2.0_ilgiornale.xml": ("rss", check_ilgiornale),
    "Ranchero-Software__RSParser__Tests_RSParserTests_Resources_livemint.xml": ("rss", check_livemint),
    "Ranchero-Software__RSParser__Tests_RSParserTests_Resources_macworld.rss": ("rss", check_macworld),
    "kurtmckee__feedparser__tests_encoding_bozo_double-encoded-html.xml": ("rss", check_double_encoded),
    "kurtmckee__feedparser__tests_illformed_http_high_bit_date.xml": ("rss", check_high_bit_date),
    "kurtmckee__feedparser__tests_illformed_rss_incomplete_cdata.xml": ("rss", check_incomplete_cdata),
    "krugis__newsfeedagents__tests_fixtures_hn_search_by_date.json": ("hn_algolia", check_hn),
    "marcogarciagz__databricks-stock-pipeline__data_nvda.us.txt__TRIMMED_last250.txt": ("rss", check_stooq),
}


def _names() -> list[str]:
    on_disk = {p.name for p in SHARED_FEEDS.iterdir() if p.is_file()} if SHARED_FEEDS.is_dir() else set()
    return sorted((on_disk - NOT_SAMPLES) | set(EXPECTATIONS))


@pytest.mark.parametrize("name", _names())
def test_shared_feed(feeds_dir: Path, name: str) -> None:
    if name not in EXPECTATIONS:
        pytest.fail(f"{name} is new in {feeds_dir}: add its expectation to EXPECTATIONS")
    path = feeds_dir / name
    assert path.is_file(), f"{name} has an expectation but is gone from {feeds_dir}"
    body = path.read_bytes()
    kind, check = EXPECTATIONS[name]
    began = time.perf_counter()
    result = sources.parse(kind, body, "")
    assert time.perf_counter() - began < FAST
    check(result, body)
    for item in result.items:
        (item.title + item.summary).encode("utf-8")
        assert "\x00" not in item.title + item.summary
        assert item.published is None or item.published.tzinfo is UTC
    # No kind may raise or hang on any sample, whatever it is.
    for other in sources.KINDS:
        assert isinstance(sources.parse(other, body, "text/html"), ParseResult)
