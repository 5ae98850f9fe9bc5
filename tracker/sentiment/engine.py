"""The VADER engine shared by every scorer, and the data files that tune it.

One ``VaderEngine`` (a ``SentimentIntensityAnalyzer`` subclass) per scorer: its lexicon and its negation
words are per instance. This module must never touch vaderSentiment's module globals (``NEGATE``,
``BOOSTER_DICT``, ``SPECIAL_CASES``): they are shared by every analyzer in the process, so changing them for
one language would silently change the scores of every other.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    SentiText,
)

from tracker.models import Score

# Longest text handed to the engine. Headlines are short; a feed that stuffs megabytes into a title must not
# make scoring cost megabytes of Python loops.
MAX_TEXT_CHARS = 1000

# Every multi-word idiom VADER's idiom check can match holds at least one of these words (the filler words
# are left out). Read from vaderSentiment's tables, never written to them.
_IDIOM_WORDS = frozenset(
    word
    for key in (*SPECIAL_CASES, *(k for k in BOOSTER_DICT if " " in k))
    for word in key.split()
    if word not in ("the", "to", "for", "of", "a")
)

# "no" stays out: VADER already negates the one or two words after it, and a second flip would undo that.
ENGLISH_NEGATORS = frozenset(w.lower() for w in NEGATE)


class PlainEngine(SentimentIntensityAnalyzer):
    """vaderSentiment exactly as shipped, plus read-only helpers the explanation trace needs."""

    negators: frozenset[str] = frozenset(w.lower() for w in NEGATE)
    contraction_negates = True

    def valences(self, senti: SentiText) -> list[float]:
        """Per-word valences before the "but" rule: VADER's own walk, step by step."""
        words = senti.words_and_emoticons
        lexicon = self.lexicon
        sentiments: list[float] = []
        last = len(words) - 1
        for i, item in enumerate(words):
            low = item.lower()
            # sentiment_valence only ever appends 0 for a word outside the lexicon: skip the call (most
            # words of a headline), the result is the same.
            if low not in lexicon or low in BOOSTER_DICT:
                sentiments.append(0.0)
                continue
            if low == "kind" and i < last and words[i + 1].lower() == "of":
                sentiments.append(0.0)
                continue
            sentiments = self.sentiment_valence(0.0, senti, item, i, sentiments)
        return sentiments

    def is_negator(self, word: str) -> bool:
        word = word.lower()
        return word in self.negators or (self.contraction_negates and "n't" in word)


# An English headline whose positive and negative words nearly balance ("Standard Chartered lifted while AstraZeneca
# sinks", the smaller side at least MIXED_RATIO of the larger in VADER's pos / neg shares) is called neutral:
# which side wins is a guess, and a sign called wrong is worse than none. Its compound is scaled into the
# neutral band (|compound| < 0.05), keeping its direction for the series' means. Chosen on the tuning part of
# the labelled sets only: docs/sentiment.md.
MIXED_RATIO = 0.5
MIXED_SCALE = 0.049


def is_mixed(scores: dict[str, float], ratio: float = MIXED_RATIO) -> bool:
    pos, neg = scores["pos"], scores["neg"]
    return pos > 0 and neg > 0 and min(pos, neg) >= ratio * max(pos, neg)


class VaderEngine(PlainEngine):
    """VADER with its own lexicon and its own negation words (never the module-level ``NEGATE``).

    A subclass that sets ``mixed_ratio`` calls a headline of balanced positive and negative words neutral
    (``is_mixed``); the English overlay does, the French scorer does not (measured: docs/sentiment.md).
    """

    mixed_ratio: float | None = None

    def score_valence(self, sentiments: list[float], text: str) -> dict[str, float]:
        scores: dict[str, float] = super().score_valence(sentiments, text)
        if self.mixed_ratio is not None and is_mixed(scores, self.mixed_ratio):
            scores["compound"] = round(scores["compound"] * MIXED_SCALE, 4)
        return scores

    def __init__(self, *, negators: Iterable[str] = ENGLISH_NEGATORS, contraction_negates: bool = True) -> None:
        super().__init__()
        self.negators = frozenset(negators)
        # "n't" marks negation in English only; French text has no such suffix and must not inherit it.
        self.contraction_negates = contraction_negates

    def polarity_scores(self, text: str) -> dict[str, float]:
        # The base class first rebuilds the text character by character to swap emojis for words; ASCII text
        # holds none of VADER's emojis, so that pass (a good third of the time on a headline) is skipped.
        if not text.isascii():
            result: dict[str, float] = super().polarity_scores(text)
            return result
        text = text.strip()
        senti = SentiText(text)
        sentiments = self.valences(senti)
        if "but" in text.lower():  # no word can be "but" otherwise, and the rule would change nothing
            sentiments = self._but_check(senti.words_and_emoticons, sentiments)
        scores: dict[str, float] = self.score_valence(sentiments, text)
        return scores

    # The base check lowercases the whole sentence and builds seven strings for every lexicon word;
    # it can only match when a word of one of its idioms is within reach, which is rare in headlines.
    def _special_idioms_check(self, valence: float, words: list[str], i: int) -> float:
        if not any(w.lower() in _IDIOM_WORDS for w in words[max(0, i - 3) : i + 3]):
            return valence
        result: float = SentimentIntensityAnalyzer._special_idioms_check(valence, words, i)
        return result

    # Replaces the base class's static check, which consults the global NEGATE list. Same window as VADER
    # (the three words before a lexicon word) and the same "never so"/"without doubt" exceptions.
    def _negation_check(self, valence: float, words: list[str], start_i: int, i: int) -> float:
        prev = words[i - (start_i + 1)].lower()
        if start_i == 0:
            return valence * N_SCALAR if self.is_negator(prev) else valence
        w1 = words[i - 1].lower()
        w2 = words[i - 2].lower()
        if start_i == 1:
            if w2 == "never" and w1 in ("so", "this"):
                return valence * 1.25
            if w2 == "without" and w1 == "doubt":
                return valence
            return valence * N_SCALAR if self.is_negator(prev) else valence
        w3 = words[i - 3].lower()
        if (w3 == "never" and w2 in ("so", "this")) or w1 in ("so", "this"):
            return valence * 1.25
        if w3 == "without" and (w2 == "doubt" or w1 == "doubt"):
            return valence
        return valence * N_SCALAR if self.is_negator(prev) else valence


@dataclass(frozen=True)
class LexiconData:
    """One versioned lexicon file: unigram overrides, neutralised words and multi-word phrases."""

    name: str
    version: str
    words: dict[str, float] = field(default_factory=dict)  # positive and negative entries, signed
    neutral: frozenset[str] = frozenset()
    phrases: dict[str, float] = field(default_factory=dict)  # 0.0 = a neutral phrase
    extra: dict[str, Any] = field(default_factory=dict)  # language-specific tables (boosters, ...)


class LexiconError(ValueError):
    """A lexicon file contradicts itself (a term with both signs, a sign in the wrong table...)."""


def _check_table(table: dict[str, Any], where: str, sign: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for term, value in table.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise LexiconError(f"{where}: {term!r} has a non-numeric valence {value!r}")
        if sign * float(value) <= 0:
            raise LexiconError(f"{where}: {term!r} = {value} has the wrong sign for this table")
        key = " ".join(term.lower().split())
        if key in out:
            raise LexiconError(f"{where}: {term!r} is listed twice")
        out[key] = float(value)
    return out


def parse_lexicon(doc: dict[str, Any], source: str) -> LexiconData:
    """Validate a parsed lexicon TOML document. Raises ``LexiconError`` on any contradiction."""
    meta = doc.get("meta", {})
    name, version = meta.get("name"), meta.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise LexiconError(f"{source}: [meta] needs string name and version")
    pos = _check_table(doc.get("positive", {}), f"{source} [positive]", +1)
    neg = _check_table(doc.get("negative", {}), f"{source} [negative]", -1)
    neutral = {" ".join(w.lower().split()) for w in doc.get("neutral", {}).get("words", [])}
    both = (pos.keys() & neg.keys()) | (pos.keys() & neutral) | (neg.keys() & neutral)
    if both:
        raise LexiconError(f"{source}: terms in more than one of positive/negative/neutral: {sorted(both)}")
    phrases_doc = doc.get("phrases", {})
    p_pos = _check_table(phrases_doc.get("positive", {}), f"{source} [phrases.positive]", +1)
    p_neg = _check_table(phrases_doc.get("negative", {}), f"{source} [phrases.negative]", -1)
    p_neu = {" ".join(w.lower().split()) for w in phrases_doc.get("neutral", {}).get("phrases", [])}
    both = (p_pos.keys() & p_neg.keys()) | (p_pos.keys() & p_neu) | (p_neg.keys() & p_neu)
    if both:
        raise LexiconError(f"{source}: phrases in more than one table: {sorted(both)}")
    for phrase in [*p_pos, *p_neg, *p_neu]:
        if " " not in phrase:
            raise LexiconError(f"{source}: phrase {phrase!r} is a single word: put it in the word tables")
    phrases = {**p_pos, **p_neg, **dict.fromkeys(p_neu, 0.0)}
    extra = {k: v for k, v in doc.items() if k not in ("meta", "positive", "negative", "neutral", "phrases")}
    return LexiconData(name, version, {**pos, **neg}, frozenset(neutral), phrases, extra)


def load_lexicon(filename: str) -> LexiconData:
    """Load ``tracker/sentiment/lexicons/<filename>`` (shipped as package data)."""
    ref = resources.files("tracker.sentiment").joinpath("lexicons", filename)
    with ref.open("rb") as fh:
        return parse_lexicon(tomllib.load(fh), filename)


def make_score(scores: dict[str, float], scorer: str, version: str) -> Score:
    return Score(
        compound=float(scores["compound"]),
        pos=float(scores["pos"]),
        neu=float(scores["neu"]),
        neg=float(scores["neg"]),
        scorer=scorer,
        version=version,
    )


def phrase_token(phrase: str) -> str:
    """The single engine token a multi-word phrase becomes (no spaces, so VADER sees one word)."""
    return phrase.replace(" ", "_")


# One engine token and the words of the headline it stands for (for explanations), plus whether it came from
# the phrase pass.
@dataclass(frozen=True, slots=True)
class Token:
    engine: str
    surface: str
    phrase: bool = False


class Scorer:
    """A language's scorer: a pre-pass that turns a headline into engine text, and the engine that scores it.

    Subclasses override ``tokens`` (and, for speed, ``prepare``). ``prepare(text)`` must always equal
    ``" ".join(t.engine for t in tokens(text))`` so a score and its explanation never disagree.
    """

    language = "en"
    # Whether a copy of this scorer may score in another process (rescore's workers): small, pure Python.
    copyable = True

    def __init__(self, engine: PlainEngine, name: str, version: str) -> None:
        self.engine = engine
        self.name = name
        self.version = version

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    def tokens(self, text: str) -> list[Token]:
        return split_tokens(text[:MAX_TEXT_CHARS], self.engine.emojis)

    def prepare(self, text: str) -> str:
        text = text[:MAX_TEXT_CHARS]
        if text.isascii():  # VADER's emoji table has no ASCII keys: nothing for the token pass to do
            return text
        return " ".join(t.engine for t in self.tokens(text))

    def polarity(self, text: str) -> dict[str, float]:
        return self.engine.polarity_scores(self.prepare(text))

    def score(self, text: str) -> Score:
        return make_score(self.polarity(text), self.name, self.version)

    def compound(self, text: str) -> float:
        return float(self.polarity(text)["compound"])

    # Many at once: a scorer that works in batches (the model scorer) overrides these.
    def score_many(self, texts: Sequence[str]) -> list[Score]:
        return [self.score(t) for t in texts]

    def compounds(self, texts: Sequence[str]) -> list[float]:
        compound = self.compound
        return [compound(t) for t in texts]

    def explain(self, text: str) -> Any:
        from tracker.sentiment.explain import trace

        return trace(self, self.tokens(text))

    def explain_many(self, texts: Sequence[str]) -> list[Any]:
        return [self.explain(t) for t in texts]


def split_tokens(text: str, emojis: dict[str, str], emoji_token: Any = None) -> list[Token]:
    """Whitespace tokens, with each emoji turned into its description words (as VADER itself does)."""
    out: list[Token] = []
    for word in text.split():
        if word.isascii():
            out.append(Token(word, word))
            continue
        run: list[str] = []
        for ch in word:
            desc = emojis.get(ch)
            if desc is None:
                run.append(ch)
                continue
            if run:
                out.append(Token("".join(run), "".join(run)))
                run = []
            if emoji_token is not None:
                out.append(Token(emoji_token(ch), ch))
            else:
                out.extend(Token(part, ch) for part in desc.split())
        if run:
            out.append(Token("".join(run), "".join(run)))
    return out
