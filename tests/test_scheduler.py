"""The scheduler registers the tick and the alert timer; ticks survive database outages."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pipeline_helpers import make_config
from sqlalchemy import create_engine, event, text

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


class _Switch:
    """A TCP forwarder to the PostgreSQL server that can be cut and restored: the database going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns: list = []
        self.listener = None

    def up(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def down(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone would not
            self.listener.close()
            self.listener = None
        for s in self.conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.conns.clear()


@pytest.mark.postgres
def test_the_collector_recovers_when_the_database_comes_back_without_a_restart(httpserver, caplog):
    from conftest import PG_BASE, make_db_url
    from pipeline_helpers import rss
    from sqlalchemy import func, select
    from sqlalchemy.engine import make_url

    from tracker.models import HeadlineRow

    httpserver.expect_request("/feed").respond_with_data(
        rss([{"title": "Nvidia record quarter", "link": "https://n.example/1"}]), content_type="application/rss+xml"
    )
    urls = make_db_url("postgres", None)  # type: ignore[arg-type]
    db_url = next(urls)
    base = make_url(PG_BASE)
    switch = _Switch((base.host or "127.0.0.1", base.port or 5432))
    switch.up()
    via = db_url.replace(f"{base.host}:{base.port or 5432}", f"127.0.0.1:{switch.port}")
    try:
        config = make_config(via, [("one", "rss", httpserver.url_for("/feed"))], connect_timeout=1.0)
        engine = open_engine(via)  # schema created through the switch
        switch.down()
        with caplog.at_level(logging.ERROR):
            collect_tick(engine, config)  # the database is gone: logged, not raised
        assert any("collection cycle failed" in r.message for r in caplog.records)
        switch.up()
        collect_tick(engine, config)  # same process, same engine: it is back
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(HeadlineRow.__table__)).scalar_one() == 1
    finally:
        switch.down()
        next(urls, None)  # drops the test schema


def test_a_writer_that_gives_up_on_the_lock_writes_nothing_and_the_source_is_retried(sqlite_url):
    # The busy timeout runs out (here 0.3 s; 30 s in open_engine): the fetch's items, validators and
    # counters are one transaction, so nothing is half-written; the source keeps its lease and comes back.
    from pipeline_helpers import rss

    from tracker.fetch import FetchResult
    from tracker.pipeline import process_result, tagger_for
    from tracker.store.engine import _configure_sqlite

    config = make_config(sqlite_url, [("one", "rss", "https://one.example/feed")])
    open_engine(sqlite_url)
    impatient = create_engine(sqlite_url, connect_args={"check_same_thread": False})
    _configure_sqlite(impatient)

    @event.listens_for(impatient, "connect")
    def _impatient(dbapi_conn, _record) -> None:  # after open_engine's own PRAGMAs: 0.3 s instead of 30 s
        dbapi_conn.execute("PRAGMA busy_timeout=300")

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with impatient.begin() as conn:
        sync_sources(conn, config, now=now)
    (claim,) = claim_due(impatient, now=now, holder="h:1", force=True)
    body = rss([{"title": "Nvidia record quarter", "link": "https://n.example/1"}])
    result = FetchResult(url=claim.url, final_url=claim.url, status=200, body=body,
                         content_type="application/rss+xml", etag='"v1"')  # fmt: skip
    other = create_engine(sqlite_url, connect_args={"isolation_level": None})
    with other.connect() as locker:
        locker.exec_driver_sql("BEGIN IMMEDIATE")
        locker.exec_driver_sql("UPDATE sources SET last_new = 0")
        report = process_result(impatient, config, claim, result, now=now, tagger=tagger_for(config.topics))
        locker.exec_driver_sql("COMMIT")
    other.dispose()
    assert report.error and "database is locked" in report.error
    with impatient.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM headlines")).scalar_one() == 0
        assert conn.execute(text("SELECT etag, lease_holder FROM sources")).one() == (None, "h:1")
    # Once the lease is over (15 min), another cycle takes the source and stores the story once.
    (again,) = claim_due(impatient, now=now + timedelta(minutes=16), holder="h:2")
    report = process_result(impatient, config, again, result, now=now, tagger=tagger_for(config.topics))
    assert report.error is None and report.new == 1
    with impatient.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM headlines")).scalar_one() == 1
        assert conn.execute(text("SELECT etag FROM sources")).scalar_one() == '"v1"'
    impatient.dispose()
