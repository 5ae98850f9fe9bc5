"""Deterministic synthetic headlines about AI infrastructure, for the benchmarks (not tests)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

COMPANIES = [
    "Nvidia",
    "AMD",
    "TSMC",
    "Broadcom",
    "Palantir",
    "Oracle",
    "CoreWeave",
    "Microsoft",
    "Alphabet",
    "Meta",
    "Amazon",
    "Super Micro",
    "Micron",
    "ASML",
    "Intel",
    "Arm Holdings",
]
VERBS = [
    "shares plunge",
    "stock soars",
    "beats estimates",
    "misses forecasts",
    "rallies",
    "tumbles",
    "slumps",
    "surges",
    "cuts guidance",
    "raises outlook",
    "faces probe",
    "announces layoffs",
]
TAILS = [
    "as AI chip demand cools",
    "on record data center sales",
    "amid AI bubble fears",
    "after short seller report",
    "as hyperscaler capex climbs",
    "on export controls",
    "as investors question depreciation",
    "in circular financing deal",
    "",
    "",
]


def titles(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(COMPANIES)} {rng.choice(VERBS)} {rng.choice(TAILS)} #{i}".replace("  ", " ") for i in range(n)
    ]


def rss_document(items: list[str], *, start: datetime, seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    for i, title in enumerate(items):
        when = start - timedelta(minutes=rng.randrange(0, 60 * 24 * 7))
        parts.append(
            f"<item><title>{escape(title)}</title><link>https://news.example/{seed}/{i}?utm_source=rss</link>"
            f'<guid isPermaLink="false">{seed}-{i}</guid><pubDate>{format_datetime(when)}</pubDate>'
            f"<description>&lt;p&gt;{escape(title)}. Analysts weigh what it means for AI infrastructure spending.&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
        "<link>https://news.example/</link><description>bench</description><language>en</language>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
