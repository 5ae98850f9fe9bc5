"""The web app: JSON API, CSV downloads read back with pandas, 4xx on bad parameters, escaping, headers."""

from __future__ import annotations

import io
import json
import math
import re
import warnings

import pandas as pd
import pytest
from factories import Item, add_items, add_source, at, live_server, sample_items
from sqlalchemy import create_engine

from dashboards.api import jsonable
from dashboards.app import create_app
from dashboards.pages import safe_href
from tracker.config import load_config
from tracker.export import HEADLINE_COLUMNS, SERIES_COLUMNS

# Starlette's TestClient warns, on import, that it would rather use httpx2: about the test tool, not the app.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

XSS_TITLE = "<script>alert(1)</script>"
POINT_KEYS = ["bucket_start", "headlines", "scored", "mean_sentiment", "ci_low", "ci_high", "positive_share",
              "negative_share", "bubble_share", "index", "index_low", "index_high"]  # fmt: skip
WINDOW = "start=2026-11-01T00:00:00Z&end=2026-11-04T00:00:00Z"


def hostile_items() -> list[Item]:
    return [
        Item(XSS_TITLE, at(3, 17), ("nvda",), -0.9, url="javascript:alert(1)", publisher="<b>Evil</b>"),
        Item('=HYPERLINK("http://evil","click")', at(3, 18), ("nvda",), 0.2, url="data:text/html,hi"),
    ]


@pytest.fixture
def app(engine):
    add_items(engine, sample_items() + hostile_items())
    add_source(engine, "broken-feed", errors=2, last_error="HTTP 503 <from upstream>")
    return create_app(load_config(None), engine=engine, clock=lambda: at(4, 0))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def test_series_json_has_every_bucket_and_says_how_many_were_unscored(client):
    r = client.get(f"/api/series?topic=nvda&bucket=day&{WINDOW}")
    assert r.status_code == 200
    body = r.json()
    assert (body["topic"], body["bucket"]) == ("nvda", "day")
    assert [list(p) for p in body["points"]] == [POINT_KEYS] * 3
    assert [p["bucket_start"] for p in body["points"]] == [
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        "2026-11-03T00:00:00Z",
    ]
    assert [p["headlines"] for p in body["points"]] == [0, 3, 3]
    assert body["points"][0]["mean_sentiment"] is None and body["points"][0]["index"] is None
    assert body["unscored"] == 1 and body["headlines"] == 6 and body["scored"] == 5


def test_series_csv_equals_the_json(client):
    api = client.get(f"/api/series?topic=nvda&bucket=hour&{WINDOW}").json()
    r = client.get(f"/export/series.csv?topic=nvda&bucket=hour&{WINDOW}")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.match(r'attachment; filename="series-nvda-hour-20261101-20261104\.csv"', r.headers["content-disposition"])
    df = pd.read_csv(io.StringIO(r.text))
    assert list(df.columns) == list(SERIES_COLUMNS)
    assert len(df) == len(api["points"]) == 72
    assert df["headlines"].dtype.kind == "i" and df["index"].dtype == float
    for row, point in zip(df.to_dict("records"), api["points"], strict=True):
        assert row["bucket_start"] == point["bucket_start"]
        assert row["topic"] == "nvda"
        for key in POINT_KEYS[1:]:
            value = row[key]
            expected = point[key]
            if expected is None:
                assert math.isnan(value), key
            else:
                assert value == pytest.approx(expected), key


def test_headlines_csv_equals_the_json_and_neutralises_formulas(client):
    api = client.get(f"/api/headlines?topic=all&{WINDOW}&limit=500").json()
    r = client.get(f"/export/headlines.csv?topic=all&{WINDOW}")
    df = pd.read_csv(io.StringIO(r.text), keep_default_na=False, na_values=[""])
    assert list(df.columns) == list(HEADLINE_COLUMNS)
    assert len(df) == len(api["items"]) == api["total"] == 8
    assert df["compound"].dtype == float
    for row, item in zip(df.to_dict("records"), api["items"], strict=True):
        assert row["published_at"] == item["published_at"]
        assert row["source"] == item["source"]
        assert row["topics"] == " ".join(item["topics"])
        if item["compound"] is None:
            assert math.isnan(row["compound"])
        else:
            assert row["compound"] == pytest.approx(item["compound"])
        title = item["title"]
        assert row["title"] == ("'" + title if title.startswith("=") else title)
    assert "'=HYPERLINK" in r.text


def test_pandas_reads_the_csv_straight_from_the_url(app):
    with live_server(app) as base:
        df = pd.read_csv(f"{base}/export/headlines.csv?topic=nvda&{WINDOW}")
        series = pd.read_csv(f"{base}/export/series.csv?topic=nvda&topic=all&bucket=day&{WINDOW}")
    assert df["compound"].dtype == float and len(df) == 6
    assert series["topic"].tolist() == ["nvda"] * 3 + ["all"] * 3
    assert series["headlines"].dtype.kind == "i"


def test_headlines_pagination(client):
    first = client.get(f"/api/headlines?topic=nvda&{WINDOW}&limit=4").json()
    second = client.get(f"/api/headlines?topic=nvda&{WINDOW}&limit=4&offset=4").json()
    assert first["total"] == 6 and first["next_offset"] == 4 and second["next_offset"] is None
    ids = [h["id"] for h in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 6
    neg = client.get(f"/api/headlines?topic=nvda&{WINDOW}&order=negative&limit=1").json()
    assert neg["items"][0]["title"] == XSS_TITLE  # the API returns JSON data, not HTML
    assert neg["items"][0]["date_inferred"] is False


@pytest.mark.parametrize(
    ("query", "status", "name"),
    [
        ("/api/series?bucket=minute", 400, "bucket"),
        ("/api/series?start=yesterday", 400, "start"),
        ("/api/series?end=2026-13-01", 400, "end"),
        ("/api/series?start=2026-11-03T00:00:00Z&end=2026-11-02T00:00:00Z", 400, "start"),
        ("/api/series?range=5y", 400, "range"),
        ("/api/series?bucket=hour&start=2000-01-01&end=2026-01-01", 400, "bucket"),
        ("/api/series?topic=nope", 404, "topic"),
        ("/api/series?source=nope", 404, "source"),
        ("/api/series?language=english!", 400, "language"),
        ("/api/headlines?limit=0", 400, "limit"),
        ("/api/headlines?limit=abc", 422, "limit"),
        ("/api/headlines?offset=-1", 400, "offset"),
        ("/api/headlines?order=random", 400, "order"),
        ("/export/series.csv?topic=nvda&topic=nope", 404, "topic"),
        ("/export/headlines.csv?start=x", 400, "start"),
        ("/topics/nope", 404, "topic"),
        ("/?bucket=year", 400, "bucket"),
    ],
)
def test_bad_parameters_get_a_4xx_naming_them(client, query, status, name):
    r = client.get(query)
    assert r.status_code == status
    text = r.json()["detail"] if r.headers["content-type"].startswith("application/json") else r.text
    assert name in text


def test_topics_and_sources(client):
    topics = client.get("/api/topics").json()["topics"]
    assert topics[0] == {"key": "all", "label": "All AI infrastructure", "kind": "all", "ticker": None,
                         "headlines_30d": 8}  # fmt: skip
    sources = {s["name"]: s for s in client.get("/api/sources").json()["sources"]}
    assert sources["broken-feed"]["consecutive_errors"] == 2


def test_healthz_ok_and_degraded(client):
    assert client.get("/healthz").json()["status"] == "ok"
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with TestClient(create_app(load_config(None), engine=dead)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
        page = c.get("/api/topics")
        assert page.status_code == 503 and "database" in page.json()["detail"]


def test_non_finite_numbers_become_null():
    assert jsonable({"a": math.nan, "b": [math.inf, 1.5]}) == {"a": None, "b": [None, 1.5]}


def test_pages_escape_feed_text_and_link_only_http(client):
    for url in ("/?range=7d", "/topics/nvda?range=7d"):
        r = client.get(url)
        assert r.status_code == 200
        page = r.text
        assert XSS_TITLE not in page and "<b>Evil</b>" not in page
        assert "javascript:" not in page and "data:text/html" not in page
        # Inside the figure JSON blocks nothing can close the script element.
        for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
            assert "<" not in block and ">" not in block
            json.loads(block)
    topic = client.get("/topics/nvda?range=7d").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in topic
    assert 'href="https://example.com/a"' in topic
    # In the figure, the hover text is HTML-escaped before plotly sees it.
    figs = [json.loads(b) for b in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', topic, re.S)]
    hover = [t for f in figs for trace in f["data"] for t in (trace.get("text") or [])]
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in t for t in hover)
    assert not any("<script>" in t for t in hover)


def test_failing_sources_strip_shows_the_escaped_error(client):
    page = client.get("/").text
    assert "broken-feed" in page and "HTTP 503 &lt;from upstream&gt;" in page


def test_security_headers_and_no_cdn(client):
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    srcs = re.findall(r'<script src="([^"]+)"', r.text)
    assert srcs == ["/assets/plotly.min.js", "/static/app.js"]
    assert re.search(r"<script>(?!</script>)", r.text) is None  # no inline script
    js = client.get("/assets/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-security-policy"] == csp  # one policy everywhere
    assert re.findall(r'<script src="([^"]+)"', docs.text) == ["/docs-assets/swagger-ui-bundle.js", "/static/docs.js"]
    assert re.search(r"<script>(?!</script>)", docs.text) is None and "http" not in docs.text.split("<body>")[0]
    bundle = client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert "/api/series" in client.get("/openapi.json").json()["paths"]


def test_download_buttons_export_exactly_the_window_shown(client):
    page = client.get("/?range=7d&bucket=day&language=en&topic=nvda").text
    link = re.search(r'id="dl-series" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "start=2026-10-28T00%3A00%3A00Z" in link and "end=2026-11-04T00%3A00%3A00Z" in link
    assert "language=en" in link and "topic=all" in link and "topic=nvda" in link
    df = pd.read_csv(io.StringIO(client.get(link).text))
    assert sorted(set(df["topic"])) == ["all", "nvda"]
    assert len(df) == 2 * 7


def test_topic_page_table_and_filters_in_the_url(client):
    r = client.get("/topics/nvda?range=7d&language=en")
    assert r.status_code == 200
    assert 'id="headlines-table"' in r.text
    assert '<option value="en" selected>' in r.text
    assert "unscored" in r.text  # "Nvidia unveils a new chip" has no score


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://example.com/a", True), ("http://x.y/z?q=1", True), ("javascript:alert(1)", False),
     ("JAVASCRIPT:alert(1)", False), ("data:text/html,x", False), ("//evil.com", False), ("https:///x", False),
     ("https://ex ample.com", False), (None, False)],
)  # fmt: skip
def test_safe_href(url, ok):
    assert safe_href(url) == (url if ok else None)


def test_topic_page_explains_scores_when_the_scorer_can(client):
    sentiment = pytest.importorskip("tracker.sentiment")
    try:
        sentiment.get_router()
    except Exception as exc:  # the scorer package is someone else's work in progress
        pytest.skip(f"sentiment router unavailable: {exc}")
    page = client.get("/topics/nvda?range=7d").text
    assert page.count('<details class="explain">') == 5  # every scored headline; the unscored one has none
    assert "<code>soars</code>" in page


def test_read_ahead_passes_chunks_in_order_and_stops_its_thread_when_the_client_leaves():
    import threading

    import anyio

    from dashboards.api import _read_ahead

    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield f"chunk {n}\n".encode()
        finally:
            closed.set()  # what closes the database cursor in the real iterators

    async def take(k: int) -> list[bytes]:
        out = []
        agen = _read_ahead(endless())
        async for chunk in agen:
            out.append(chunk)
            if len(out) == k:
                break
        await agen.aclose()  # the client hung up
        return out

    assert anyio.run(take, 5) == [f"chunk {n}\n".encode() for n in range(1, 6)]
    assert closed.wait(5)
    for t in threading.enumerate():
        if t.name == "csv-read-ahead":
            t.join(5)
            assert not t.is_alive()


def test_read_ahead_raises_what_the_iterator_raised():
    import anyio

    from dashboards.api import _read_ahead

    def broken():
        yield b"header\n"
        raise RuntimeError("database went away")

    async def drain() -> list[bytes]:
        return [chunk async for chunk in _read_ahead(broken())]

    with pytest.raises(RuntimeError, match="database went away"):
        anyio.run(drain)
