"""Source rows: created from the config, claimed when due, updated after each fetch.

The database is the schedule (as in Miniflux): each source has ``next_fetch_at``; a tick claims the due ones
with a lease so that two collectors never fetch the same source in one interval. On PostgreSQL the claim is
``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite the claiming transaction holds the write lock (BEGIN IMMEDIATE).
A lease whose holder process died on this host is taken over at once; others expire after ``LEASE``.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.engine import Engine

from tracker.config import Config, SourceConfig
from tracker.durations import parse_duration
from tracker.models import Source

LEASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=24)
_S = Source.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Claim:
    """A source this process holds the lease on, with what the fetch needs."""

    id: int
    name: str
    kind: str
    url: str
    language: str | None
    every_seconds: int
    etag: str | None
    last_modified: str | None
    consecutive_errors: int
    repeats_keys: bool = False  # the feed has given several stories one guid (clean.disambiguate_keys)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str | None) -> bool:
    """True when the lease belongs to a process of this host that no longer runs."""
    if not holder or ":" not in holder:
        return False
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _every(src: SourceConfig, config: Config) -> int:
    return int(parse_duration(src.every or config.settings.default_every).total_seconds())


def sync_sources(conn: Connection, config: Config, *, now: datetime) -> None:
    """Make the source rows match the config: add new ones (due now), update changed ones, disable removed ones."""
    existing = {
        row.name: row
        for row in conn.execute(select(_S.c.name, _S.c.kind, _S.c.url, _S.c.language, _S.c.every_seconds, _S.c.enabled))
    }
    wanted = {s.name: s for s in config.sources}
    for name, src in wanted.items():
        values = {
            "kind": src.kind,
            "url": src.url,
            "language": src.language,
            "every_seconds": _every(src, config),
            "enabled": src.enabled,
        }
        row = existing.get(name)
        if row is None:
            conn.execute(_S.insert().values(name=name, next_fetch_at=now, **values))
        elif any(getattr(row, k) != v for k, v in values.items()):
            changes: dict[str, object] = dict(values)
            if row.url != src.url:  # another URL: its validators and error history do not apply
                changes.update(etag=None, last_modified=None, consecutive_errors=0, next_fetch_at=now)
            conn.execute(update(_S).where(_S.c.name == name).values(**changes))
    gone = [name for name, row in existing.items() if name not in wanted and row.enabled]
    if gone:
        conn.execute(update(_S).where(_S.c.name.in_(gone)).values(enabled=False))


def claim_due(
    engine: Engine,
    *,
    now: datetime,
    holder: str,
    names: list[str] | None = None,
    force: bool = False,
    limit: int | None = None,
) -> list[Claim]:
    """Lease the enabled sources that are due (all of ``names`` or every source when ``force``)."""
    with engine.begin() as conn:
        cond = [_S.c.enabled.is_(True)]
        if names:
            cond.append(_S.c.name.in_(names))
        if not force:
            cond.append(or_(_S.c.next_fetch_at.is_(None), _S.c.next_fetch_at <= now))
        stmt = select(_S).where(*cond).order_by(_S.c.next_fetch_at, _S.c.id)
        if limit:
            stmt = stmt.limit(limit)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = conn.execute(stmt).fetchall()
        claims: list[Claim] = []
        for row in rows:
            leased = row.lease_until is not None and row.lease_until > now and row.lease_holder != holder
            if leased and not _holder_is_dead(row.lease_holder):
                continue
            claims.append(
                Claim(
                    id=row.id,
                    name=row.name,
                    kind=row.kind,
                    url=row.url,
                    language=row.language,
                    every_seconds=row.every_seconds,
                    etag=row.etag,
                    last_modified=row.last_modified,
                    consecutive_errors=row.consecutive_errors,
                    repeats_keys=bool(row.repeats_keys),
                )
            )
        if claims:
            conn.execute(
                update(_S)
                .where(_S.c.id.in_([c.id for c in claims]))
                .values(lease_holder=holder, lease_until=now + LEASE)
            )
        return claims


def backoff(every_seconds: int, errors: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay before retrying a failing source: doubles per consecutive error, with jitter, capped at 24 h."""
    base = max(60, every_seconds) * (2 ** max(0, min(errors - 1, 10)))
    jitter = (rng or random).uniform(0.9, 1.1)
    return min(MAX_BACKOFF, timedelta(seconds=base * jitter))


def record_success(
    conn: Connection,
    claim: Claim,
    *,
    now: datetime,
    status: int | None,
    etag: str | None,
    last_modified: str | None,
    not_modified: bool,
    new: int,
    repeats_keys: bool = False,
) -> None:
    """Source state after a usable answer, in the same transaction as the items it produced."""
    values: dict[str, object] = {
        "last_fetch_at": now,
        "last_success_at": now,
        "last_status": status,
        "last_error": None,
        "consecutive_errors": 0,
        "next_fetch_at": now + timedelta(seconds=claim.every_seconds),
        "lease_holder": None,
        "lease_until": None,
        "last_new": new,
        "items_total": _S.c.items_total + new,
    }
    if repeats_keys and not claim.repeats_keys:
        values["repeats_keys"] = True
    if not not_modified or etag or last_modified:
        # A 304 may carry fresher validators; a 200 replaces them (None when the server forbids caching).
        values["etag"] = etag
        values["last_modified"] = last_modified
    conn.execute(update(_S).where(_S.c.id == claim.id).values(**values))


def record_error(
    conn: Connection,
    claim: Claim,
    *,
    now: datetime,
    status: int | None,
    error: str,
    retry_at: datetime | None = None,
) -> None:
    """Source state after a failure: the error is shown, the source backs off, validators stay as they were."""
    errors = claim.consecutive_errors + 1
    next_at = now + backoff(claim.every_seconds, errors)
    if retry_at is not None:
        next_at = max(next_at, min(retry_at, now + MAX_BACKOFF))
    conn.execute(
        update(_S)
        .where(_S.c.id == claim.id)
        .values(
            last_fetch_at=now,
            last_error_at=now,
            last_status=status,
            last_error=error[:500],
            consecutive_errors=errors,
            next_fetch_at=next_at,
            lease_holder=None,
            lease_until=None,
            last_new=0,
        )
    )


def list_sources(engine: Engine) -> list[Source]:
    from sqlmodel import Session

    with Session(engine) as session:
        return list(session.exec(select(Source).order_by(Source.name)).scalars())  # type: ignore[call-overload]
