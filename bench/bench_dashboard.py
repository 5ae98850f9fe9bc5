"""Dashboard benchmark: a large generated database, then the API, the overview page and the CSV export.

    python bench/bench_dashboard.py                       # SQLite file in /tmp, 2 M headlines, 2 years, 40 topics
    python bench/bench_dashboard.py --database-url postgresql+psycopg://root@127.0.0.1:5432/bench
    python bench/bench_dashboard.py --headlines 200000    # smaller, quicker

The generator is deterministic (``--seed``) and stores its headlines through the ingest's own
``tracker.store.ingest.store_headlines`` (headlines, topic links, sightings, rollups), in big batches. An existing database with the same number of headlines is reused
(``--regenerate`` to force). Prints a table; never touches any database but the one given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tracker.config import Config, TopicConfig, load_config  # noqa: E402
from tracker.models import Headline, HeadlineRow, HeadlineTopic, Rollup, Score, Sighting, Source, TopicHit  # noqa: E402
from tracker.store.engine import open_engine  # noqa: E402
from tracker.store.ingest import store_headlines  # noqa: E402

END = datetime(2026, 11, 30, tzinfo=UTC)
_H = HeadlineRow.__table__  # type: ignore[attr-defined]
_HT = HeadlineTopic.__table__  # type: ignore[attr-defined]
_SI = Sighting.__table__  # type: ignore[attr-defined]
_S = Source.__table__  # type: ignore[attr-defined]
_R = Rollup.__table__  # type: ignore[attr-defined]
WORDS = (
    "Nvidia",
    "AMD",
    "chips",
    "rally",
    "slump",
    "bubble",
    "capex",
    "data centre",
    "record",
    "warns",
    "AI",
    "demand",
)


def bench_config(n_topics: int) -> Config:
    """The built-in topics, padded with synthetic themes up to ``n_topics``."""
    base = load_config(None)
    topics = list(base.topics)[:n_topics]
    i = 0
    while len(topics) < n_topics:
        topics.append(
            TopicConfig(key=f"bench_{i:02d}", label=f"Bench theme {i:02d}", kind="theme", terms=[f"bench{i}"])
        )
        i += 1
    return Config(path="<bench>", settings=base.settings, sources=base.sources, topics=topics)


def headline_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_H)).scalar_one())


def generate(engine: Engine, config: Config, *, n: int, days: int, seed: int, batch: int = 20_000) -> float:
    rng = random.Random(seed)
    keys = config.topic_keys()
    weights = [1.0 / (1 + i * 0.15) for i in range(len(keys))]  # a few topics carry most of the news
    start = END - timedelta(days=days)
    span = days * 86400
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for table in (_R, _SI, _HT, _H, _S):
            conn.execute(delete(table))
        conn.execute(
            insert(_S),
            [
                {"id": i + 1, "name": f"bench-source-{i:02d}", "kind": "rss", "url": f"https://s{i}.example.com/feed",
                 "every_seconds": 1800, "enabled": True, "consecutive_errors": 1 if i == 0 else 0,
                 "last_error": "HTTP 503" if i == 0 else None, "last_new": 0, "items_total": 0}
                for i in range(20)
            ],
        )  # fmt: skip
    hid = 0
    while hid < n:
        size = min(batch, n - hid)
        # Ingest stores news roughly in the order it happens: each batch covers the next slice of time.
        lo_s, hi_s = span * hid // n, span * (hid + size) // n
        offsets = sorted(rng.randrange(lo_s, max(lo_s + 1, hi_s)) for _ in range(size))
        by_source: dict[int, list[Headline]] = {}
        for offset in offsets:
            hid += 1
            when = start + timedelta(seconds=offset)
            k = rng.choice((1, 1, 1, 2, 2, 3))
            topics = sorted(set(rng.choices(keys, weights=weights, k=k)))
            if rng.random() < 0.08 and "ai_bubble" not in topics:
                topics.append("ai_bubble")
            lang = "en" if rng.random() < 0.8 else ("fr" if rng.random() < 0.6 else "de")
            compound = None if rng.random() < 0.03 else max(-1.0, min(1.0, round(rng.gauss(0.02, 0.45), 4)))
            src = rng.randrange(20) + 1
            title = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {hid}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
            by_source.setdefault(src, []).append(
                Headline(
                    dedupe_key=f"url:https://news.example.com/{hid}", title_fp=f"fp{hid}", title=title, summary="",
                    url=f"https://news.example.com/{hid}", guid=None, publisher=f"Publisher {src}", author=None,
                    published_at=when, published_raw=None, date_flag="ok", language=lang,
                    topics=[TopicHit(t, 1.0, True) for t in topics],
                    score=None if compound is None else Score(compound, 0.0, 1.0, 0.0, "vader-finance-en", "bench"),
                )
            )  # fmt: skip
        # Through the store's own ingest, so the database is the one users' collections build.
        with engine.begin() as conn:
            for src, items in by_source.items():
                store_headlines(conn, src, items, now=END)
        if hid % 200_000 == 0 or hid == n:
            print(f"  generated {hid:,} headlines in {time.perf_counter() - t0:,.0f} s", file=sys.stderr, flush=True)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('headlines', 'id'), (SELECT max(id) FROM headlines))")
            )
        else:
            conn.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        # The steady state autovacuum reaches on a running server: statistics, and a visibility map that lets
        # index-only scans skip the table (without it every index entry is checked against its row).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    return time.perf_counter() - t0


def _median_ms(fn: Any, runs: int) -> tuple[float, float]:
    fn()  # warm-up (templates compiled, plan cached)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def time_app(url: str, config: Config, runs: int) -> list[tuple[str, float, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from dashboards.app import create_app
    from tracker.store import queries

    engine = open_engine(url)
    app = create_app(config, engine=engine, clock=lambda: END)
    year = f"start={(END - timedelta(days=365)):%Y-%m-%dT%H:%M:%SZ}&end={END:%Y-%m-%dT%H:%M:%SZ}"
    results = []
    with TestClient(app) as client:

        def get(path: str) -> Any:
            def run() -> None:
                r = client.get(path)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")

            return run

        results.append(
            ("/api/series nvda, 1 year, daily", *_median_ms(get(f"/api/series?topic=nvda&bucket=day&{year}"), runs))
        )
        results.append(
            ("/api/series all, 1 year, daily", *_median_ms(get(f"/api/series?topic=all&bucket=day&{year}"), runs))
        )
        results.append(
            (
                "/api/series nvda, 1 year, hourly",
                *_median_ms(get(f"/api/series?topic=nvda&bucket=hour&{year}"), max(5, runs // 4)),
            )
        )
        results.append(("queries.series nvda, 1 year, daily (no HTTP)", *_median_ms(
            lambda: queries.series(engine, topic="nvda", bucket="day", start=END - timedelta(days=365), end=END), runs)))  # fmt: skip
        results.append(("/ overview, 30 d, daily, 40 topics", *_median_ms(get("/"), max(5, runs // 2))))
        results.append(("/ overview, 1 y, weekly, 40 topics", *_median_ms(get("/?range=1y"), max(5, runs // 2))))
        results.append(("/topics/nvda, 30 d", *_median_ms(get("/topics/nvda"), max(5, runs // 2))))
        results.append(("/api/headlines nvda, 30 d, page 1", *_median_ms(get("/api/headlines?topic=nvda"), runs)))
    return results


_EXPORT_CHILD = r"""
import json, resource, sys, time
from datetime import datetime, timedelta, UTC
sys.path.insert(0, sys.argv[1])
from tracker.store.engine import open_engine
from tracker.store import queries
from tracker.export import iter_headlines_csv
url, mode, limit = sys.argv[2], sys.argv[3], int(sys.argv[4])
end = datetime(2026, 11, 30, tzinfo=UTC)
engine = open_engine(url)
# The newest `limit` headlines: find the start time that gives that many (by the published_at index).
with engine.connect() as conn:
    from sqlalchemy import text
    row = conn.execute(text("SELECT published_at FROM headlines ORDER BY published_at DESC LIMIT 1 OFFSET :n"), {"n": limit - 1}).first()
start = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
start = start if start.tzinfo else start.replace(tzinfo=UTC)
t = time.perf_counter(); rows = 0; size = 0
if mode == "direct":
    def counted():
        global rows
        for b in queries.iter_headline_lines(engine, topic="all", start=start, end=end):
            rows += len(b)
            yield b
    with open("/dev/null", "w", encoding="utf-8") as out:
        for chunk in iter_headlines_csv(counted()):
            size += len(chunk)
            out.write(chunk)
else:
    import shlex, subprocess, warnings
    from urllib.parse import urlencode
    warnings.simplefilter("ignore")
    import httpx
    sys.path.insert(0, sys.argv[1] + "/tests")
    from factories import live_server
    from dashboards.app import create_app
    from tracker.config import load_config
    app = create_app(load_config(None), engine=engine)
    with live_server(app) as base:
        t = time.perf_counter()
        q = {"topic": "all", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if mode == "curl":  # the client in another process, as a browser would be: this process only serves
            url = base + "/export/headlines.csv?" + urlencode(q)
            out = subprocess.run(["sh", "-c", f"curl -sS --fail {shlex.quote(url)} | wc -lc"],
                                 capture_output=True, text=True, check=True)
            lines, size = map(int, out.stdout.split())
            rows = lines
        else:
            with httpx.stream("GET", base + "/export/headlines.csv", params=q, timeout=600) as r:
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    rows += chunk.count(b"\n")
        rows -= 1
elapsed = time.perf_counter() - t
print(json.dumps({"rows": rows, "seconds": elapsed, "bytes": size,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def time_export(url: str, mode: str, rows: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _EXPORT_CHILD, str(ROOT), url, mode, str(rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="sqlite:////tmp/tracker-bench.db")
    parser.add_argument("--headlines", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--topics", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--skip-http-export", action="store_true")
    args = parser.parse_args()

    config = bench_config(args.topics)
    engine = open_engine(args.database_url)
    have = headline_count(engine)
    if have != args.headlines or args.regenerate:
        print(
            f"generating {args.headlines:,} headlines over {args.days} days, {args.topics} topics ...", file=sys.stderr
        )
        gen = generate(engine, config, n=args.headlines, days=args.days, seed=args.seed)
        print(f"generated in {gen:,.0f} s", file=sys.stderr)
    else:
        print(f"reusing {have:,} headlines in {args.database_url}", file=sys.stderr)
    with engine.connect() as conn:
        rollups = conn.execute(select(func.count()).select_from(_R)).scalar_one()
        links = conn.execute(select(func.count()).select_from(_HT)).scalar_one()
    dialect = engine.dialect.name

    rows = time_app(args.database_url, config, args.runs)
    export_rows = min(args.export_rows, args.headlines)
    direct = time_export(args.database_url, "direct", export_rows)
    http = None if args.skip_http_export else time_export(args.database_url, "http", export_rows)
    curl = None if args.skip_http_export else time_export(args.database_url, "curl", export_rows)

    print(f"\n{dialect}: {args.headlines:,} headlines, {links:,} topic links, {rollups:,} rollup rows, "
          f"{args.topics} topics, {args.days} days (python {sys.version.split()[0]}, {os.cpu_count()} cores)")  # fmt: skip
    print(f"{'measure':<48} {'median ms':>10} {'max ms':>10}")
    for name, med, worst in rows:
        print(f"{name:<48} {med:>10.1f} {worst:>10.1f}")
    for label, res in (
        ("CSV export, queries+export (no HTTP)", direct),
        ("CSV export over HTTP (uvicorn, streamed; httpx client in the same process)", http),
        ("CSV export over HTTP (uvicorn, streamed; curl in another process)", curl),
    ):
        if res is None:
            continue
        print(
            f"{label}: {res['rows']:,} rows in {res['seconds']:.2f} s = {res['rows'] / res['seconds']:,.0f} rows/s, "
            f"{res['bytes'] / 1e6:,.0f} MB, peak RSS {res['peak_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
