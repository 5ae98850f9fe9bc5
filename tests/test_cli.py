"""The `tracker` command as a user runs it: real processes, a local feed server, a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_helpers import rss
from pytest_httpserver import HTTPServer

ITEMS = [
    {
        "title": "Nvidia shares plunge 10% as AI bubble fears grow",
        "link": "https://n.example/1",
        "date": "Mon, 30 Nov 2026 09:00:00 GMT",
    },
    {
        "title": "Broadcom beats estimates on AI chip demand",
        "link": "https://n.example/2",
        "date": "Mon, 30 Nov 2026 10:00:00 GMT",
    },
    {"title": "Local bakery wins award", "link": "https://n.example/3", "date": "Mon, 30 Nov 2026 11:00:00 GMT"},
]


def run(config: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == expect, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture
def config(tmp_path: Path, httpserver: HTTPServer) -> Path:
    httpserver.expect_request("/feed").respond_with_data(rss(ITEMS), content_type="application/rss+xml")
    httpserver.expect_request("/broken").respond_with_data("nope", status=503, headers={"Retry-After": "120"})
    path = tmp_path / "tracker.toml"
    path.write_text(
        f"""
[settings]
database_url = "sqlite:///{tmp_path / "t.db"}"
allow_private_networks = true

[[sources]]
name = "news"
kind = "rss"
url = "{httpserver.url_for("/feed")}"

[[sources]]
name = "broken"
kind = "rss"
url = "{httpserver.url_for("/broken")}"

[[topics]]
key = "nvda"
label = "NVIDIA"
kind = "ticker"
terms = ["nvidia"]

[[topics]]
key = "avgo"
label = "Broadcom"
kind = "ticker"
terms = ["broadcom"]
""",
        encoding="utf-8",
    )
    return path


def test_collect_once_then_headlines_and_sources(config: Path):
    first = json.loads(run(config, "collect", "--once", "--format", "json", expect=0).stdout)
    by = {r["source"]: r for r in first}
    assert by["news"]["new"] == 3 and by["news"]["error"] is None
    assert "503" in by["broken"]["error"]
    again = json.loads(run(config, "collect", "--once", "--all", "--format", "json").stdout)
    assert {r["source"]: (r["new"], r["seen"]) for r in again}["news"] == (0, 3)

    rows = json.loads(run(config, "headlines", "--format", "json").stdout)
    assert [r["title"] for r in rows] == [i["title"] for i in reversed(ITEMS)]  # newest first
    required = {
        "title",
        "url",
        "source",
        "publisher",
        "published_at",
        "date_inferred",
        "language",
        "compound",
        "topics",
        "summary",
    }
    assert all(required <= set(r) for r in rows)
    nvda = rows[-1]
    assert nvda["published_at"] == "2026-11-30T09:00:00Z" and nvda["date_inferred"] is False
    assert nvda["topics"] == ["nvda"] and nvda["compound"] < 0 and nvda["language"] == "en"
    assert rows[0]["topics"] == []  # kept, marked as matching no topic

    only = json.loads(run(config, "headlines", "--topic", "avgo", "--format", "json").stdout)
    assert [r["title"] for r in only] == [ITEMS[1]["title"]]
    since = json.loads(run(config, "headlines", "--since", "2026-11-30T09:30:00Z", "--format", "json").stdout)
    assert len(since) == 2

    sources = {s["name"]: s for s in json.loads(run(config, "sources", "--format", "json").stdout)}
    assert sources["broken"]["consecutive_errors"] == 2 and "503" in sources["broken"]["last_error"]
    assert sources["news"]["last_success_at"] and sources["news"]["last_error"] is None
    table = run(config, "sources").stdout
    assert "broken" in table and "503" in table


def test_user_errors_exit_2_without_traceback(config: Path, tmp_path: Path):
    assert "ISO-8601" in run(config, "headlines", "--since", "yesterday", expect=2).stderr
    assert "unknown topic" in run(config, "headlines", "--topic", "nope", expect=2).stderr
    assert "unknown source" in run(config, "collect", "--once", "--source", "nope", expect=2).stderr
    assert "--format" in run(config, "sources", "--format", "xml", expect=2).stderr


def test_init_writes_the_defaults_and_refuses_to_overwrite(tmp_path: Path, config: Path):
    target = tmp_path / "mine.toml"
    run(config, "init", str(target))
    assert "[[sources]]" in target.read_text(encoding="utf-8")
    assert "exists already" in run(config, "init", str(target), expect=2).stderr
    run(config, "init", str(target), "--force")
