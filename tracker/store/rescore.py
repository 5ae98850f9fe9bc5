"""Rescore stored headlines with the current scorers, then rebuild the rollups the series are read from.

Reads (id, title, language) in id-ordered batches with SQLAlchemy Core, scores them with the process router
and writes back only the rows whose score, scorer or scorer version changed (one executemany per batch).
Each batch is its own short transaction so collectors are never locked out for the whole run. It never
changes anything but the score columns, and never deletes a headline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from tracker.models import HeadlineRow

_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_SCORE_COLUMNS = ("compound", "pos", "neu", "neg", "scorer", "scorer_version")


@dataclass
class RescoreReport:
    scanned: int = 0
    changed: int = 0
    unscored: int = 0  # headlines in a language without a scorer (left, or set back to, unscored)
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
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "scorers": self.scorers,
        }


def rescore(
    engine: Engine,
    *,
    since: datetime | None = None,
    batch: int = 5000,
    force: bool = False,
    router: Any = None,
) -> RescoreReport:
    """Rescore headlines published at or after ``since`` (all when None) and rebuild their rollups.

    Rows already scored by the current name and version of their language's scorer are skipped unless
    ``force``: a scorer's version changes whenever its lexicon does, so their score cannot have changed.
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
    # A plain driver-level executemany: SQLAlchemy's per-row parameter processing for a Core update costs
    # as much as the database work here, and these values need none (floats, strings, NULLs, an id).
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    stmt = f"UPDATE {_H.name} SET " + ", ".join(f"{c} = {mark}" for c in _SCORE_COLUMNS) + f" WHERE id = {mark}"
    last_id = 0
    while True:
        with engine.begin() as conn:
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
            scores = router.score_many([(row[1] or "", row[2] or "") for row in todo])
            for row, score in zip(todo, scores, strict=True):
                assert score is not None  # every row of todo has a scorer
                new: tuple[Any, ...] = (score.compound, score.pos, score.neu, score.neg, score.scorer, score.version)
                if tuple(row[3:]) != new:
                    changes.append((*new, row[0]))
            if changes:
                conn.exec_driver_sql(stmt, changes)
            report.scanned += len(rows)
            report.changed += len(changes)
    with engine.begin() as conn:
        rebuild_rollups(conn, since=since)
    report.seconds = time.perf_counter() - start
    return report
