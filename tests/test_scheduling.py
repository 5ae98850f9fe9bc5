"""Real processes: two schedulers on one database, and a collector killed in the middle of a cycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pipeline_helpers import rss
from sqlalchemy import func, select, text

from tracker.models import HeadlineRow, Source
from tracker.store.engine import open_engine


class CountingServer:
    """A local feed server that counts requests per path and answers after ``delay`` seconds."""

    def __init__(self, n_feeds: int, items: int, delays: dict[int, float] | None = None, delay: float = 0.0):
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        feeds = {
            f"/f{i}": rss(
                [
                    {"title": f"Nvidia AI chip story {i}-{j}", "link": f"https://news.example/{i}/{j}"}
                    for j in range(items)
                ]
            )
            for i in range(n_feeds)
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer.lock:
                    outer.counts[self.path] += 1
                index = int(self.path[2:]) if self.path.startswith("/f") else -1
                time.sleep((delays or {}).get(index, delay))
                body = feeds.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(path: Path, db_url: str, port: int, n_feeds: int, *, tick: float = 1.0, extra: str = "") -> Path:
    lines = [
        "[settings]",
        extra,
        f'database_url = "{db_url}"',
        "allow_private_networks = true",
        f"tick_seconds = {tick}",
        'alert_every = "1h"',
        "",
    ]
    for i in range(n_feeds):
        lines += [
            "[[sources]]",
            f'name = "feed-{i}"',
            'kind = "rss"',
            f'url = "http://127.0.0.1:{port}/f{i}"',
            'every = "1h"',
            "",
        ]
    lines += ["[[topics]]", 'key = "nvda"', 'label = "NVIDIA"', 'kind = "ticker"', 'terms = ["nvidia"]']
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[str, str]:
    """Signal a tracker process, wait for it and close its pipes."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def tracker(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    from conftest import make_db_url

    yield from make_db_url("postgres", tmp_path)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_schedulers_on_postgres_fetch_each_source_once_per_interval(tmp_path: Path, pg_url: str):
    n = 30
    server = CountingServer(n, items=3, delay=0.2)
    try:
        config = write_config(tmp_path / "t.toml", pg_url, server.port, n, tick=0.5)
        procs = [tracker(config, "collect"), tracker(config, "collect")]
        engine = open_engine(pg_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(
                    select(func.count()).select_from(Source).where(Source.last_success_at.is_not(None))
                ).scalar_one()
            if done == n:
                break
            time.sleep(0.3)
        time.sleep(3)  # several more ticks of both schedulers: nothing is due for an hour
        for p in procs:
            stop(p)
        assert done == n
        assert server.counts == Counter({f"/f{i}": 1 for i in range(n)}), server.counts
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(HeadlineRow)).scalar_one() == n * 3
    finally:
        server.close()


@pytest.mark.slow
def test_a_collector_killed_mid_cycle_loses_and_doubles_nothing(tmp_path: Path, db_url: str):
    n, items = 12, 5
    slow = {i: 30.0 for i in range(6, n)}  # half the feeds hang until the collector is killed
    server = CountingServer(n, items=items, delays=slow)
    try:
        # Every feed in flight at once, and the slow ones hang (no timeout) until the kill.
        extra = "read_timeout = 120\nfetch_deadline = 120\nper_host_limit = 20"
        config = write_config(tmp_path / "t.toml", db_url, server.port, n, extra=extra)
        proc = tracker(config, "collect", "--once")
        engine = open_engine(db_url)
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline and stored < 6 * items:
            time.sleep(0.2)
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(HeadlineRow)).scalar_one()
        stop(proc, signal.SIGKILL)
        assert stored == 6 * items, "the fast feeds were stored before the kill"
        # Restart: the dead process's leases are taken over at once; the slow feeds now answer fast.
        for i in slow:
            slow[i] = 0.0
        restart = tracker(config, "collect", "--once", "--format", "json")
        out, err = restart.communicate(timeout=120)
        assert restart.returncode == 0, err
        assert len(json.loads(out)) == n - 6, out
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(HeadlineRow)).scalar_one() == n * items
            assert conn.execute(select(func.count(func.distinct(HeadlineRow.dedupe_key)))).scalar_one() == n * items
            ok = conn.execute(
                select(func.count()).select_from(Source).where(Source.last_success_at.is_not(None))
            ).scalar_one()
            assert ok == n
            if engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
        # Fast feeds were not fetched again on restart (not due); slow ones were fetched twice (killed, then done).
        assert all(server.counts[f"/f{i}"] == 1 for i in range(6)), server.counts
    finally:
        server.close()
