"""Throughput of the scorers (plain VADER, the English overlay, French) and of `rescore`, in one run.

Usage: .venv/bin/python bench/bench_sentiment.py [--n 20000] [--rescore 100000]

Headlines are generated from templates with a fixed seed (about 60 characters, like real ones), so the
figures compare scorers on the same text in the same process. Never reads the labelled evaluation data.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

COMPANIES = ["Nvidia", "AMD", "Microsoft", "Palantir", "Super Micro", "TSMC", "ASML", "Broadcom", "Oracle", "Meta"]
# About a third of these carry a phrase of the lexicon, more than real headlines do (2-5 % of SemEval's):
# the overlay's figure here is a conservative one.
EN_VERBS = [
    "shares plunge {n}% after",
    "beats estimates as",
    "rallies {n}% on",
    "slumps amid",
    "is not in a bubble, says analyst, despite",
    "stock tumbles {n}% on",
    "hits all-time high on",
    "unveils new chip as",
    "jumps {n}% in late trading on",
    "slides as investors weigh",
    "to invest ${n}bn in data centers amid",
    "CEO says",
]
EN_TAILS = [
    "AI chip demand soars",
    "data-center spending fears",
    "weak cloud growth",
    "record GPU orders",
    "export curbs on China",
    "strong quarterly revenue",
    "investor worries about an AI bubble",
    "layoffs and writedowns",
]
FR_VERBS = [
    "s'envole de {n} % après",
    "chute malgré",
    "recule de {n} % sur",
    "bondit grâce à",
    "n'est pas une bulle selon",
    "plonge après",
    "investit {n} milliards malgré",
]
FR_TAILS = [
    "des résultats qui dépassent les attentes",
    "les craintes de bulle de l'IA",
    "une forte baisse des valeurs technologiques",
    "la hausse de la demande en puces",
    "un avertissement sur résultats",
]


def headlines(n: int, verbs: list[str], tails: list[str], seed: int) -> list[str]:
    rnd = random.Random(seed)
    return [
        f"{rnd.choice(COMPANIES)} {rnd.choice(verbs).format(n=rnd.randint(2, 40))} {rnd.choice(tails)}"
        for _ in range(n)
    ]


def rate(fn: object, texts: list[str]) -> float:
    call = fn  # a bound compound() method
    start = time.perf_counter()
    for t in texts:
        call(t)  # type: ignore[operator]
    return len(texts) / (time.perf_counter() - start)


def bench_rescore(n: int) -> tuple[float, float, int]:
    from sqlalchemy import insert, select

    from tracker.models import HeadlineRow, Source
    from tracker.store.engine import dispose_engines, open_engine
    from tracker.store.rescore import rescore

    h, s = HeadlineRow.__table__, Source.__table__  # type: ignore[attr-defined]
    en = headlines(n, EN_VERBS, EN_TAILS, 3)
    fr = headlines(n // 10, FR_VERBS, FR_TAILS, 4)
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(insert(s).values(name="bench", kind="rss", url="https://example.com/"))
            sid = conn.execute(select(s.c.id)).scalar_one()
            rows = [
                {
                    "dedupe_key": f"hash:{i}",
                    "title_fp": f"fp{i}",
                    "title": title,
                    "source_id": sid,
                    "published_at": t0 + timedelta(minutes=i),
                    "first_seen_at": t0,
                    "language": "fr" if i % 10 == 0 else "en",
                    "tagged": True,
                    "topics": "chips",
                }
                for i, title in enumerate(fr[i // 10] if i % 10 == 0 else en[i] for i in range(n))
            ]
            conn.execute(insert(h), rows)
        first = rescore(engine)  # every row changes
        second = rescore(engine, force=True)  # every row scored again, none written: read + score alone
        dispose_engines()
    return first.per_second, second.per_second, first.workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000, help="headlines per scorer")
    parser.add_argument("--rescore", type=int, default=100000, help="rows for the rescore run (0: skip)")
    parser.add_argument("--model", type=int, default=2000, help="headlines for the model scorer (0: skip)")
    args = parser.parse_args()

    from tracker.sentiment.english import EnglishFinanceScorer, PlainVaderScorer
    from tracker.sentiment.french import FrenchFinanceScorer

    en = headlines(args.n, EN_VERBS, EN_TAILS, 1)
    fr = headlines(args.n, FR_VERBS, FR_TAILS, 2)
    plain, ours, french = PlainVaderScorer(), EnglishFinanceScorer(), FrenchFinanceScorer()
    for scorer, texts in ((plain, en), (ours, en), (french, fr)):  # warm-up
        rate(scorer.compound, texts[:500])
    rows = [
        ("plain VADER (en)", plain.label, rate(plain.compound, en)),
        ("finance overlay (en)", ours.label, rate(ours.compound, en)),
        ("French scorer (fr)", french.label, rate(french.compound, fr)),
    ]
    mean_len = sum(map(len, en)) / len(en)
    print(f"{args.n} generated headlines per scorer, mean {mean_len:.0f} characters (English)")
    print(f"{'scorer':24} {'version':30} {'headlines/s':>12}")
    for name, label, value in rows:
        print(f"{name:24} {label:30} {value:12,.0f}")
    print(f"overlay / plain: {rows[1][2] / rows[0][2]:.2f}")
    if args.rescore:
        changed, unchanged, workers = bench_rescore(args.rescore)
        print(
            f"rescore on SQLite, {args.rescore} rows, {workers} process(es): {changed:,.0f}/s (all rows changed), "
            f"{unchanged:,.0f}/s (--force, none changed)"
        )
    if args.model:  # last: torch's threads would keep rescore from forking its workers
        from tracker.sentiment import model

        if not model.available():
            print("model scorer: skipped (the ml extra is not installed)")
        else:
            head = model.MiniLMHeadScorer(overlay=ours)
            texts = en[: args.model]
            head.compounds(texts[:64])  # loads the weights
            for batch in (1, 64):
                start = time.perf_counter()
                for i in range(0, len(texts), batch):
                    head.compounds(texts[i : i + batch])
                per_s = len(texts) / (time.perf_counter() - start)
                print(f"{'model scorer, batch ' + str(batch):24} {head.label:30} {per_s:12,.0f}")


if __name__ == "__main__":
    main()
