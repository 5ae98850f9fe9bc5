"""Measure scorers against labelled financial-sentiment sets kept outside the project.

``evaluate(data_dir)`` reads a folder laid out like ``../shared/eval`` (SemEval-2017 task 5 headlines, FiQA
2018 task 1 headlines, Financial PhraseBank), scores it with each scorer and returns the figures. Each set is
split by a stable hash of the text: 30 % is held out and the figures reported are on that part; the lexicons
were tuned on the other 70 % only. This module reads the data and never copies, caches or writes it anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tracker.models import NEGATIVE_AT, POSITIVE_AT
from tracker.sentiment.engine import Scorer

HELD_OUT_PERCENT = 30
Part = Literal["held_out", "tune", "all"]
LABELS = ("negative", "neutral", "positive")
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    texts: list[str]
    gold: list[float] | None = None  # continuous gold in [-1, 1]
    labels: list[str] | None = None  # three classes


def held_out(text: str) -> bool:
    """True for the 30 % of items kept aside. Stable across runs, machines and Python versions."""
    key = " ".join(text.split()).lower().encode("utf-8")
    return int(hashlib.sha256(key).hexdigest()[:8], 16) % 100 < HELD_OUT_PERCENT


def _read(path: Path, encoding: str) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    return path.read_text(encoding=encoding)


def load_semeval(path: Path) -> Dataset:
    rows = csv.DictReader(io.StringIO(_read(path, "utf-8-sig")))
    texts, gold = [], []
    for row in rows:
        title, value = (row.get("title") or "").strip(), row.get("sentiment score")
        if title and value not in (None, ""):
            texts.append(title)
            gold.append(float(value))
    return Dataset("semeval_headlines", texts, gold=gold)


def load_fiqa(path: Path) -> Dataset:
    doc = json.loads(_read(path, "utf-8"))
    texts, gold = [], []
    for item in doc.values():
        scores = [float(i["sentiment_score"]) for i in item.get("info", [])]
        if item.get("sentence") and scores:
            texts.append(str(item["sentence"]).strip())
            gold.append(sum(scores) / len(scores))
    return Dataset("fiqa_headlines", texts, gold=gold)


def load_fpb(path: Path, name: str) -> Dataset:
    texts, labels = [], []
    for line in _read(path, "latin-1").splitlines():
        sentence, sep, label = line.rpartition("@")
        label = label.strip()
        if sep and label in LABELS:
            texts.append(sentence.strip())
            labels.append(label)
    return Dataset(name, texts, labels=labels)


DATASETS: dict[str, tuple[str, Callable[[Path], Dataset]]] = {
    "semeval_headlines": ("semeval2017_task5/Headlines_Trainingdata.csv", load_semeval),
    "fiqa_headlines": ("fiqa2018_task1/task1_headline_ABSA_train.json", load_fiqa),
    "fpb_allagree": (
        "financial_phrasebank/Sentences_AllAgree.txt",
        lambda p: load_fpb(p, "fpb_allagree"),
    ),
    "fpb_50agree": (
        "financial_phrasebank/Sentences_50Agree.txt",
        lambda p: load_fpb(p, "fpb_50agree"),
    ),
}


def load_datasets(data_dir: Path, part: Part = "held_out") -> list[Dataset]:
    """The sets found under ``data_dir``, restricted to ``part``. Raises FileNotFoundError if none is there."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir} is not a folder")
    found = []
    for rel, loader in DATASETS.values():
        path = data_dir / rel
        if path.is_file():
            ds = loader(path)
            keep = [i for i, t in enumerate(ds.texts) if part == "all" or held_out(t) == (part == "held_out")]
            found.append(
                Dataset(
                    ds.name,
                    [ds.texts[i] for i in keep],
                    gold=None if ds.gold is None else [ds.gold[i] for i in keep],
                    labels=None if ds.labels is None else [ds.labels[i] for i in keep],
                )
            )
    if not found:
        raise FileNotFoundError(
            f"no labelled set found under {data_dir} (expected e.g. {next(iter(DATASETS.values()))[0]})"
        )
    return found


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def label_of(compound: float) -> str:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    f1s = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == label != g)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label != p)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def sign_flip_rate(gold: Sequence[str], pred: Sequence[str]) -> float | None:
    """Share of gold-polar items predicted with the opposite polarity."""
    polar = [(g, p) for g, p in zip(gold, pred, strict=True) if g != "neutral"]
    if not polar:
        return None
    return sum(1 for g, p in polar if p != "neutral" and p != g) / len(polar)


def metrics(ds: Dataset, compounds: Sequence[float], seconds: float) -> dict[str, float | int | None]:
    pred = [label_of(c) for c in compounds]
    out: dict[str, float | int | None] = {"n": len(compounds)}
    if ds.gold is not None:
        out["pearson"] = pearson(compounds, ds.gold)
        gold_labels = [label_of(g) for g in ds.gold]
    else:
        assert ds.labels is not None
        gold_labels = ds.labels
        out["accuracy"] = sum(1 for g, p in zip(gold_labels, pred, strict=True) if g == p) / max(1, len(pred))
        out["macro_f1"] = macro_f1(gold_labels, pred)
    out["sign_flip"] = sign_flip_rate(gold_labels, pred)
    out["zero_share"] = sum(1 for c in compounds if c == 0.0) / max(1, len(compounds))
    out["per_second"] = len(compounds) / seconds if seconds > 0 else None
    return out


def default_scorers(notes: list[str] | None = None) -> dict[str, Scorer]:
    """Plain VADER, the overlay and, when its extra is installed, the model scorer. A model that cannot be
    built (its head trained on another lexicon version) is left out, with the reason appended to ``notes``."""
    from tracker.sentiment import model
    from tracker.sentiment.english import EnglishFinanceScorer, PlainVaderScorer

    overlay = EnglishFinanceScorer()
    scorers: list[Scorer] = [PlainVaderScorer(), overlay]
    if model.available():
        try:
            scorers.append(model.MiniLMHeadScorer(overlay=overlay))
        except model.ModelUnavailable as exc:
            if notes is not None:
                notes.append(f"model scorer left out: {exc}")
    return {s.label: s for s in scorers}


def evaluate(
    data_dir: Path,
    *,
    scorers: Mapping[str, Scorer] | None = None,
    part: Part = "held_out",
) -> dict[str, Any]:
    """Figures keyed scorer label -> data set -> metric (pearson or accuracy/macro_f1, sign_flip, ...)."""
    sets = load_datasets(Path(data_dir), part)
    scorers = scorers if scorers is not None else default_scorers()
    result: dict[str, Any] = {}
    for label, scorer in scorers.items():
        per_set: dict[str, Any] = {}
        scorer.compounds(["Warm-up: a model scorer loads its weights on first use"])  # not part of the timing
        for ds in sets:
            start = time.perf_counter()
            values = scorer.compounds(ds.texts)
            per_set[ds.name] = metrics(ds, values, time.perf_counter() - start)
        result[label] = per_set
    return result
