"""Benchmark: one alert evaluation cycle of 1,000 rules over two years of hourly rollups for 40 topics.

Generates (deterministically, seed 7) the rollups a ~2-million-headline database would hold, through the
project's own ``apply_deltas``, then times ``evaluate_all`` (median of several cycles, plus the first cycle,
which writes an event for most rules) and, beside it, the naive way: one ``hourly_sums`` query per rule.
Prints a table. Not a test: the machine is shared, so read the ratio and the medians.

    .venv/bin/python bench/bench_alerts.py                      # SQLite file in /tmp
    .venv/bin/python bench/bench_alerts.py --url postgresql+psycopg://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from tracker.alerts.evaluate import (
    TopicSeries,
    evaluate_all,
    hour_index,
    hour_start,
    metric_value,
)
from tracker.alerts.rules import METRICS, RuleIn
from tracker.models import AlertEvent, AlertRule, Notification, Rollup
from tracker.series import Sums
from tracker.settings import Settings
from tracker.store import alerts as store
from tracker.store.engine import open_engine
from tracker.store.rollups import apply_deltas, hourly_sums

_ROLLUPS = Rollup.__table__  # type: ignore[attr-defined]
_OUTBOX = Notification.__table__  # type: ignore[attr-defined]
_EVENTS = AlertEvent.__table__  # type: ignore[attr-defined]
_RULES = AlertRule.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
TOPICS = [f"topic_{i:02d}" for i in range(40)]
YEARS = 2
WINDOWS = ["1h", "6h", "24h", "7d"]


def generate(engine, *, seed: int = 7) -> tuple[int, float]:
    """Rollups for 40 topics + all over two years of hours; returns (headlines under 'all', seconds)."""
    rng = random.Random(seed)
    started = time.perf_counter()
    end = hour_index(NOW) + 1
    hours = YEARS * 365 * 24
    total = 0
    batch: dict = {}
    for h in range(end - hours, end):
        when = hour_start(h)
        daily = 1.0 + 0.6 * ((h % 24) in range(12, 20))
        all_sums = Sums()
        for t_i, topic in enumerate(TOPICS):
            lam = (0.6 + (t_i % 7) * 1.0) * daily
            n = int(rng.expovariate(1 / lam)) if rng.random() < 0.9 else 0
            if n == 0:
                continue
            mood = rng.gauss(-0.05 if t_i % 3 else 0.1, 0.25)
            comp = [max(-1.0, min(1.0, rng.gauss(mood, 0.35))) for _ in range(n)]
            s = Sums(
                headlines=n,
                scored=n,
                sum_compound=sum(comp),
                sum_sq_compound=sum(c * c for c in comp),
                positive=sum(c >= 0.05 for c in comp),
                negative=sum(c <= -0.05 for c in comp),
                neutral=sum(-0.05 < c < 0.05 for c in comp),
                bubble=int(n * 0.1),
            )
            all_sums.add(s)
            if n >= 2 and rng.random() < 0.2:
                # Some hours carry French headlines too: the evaluator must add languages together.
                fr = Sums(1, 1, comp[0], comp[0] ** 2, int(comp[0] >= 0.05), int(comp[0] <= -0.05), 0, 0)
                fr.neutral = 1 - fr.positive - fr.negative
                batch[(topic, when, "fr")] = fr
                s.headlines -= 1
                s.scored -= 1
                s.sum_compound -= comp[0]
                s.sum_sq_compound -= comp[0] ** 2
                s.positive -= fr.positive
                s.negative -= fr.negative
                s.neutral -= fr.neutral
            batch[(topic, when, "en")] = s
        if all_sums.headlines:
            batch[("all", when, "en")] = all_sums
            total += all_sums.headlines
        if len(batch) > 50_000:
            with engine.begin() as conn:
                apply_deltas(conn, batch)
            batch = {}
    with engine.begin() as conn:
        apply_deltas(conn, batch)
    return total, time.perf_counter() - started


def make_rules(engine, n: int, *, seed: int = 11) -> None:
    rng = random.Random(seed)
    with engine.begin() as conn:
        conn.execute(delete(_OUTBOX))
        conn.execute(delete(_EVENTS))
        conn.execute(delete(_RULES))
        for i in range(n):
            metric = METRICS[i % len(METRICS)]
            threshold = {
                "index": 50.0,
                "mean_sentiment": -0.1,
                "negative_share": 0.5,
                "bubble_share": 0.2,
                "volume": 20.0,
                "volume_zscore": 2.0,
            }[metric] + rng.uniform(-0.05, 0.05)
            body = {
                "name": f"rule {i}",
                "topic": rng.choice([*TOPICS, "all"]),
                "metric": metric,
                "window": rng.choice(WINDOWS),
                "op": rng.choice("<>"),
                "threshold": threshold,
                "min_headlines": rng.choice([0, 1, 5]),
                "for": rng.choice([None, "1h", "6h"]),
                "repeat_interval": "24h",
                # A few rules with a channel: their notifications go to the outbox in the same transaction.
                "channels": ["https://hooks.example.com/x"] if i % 50 == 0 else [],
            }
            store.insert_rule(conn, RuleIn.model_validate(body).to_columns(), now=NOW - timedelta(days=1))


def naive_cycle(engine, sample: int) -> float:
    """One query per rule (hourly_sums), the way a first implementation would do it: seconds per rule."""
    with engine.connect() as conn:
        rules = [store.rule_from_row(r) for r in store.list_rules(conn)][:sample]
        started = time.perf_counter()
        end = hour_index(NOW) + 1
        for rule in rules:
            w = rule.window_seconds // 3600
            span = w * (1 + 720 // w) if rule.metric == "volume_zscore" else w
            rows = hourly_sums(conn, topic=rule.topic, start=hour_start(end - span), end=hour_start(end))
            metric_value(rule, TopicSeries(rows), end)
        return (time.perf_counter() - started) / len(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:////tmp/bench_alerts.db")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the rollups")
    args = parser.parse_args()

    engine = open_engine(args.url)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(_ROLLUPS)).scalar_one()
    if rows == 0 or args.rebuild:
        with engine.begin() as conn:
            conn.execute(delete(_ROLLUPS))
        total, secs = generate(engine)
        print(f"generated rollups for {total:,} headlines (topic 'all') in {secs:.1f} s")
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(_ROLLUPS)).scalar_one()
        headlines = conn.execute(select(func.sum(_ROLLUPS.c.headlines)).where(_ROLLUPS.c.topic == "all")).scalar_one()
    make_rules(engine, args.rules)
    settings = Settings(database_url=args.url)

    first = evaluate_all(engine, settings, now=NOW)
    assert first.ok, first.errors
    times = []
    last = first
    for i in range(args.cycles):
        last = evaluate_all(engine, settings, now=NOW + timedelta(minutes=i + 1))
        assert last.ok, last.errors
        times.append(last.seconds)
    naive = naive_cycle(engine, sample=min(100, args.rules))

    print(f"database        {engine.dialect.name}: {rows:,} rollup rows, {headlines:,} headlines under 'all'")
    print(f"rules           {args.rules} over {len(TOPICS)} topics + all, windows {', '.join(WINDOWS)}")
    print(f"first cycle     {first.seconds * 1000:8.1f} ms  ({first.transitions} events, {first.notifications} outbox)")
    print(f"steady cycle    {statistics.median(times) * 1000:8.1f} ms  median of {len(times)} "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")  # fmt: skip
    print(f"states          {last.states}")
    print(f"naive per rule  {naive * 1000:8.2f} ms  -> {naive * args.rules:.2f} s for {args.rules} rules "
          f"({naive * args.rules / statistics.median(times):.0f}x the bulk cycle)")  # fmt: skip


if __name__ == "__main__":
    main()
