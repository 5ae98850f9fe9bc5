"""The alert rows: rules with their persisted state, state-change events, and the notification outbox.

Every function takes a SQLAlchemy ``Connection`` and works inside the caller's transaction, so evaluation can
write a state change, its event and its outbox rows atomically. This module also holds the bulk rollup read the
evaluator needs (many topics, one query). It must never send anything or decide anything about alert states.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, bindparam, cast, delete, func, insert, or_, select, update

from tracker.alerts.rules import Rule, RuleState
from tracker.durations import format_duration
from tracker.models import ALL_TOPIC, AlertEvent, AlertRule, HeadlineRow, HeadlineTopic, Notification, Rollup
from tracker.series import SUM_FIELDS

_R = AlertRule.__table__  # type: ignore[attr-defined]
_E = AlertEvent.__table__  # type: ignore[attr-defined]
_N = Notification.__table__  # type: ignore[attr-defined]
_T = Rollup.__table__  # type: ignore[attr-defined]
_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_HT = HeadlineTopic.__table__  # type: ignore[attr-defined]
_STATE_COLUMNS = (
    "state",
    "state_since",
    "pending_since",
    "last_value",
    "last_evaluated_at",
    "last_notified_at",
    "last_error",
    "told",
)


# ---------------------------------------------------------------------------------------------------
# Rules


def rule_from_row(row: Any) -> Rule:
    m = row._mapping if hasattr(row, "_mapping") else row
    try:
        channels = tuple(str(c) for c in json.loads(m["channels"] or "[]"))
    except (ValueError, TypeError):
        channels = ()
    return Rule(
        id=m["id"],
        name=m["name"],
        topic=m["topic"],
        metric=m["metric"],
        window_seconds=m["window_seconds"],
        op=m["op"],
        threshold=m["threshold"],
        min_headlines=m["min_headlines"],
        for_seconds=m["for_seconds"],
        clear_threshold=m["clear_threshold"],
        repeat_seconds=m["repeat_seconds"],
        channels=channels,
        silenced_until=m["silenced_until"],
        no_data=m["no_data"] or "nodata",
        on_error=m["on_error"] or "error",
    )


def state_from_row(row: Any) -> RuleState:
    m = row._mapping if hasattr(row, "_mapping") else row
    return RuleState(
        state=m["state"],
        state_since=m["state_since"],
        active_since=m["pending_since"],
        last_value=m["last_value"],
        last_evaluated_at=m["last_evaluated_at"],
        last_notified_at=m["last_notified_at"],
        last_error=m["last_error"],
        told=m["told"],
    )


def state_columns(state: RuleState) -> dict[str, Any]:
    return {
        "state": state.state,
        "state_since": state.state_since,
        "pending_since": state.active_since,
        "last_value": state.last_value,
        "last_evaluated_at": state.last_evaluated_at,
        "last_notified_at": state.last_notified_at,
        "last_error": state.last_error,
        "told": state.told,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def rule_dict(row: Any) -> dict[str, Any]:
    """A rule row as the API and ``tracker alerts list --format json`` show it (durations spelled ``6h``)."""
    m = row._mapping
    try:
        channels = json.loads(m["channels"] or "[]")
    except ValueError:
        channels = []
    return {
        "id": m["id"],
        "name": m["name"],
        "topic": m["topic"],
        "metric": m["metric"],
        "window": format_duration(timedelta(seconds=m["window_seconds"])),
        "op": m["op"],
        "threshold": m["threshold"],
        "min_headlines": m["min_headlines"],
        "for": format_duration(timedelta(seconds=m["for_seconds"])) if m["for_seconds"] else None,
        "clear_threshold": m["clear_threshold"],
        "repeat_interval": format_duration(timedelta(seconds=m["repeat_seconds"])),
        "channels": channels,
        "enabled": m["enabled"],
        "state": m["state"],
        "state_since": _iso(m["state_since"]),
        "last_value": m["last_value"],
        "last_evaluated_at": _iso(m["last_evaluated_at"]),
        "last_notified_at": _iso(m["last_notified_at"]),
        "last_error": m["last_error"],
        "silenced_until": _iso(m["silenced_until"]),
        "no_data": m["no_data"] or "nodata",
        "on_error": m["on_error"] or "error",
        "created_at": _iso(m["created_at"]),
        "updated_at": _iso(m["updated_at"]),
    }


def list_rules(conn: Connection, *, enabled_only: bool = False, for_update: bool = False) -> list[Any]:
    """Rule rows ordered by id. ``for_update`` locks them on PostgreSQL so two evaluators never race."""
    stmt = select(_R).order_by(_R.c.id)
    if enabled_only:
        stmt = stmt.where(_R.c.enabled.is_(True))
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return list(conn.execute(stmt))


def get_rule(conn: Connection, rule_id: int) -> Any | None:
    return conn.execute(select(_R).where(_R.c.id == rule_id)).first()


def get_rule_by_name(conn: Connection, name: str) -> Any | None:
    return conn.execute(select(_R).where(_R.c.name == name)).first()


def name_taken(conn: Connection, name: str, *, except_id: int | None = None) -> bool:
    stmt = select(_R.c.id).where(_R.c.name == name)
    if except_id is not None:
        stmt = stmt.where(_R.c.id != except_id)
    return conn.execute(stmt).first() is not None


def insert_rule(conn: Connection, columns: dict[str, Any], *, now: datetime) -> int:
    values = {**columns, "created_at": now, "updated_at": now, "state": "ok", "state_since": now}
    result = conn.execute(insert(_R).values(**values).returning(_R.c.id))
    return int(result.scalar_one())


def update_rule(conn: Connection, rule_id: int, columns: dict[str, Any], *, now: datetime) -> bool:
    """Change a rule's definition. Its state is kept: the next evaluation applies the new definition to it."""
    result = conn.execute(update(_R).where(_R.c.id == rule_id).values(**columns, updated_at=now))
    return bool(result.rowcount)


def set_silence(conn: Connection, rule_id: int, until: datetime | None) -> bool:
    """Mute a rule's notifications until ``until`` (None lifts the silence). False if there is no such rule."""
    result = conn.execute(update(_R).where(_R.c.id == rule_id).values(silenced_until=until))
    return bool(result.rowcount)


def delete_rule(conn: Connection, rule_id: int) -> bool:
    conn.execute(delete(_N).where(_N.c.rule_id == rule_id))
    conn.execute(delete(_E).where(_E.c.rule_id == rule_id))
    result = conn.execute(delete(_R).where(_R.c.id == rule_id))
    return bool(result.rowcount)


def save_states(conn: Connection, states: Sequence[tuple[int, RuleState]]) -> None:
    """Persist many rules' states with one executemany."""
    if not states:
        return
    stmt = update(_R).where(_R.c.id == bindparam("rid")).values(**{c: bindparam(f"v_{c}") for c in _STATE_COLUMNS})
    rows = [{"rid": rid, **{f"v_{k}": v for k, v in state_columns(st).items()}} for rid, st in states]
    conn.execute(stmt, rows)


# ---------------------------------------------------------------------------------------------------
# Events and outbox


def add_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(_E), list(rows))


def add_notifications(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(_N), list(rows))


def notification_ids(conn: Connection, event_ids: Sequence[str]) -> list[int]:
    if not event_ids:
        return []
    return [
        int(i)
        for i in conn.execute(select(_N.c.id).where(_N.c.event_id.in_(list(event_ids))).order_by(_N.c.id)).scalars()
    ]


def list_events(conn: Connection, *, rule_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    stmt = (
        select(_E.c.id, _E.c.rule_id, _R.c.name, _E.c.at, _E.c.from_state, _E.c.to_state, _E.c.value, _E.c.message)
        .join(_R, _R.c.id == _E.c.rule_id)
        .order_by(_E.c.at.desc(), _E.c.id.desc())
        .limit(limit)
    )
    if rule_id is not None:
        stmt = stmt.where(_E.c.rule_id == rule_id)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def list_notifications(conn: Connection, *, rule_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    stmt = (
        select(
            _N.c.id,
            _N.c.event_id,
            _N.c.rule_id,
            _N.c.channel,
            _N.c.status,
            _N.c.attempts,
            _N.c.created_at,
            _N.c.next_attempt_at,
            _N.c.delivered_at,
            _N.c.last_error,
            _N.c.payload,
        )
        .order_by(_N.c.created_at.desc(), _N.c.id.desc())
        .limit(limit)
    )
    if rule_id is not None:
        stmt = stmt.where(_N.c.rule_id == rule_id)
    out = []
    for r in conn.execute(stmt):
        d = dict(r._mapping)
        try:
            payload = json.loads(d.pop("payload"))
        except ValueError:
            payload = {}
        d["reason"] = payload.get("reason") if isinstance(payload, dict) else None
        out.append(d)
    return out


def due_notifications(
    conn: Connection, *, now: datetime, limit: int = 100, ids: Iterable[int] | None = None
) -> list[Any]:
    """Pending outbox rows whose time has come, oldest first, locked (SKIP LOCKED) on PostgreSQL."""
    stmt = (
        select(_N)
        .where(_N.c.status == "pending")
        .where(or_(_N.c.next_attempt_at.is_(None), _N.c.next_attempt_at <= now))
        .order_by(_N.c.created_at, _N.c.id)
        .limit(limit)
    )
    if ids is not None:
        stmt = stmt.where(_N.c.id.in_(list(ids)))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(conn.execute(stmt))


def lease_notifications(conn: Connection, ids: Sequence[int], *, until: datetime) -> None:
    """Push the rows' next attempt past the send, so a concurrent deliverer skips them and a crash retries them."""
    if ids:
        conn.execute(update(_N).where(_N.c.id.in_(list(ids))).values(next_attempt_at=until))


def record_delivery(
    conn: Connection,
    notification_id: int,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime | None,
    delivered_at: datetime | None,
    last_error: str | None,
) -> None:
    conn.execute(
        update(_N)
        .where(_N.c.id == notification_id)
        .values(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            delivered_at=delivered_at,
            last_error=None if last_error is None else last_error[:500],
        )
    )


# ---------------------------------------------------------------------------------------------------
# Reads for evaluation


def topic_hour_rows(
    conn: Connection, topics: Iterable[str], *, start: datetime, end: datetime
) -> list[tuple[str, int, tuple[Any, ...]]]:
    """(topic, hours since the epoch, the eight sums) per topic and hour in [start, end): one query, no datetimes.

    The hour number is computed by the database: turning tens of thousands of timestamps back into aware
    datetimes would cost more than the whole evaluation.
    """
    wanted = sorted(set(topics))
    if not wanted:
        return []
    if conn.dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", _T.c.bucket_start), BigInteger)
    else:
        epoch = cast(func.extract("epoch", _T.c.bucket_start), BigInteger)
    hour = (epoch / 3600).label("hour")
    cols = [func.sum(getattr(_T.c, f)) for f in SUM_FIELDS]
    stmt = (
        select(_T.c.topic, hour, *cols)
        .where(and_(_T.c.topic.in_(wanted), _T.c.bucket_start >= start, _T.c.bucket_start < end))
        .group_by(_T.c.topic, _T.c.bucket_start)
    )
    return [(row[0], int(row[1]), tuple(0 if v is None else v for v in row[2:])) for row in conn.execute(stmt)]


def recent_headlines(
    conn: Connection, *, topic: str, start: datetime, end: datetime, limit: int = 5
) -> list[dict[str, Any]]:
    """The newest headlines of a topic in [start, end): what a notification shows as the news behind it."""
    cols = (_H.c.title, _H.c.url, _H.c.publisher, _H.c.published_at, _H.c.compound)
    if topic == ALL_TOPIC:
        stmt = select(*cols).where(and_(_H.c.tagged.is_(True), _H.c.published_at >= start, _H.c.published_at < end))
        stmt = stmt.order_by(_H.c.published_at.desc(), _H.c.id.desc())
    else:
        stmt = (
            select(*cols)
            .join(_HT, _HT.c.headline_id == _H.c.id)
            .where(and_(_HT.c.topic == topic, _HT.c.published_at >= start, _HT.c.published_at < end))
            .order_by(_HT.c.published_at.desc(), _H.c.id.desc())
        )
    out = []
    for title, url, publisher, published_at, compound in conn.execute(stmt.limit(limit)):
        safe_url = url if isinstance(url, str) and url.lower().startswith(("http://", "https://")) else None
        out.append(
            {
                "title": (title or "")[:300],
                "url": None if safe_url is None else safe_url[:2000],
                "publisher": None if publisher is None else publisher[:100],
                "published_at": published_at.isoformat() if published_at else None,
                "compound": compound,
            }
        )
    return out
