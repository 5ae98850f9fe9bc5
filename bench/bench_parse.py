"""Parse speed: ``tracker.sources.rss.parse`` beside ``feedparser.parse`` on the same in-memory RSS 2.0 document.

Run: ``.venv/bin/python bench/bench_parse.py [--items 1000] [--runs 5]``. Prints items/s, median of the runs.
The document is generated (Google-News-like items with CDATA, entities and RFC 822 dates), never fetched.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser

from tracker.sources import rss


def make_feed(items: int) -> bytes:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<channel><title>Benchmark feed</title><link>https://example.com/</link><language>en-us</language>"
    ]
    for i in range(items):
        when = format_datetime(start + timedelta(minutes=7 * i), usegmt=True)
        parts.append(
            f"<item><title>Nvidia &amp; AMD shares move as AI capex story {i} unfolds - Example Wire</title>"
            f"<link>https://example.com/news/{i}?utm_source=rss</link>"
            f'<guid isPermaLink="false">tag:example.com,2026:{i}</guid>'
            f"<pubDate>{when}</pubDate><dc:creator>Reporter {i % 17}</dc:creator>"
            f"<description><![CDATA[<p>Story {i}: hyperscalers raise spending; analysts ask whether the "
            f"<b>AI bubble</b> is about to burst.</p>]]></description>"
            f'<source url="https://wire.example.com">Example Wire</source></item>'
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def items_per_second(fn: Callable[[bytes], int], body: bytes, runs: int) -> float:
    rates = []
    for _ in range(runs):
        began = time.perf_counter()
        count = fn(body)
        rates.append(count / (time.perf_counter() - began))
    return statistics.median(rates)


def with_tracker(body: bytes) -> int:
    result = rss.parse(body, "application/rss+xml", max_items=10**6)
    assert result.error is None
    return len(result.items)


def with_feedparser(body: bytes) -> int:
    return len(feedparser.parse(io.BytesIO(body), response_headers={"content-type": "application/rss+xml"}).entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    body = make_feed(args.items)
    ours = items_per_second(with_tracker, body, args.runs)
    theirs = items_per_second(with_feedparser, body, args.runs)
    print(f"{args.items}-item RSS 2.0 document, {len(body):,} bytes, median of {args.runs} runs")
    print(f"{'parser':<28}{'items/s':>12}")
    print(f"{'tracker.sources.rss.parse':<28}{ours:>12,.0f}")
    print(f"{'feedparser.parse(BytesIO)':<28}{theirs:>12,.0f}")
    print(f"{'ratio':<28}{ours / theirs:>11.1f}x")


if __name__ == "__main__":
    main()
