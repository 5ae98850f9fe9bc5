"""A real browser on the dashboard: headless Chromium (Debian's) driven by Playwright, on loopback only.

Skips when /usr/bin/chromium is absent, unless TRACKER_REQUIRE_BROWSER=1 (then it fails).
Saves the overview's screenshot to artifacts/overview.png and docs/screenshot.png (the README's picture).
"""

from __future__ import annotations

import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from browser_helpers import launch, require_chromium
from factories import Item, add_items, add_source, at, live_server, sample_items

from dashboards.app import create_app
from tracker.config import load_config
from tracker.store.engine import open_engine

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def month_of_news() -> list[Item]:
    """Thirty days of deterministic headlines over a few topics, so the charts have something to draw."""
    rng = random.Random(7)
    topics = ["nvda", "amd", "tsm", "msft", "ai_bubble", "capex", "datacenter_power", "smci"]
    items = list(sample_items())
    start = at(4, 0) - timedelta(days=30)
    for i in range(600):
        when = start + timedelta(minutes=rng.randrange(30 * 24 * 60))
        tset = tuple(sorted(set(rng.sample(topics, rng.choice([1, 1, 2])))))
        drift = -0.3 * (when - start).days / 30  # souring over the month
        compound = None if rng.random() < 0.05 else max(-1.0, min(1.0, rng.gauss(drift, 0.4)))
        items.append(
            Item(
                f"Headline {i} about {' and '.join(tset)}",
                when,
                tset,
                compound,
                url=f"https://news.example.com/{i}",
                language="fr" if rng.random() < 0.1 else "en",
                source=rng.choice(["feed-a", "feed-b"]),
                publisher=rng.choice(["Example News", "Chip Daily", "Le Journal"]),
            )
        )
    items.append(Item("<script>alert(1)</script>", at(3, 20), ("nvda",), -0.7, url="javascript:alert(1)"))
    return items


@pytest.fixture
def served(sqlite_url):
    require_chromium()
    engine = open_engine(sqlite_url)
    add_items(engine, month_of_news())
    add_source(engine, "broken-feed", errors=4, last_error="HTTP 503 Service Unavailable")
    app = create_app(load_config(None), engine=engine, clock=lambda: at(4, 0))
    with live_server(app) as base:
        yield base


def test_overview_filters_drilldown_and_download(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            # Only loopback: any request elsewhere (a CDN) would be a failure of "works offline".
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(served) else None)

            page.goto(served + "/")
            page.wait_for_selector("#fig-index .main-svg", timeout=20_000)
            page.wait_for_selector("#fig-multiples .main-svg", timeout=20_000)
            assert page.locator(".main-svg").count() >= 3
            expect(page.locator("#failing-sources")).to_contain_text("HTTP 503")
            assert page.locator("text=<script>alert(1)</script>").count() <= 1  # shown as text at most
            assert page.evaluate("() => window.__xss === undefined")

            shots = [ROOT / "artifacts" / "overview.png", ROOT / "docs" / "screenshot.png"]
            shots[0].parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shots[0]), full_page=True)
            shutil.copyfile(shots[0], shots[1])
            assert shots[1].stat().st_size > 10_000

            # A filter lives in the URL, and the back button returns to the previous view.
            with page.expect_navigation():
                page.select_option("#f-range", "7d")
            assert "range=7d" in page.url
            page.wait_for_selector("#fig-index .main-svg")
            page.go_back()
            assert "range=7d" not in page.url

            # Drill down to one topic.
            with page.expect_navigation():
                page.click("a.topic-link[href^='/topics/nvda']")
            assert "/topics/nvda" in page.url
            page.wait_for_selector("#fig-tone .main-svg", timeout=20_000)
            expect(page.locator("#headlines-table tbody tr").first).to_be_visible()
            assert page.locator("#headlines-table a[href^='javascript']").count() == 0

            with page.expect_download() as info:
                page.click("#dl-headlines")
            download = info.value
            target = tmp_path / download.suggested_filename
            download.save_as(str(target))
            assert download.suggested_filename.startswith("headlines-nvda-")
            head = target.read_text(encoding="utf-8").splitlines()[0]
            assert head == "published_at,source,publisher,title,url,language,compound,topics"
        finally:
            browser.close()
    assert errors == []
    assert outside == []


def test_api_docs_render_offline_under_the_same_policy(served):
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(served) else None)
            page.goto(served + "/docs")
            expect(page.locator(".opblock-summary-path", has_text="/api/series")).to_be_visible(timeout=20_000)
            assert page.locator(".opblock").count() >= 8
        finally:
            browser.close()
    assert errors == []  # a CSP refusal would show here
    assert outside == []
