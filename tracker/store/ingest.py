"""Ingest: one transaction per source fetch, so a crash mid-run loses nothing and doubles nothing.

In that transaction: new headlines (``ON CONFLICT (dedupe_key) DO NOTHING``), a sighting per (headline,
source), topic links, rollup deltas, and the source's new state with its validators. A headline whose key
is already stored, or whose title fingerprint matches one stored within ``SYNDICATION_WINDOW``, is a
sighting of that story, not a new headline; the first version is kept (an edited re-publication does not
overwrite it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from tracker.models import Headline, HeadlineRow, HeadlineTopic, Sighting
from tracker.series import Sums
from tracker.store import sources as source_state
from tracker.store.rollups import RollupKey, add_headline, apply_deltas

SYNDICATION_WINDOW = timedelta(days=3)
_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_HT = HeadlineTopic.__table__  # type: ignore[attr-defined]
_SI = Sighting.__table__  # type: ignore[attr-defined]
_CHUNK = 500
T = TypeVar("T")


@dataclass(slots=True)
class SaveReport:
    new: int = 0
    seen: int = 0


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(conn: Connection, table: Any) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _existing_by_key(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in _chunks(keys):
        for hid, key in conn.execute(select(_H.c.id, _H.c.dedupe_key).where(_H.c.dedupe_key.in_(part))):
            found[key] = hid
    return found


def _existing_by_fingerprint(conn: Connection, items: Sequence[Headline]) -> dict[str, list[tuple[int, datetime]]]:
    fps = sorted({h.title_fp for h in items})
    lo = min(h.published_at for h in items) - SYNDICATION_WINDOW
    hi = max(h.published_at for h in items) + SYNDICATION_WINDOW
    found: dict[str, list[tuple[int, datetime]]] = {}
    for part in _chunks(fps):
        stmt = select(_H.c.id, _H.c.title_fp, _H.c.published_at).where(
            _H.c.title_fp.in_(part), _H.c.published_at >= lo, _H.c.published_at <= hi
        )
        for hid, fp, published in conn.execute(stmt):
            found.setdefault(fp, []).append((hid, published))
    return found


def store_headlines(conn: Connection, source_id: int, items: Sequence[Headline], *, now: datetime) -> SaveReport:
    """Store one fetch's headlines inside the caller's transaction."""
    report = SaveReport()
    if not items:
        return report
    # One row per key within the batch (feeds repeat items).
    unique: dict[str, Headline] = {}
    for h in items:
        unique.setdefault(h.dedupe_key, h)
    batch = list(unique.values())

    seen_ids: set[int] = set()
    by_key = _existing_by_key(conn, list(unique))
    fresh: list[Headline] = []
    for h in batch:
        hid = by_key.get(h.dedupe_key)
        if hid is None:
            fresh.append(h)
        else:
            seen_ids.add(hid)
    if fresh:
        by_fp = _existing_by_fingerprint(conn, fresh)
        still: list[Headline] = []
        claimed_fp: dict[str, Headline] = {}
        for h in fresh:
            match = next(
                (hid for hid, when in by_fp.get(h.title_fp, ()) if abs(when - h.published_at) <= SYNDICATION_WINDOW),
                None,
            )
            if match is not None:
                seen_ids.add(match)
            elif (
                h.title_fp in claimed_fp
                and abs(claimed_fp[h.title_fp].published_at - h.published_at) <= SYNDICATION_WINDOW
            ):
                continue  # the same story twice in this batch under two URLs
            else:
                claimed_fp[h.title_fp] = h
                still.append(h)
        fresh = still

    new_ids: dict[str, int] = {}
    if fresh:
        rows = [
            {
                "dedupe_key": h.dedupe_key,
                "title_fp": h.title_fp,
                "title": h.title,
                "summary": h.summary,
                "url": h.url,
                "guid": h.guid,
                "publisher": h.publisher,
                "author": h.author,
                "source_id": source_id,
                "published_at": h.published_at,
                "published_raw": h.published_raw,
                "date_flag": h.date_flag,
                "first_seen_at": now,
                "language": h.language,
                "tagged": bool(h.topics),
                "topics": " ".join(t.key for t in h.topics),
                "compound": h.score.compound if h.score else None,
                "pos": h.score.pos if h.score else None,
                "neu": h.score.neu if h.score else None,
                "neg": h.score.neg if h.score else None,
                "scorer": h.score.scorer if h.score else None,
                "scorer_version": h.score.version if h.score else None,
                "sightings": 1,
            }
            for h in fresh
        ]
        stmt = (
            _insert(conn, _H).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_H.c.id, _H.c.dedupe_key)
        )
        for hid, key in conn.execute(stmt, rows):
            new_ids[key] = hid
        # A concurrent writer may have stored some of them between our look-up and our insert.
        lost = [h.dedupe_key for h in fresh if h.dedupe_key not in new_ids]
        if lost:
            seen_ids.update(_existing_by_key(conn, lost).values())

    deltas: dict[RollupKey, Sums] = {}
    topic_rows: list[dict[str, Any]] = []
    for h in fresh:
        hid = new_ids.get(h.dedupe_key)
        if hid is None:
            continue
        keys = [t.key for t in h.topics]
        for t in h.topics:
            topic_rows.append(
                {
                    "headline_id": hid,
                    "topic": t.key,
                    "published_at": h.published_at,
                    "relevance": t.relevance,
                    "in_title": t.in_title,
                }
            )
        add_headline(
            deltas,
            published_at=h.published_at,
            language=h.language,
            topics=keys,
            compound=h.score.compound if h.score else None,
        )
    if topic_rows:
        conn.execute(_insert(conn, _HT).on_conflict_do_nothing(index_elements=["headline_id", "topic"]), topic_rows)
    apply_deltas(conn, deltas)

    sighting_rows = [
        {"headline_id": hid, "source_id": source_id, "seen_at": now} for hid in (*new_ids.values(), *seen_ids)
    ]
    if seen_ids:
        # Count a sighting only the first time this source carries the story.
        stmt = (
            _insert(conn, _SI)
            .on_conflict_do_nothing(index_elements=["headline_id", "source_id"])
            .returning(_SI.c.headline_id)
        )
        fresh_sightings = {hid for (hid,) in conn.execute(stmt, sighting_rows)}
        bumped = sorted(fresh_sightings & seen_ids)
        for part in _chunks(bumped):
            conn.execute(update(_H).where(_H.c.id.in_(part)).values(sightings=_H.c.sightings + 1))
    elif sighting_rows:
        conn.execute(
            _insert(conn, _SI).on_conflict_do_nothing(index_elements=["headline_id", "source_id"]), sighting_rows
        )

    report.new = len(new_ids)
    report.seen = len(batch) - report.new
    return report


def save_fetch(
    engine: Engine,
    claim: source_state.Claim,
    items: Sequence[Headline],
    *,
    now: datetime,
    status: int | None,
    etag: str | None,
    last_modified: str | None,
    not_modified: bool = False,
) -> SaveReport:
    """Headlines of one successful fetch and the source's new state, committed together."""
    with engine.begin() as conn:
        report = store_headlines(conn, claim.id, items, now=now)
        source_state.record_success(
            conn,
            claim,
            now=now,
            status=status,
            etag=etag,
            last_modified=last_modified,
            not_modified=not_modified,
            new=report.new,
        )
    return report


def save_error(
    engine: Engine,
    claim: source_state.Claim,
    *,
    now: datetime,
    status: int | None,
    error: str,
    retry_at: datetime | None = None,
) -> None:
    with engine.begin() as conn:
        source_state.record_error(conn, claim, now=now, status=status, error=error, retry_at=retry_at)
