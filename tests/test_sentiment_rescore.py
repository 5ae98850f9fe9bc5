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


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # Python 3.12+
def test_a_large_rescore_scores_in_worker_processes_with_the_same_result(tmp_path, monkeypatch) -> None:
    from tracker.store import rescore as rescore_module
    from tracker.store.engine import open_engine

    # Small thresholds so a few thousand rows take the worker path; forced on even if a stray thread of
    # another test is alive (the command itself only forks a single-threaded process).
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_ROWS", 100)
    monkeypatch.setattr(rescore_module, "PARALLEL_FROM_BATCH", 50)
    monkeypatch.setattr(rescore_module, "_can_fork", lambda: True)
    titles = [
        ("Nvidia shares plunge 10%", "en"),
        ("Nvidia beats estimates as AI chip demand soars", "en"),
        ("Krach sur les valeurs de l'IA", "fr"),
        ("Nvidia-Aktie bricht ein", "de"),
        ("Oracle slumps while Broadcom rallies", "en"),
    ]
    rows = [(f"{t} #{i}", lang, T0 + timedelta(minutes=i)) for i in range(600) for t, lang in [titles[i % 5]]]
    results = {}
    for workers in (1, 2):
        engine = open_engine(f"sqlite:///{tmp_path / f'w{workers}.db'}")
        seed(engine, rows)
        report = rescore(engine, batch=250, workers=workers)
        assert report.workers == workers
        assert (report.scanned, report.unscored) == (600, 120)
        with engine.connect() as conn:
            results[workers] = conn.execute(
                select(H.c.title, H.c.compound, H.c.pos, H.c.neu, H.c.neg, H.c.scorer, H.c.scorer_version).order_by(
                    H.c.id
                )
            ).all()
            results[f"rollups{workers}"] = conn.execute(
                select(R.c.topic, R.c.bucket_start, R.c.language, R.c.scored, R.c.negative).order_by(
                    R.c.topic, R.c.bucket_start, R.c.language
                )
            ).all()
    assert results[1] == results[2]
    assert results["rollups1"] == results["rollups2"]
    assert {r.scorer for r in results[2]} == {"vader-finance-en", "vader-finance-fr", None}
