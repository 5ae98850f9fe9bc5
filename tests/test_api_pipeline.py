"""The API and the CSV downloads on a database filled by the real pipeline from feeds served locally."""

from __future__ import annotations

import io
import math
import warnings
from datetime import UTC, datetime

import pandas as pd
import pytest
from pipeline_helpers import make_config, rss
from pytest_httpserver import HTTPServer

from dashboards.app import create_app
from tracker.pipeline import run_once
from tracker.store.engine import open_engine

# Starlette's TestClient warns, on import, that it would rather use httpx2: about the test tool, not the app.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
EN = [
    ("Nvidia shares plunge 10% as AI bubble fears grow", "Mon, 30 Nov 2026 09:00:00 GMT"),
    ("Nvidia beats estimates as AI chip demand soars", "Mon, 30 Nov 2026 10:30:00 GMT"),
    ('=HYPERLINK("http://evil.example") Nvidia short seller report', "Sun, 29 Nov 2026 08:00:00 GMT"),
    ("Oracle stock tumbles on data center capex worries", "Sun, 29 Nov 2026 12:00:00 GMT"),
    ("Broadcom rallies on record AI revenue", "Sat, 28 Nov 2026 15:00:00 GMT"),
]
FR = [
    ("Nvidia : la bulle de l'IA inquiète les investisseurs", "Mon, 30 Nov 2026 07:00:00 GMT"),
    ("Michael Burry parie contre Nvidia et Palantir", "Sun, 29 Nov 2026 07:00:00 GMT"),
]
WINDOW = "start=2026-11-28T00:00:00Z&end=2026-12-01T00:00:00Z"


@pytest.fixture
def client(httpserver: HTTPServer, db_url: str):
    def feed(items, language, prefix):
        return rss(
            [{"title": t, "link": f"https://{prefix}.example/{i}", "date": d} for i, (t, d) in enumerate(items)],
            language=language,
        )

    httpserver.expect_request("/en").respond_with_data(feed(EN, "en", "en"), content_type="application/rss+xml")
    httpserver.expect_request("/fr").respond_with_data(feed(FR, "fr", "fr"), content_type="application/rss+xml")
    config = make_config(
        db_url, [("english", "rss", httpserver.url_for("/en")), ("french", "rss", httpserver.url_for("/fr"))]
    )
    engine = open_engine(db_url)
    report = run_once(engine, config, now=NOW, force=True, alerts=False)
    assert sum(r.new for r in report.sources) == len(EN) + len(FR)
    with TestClient(create_app(config, engine=engine, clock=lambda: NOW)) as c:
        yield c


def test_series_from_the_pipeline_matches_its_csv(client):
    api = client.get(f"/api/series?topic=nvda&bucket=day&{WINDOW}").json()
    assert [p["headlines"] for p in api["points"]] == [0, 2, 3]
    assert api["points"][2]["mean_sentiment"] is not None and api["points"][2]["bubble_share"] > 0
    df = pd.read_csv(io.StringIO(client.get(f"/export/series.csv?topic=nvda&bucket=day&{WINDOW}").text))
    assert df["headlines"].tolist() == [0, 2, 3]
    for row, point in zip(df.to_dict("records"), api["points"], strict=True):
        for key in ("mean_sentiment", "index", "index_low", "index_high", "bubble_share"):
            if point[key] is None:
                assert math.isnan(row[key])
            else:
                assert row[key] == pytest.approx(point[key])


def test_headlines_from_the_pipeline_match_their_csv_and_explain_their_scores(client):
    api = client.get(f"/api/headlines?topic=all&{WINDOW}&limit=100").json()
    csv_text = client.get(f"/export/headlines.csv?topic=all&{WINDOW}").text
    df = pd.read_csv(io.StringIO(csv_text), keep_default_na=False, na_values=[""])
    assert len(df) == len(api["items"]) == len(EN) + len(FR)
    assert df["compound"].dtype == float
    assert set(df["language"]) == {"en", "fr"}
    assert [r["title"].lstrip("'") for r in df.to_dict("records")] == [i["title"] for i in api["items"]]
    assert "'=HYPERLINK" in csv_text
    plunge = next(i for i in api["items"] if i["title"].startswith("Nvidia shares plunge"))
    one = client.get(f"/api/headlines/{plunge['id']}").json()
    assert one["compound"] < 0 and one["scorer"] and one["scorer_version"]
    tokens = {c["token"] for c in one["explanation"]}
    assert "plunge" in tokens
    bulle = next(i for i in api["items"] if "bulle" in i["title"])
    assert client.get(f"/api/headlines/{bulle['id']}").json()["compound"] < 0
    assert client.get("/api/headlines/999999").status_code == 404
