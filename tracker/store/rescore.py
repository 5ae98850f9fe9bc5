"""Rescore stored headlines with the current scorers, then rebuild the rollups the series are read from.

Reads (id, title, language) in id-ordered batches with SQLAlchemy Core, scores them with the process router
and writes back only the rows whose score, scorer or scorer version changed (one statement per batch).
Each batch's write is its own short transaction, taken after the scoring, so collectors are never locked
out for the whole run, nor while a batch is scored. It never changes anything but the score columns, and
never deletes a headline.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from tracker.models import HeadlineRow
from tracker.store.engine import read_connection
from tracker.store.ingest import PG_TYPES, columns_of, unnest_params

_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_SCORE_COLUMNS = ("compound", "pos", "neu", "neg", "scorer", "scorer_version")
_UPDATE_COLUMNS = (*_SCORE_COLUMNS, "id")  # a change: the new score columns, then the row's id


@dataclass
class RescoreReport:
    scanned: int = 0
    changed: int = 0
    unscored: int = 0  # headlines in a language without a scorer (left, or set back to, unscored)
    workers: int = 1  # processes that scored (more than one only for a large run)
    seconds: float = 0.0
    scorers: dict[str, str] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "changed": self.changed,
            "unscored": self.unscored,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "scorers": self.scorers,
        }


# Scoring is most of a rescore's time and pure Python, so a large run also scores in worker processes (one
# per further core): each batch is split, this process scores its share while the workers score theirs.
# Workers are forked, so they start in milliseconds with the router already built (spawned ones took about a
# second each to import and unpickle it, which ate the gain: measured in docs/benchmarks.md). Forking is only
# safe in a process with no other thread, on Linux: anywhere else, and for small runs, one process scores.
PARALLEL_FROM_ROWS = 20_000  # headlines in the run
PARALLEL_FROM_BATCH = 2_000  # headlines to score in one batch
ScoreRow = tuple[Any, ...]  # the _SCORE_COLUMNS values, in order
_worker_router: Any = None
_worker_engine: Engine | None = None


def _score_rows(router: Any, items: list[tuple[str, str]]) -> list[ScoreRow]:
    return [
        (s.compound, s.pos, s.neu, s.neg, s.scorer, s.version) if s is not None else (None,) * len(_SCORE_COLUMNS)
        for s in router.score_many(items)
    ]


def _init_worker() -> None:
    # Ctrl-C is the parent's to handle: a worker interrupted while sending a result could leave the parent
    # waiting for it forever. The parent's pooled connections are not the worker's to use or to close.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _worker_engine is not None:
        _worker_engine.dispose(close=False)


def _score_in_worker(items: list[tuple[str, str]]) -> list[ScoreRow]:
    return _score_rows(_worker_router, items)  # plain tuples: cheaper to send back than Score objects


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4))


def _can_fork() -> bool:
    """Linux, and no other thread: neither Python's nor a native library's (torch starts its own)."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class _Scoring:
    """Scores one batch of (title, language): here, or split with worker processes for a large run.

    The workers are forked at once, before any batch's transaction is open."""

    def __init__(self, router: Any, workers: int, rows: int, engine: Engine) -> None:
        global _worker_router, _worker_engine
        self.router = router
        copyable = getattr(router, "copyable", None)
        big = workers > 1 and rows >= PARALLEL_FROM_ROWS
        self.parts = workers if big and copyable is not None and copyable() and _can_fork() else 1
        self.pool: ProcessPoolExecutor | None = None
        if self.parts > 1:
            _worker_router, _worker_engine = router, engine  # inherited by the forked workers
            self.pool = ProcessPoolExecutor(
                self.parts - 1, mp_context=multiprocessing.get_context("fork"), initializer=_init_worker
            )

    def score_rows(self, items: list[tuple[str, str]]) -> list[ScoreRow]:
        if self.pool is None or len(items) < PARALLEL_FROM_BATCH:
            return _score_rows(self.router, items)
        size = math.ceil(len(items) / self.parts)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        futures = [self.pool.submit(_score_in_worker, chunk) for chunk in chunks[1:]]
        out = _score_rows(self.router, chunks[0])
        for future in futures:
            out.extend(future.result())
        return out

    def close(self, *, interrupted: bool = False) -> None:
        global _worker_router, _worker_engine
        if self.pool is None:
            return
        if interrupted:  # Ctrl-C: do not wait for work nobody will use
            processes = list(getattr(self.pool, "_processes", {}).values())  # no public handle on them
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
                process.join(timeout=5)
        else:
            self.pool.shutdown(cancel_futures=True)
        _worker_router = _worker_engine = None


def rescore(
    engine: Engine,
    *,
    since: datetime | None = None,
    batch: int = 5000,
    force: bool = False,
    router: Any = None,
    workers: int | None = None,
) -> RescoreReport:
    """Rescore headlines published at or after ``since`` (all when None) and rebuild their rollups.

    Rows already scored by the current name and version of their language's scorer are skipped unless
    ``force``: a scorer's version changes whenever its lexicon does, so their score cannot have changed.
    ``workers`` processes score at once (default: one per core, at most 4) when the run is large.
    """
    from tracker.sentiment import get_router
    from tracker.store.rollups import rebuild_rollups

    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    router = router or get_router()
    report = RescoreReport(scorers=router.scorer_names())
    start = time.perf_counter()
    query = select(_H.c.id, _H.c.title, _H.c.language, *(_H.c[c] for c in _SCORE_COLUMNS))
    if since is not None:
        query = query.where(_H.c.published_at >= since)
    stmt = _update_statement(engine)
    with read_connection(engine) as conn:
        rows_in_run = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    scoring = _Scoring(router, default_workers() if workers is None else workers, rows_in_run, engine)
    try:
        _rescore_batches(engine, query, stmt, scoring, report, batch=batch, force=force)
    except BaseException as exc:
        scoring.close(interrupted=not isinstance(exc, Exception))
        raise
    scoring.close()
    report.workers = scoring.parts
    with engine.begin() as conn:
        rebuild_rollups(conn, since=since)
    report.seconds = time.perf_counter() - start
    return report


def _update_statement(engine: Engine) -> str:
    """The driver-level UPDATE of a batch's changed scores.

    SQLAlchemy's per-row parameter processing for a Core update costs as much as the database work here, and
    these values need none. SQLite: an executemany of one row each. PostgreSQL: one statement over ``unnest``
    of column arrays, as the ingest does (an executemany there cost 30 µs a row: 13,700 rows/s for a rescore
    of 40,000 rows with every row changed).
    """
    if engine.dialect.name == "postgresql":
        sets = ", ".join(f"{c} = v.{c}" for c in _SCORE_COLUMNS)
        arrays = unnest_params(_UPDATE_COLUMNS, {**PG_TYPES, "id": "int"})
        return f"UPDATE {_H.name} AS h SET {sets} FROM unnest({arrays}) AS v({', '.join(_UPDATE_COLUMNS)}) WHERE h.id = v.id"
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    return f"UPDATE {_H.name} SET " + ", ".join(f"{c} = {mark}" for c in _SCORE_COLUMNS) + f" WHERE id = {mark}"


def _rescore_batches(
    engine: Engine, query: Any, stmt: str, scoring: _Scoring, report: RescoreReport, *, batch: int, force: bool
) -> None:
    router = scoring.router
    last_id = 0
    while True:
        # Read, score, then write in a transaction of its own: the scoring (seconds per batch with the model
        # scorer) never holds the SQLite write lock. A headline's title never changes once stored, so scores
        # made between the two transactions are still its scores.
        with read_connection(engine) as conn:
            rows = conn.execute(query.where(_H.c.id > last_id).order_by(_H.c.id).limit(batch)).all()
        if not rows:
            break
        last_id = rows[-1][0]
        changes = []
        todo = []
        for row in rows:
            scorer = router.scorer_for(row[2] or "")
            if scorer is None:
                report.unscored += 1
                if any(v is not None for v in row[3:]):
                    changes.append((None,) * len(_SCORE_COLUMNS) + (row[0],))
            elif force or row[7] != scorer.name or row[8] != scorer.version:
                todo.append(row)  # else scored by this very scorer version: the same text, the same score
        # One call for the batch, so a scorer that works in batches (the optional model) gets them together.
        scores = scoring.score_rows([(row[1] or "", row[2] or "") for row in todo])
        for row, new in zip(todo, scores, strict=True):
            if tuple(row[3:]) != new:
                changes.append((*new, row[0]))
        if changes:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(stmt, columns_of(changes, len(_UPDATE_COLUMNS)))
                else:
                    conn.exec_driver_sql(stmt, changes)
        report.scanned += len(rows)
        report.changed += len(changes)
