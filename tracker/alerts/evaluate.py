"""Evaluation: compute every enabled rule's metric over the stored hourly rollups and run its state machine.

``evaluate_all`` reads all rules, fetches the rollups of every topic they need in ONE query (the longest
look-back, sliced in memory through prefix sums), steps each rule, and writes the new states, the
``alert_events`` rows and the outbox ``notifications`` rows in the same transaction: a crash leaves either the
old state or the new state with its notifications, never a state change whose notification is lost.
``preview`` replays the state machine hour by hour over stored history without writing anything.

A window ends with the current (partial) hour: at 12:30 a 6h window covers 07:00-12:59. Metric maths lives
in the pure ``TopicSeries`` / ``metric_value`` / ``replay``; only ``evaluate_all``, ``load_series`` and
``preview_rule`` touch the database. ``evaluate_all`` must never raise to the pipeline: it logs and records.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from tracker.alerts.rules import Notify, Rule, RuleState, Transition, step
from tracker.series import Sums, point_from_sums
from tracker.settings import Settings
from tracker.store import alerts as store

log = logging.getLogger(__name__)

HOUR = 3600
BASELINE_HOURS = 30 * 24  # volume_zscore compares against the same-length windows of the previous 30 days
HEADLINES_IN_PAYLOAD = 5
_POINT_METRICS = ("index", "mean_sentiment", "negative_share", "bubble_share")


def hour_index(when: datetime) -> int:
    """Hours since the epoch of the hour holding ``when``."""
    return int(when.timestamp()) // HOUR


def hour_start(index: int) -> datetime:
    return datetime.fromtimestamp(index * HOUR, tz=UTC)


class TopicSeries:
    """Dense cumulative sums over one topic's hours, so the sums of any span of hours cost a few subtractions.

    Built from (hour, Sums) rows, or from (hour index, eight sums) tuples with ``from_hours``; hours outside
    [start, end) count as empty.
    """

    __slots__ = ("_base", "_cum", "_len")

    def __init__(self, rows: Iterable[tuple[datetime, Sums]], *, start: int | None = None, end: int | None = None):
        items = [
            (
                hour_index(when),
                (s.headlines, s.scored, s.sum_compound, s.sum_sq_compound, s.positive, s.negative, s.neutral, s.bubble),
            )
            for when, s in rows
        ]
        self._build(items, start, end)

    @classmethod
    def from_hours(cls, items: Sequence[tuple[int, tuple[Any, ...]]], *, start: int, end: int) -> TopicSeries:
        series = cls.__new__(cls)
        series._build(items, start, end)
        return series

    def _build(self, items: Sequence[tuple[int, tuple[Any, ...]]], start: int | None, end: int | None) -> None:
        if start is None:
            start = min((h for h, _ in items), default=0)
        if end is None:
            end = max((h + 1 for h, _ in items), default=start)
        length = max(0, end - start)
        fields: list[list[float]] = [[0] * length for _ in range(8)]
        for h, values in items:
            i = h - start
            if 0 <= i < length:
                for k in range(8):
                    fields[k][i] += values[k]
        self._base = start
        self._len = length
        self._cum = [list(itertools.accumulate(f, initial=0)) for f in fields]

    def _bounds(self, start: int, end: int) -> tuple[int, int]:
        i = min(max(start - self._base, 0), self._len)
        j = min(max(end - self._base, 0), self._len)
        return i, max(i, j)

    def sums(self, start: int, end: int) -> Sums:
        """Sums of the hours in [start, end) (hour indexes)."""
        i, j = self._bounds(start, end)
        d = [c[j] - c[i] for c in self._cum]
        return Sums(
            headlines=round(d[0]),
            scored=round(d[1]),
            sum_compound=d[2],
            sum_sq_compound=d[3],
            positive=round(d[4]),
            negative=round(d[5]),
            neutral=round(d[6]),
            bubble=round(d[7]),
        )

    def count(self, start: int, end: int) -> int:
        i, j = self._bounds(start, end)
        c = self._cum[0]
        return round(c[j] - c[i])

    def counts_before(self, end: int, width: int, k: int) -> list[int]:
        """Headline counts of the ``k`` windows of ``width`` hours that precede the window ending at ``end``."""
        c = self._cum[0]
        first = end - width - k * width - self._base  # cumulative index where the oldest window starts
        last = end - width - self._base  # where the newest of them ends
        if first >= 0 and last <= self._len:
            # One strided slice instead of k pairs of lookups: a 1h z-score has 720 baseline windows.
            marks = c[first : last + 1 : width]
            return [round(b - a) for a, b in itertools.pairwise(marks)][::-1]
        return [self.count(end - (i + 1) * width, end - i * width) for i in range(1, k + 1)]


EMPTY_SERIES = TopicSeries(())


def lookback_hours(rule: Rule) -> int:
    """How many hours before the window's end a rule's value depends on."""
    w = max(1, rule.window_seconds // HOUR)
    if rule.metric == "volume_zscore":
        return w * (1 + baseline_windows(w))
    return w


def baseline_windows(window_hours: int) -> int:
    return BASELINE_HOURS // max(1, window_hours)


def metric_value(rule: Rule, series: TopicSeries, end: int) -> float | None:
    """The rule's metric for the window ending at hour index ``end`` (exclusive); None means no data."""
    w = max(1, rule.window_seconds // HOUR)
    start = end - w
    if rule.metric == "volume":
        n = series.count(start, end)
        return float(n) if n >= rule.min_headlines else None
    if rule.metric == "volume_zscore":
        n = series.count(start, end)
        if n < rule.min_headlines:
            return None
        k = baseline_windows(w)
        if k < 2:
            return None
        past = series.counts_before(end, w, k)
        mean = sum(past) / k
        var = sum((x - mean) ** 2 for x in past) / (k - 1)
        if var <= 0:
            return None  # a flat baseline has no spread to measure a surprise against
        return round((n - mean) / math.sqrt(var), 4)
    sums = series.sums(start, end)
    if sums.headlines < rule.min_headlines:
        return None
    if rule.metric not in _POINT_METRICS:
        raise ValueError(f"unknown metric {rule.metric!r}")
    value = getattr(point_from_sums(hour_start(start), sums), rule.metric)
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------------
# Replay (preview)


@dataclass
class Replay:
    """What the state machine would have done over a stretch of history."""

    start: datetime
    end: datetime
    hours: int = 0
    fired: int = 0
    resolved: int = 0
    hours_by_state: dict[str, int] = field(default_factory=dict)
    values: list[float | None] = field(default_factory=list)  # one per hour
    events: list[dict[str, Any]] = field(default_factory=list)  # the first transitions, for display

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "hours": self.hours,
            "fired": self.fired,
            "resolved": self.resolved,
            "hours_by_state": self.hours_by_state,
            "values": self.values,
            "events": self.events,
        }


def replay(rule: Rule, series: TopicSeries, *, first_end: int, last_end: int, max_events: int = 50) -> Replay:
    """Step ``rule`` once an hour for windows ending at hour indexes first_end..last_end (inclusive). Pure."""
    out = Replay(start=hour_start(first_end), end=hour_start(last_end))
    state = RuleState(state="ok")
    for end in range(first_end, last_end + 1):
        now = hour_start(end)
        try:
            value, error = metric_value(rule, series, end), None
        except (ValueError, ArithmeticError) as exc:
            value, error = None, str(exc)
        state, decisions = step(rule, state, value, error, now)
        out.hours += 1
        out.values.append(value)
        out.hours_by_state[state.state] = out.hours_by_state.get(state.state, 0) + 1
        for d in decisions:
            if isinstance(d, Notify):
                if d.reason == "firing":
                    out.fired += 1
                elif d.reason == "resolved":
                    out.resolved += 1
            elif isinstance(d, Transition) and len(out.events) < max_events:
                out.events.append({"at": now.isoformat(), "from": d.from_state, "to": d.to_state, "value": d.value})
    return out


# ---------------------------------------------------------------------------------------------------
# Database side


def load_series(conn: Connection, rules: Sequence[Rule], *, end: int, extra_hours: int = 0) -> dict[str, TopicSeries]:
    """Every topic the rules need, from ONE rollup query spanning the longest look-back."""
    if not rules:
        return {}
    start = end - max(lookback_hours(r) for r in rules) - extra_hours
    topics = {r.topic for r in rules}
    grouped: dict[str, list[tuple[int, tuple[Any, ...]]]] = {t: [] for t in topics}
    for topic, hour, values in store.topic_hour_rows(conn, topics, start=hour_start(start), end=hour_start(end)):
        grouped[topic].append((hour, values))
    return {t: TopicSeries.from_hours(items, start=start, end=end) for t, items in grouped.items()}


@dataclass
class EvaluationReport:
    at: datetime
    rules: int = 0
    transitions: int = 0
    notifications: int = 0
    states: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def build_payload(
    rule: Rule,
    decision: Notify,
    *,
    event_id: str,
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    headlines: list[dict[str, Any]],
    test: bool = False,
) -> str:
    """The JSON body of a notification: the same document for webhooks, and the data e-mails are built from."""
    body = {
        "event_id": event_id,
        "test": test,
        "reason": decision.reason,
        "at": now.isoformat(),
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "topic": rule.topic,
            "metric": rule.metric,
            "window": rule.window,
            "op": rule.op,
            "threshold": rule.threshold,
            "clear_threshold": rule.clear_threshold,
        },
        "value": decision.value,
        "window": {"start": window_start.isoformat(), "end": window_end.isoformat(), "length": rule.window},
        "state": {"from": decision.previous, "to": decision.state},
        "message": decision.message,
        "headlines": headlines,
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def outbox_rows(
    conn: Connection,
    rule: Rule,
    decision: Notify,
    *,
    now: datetime,
    end: int,
    cache: dict[tuple[str, int], list[dict[str, Any]]] | None = None,
    test: bool = False,
) -> list[dict[str, Any]]:
    """One outbox row per channel of the rule, each with its own event id, headlines of the window attached."""
    if not rule.channels:
        return []
    w = max(1, rule.window_seconds // HOUR)
    window_start, window_end = hour_start(end - w), hour_start(end)
    key = (rule.topic, w)
    headlines = None if cache is None else cache.get(key)
    if headlines is None:
        headlines = store.recent_headlines(
            conn, topic=rule.topic, start=window_start, end=window_end, limit=HEADLINES_IN_PAYLOAD
        )
        if cache is not None:
            cache[key] = headlines
    rows = []
    for channel in rule.channels:
        event_id = str(uuid.uuid4())
        rows.append(
            {
                "event_id": event_id,
                "rule_id": rule.id,
                "channel": channel,
                "payload": build_payload(
                    rule,
                    decision,
                    event_id=event_id,
                    now=now,
                    window_start=window_start,
                    window_end=window_end,
                    headlines=headlines,
                    test=test,
                ),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
    return rows


def _evaluate(conn: Connection, report: EvaluationReport, now: datetime) -> None:
    rows = store.list_rules(conn, enabled_only=True, for_update=True)
    rules = [(store.rule_from_row(r), store.state_from_row(r)) for r in rows]
    report.rules = len(rules)
    if not rules:
        return
    end = hour_index(now) + 1
    data_error: str | None = None
    series: dict[str, TopicSeries] = {}
    try:
        with conn.begin_nested():  # a failed read must not poison the transaction that records the error
            series = load_series(conn, [r for r, _ in rules], end=end)
    except Exception as exc:
        data_error = f"reading the rollups failed: {type(exc).__name__}: {exc}"[:300]
        report.errors.append(data_error)
        log.warning("alert evaluation: %s", data_error)
    states: list[tuple[int, RuleState]] = []
    events: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for rule, state in rules:
        error = data_error
        value: float | None = None
        if error is None:
            try:
                value = metric_value(rule, series.get(rule.topic, EMPTY_SERIES), end)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        new_state, decisions = step(rule, state, value, error, now)
        states.append((rule.id, new_state))
        report.states[new_state.state] = report.states.get(new_state.state, 0) + 1
        for d in decisions:
            if isinstance(d, Transition):
                events.append(
                    {
                        "rule_id": rule.id,
                        "at": now,
                        "from_state": d.from_state,
                        "to_state": d.to_state,
                        "value": d.value,
                        "message": d.message,
                    }
                )
            else:
                outbox.extend(outbox_rows(conn, rule, d, now=now, end=end, cache=cache))
    store.save_states(conn, states)
    store.add_events(conn, events)
    store.add_notifications(conn, outbox)
    report.transitions = len(events)
    report.notifications = len(outbox)


def evaluate_all(engine: Engine, settings: Settings, *, now: datetime) -> EvaluationReport:
    """Evaluate every enabled rule at ``now`` and persist states, events and outbox rows atomically.

    Never raises: a failure is logged and returned in ``report.errors`` (and nothing is half-written).
    """
    report = EvaluationReport(at=now)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            _evaluate(conn, report, now)
    except Exception as exc:
        message = f"alert evaluation failed: {type(exc).__name__}: {exc}"[:500]
        log.exception("alert evaluation failed")
        report.errors.append(message)
        report.transitions = report.notifications = 0
    report.seconds = time.perf_counter() - started
    return report


def recent_values(rule: Rule, series: TopicSeries, *, end: int, hours: int) -> list[float | None]:
    """The metric's value for each of the last ``hours`` windows (oldest first): a sparkline's data."""
    out: list[float | None] = []
    for e in range(end - hours + 1, end + 1):
        try:
            out.append(metric_value(rule, series, e))
        except (ValueError, ArithmeticError):
            out.append(None)
    return out


def preview_rule(engine: Engine, rule: Rule, *, now: datetime, days: int = 90) -> Replay:
    """How the rule would have behaved hour by hour over the last ``days`` of stored data (writes nothing)."""
    end = hour_index(now) + 1
    hours = days * 24
    with engine.connect() as conn:
        series = load_series(conn, [rule], end=end, extra_hours=hours).get(rule.topic, EMPTY_SERIES)
    return replay(rule, series, first_end=end - hours + 1, last_end=end)
