"""The alerts API and page on both databases: CRUD, 422 with the field, the write guard, preview, escaping."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from dashboards import alerts as alerts_routes
from dashboards.alerts import check_write_safety
from tracker.alerts.evaluate import evaluate_all
from tracker.config import load_config
from tracker.series import Sums
from tracker.settings import Settings
from tracker.store.rollups import apply_deltas

# Starlette's TestClient warns, on import, that it would rather use httpx2: about the test tool, not the app.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
RULE = {
    "name": "nvda souring",
    "topic": "nvda",
    "metric": "mean_sentiment",
    "window": "6h",
    "op": "<",
    "threshold": -0.3,
    "clear_threshold": -0.25,
    "min_headlines": 2,
    "for": "1h",
    "repeat_interval": "12h",
    "channels": ["https://hooks.example.com/abc"],
}


def make_app(engine, *, listen_host=None, **settings_kw) -> FastAPI:
    base = load_config(None)
    settings = Settings(database_url="sqlite://", **settings_kw)
    app = FastAPI()
    app.state.engine = engine
    app.state.config = replace(base, settings=settings)
    if listen_host is not None:
        app.state.listen_host = listen_host
    app.include_router(alerts_routes.router)
    return app


@pytest.fixture
def client(engine):
    with TestClient(make_app(engine)) as c:
        yield c


def test_crud_round_trip(client):
    r = client.post("/api/alerts", json=RULE)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["window"] == "6h" and rule["for"] == "1h" and rule["repeat_interval"] == "12h"
    assert rule["state"] == "ok"
    rid = rule["id"]
    assert [x["name"] for x in client.get("/api/alerts").json()] == ["nvda souring"]
    assert client.get(f"/api/alerts/{rid}").json()["clear_threshold"] == -0.25
    r = client.put(f"/api/alerts/{rid}", json={**RULE, "threshold": -0.4, "clear_threshold": None})
    assert r.status_code == 200, r.text
    assert r.json()["threshold"] == -0.4 and r.json()["clear_threshold"] is None
    assert r.json()["no_data"] == "nodata" and r.json()["on_error"] == "error"
    r = client.put(f"/api/alerts/{rid}", json={**RULE, "no_data": "firing", "on_error": "keep"})
    assert (r.json()["no_data"], r.json()["on_error"]) == ("firing", "keep")
    assert client.delete(f"/api/alerts/{rid}").status_code == 204
    assert client.get(f"/api/alerts/{rid}").status_code == 404
    assert client.delete(f"/api/alerts/{rid}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"threshold": "abc"}, "threshold"),
        ({"window": "90m"}, "window"),
        ({"metric": "price"}, "metric"),
        ({"topic": "not_a_topic"}, "topic"),
        ({"for": "soon"}, "for"),
        ({"clear_threshold": -0.5}, "clear_threshold"),
        ({"channels": ["http://127.0.0.1:9/hook"]}, "channels"),
        ({"channels": ["json://169.254.169.254/"]}, "channels"),
        ({"channels": ["file:///etc/passwd"]}, "channels"),
        ({"no_data": "maybe"}, "no_data"),
        ({"on_error": "ok"}, "on_error"),
    ],
)
def test_validation_errors_are_422_naming_the_field(client, change, field):
    r = client.post("/api/alerts", json={**RULE, **change})
    assert r.status_code == 422, r.text
    body = r.json()
    assert field in body["errors"]
    assert any(d["loc"][-1] == field for d in body["detail"])
    assert client.get("/api/alerts").json() == []


def test_duplicate_name_is_a_field_error(client):
    assert client.post("/api/alerts", json=RULE).status_code == 201
    r = client.post("/api/alerts", json=RULE)
    assert r.status_code == 422
    assert "already exists" in r.json()["errors"]["name"]


def test_non_json_and_cross_site_writes_are_refused(client):
    r = client.post("/api/alerts", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/api/alerts", json=RULE, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/alerts", json=RULE, headers={"Origin": "http://testserver"})
    assert r.status_code == 201


def test_token_required_when_configured(engine):
    with TestClient(make_app(engine, admin_token="t0ken")) as c:
        assert c.post("/api/alerts", json=RULE).status_code == 401
        assert c.post("/api/alerts", json=RULE, headers={"Authorization": "Bearer nope"}).status_code == 401
        r = c.post("/api/alerts", json=RULE, headers={"Authorization": "Bearer t0ken"})
        assert r.status_code == 201
        rid = r.json()["id"]
        assert c.delete(f"/api/alerts/{rid}").status_code == 401
        assert c.get("/api/alerts").status_code == 200  # reads stay open


def test_silence_and_unsilence_through_the_api_and_the_page(client):
    rid = client.post("/api/alerts", json=RULE).json()["id"]
    r = client.post(f"/api/alerts/{rid}/silence", json={"for": "2h"})
    assert r.status_code == 200, r.text
    until = datetime.fromisoformat(r.json()["silenced_until"])
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)
    page = client.get("/alerts").text
    assert "silenced until" in page and 'class="unsilence-rule"' in page
    for body, status in (({"for": "91d"}, 422), ({"for": 5}, 422), ({"for": "soon"}, 422)):
        assert client.post(f"/api/alerts/{rid}/silence", json=body).status_code == status
    assert client.post("/api/alerts/999/silence", json={"for": "1h"}).status_code == 404
    r = client.delete(f"/api/alerts/{rid}/silence")
    assert r.status_code == 200 and r.json()["silenced_until"] is None
    assert 'class="silence-rule"' in client.get("/alerts").text


def test_silencing_is_a_write(engine):
    with TestClient(make_app(engine, admin_token="t0ken")) as c:
        rid = c.post("/api/alerts", json=RULE, headers={"Authorization": "Bearer t0ken"}).json()["id"]
        assert c.post(f"/api/alerts/{rid}/silence", json={"for": "1h"}).status_code == 401
        assert c.delete(f"/api/alerts/{rid}/silence").status_code == 401
        ok = c.post(f"/api/alerts/{rid}/silence", json={"for": "1h"}, headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200


def test_non_loopback_without_token_refuses_writes(engine):
    with TestClient(make_app(engine, listen_host="0.0.0.0")) as c:
        assert c.post("/api/alerts", json=RULE).status_code == 403
    with TestClient(make_app(engine, listen_host="0.0.0.0", admin_token="t")) as c:
        assert c.post("/api/alerts", json=RULE).status_code == 401
        assert c.post("/api/alerts", json=RULE, headers={"Authorization": "Bearer t"}).status_code == 201


def test_check_write_safety():
    check_write_safety(Settings(database_url="sqlite://"), "127.0.0.1")
    check_write_safety(Settings(database_url="sqlite://"), "::1")
    check_write_safety(Settings(database_url="sqlite://", admin_token="x"), "0.0.0.0")
    with pytest.raises(ValueError, match="admin token"):
        check_write_safety(Settings(database_url="sqlite://"), "0.0.0.0")
    with pytest.raises(ValueError, match="admin token"):
        check_write_safety(Settings(database_url="sqlite://"), "192.168.1.10")


def sour_days(engine, days):
    hour = NOW.replace(minute=0)
    deltas = {}
    for d in days:
        for h in range(3):
            deltas[("nvda", hour - timedelta(days=d, hours=h), "en")] = Sums(3, 3, -2.4, 1.92, 0, 3, 0, 0)
    with engine.begin() as conn:
        apply_deltas(conn, deltas)


def test_preview_counts_fires_over_ninety_days(client, engine, monkeypatch):
    monkeypatch.setattr(alerts_routes, "_now", lambda request: NOW)
    sour_days(engine, [5, 30, 60, 100])  # day 100 is outside the 90-day preview
    r = client.post("/api/alerts/preview", json={**RULE, "name": "", "for": None})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["fired"] == 3
    assert out["hours"] == 90 * 24
    assert "fired 3 times" in out["summary"]
    assert client.get("/api/alerts").json() == []  # a preview saves nothing
    bad = client.post("/api/alerts/preview", json={**RULE, "window": "nope"})
    assert bad.status_code == 422 and "window" in bad.json()["errors"]


def test_events_and_page_escape_everything(client, engine, monkeypatch):
    monkeypatch.setattr(alerts_routes, "_now", lambda request: NOW)
    evil = "<script>alert(1)</script>"
    r = client.post("/api/alerts", json={**RULE, "name": evil, "for": None, "channels": []})
    assert r.status_code == 201, r.text
    sour_days(engine, [0])
    report = evaluate_all(engine, Settings(database_url="sqlite://"), now=NOW)
    assert report.states == {"firing": 1}
    events = client.get("/api/alerts/events").json()
    assert [(e["from_state"], e["to_state"]) for e in events["events"]] == [("ok", "firing")]
    page = client.get("/alerts")
    assert page.status_code == 200
    html = page.text
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-state="firing"' in html
    assert "<polyline points=" in html
    assert client.get("/alerts/assets/alerts.js").status_code == 200


def test_send_test_without_channels_says_so(client):
    rid = client.post("/api/alerts", json={**RULE, "channels": []}).json()["id"]
    r = client.post(f"/api/alerts/{rid}/test")
    assert r.status_code == 400
    assert r.json()["errors"] == ["the rule has no channels"]
    assert client.post("/api/alerts/999/test").status_code == 404


def test_router_inside_the_dashboard_app(engine):
    app_module = pytest.importorskip("dashboards.app")
    app = app_module.create_app(load_config(None), engine=engine)
    with TestClient(app) as c:
        assert c.post("/api/alerts", json={**RULE, "channels": []}).status_code == 201
        page = c.get("/alerts")
        assert page.status_code == 200
        assert "nvda souring" in page.text
        assert "AI Bubble Tracker" in page.text  # rendered inside the app's base layout


def test_channel_urls_are_shown_only_to_writers_and_survive_a_redacted_edit(engine):
    secret_hook = "https://hooks.example.com/services/T000/SECRET"
    auth = {"Authorization": "Bearer t"}
    with TestClient(make_app(engine, admin_token="t")) as c:
        rid = c.post("/api/alerts", json={**RULE, "channels": [secret_hook]}, headers=auth).json()["id"]
        public = c.get(f"/api/alerts/{rid}").json()
        assert public["channels"] == ["https://hooks.example.com/…"]
        assert "SECRET" not in c.get("/api/alerts").text
        assert "SECRET" not in c.get("/alerts").text
        assert c.get(f"/api/alerts/{rid}", headers=auth).json()["channels"] == [secret_hook]
        # The page's edit form sends the redacted form back: the real URL is kept.
        r = c.put(
            f"/api/alerts/{rid}", json={**RULE, **{"threshold": -0.5}, "channels": public["channels"]}, headers=auth
        )
        assert r.status_code == 200, r.text
        assert r.json()["channels"] == [secret_hook]
        assert r.json()["threshold"] == -0.5
