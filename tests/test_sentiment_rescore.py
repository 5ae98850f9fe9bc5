"""`rescore`: only changed rows are written, unscored languages stay unscored, rollups follow (both DBs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from tracker.models import HeadlineRow, Rollup, Source
from tracker.sentiment import get_router
from tracker.store.rescore import rescore

H = HeadlineRow.__table__  # type: ignore[attr-defined]
S = Source.__table__  # type: ignore[attr-defined]
R = Rollup.__table__  # type: ignore[attr-defined]
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def seed(engine: Engine, rows: list[tuple[str, str, datetime]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(S).values(name="test", kind="rss", url="https://example.com/feed"))
        source_id = conn.execute(select(S.c.id)).scalar_one()
        conn.execute(
            insert(H),
            [
                {
                    "dedupe_key": f"hash:{i}",
                    "title_fp": f"fp{i}",
                    "title": title,
                    "summary": "",
                    "source_id": source_id,
                    "published_at": when,
                    "first_seen_at": when,
                    "language": language,
                    "tagged": True,
                    "topics": "chips",
                    "date_flag": "ok",
                    "sightings": 1,
                }
                for i, (title, language, when) in enumerate(rows)
            ],
        )


def test_rescore_scores_changes_and_rebuilds(engine: Engine) -> None:
    seed(
        engine,
        [
            ("Nvidia shares plunge 10%", "en", T0),
            ("Nvidia beats estimates as AI chip demand soars", "en", T0 + timedelta(hours=1)),
            ("Krach sur les valeurs de l'IA", "fr", T0 + timedelta(hours=2)),
            ("Nvidia-Aktie bricht ein", "de", T0 + timedelta(hours=3)),
        ],
    )
    report = rescore(engine, batch=3)  # batches smaller than the table: the id paging is exercised
    assert (report.scanned, report.changed, report.unscored) == (4, 3, 1)
    assert report.scorers == get_router().scorer_names()
    with engine.connect() as conn:
        got = {r.title: r for r in conn.execute(select(H.c.title, H.c.compound, H.c.scorer, H.c.scorer_version))}
        rollups = conn.execute(select(R.c.topic, R.c.language, R.c.scored, R.c.negative)).all()
    assert got["Nvidia shares plunge 10%"].compound < 0
    assert got["Nvidia beats estimates as AI chip demand soars"].compound > 0
    assert got["Krach sur les valeurs de l'IA"].scorer == "vader-finance-fr"
    assert got["Nvidia-Aktie bricht ein"].compound is None and got["Nvidia-Aktie bricht ein"].scorer is None
    assert got["Nvidia shares plunge 10%"].scorer_version == "2026.12.4"
    assert rollups, "rollups were rebuilt from the rescored headlines"
    scored = sum(r.scored for r in rollups if r.topic == "all")
    assert scored == 3

    # A second run with the same scorers writes nothing.
    again = rescore(engine)
    assert (again.scanned, again.changed) == (4, 0)

    # Forced, every row is scored again, and still nothing differs.
    forced = rescore(engine, force=True)
    assert (forced.scanned, forced.changed) == (4, 0)

    # A stale score (an old version) is rewritten; a since filter limits the run.
    with engine.begin() as conn:
        conn.execute(update(H).where(H.c.scorer.is_not(None)).values(scorer_version="old"))
    late = rescore(engine, since=T0 + timedelta(hours=2))
    assert (late.scanned, late.changed) == (2, 1)  # the German one has no score to refresh
    with engine.connect() as conn:
        versions: dict[str, str | None] = dict(conn.execute(select(H.c.title, H.c.scorer_version)).all())
    assert versions["Nvidia shares plunge 10%"] == "old"
    assert versions["Krach sur les valeurs de l'IA"] == "2026.12.1"


def test_rescore_from_the_command_line(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    import tracker.cli.sentiment  # noqa: F401  (registers the commands)
    from tracker.cli.app import app
    from tracker.store.engine import open_engine

    seed(open_engine(sqlite_url), [("Nvidia shares plunge 10%", "en", T0)])
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(app, ["rescore", "--since", "2026-11-30T00:00:00Z", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout only: a stray server thread of another test may write to stderr
    assert (report["scanned"], report["changed"]) == (1, 1)


def test_rescore_empty_table(engine: Engine) -> None:
    report = rescore(engine)
    assert (report.scanned, report.changed) == (0, 0)


# Run in a child process of its own: forking is only done from a process with no other thread, and a test
# process may hold some (servers of other tests, torch's when the ml extra is installed).
WORKERS_SCRIPT = r"""
import json, multiprocessing, sys
from datetime import UTC, datetime, timedelta
from sqlalchemy import insert, select
from tracker.models import HeadlineRow, Rollup, Source
from tracker.sentiment import build_router
from tracker.store import rescore as rs
from tracker.store.engine import open_engine

rs.PARALLEL_FROM_ROWS, rs.PARALLEL_FROM_BATCH = 100, 50  # small, so a few hundred rows take the worker path
H, S, R = HeadlineRow.__table__, Source.__table__, Rollup.__table__
titles = [("Nvidia shares plunge 10%", "en"), ("Nvidia beats estimates as AI chip demand soars", "en"),
          ("Krach sur les valeurs de l'IA", "fr"), ("Nvidia-Aktie bricht ein", "de"),
          ("Oracle slumps while Broadcom rallies", "en")]
t0 = datetime(2026, 11, 30, tzinfo=UTC)

def seeded(path):
    engine = open_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(insert(S).values(name="t", kind="rss", url="https://example.com/feed"))
        conn.execute(insert(H), [
            {"dedupe_key": f"k{i}", "title_fp": f"f{i}", "title": f"{titles[i % 5][0]} #{i}", "summary": "",
             "source_id": 1, "published_at": t0 + timedelta(minutes=i), "first_seen_at": t0,
             "language": titles[i % 5][1], "tagged": True, "topics": "chips", "date_flag": "ok", "sightings": 1}
            for i in range(600)])
    return engine

out = {}
for workers in (1, 2):
    engine = seeded(sys.argv[1] + f"/w{workers}.db")
    report = rs.rescore(engine, batch=250, workers=workers)
    with engine.connect() as conn:
        rows = conn.execute(select(H.c.title, H.c.compound, H.c.pos, H.c.neu, H.c.neg, H.c.scorer,
                                   H.c.scorer_version).order_by(H.c.id)).all()
        rollups = conn.execute(select(R.c.topic, R.c.bucket_start, R.c.language, R.c.scored, R.c.negative)
                               .order_by(R.c.topic, R.c.bucket_start, R.c.language)).all()
    out[workers] = {"report": report.to_dict(), "rows": [list(map(str, r)) for r in rows],
                    "rollups": [list(map(str, r)) for r in rollups]}

class Broken:  # scores like the router, but fails in whichever process gets the headline "#599"
    def __init__(self, router): self.router = router
    def __getattr__(self, name): return getattr(self.router, name)
    def score_many(self, items):
        if any(t.endswith("#599") for t, _ in items):
            raise RuntimeError("scorer failed")
        return self.router.score_many(items)

engine = seeded(sys.argv[1] + "/broken.db")
try:
    rs.rescore(engine, batch=300, workers=2, router=Broken(build_router()), force=True)
    out["error"] = None
except RuntimeError as exc:
    out["error"] = str(exc)
out["children_left"] = len(multiprocessing.active_children())
print(json.dumps(out))
"""


def test_a_large_rescore_scores_in_worker_processes_with_the_same_result(tmp_path) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", WORKERS_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    one, two = out["1"], out["2"]
    assert one["report"]["workers"] == 1 and two["report"]["workers"] == 2
    for report in (one["report"], two["report"]):
        assert (report["scanned"], report["changed"], report["unscored"]) == (600, 480, 120)
    assert one["rows"] == two["rows"] and one["rollups"] == two["rollups"]
    assert {r[5] for r in two["rows"]} == {"vader-finance-en", "vader-finance-fr", "None"}
    # A scorer error in a worker reaches the caller, and no worker process is left behind.
    assert out["error"] == "scorer failed" and out["children_left"] == 0


def _tiny_thresholds(monkeypatch) -> None:
    from tracker.store import rescore as rescore_module

    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_ROWS", 10)
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_BATCH", 5)


def test_a_process_with_another_thread_scores_alone(sqlite_url, monkeypatch) -> None:
    import threading

    from tracker.store.engine import open_engine

    _tiny_thresholds(monkeypatch)
    engine = open_engine(sqlite_url)
    seed(engine, [(f"Nvidia shares plunge #{i}", "en", T0 + timedelta(minutes=i)) for i in range(40)])
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        report = rescore(engine, batch=20, workers=2)
    finally:
        stop.set()
        other.join()
    assert report.workers == 1 and report.changed == 40


def test_a_scorer_that_must_not_be_copied_is_never_sent_to_workers(sqlite_url, monkeypatch) -> None:
    from tracker.sentiment import Router
    from tracker.sentiment.english import EnglishFinanceScorer
    from tracker.store import rescore as rescore_module
    from tracker.store.engine import open_engine

    class Heavy(EnglishFinanceScorer):
        copyable = False  # like the model scorer

    _tiny_thresholds(monkeypatch)
    monkeypatch.setattr(rescore_module, "_can_fork", lambda: True)  # only the router's answer can stop it
    engine = open_engine(sqlite_url)
    seed(engine, [(f"Nvidia shares plunge #{i}", "en", T0 + timedelta(minutes=i)) for i in range(40)])
    report = rescore(engine, batch=20, workers=2, router=Router({"en": Heavy()}))
    assert report.workers == 1 and report.changed == 40


def test_the_collector_can_write_while_a_batch_is_scored(tmp_path) -> None:
    # With the model scorer a batch takes seconds to score: the SQLite write lock must not be held meanwhile.
    import sqlite3

    from tracker.sentiment import get_router
    from tracker.store.engine import open_engine

    path = tmp_path / "lock.db"
    engine = open_engine(f"sqlite:///{path}")
    seed(engine, [(f"Nvidia shares plunge #{i}", "en", T0 + timedelta(minutes=i)) for i in range(30)])
    writes = []

    class SlowRouter:  # scores like the real router, and meanwhile lets "a collector" write
        def __init__(self) -> None:
            self.router = get_router()

        def __getattr__(self, name: str):
            return getattr(self.router, name)

        def score_many(self, items):
            other = sqlite3.connect(path, timeout=0.2)
            try:
                with other:
                    other.execute("UPDATE sources SET name = name")  # needs the write lock
                writes.append(len(items))
            finally:
                other.close()
            return self.router.score_many(items)

    report = rescore(engine, batch=10, router=SlowRouter())
    assert report.changed == 30 and writes == [10, 10, 10]
