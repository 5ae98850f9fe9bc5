"""The scheduler registers the tick and the alert timer; ticks survive database outages."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from pipeline_helpers import make_config
from sqlalchemy import create_engine, text

from tracker.scheduler import build_scheduler, collect_tick
from tracker.store import ingest
from tracker.store.engine import open_engine
from tracker.store.sources import claim_due, sync_sources


def test_jobs_coalesce_never_overlap_and_tolerate_late_starts(sqlite_url):
    config = make_config(sqlite_url, [], tick_seconds=30, alert_every="5m")
    scheduler = build_scheduler(open_engine(sqlite_url), config)
    scheduler.start(paused=True)  # job defaults apply when a job is added to a running scheduler
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {"collect", "alerts"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time >= 60
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    trigger = jobs["collect"].trigger
    first = trigger.get_next_fire_time(None, start)
    second = trigger.get_next_fire_time(first, first)
    assert second - first == timedelta(seconds=30)
    alerts = jobs["alerts"].trigger
    a1 = alerts.get_next_fire_time(None, start)
    assert alerts.get_next_fire_time(a1, a1) - a1 == timedelta(minutes=5)


def test_a_tick_with_the_database_down_logs_and_returns(caplog):
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    config = make_config("postgresql+psycopg://nobody@127.0.0.1:1/none", [])
    with caplog.at_level(logging.ERROR):
        started = time.monotonic()
        collect_tick(dead, config)  # must not raise: the next tick tries again
    assert time.monotonic() - started < 10
    assert any("collection cycle failed" in r.message for r in caplog.records)


def test_a_writer_blocked_by_another_write_transaction_waits_instead_of_failing(sqlite_url):
    config = make_config(sqlite_url, [("one", "rss", "https://one.example/feed")])
    engine = open_engine(sqlite_url)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        sync_sources(conn, config, now=now)
    (claim,) = claim_due(engine, now=now, holder="h:1", force=True)
    other = create_engine(sqlite_url, connect_args={"isolation_level": None})
    locked = threading.Event()

    def hold_lock() -> None:
        with other.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.exec_driver_sql("UPDATE sources SET last_new = 0")
            locked.set()
            time.sleep(2.0)
            conn.exec_driver_sql("COMMIT")

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    ingest.save_error(engine, claim, now=now, status=503, error="HTTP 503")  # waits for the lock (busy_timeout)
    waited = time.monotonic() - started
    holder.join()
    other.dispose()
    assert waited >= 1.0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT last_error FROM sources")).scalar_one() == "HTTP 503"
