"""Ingest benchmark: 50,000 items from feed files on disk to committed rows, beside plain VADER on the same titles.

    .venv/bin/python bench/bench_ingest.py [--items 50000] [--database-url URL] [--runs 3]

Prints a table: items/s of plain VADER scoring, of each pipeline step alone, and of the whole pipeline
(parse, clean, dedupe, tag, score, store), and the ratio pipeline / VADER (issue #2's target: >= 0.5).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import NOW, rss_document, titles
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tracker import sources as parsers
from tracker.config import Config, SourceConfig, load_config
from tracker.pipeline import build_headlines, tagger_for
from tracker.settings import Settings
from tracker.store import ingest
from tracker.store.engine import dispose_engines, open_engine
from tracker.store.sources import claim_due, sync_sources


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--per-file", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file per run")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    n_files = args.items // args.per_file
    all_titles = titles(args.items)
    files = []
    for f in range(n_files):
        path = tmp / f"feed{f}.xml"
        path.write_bytes(rss_document(all_titles[f * args.per_file : (f + 1) * args.per_file], start=NOW, seed=f))
        files.append(path)
    topics = load_config(None).topics

    vader_rates, pipe_rates, step_totals = [], [], {"parse": [], "build (clean+lang+tag+score)": [], "store": []}
    for run in range(args.runs):
        sia = SentimentIntensityAnalyzer()
        t0 = time.perf_counter()
        for t in all_titles:
            sia.polarity_scores(t)
        vader_rates.append(len(all_titles) / (time.perf_counter() - t0))

        url = args.database_url or f"sqlite:///{tmp / f'run{run}.db'}"
        config = Config(
            path="<bench>",
            settings=Settings(database_url=url),
            sources=[
                SourceConfig(name=f"bench-{run}-{f}", kind="rss", url=f"https://bench.example/{run}/{f}")
                for f in range(n_files)
            ],
            topics=topics,
        )
        engine = open_engine(url)
        if args.database_url:  # a server database: start each run empty, as a SQLite run starts with a new file
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE rollups, headline_topics, sightings, headlines, sources CASCADE")
        with engine.begin() as conn:
            sync_sources(conn, config, now=NOW)
        claims = {
            c.name: c
            for c in claim_due(engine, now=NOW, holder="bench:1", names=[s.name for s in config.sources], force=True)
        }
        tagger = tagger_for(config.topics)
        steps = dict.fromkeys(step_totals, 0.0)
        stored = 0
        t0 = time.perf_counter()
        for f, path in enumerate(files):
            a = time.perf_counter()
            body = path.read_bytes()
            parsed = parsers.parse("rss", body, "application/rss+xml", max_items=10_000)
            b = time.perf_counter()
            heads, _, _ = build_headlines(claims[f"bench-{run}-{f}"], parsed, now=NOW, tagger=tagger)
            c = time.perf_counter()
            stored += ingest.save_fetch(
                engine, claims[f"bench-{run}-{f}"], heads, now=NOW, status=200, etag=None, last_modified=None
            ).new
            d = time.perf_counter()
            steps["parse"] += b - a
            steps["build (clean+lang+tag+score)"] += c - b
            steps["store"] += d - c
        elapsed = time.perf_counter() - t0
        assert stored == args.items, stored
        pipe_rates.append(args.items / elapsed)
        for k, v in steps.items():
            step_totals[k].append(args.items / v)
        dispose_engines()

    backend = (args.database_url or "sqlite").split(":")[0]
    v, p = statistics.median(vader_rates), statistics.median(pipe_rates)
    print(
        f"ingest of {args.items:,} items ({n_files} files of {args.per_file}) on {backend}, median of {args.runs} runs"
    )
    print(f"| {'what':<34} | {'items/s':>10} |")
    print(f"|{'-' * 36}|{'-' * 12}|")
    print(f"| {'plain VADER on the titles':<34} | {v:>10,.0f} |")
    for k, rates in step_totals.items():
        print(f"| {k + ' alone':<34} | {statistics.median(rates):>10,.0f} |")
    print(f"| {'whole pipeline':<34} | {p:>10,.0f} |")
    print(f"| {'ratio pipeline / VADER':<34} | {p / v:>10.2f} |")


if __name__ == "__main__":
    main()
