"""English scorers: plain VADER (the evaluation baseline) and VADER with the finance overlay.

The overlay is data (``lexicons/en_finance.toml``): unigram valences, neutralised words and a phrase pre-pass
that turns multi-word expressions into single engine tokens. This module must never mutate vaderSentiment's
module globals, and never reads the labelled evaluation data.
"""

from __future__ import annotations

import itertools
import string

from tracker.sentiment.engine import (
    MAX_TEXT_CHARS,
    LexiconData,
    PlainEngine,
    Scorer,
    Token,
    VaderEngine,
    load_lexicon,
    phrase_token,
    split_tokens,
)

# Punctuation that cannot be inside a phrase's first word ("all-time", "dot-com", "isn't" keep theirs).
_SPACE_PUNCT = str.maketrans({c: " " for c in string.punctuation if c not in "-'"})
_EDGE = string.punctuation

PLAIN_NAME = "vader"
PLAIN_VERSION = "3.3.2"


class PlainVaderScorer(Scorer):
    """vaderSentiment as shipped: what the overlay is measured against."""

    def __init__(self) -> None:
        super().__init__(PlainEngine(), PLAIN_NAME, PLAIN_VERSION)


class PhrasePass:
    """Replaces each lexicon phrase in a text by its single engine token, longest phrase first.

    Works on whitespace words (what VADER itself splits on), compared lowercased and without the
    punctuation at their edges; a phrase never spans punctuation ("beats, estimates" is two words apart).
    """

    def __init__(self, phrases: dict[str, float]) -> None:
        self.tokens = {p: phrase_token(p) for p in phrases}
        self.surfaces = {t: p for p, t in self.tokens.items()}
        by_pair: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = {}
        for phrase, token in self.tokens.items():
            if any(c in string.punctuation and c not in "-'" for c in phrase):
                raise ValueError(f"phrase {phrase!r}: only letters, digits, hyphens and apostrophes")
            words = tuple(phrase.split())
            by_pair.setdefault((words[0], words[1]), []).append((words, token))
        for candidates in by_pair.values():
            candidates.sort(key=lambda c: len(c[0]), reverse=True)
        self.by_pair = by_pair
        # Matching costs more than scoring a short headline. Most headlines hold none of the phrases'
        # first two words, which a set test over the lowered word pairs finds out at C speed. That test
        # may say "maybe" too often but never "no" wrongly: phrases are plain words.
        self.first_pairs = frozenset(by_pair)

    def apply(self, text: str) -> str:
        if not self.by_pair:
            return text
        low = text.lower().translate(_SPACE_PUNCT).split()
        if self.first_pairs.isdisjoint(itertools.pairwise(low)):
            return text
        return self._replace(text)

    def _replace(self, text: str) -> str:
        words = text.split()
        keys = [w.strip(_EDGE) for w in text.lower().split()]  # lower() never adds or removes whitespace
        by_pair = self.by_pair
        starts = [i for i, pair in enumerate(itertools.pairwise(keys)) if pair in by_pair]
        out: list[str] = []
        pos, n = 0, len(words)
        for i in starts:
            if i < pos:
                continue
            for phrase, token in by_pair[(keys[i], keys[i + 1])]:
                end = i + len(phrase)
                if end > n or tuple(keys[i:end]) != phrase:
                    continue
                inner = words[i:end]
                if any(w.rstrip(_EDGE) != w for w in inner[:-1]) or any(w.lstrip(_EDGE) != w for w in inner[1:]):
                    continue
                first, last = inner[0], inner[-1]
                out.extend(words[pos:i])
                out.append(first[: len(first) - len(first.lstrip(_EDGE))] + token + last[len(last.rstrip(_EDGE)) :])
                pos = end
                break
        if not pos:
            return text
        out.extend(words[pos:])
        return " ".join(out)


def build_engine(lex: LexiconData, engine: VaderEngine | None = None) -> VaderEngine:
    engine = engine or VaderEngine()
    for word in lex.neutral:
        engine.lexicon.pop(word, None)
    engine.lexicon.update(lex.words)
    for phrase, valence in lex.phrases.items():
        if valence:
            engine.lexicon[phrase_token(phrase)] = valence
    return engine


class EnglishFinanceScorer(Scorer):
    """VADER with the English finance overlay."""

    language = "en"

    def __init__(self, lex: LexiconData | None = None) -> None:
        lex = lex or load_lexicon("en_finance.toml")
        super().__init__(build_engine(lex), lex.name, lex.version)
        self.lexicon_data = lex
        self.phrases = PhrasePass(lex.phrases)

    def prepare(self, text: str) -> str:
        text = self.phrases.apply(text[:MAX_TEXT_CHARS])
        if text.isascii():
            return text
        return " ".join(t.engine for t in split_tokens(text, self.engine.emojis))

    def tokens(self, text: str) -> list[Token]:
        text = self.phrases.apply(text[:MAX_TEXT_CHARS])
        out = []
        for tok in split_tokens(text, self.engine.emojis):
            phrase = self.phrases.surfaces.get(tok.engine.strip(".,;:!?\"'()[]").lower())
            out.append(Token(tok.engine, phrase, True) if phrase else tok)
        return out
