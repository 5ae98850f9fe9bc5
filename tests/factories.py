"""Plain factory functions that fill a test database through SQLAlchemy Core.

They write the same rows the ingest writes (headlines with their denormalised ``topics``, headline_topics,
one sighting per source, and rollups through ``tracker.store.rollups``), without fetching or parsing
anything, so the read side can be tested on hand-made data. They never decide anything the store decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from tracker.models import HeadlineRow, HeadlineTopic, Sighting, Source
from tracker.series import Sums
from tracker.store.rollups import RollupKey, add_headline, apply_deltas

_S = Source.__table__  # type: ignore[attr-defined]
_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_HT = HeadlineTopic.__table__  # type: ignore[attr-defined]
_SI = Sighting.__table__  # type: ignore[attr-defined]


@dataclass
class Item:
    title: str
    published_at: datetime
    topics: Sequence[str] = ()
    compound: float | None = 0.0
    language: str = "en"
    source: str = "feed-a"
    url: str | None = None
    publisher: str | None = "Example News"
    summary: str = ""
    date_flag: str = "ok"
    scorer: str | None = "vader"
    also_seen_in: Sequence[str] = field(default_factory=tuple)


def add_source(engine: Engine, name: str, *, errors: int = 0, last_error: str | None = None) -> int:
    with engine.begin() as conn:
        found = conn.execute(select(_S.c.id).where(_S.c.name == name)).scalar()
        if found is not None:
            return int(found)
        values: dict[str, Any] = {
            "name": name,
            "kind": "rss",
            "url": f"https://{name}.example.com/feed",
            "every_seconds": 1800,
            "enabled": True,
            "consecutive_errors": errors,
            "last_error": last_error,
            "last_new": 0,
            "items_total": 0,
        }
        if errors:
            values["last_error_at"] = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        return int(conn.execute(insert(_S).values(**values).returning(_S.c.id)).scalar_one())


def add_items(engine: Engine, items: Sequence[Item]) -> list[int]:
    """Store ``items`` as headlines (one transaction) and return their ids in order."""
    source_ids = {name: add_source(engine, name) for it in items for name in (it.source, *it.also_seen_in)}
    ids: list[int] = []
    deltas: dict[RollupKey, Sums] = {}
    with engine.begin() as conn:
        for it in items:
            key = hashlib.sha1(f"{it.title}|{it.published_at.isoformat()}|{it.url}".encode()).hexdigest()
            hid = conn.execute(
                insert(_H)
                .values(
                    dedupe_key=f"hash:{key}",
                    title_fp=key[:16],
                    title=it.title,
                    summary=it.summary,
                    url=it.url,
                    publisher=it.publisher,
                    source_id=source_ids[it.source],
                    published_at=it.published_at,
                    date_flag=it.date_flag,
                    first_seen_at=it.published_at,
                    language=it.language,
                    tagged=bool(it.topics),
                    topics=" ".join(it.topics),
                    compound=it.compound,
                    scorer=it.scorer if it.compound is not None else None,
                    sightings=1 + len(it.also_seen_in),
                )
                .returning(_H.c.id)
            ).scalar_one()
            ids.append(int(hid))
            for t in it.topics:
                conn.execute(
                    insert(_HT).values(
                        headline_id=hid, topic=t, published_at=it.published_at, relevance=1.0, in_title=True
                    )
                )
            for name in (it.source, *it.also_seen_in):
                conn.execute(insert(_SI).values(headline_id=hid, source_id=source_ids[name], seen_at=it.published_at))
            add_headline(
                deltas, published_at=it.published_at, language=it.language, topics=list(it.topics), compound=it.compound
            )
        apply_deltas(conn, deltas)
    return ids


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def sample_items() -> list[Item]:
    """A small, hand-checkable set: two days of NVDA and AI-bubble news, in two languages and two sources."""
    return [
        Item("Nvidia soars on record AI demand", at(2, 9), ("nvda",), 0.6, url="https://example.com/a"),
        Item("Nvidia shares slip", at(2, 10), ("nvda",), -0.4, url="https://example.com/b"),
        Item("AI bubble fears grow as Nvidia falls", at(2, 11), ("nvda", "ai_bubble"), -0.8, url="https://e.com/c"),
        Item("Nvidia unveils a new chip", at(3, 8), ("nvda",), None, url="https://example.com/d", scorer=None),
        Item(
            "La bulle de l'IA inquiète",
            at(3, 9),
            ("ai_bubble",),
            -0.3,
            language="fr",
            source="feed-fr",
            url="https://example.fr/e",
        ),
        Item(
            "AMD wins a data-centre deal",
            at(3, 15),
            ("amd",),
            0.5,
            url="https://example.com/f",
            also_seen_in=("feed-fr",),
        ),
        Item("Weather today", at(3, 16), (), 0.1, url="https://example.com/g"),
    ]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # a readiness flag, not a clock: nothing to fake here
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
