"""The alerts page in headless Chromium: a field error shown next to its field, a preview, a saved rule's state.

Skips when /usr/bin/chromium is absent, unless TRACKER_REQUIRE_BROWSER=1 (then it fails). Loopback only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from browser_helpers import launch, require_chromium
from factories import Item, add_items, live_server

from tracker.alerts.evaluate import evaluate_all
from tracker.config import load_config
from tracker.settings import Settings
from tracker.store.engine import open_engine

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def sour_spells() -> list[Item]:
    """Three sour afternoons in the last 90 days (one of them now), calm headlines in between."""
    items = []
    for day in (0, 20, 45):
        for h in range(3):
            when = NOW - timedelta(days=day, hours=h, minutes=5)
            items += [Item(f"Nvidia slump {day}-{h}-{k} <b>x</b>", when, ("nvda",), -0.7) for k in range(3)]
    for day in (10, 30, 60):
        items.append(Item(f"Nvidia fine {day}", NOW - timedelta(days=day), ("nvda",), 0.5))
    return items


@pytest.fixture
def served(sqlite_url):
    require_chromium()
    from dashboards.app import create_app

    engine = open_engine(sqlite_url)
    add_items(engine, sour_spells())
    app = create_app(load_config(None), engine=engine, clock=lambda: NOW)
    with live_server(app) as base:
        yield base, engine


def test_create_rule_through_the_form_preview_and_state(served):
    from playwright.sync_api import expect, sync_playwright

    base, engine = served
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            page.goto(base + "/alerts")
            expect(page.locator("#no-rules")).to_be_visible()

            page.fill("#f-name", "Nvidia souring")
            page.select_option("#f-topic", "nvda")
            page.select_option("#f-metric", "mean_sentiment")
            page.fill("#f-window", "3h")
            page.select_option("#f-op", "<")
            page.fill("#f-threshold", "sour")
            page.click("#save-button")
            expect(page.locator('.field-error[data-error-for="threshold"]')).to_contain_text("number")

            page.fill("#f-threshold", "-0.3")
            page.fill("#f-window", "90m")
            page.click("#preview-button")
            expect(page.locator('.field-error[data-error-for="window"]')).to_contain_text("whole hours")

            page.fill("#f-window", "3h")
            page.click("#preview-button")
            expect(page.locator("#preview-summary")).to_contain_text("Would have fired 3 times", timeout=20_000)
            assert page.locator("#preview-spark polyline").count() >= 1

            with page.expect_navigation():
                page.click("#save-button")
            row = page.locator("tr.rule-row")
            expect(row).to_have_count(1)
            expect(row.locator(".rule-name")).to_have_text("Nvidia souring")
            expect(row.locator(".state")).to_have_text("ok")

            report = evaluate_all(engine, Settings(database_url="sqlite://"), now=NOW)
            assert report.states == {"firing": 1}
            page.reload()
            expect(page.locator("tr.rule-row .state")).to_have_text("firing")
            expect(page.locator("#events")).to_contain_text("ok → firing")
            assert page.locator("tr.rule-row svg.sparkline polyline").count() >= 1

            with page.expect_navigation():
                page.click("tr.rule-row .silence-rule")
            expect(page.locator("tr.rule-row .silenced")).to_contain_text("silenced until")
            with page.expect_navigation():
                page.click("tr.rule-row .unsilence-rule")
            expect(page.locator("tr.rule-row .silence-rule")).to_be_visible()
        finally:
            browser.close()
    assert errors == []
    assert outside == []
