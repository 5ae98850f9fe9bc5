"""English scorers: plain VADER (the evaluation baseline) and VADER with the finance overlay.

The overlay is mostly data (``lexicons/en_finance.toml``): unigram valences, neutralised words and a phrase
pre-pass that turns multi-word expressions into single engine tokens. Its engine adds a few rules for how
headlines are written (clauses, degree words after the verb, wider negation). This module must never mutate
vaderSentiment's module globals, and never reads the labelled evaluation data.
"""

from __future__ import annotations

import itertools
import string

from vaderSentiment.vaderSentiment import B_INCR, N_SCALAR, SentiText

from tracker.sentiment.engine import (
    ENGLISH_NEGATORS,
    MAX_TEXT_CHARS,
    MIXED_RATIO,
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


# Degree adverbs that follow the verb they grade ("fell sharply", "rose slightly"). VADER only reads boosters
# placed before a word, and headlines put these after it.
POST_BOOSTERS = {
    "sharply": B_INCR,
    "steeply": B_INCR,
    "strongly": B_INCR,
    "significantly": B_INCR,
    "substantially": B_INCR,
    "heavily": B_INCR,
    "dramatically": B_INCR,
    "considerably": B_INCR,
    "massively": B_INCR,
    "slightly": -B_INCR,
    "marginally": -B_INCR,
    "modestly": -B_INCR,
}

# Words that open a subordinate clause giving the reason or the background of the news ("shares fall as
# costs rise", "profit up despite weak sales"). In a headline the news is the main clause, which comes first.
SUBORDINATORS = frozenset({"as", "after", "amid", "despite", "although", "though", "while", "whereas"})


# Beyond VADER's negations: "unlikely to win" denies the word that follows, and
# verbs of overcoming turn the trouble that follows into good news ("shrugs off slowdown", "bucks weak
# markets", "rejects fears", "escapes stress"). Their own VADER values (reject, avoid...) are neutralised in
# the lexicon, since what they say depends on what they remove, and VADER ignores a negator that has a value.
HEADLINE_NEGATORS = frozenset(
    {
        "unlikely",
        "shrug",
        "shrugs",
        "shrugged",
        "buck",
        "bucks",
        "bucked",
        "withstand",
        "withstands",
        "escape",
        "escapes",
        "escaped",
        "defy",
        "defies",
        "defied",
        "avoid",
        "avoids",
        "avoided",
        "avert",
        "averts",
        "averted",
        "overcome",
        "overcomes",
        "rejects",
        "rejected",
        "dismisses",
        "dismissed",
    }
)


# Words skipped when counting how far back a negation reaches ("not to face", "not been offered").
NEGATION_FILLERS = frozenset({"to", "be", "been", "being", "a", "an", "the", "have", "has", "had", "is", "are", "was"})
FAR_NEGATORS = frozenset({"not", "never", "unlikely"})


class EnglishEngine(VaderEngine):
    """The overlay's engine: VADER plus rules for how headlines are written (see docs/sentiment.md).

    Only the English finance scorer uses it; the plain baseline and the French scorer keep VADER's walk.
    """

    # Weights of the words before and after "but". VADER's own (0.5 and 1.5) come from reviews, where the
    # verdict follows the "but"; a headline puts its news first ("revenue soars but staff walk out") as often
    # as after, so both halves count the same.
    but_before = 1.0
    but_after = 1.0
    # Weight of a trailing subordinate clause that pulls against the main clause.
    subordinate = 0.5
    post_boosters: dict[str, float] = POST_BOOSTERS
    clause_words = SUBORDINATORS
    long_negation = True
    mixed_ratio = MIXED_RATIO

    def __init__(self) -> None:
        super().__init__(negators=ENGLISH_NEGATORS | HEADLINE_NEGATORS)
        # With even "but" weights only the subordinate rule can change a score.
        evenly = (self.but_before, self.but_after) == (1.0, 1.0)
        self.clause_triggers = self.clause_words if evenly else self.clause_words | {"but"}

    def polarity_scores(self, text: str) -> dict[str, float]:
        if not text.isascii():
            # VADER's own walk would skip the headline rules: swap emojis for their words as it does, then
            # take the same path as ASCII text, so a score and its explanation always agree.
            text = self._emoji_words(text)
        text = text.strip()
        senti = SentiText(text)
        # One lowered copy of the words serves every rule; set tests at C speed spare most headlines the
        # rules' walks (the explanation trace always runs them, and gets the same result).
        low = list(map(str.lower, senti.words_and_emoticons))
        sentiments = self._adjusted(senti, low)
        if not self.clause_triggers.isdisjoint(low):
            sentiments = self._clauses(low, sentiments)
        scores: dict[str, float] = self.score_valence(sentiments, text)
        return scores

    def _emoji_words(self, text: str) -> str:
        out: list[str] = []
        after_space = True
        for ch in text:
            desc = self.emojis.get(ch)
            if desc is None:
                out.append(ch)
                after_space = ch == " "
                continue
            if not after_space:
                out.append(" ")
            out.append(desc)
            after_space = False
        return "".join(out)

    def valences(self, senti: SentiText) -> list[float]:
        return self._adjusted(senti, list(map(str.lower, senti.words_and_emoticons)))

    def _adjusted(self, senti: SentiText, low: list[str]) -> list[float]:
        sentiments = super().valences(senti)
        for i, _source, _kind, delta in self._adjust(senti, low, sentiments):
            sentiments[i] += delta
        return sentiments

    def adjustments(self, senti: SentiText, sentiments: list[float]) -> list[tuple[int, int, str, float]]:
        """Changes to VADER's per-word valences: (word, the word that caused it, kind, change).

        Kept apart from the walk so the explanation shows them as what they are.
        """
        return self._adjust(senti, list(map(str.lower, senti.words_and_emoticons)), sentiments)

    def _adjust(self, senti: SentiText, low: list[str], sentiments: list[float]) -> list[tuple[int, int, str, float]]:
        post = not self.post_boosters.keys().isdisjoint(low)
        # "n't" is part of a word ("isn't"): an apostrophe is rare enough in headlines to test for first.
        far = self.long_negation and (
            not FAR_NEGATORS.isdisjoint(low) or ("'" in senti.text and any("n't" in w for w in low))
        )
        if not (post or far):
            return []
        out: list[tuple[int, int, str, float]] = []
        negated: dict[int, int] = {}
        if far:
            for at, w in enumerate(low):
                if w in FAR_NEGATORS or "n't" in w:
                    target = self._far_target(low, sentiments, at)
                    if target is not None:
                        negated.setdefault(target, at)
        for i, value in enumerate(sentiments):
            if not value:
                continue
            by = negated.get(i)
            if by is not None:
                out.append((i, by, "negation", value * N_SCALAR - value))
                value *= N_SCALAR
            if post and i + 1 < len(low):
                step = self.post_boosters.get(low[i + 1])
                if step:
                    out.append((i, i + 1, "booster", step if value > 0 else -step))
        return out

    def _far_target(self, low: list[str], sentiments: list[float], j: int) -> int | None:
        # VADER's window is the three words after a negation; "not to face prosecution", "not been offered
        # deferred prosecution" are further only through auxiliaries and particles, which are not counted
        # here. Returns the word VADER missed, if any.
        content = 0
        for i in range(j + 1, len(low)):
            if low[i] in NEGATION_FILLERS:
                continue
            if low[i] in self.lexicon:  # the first sentiment word ends the reach, as in VADER
                if i - j <= 3 or not sentiments[i] or any(self.is_negator(w) for w in low[i - 3 : i]):
                    return None  # VADER's own window already saw it
                return i
            content += 1
            if content == 3:
                return None
        return None

    def _but_check(self, words: list[str], sentiments: list[float]) -> list[float]:
        return self._clauses(list(map(str.lower, words)), sentiments)

    def _clauses(self, low: list[str], sentiments: list[float]) -> list[float]:
        end = len(low)
        if "but" in low:
            end = low.index("but")
            if (self.but_before, self.but_after) != (1.0, 1.0):
                for i in range(len(sentiments)):
                    sentiments[i] *= self.but_before if i < end else self.but_after if i > end else 1.0
        if self.subordinate == 1.0:
            return sentiments
        clause_words = self.clause_words
        start = next((i for i in range(1, end) if low[i] in clause_words), end)
        main = sum(sentiments[:start])
        # Only a clause that pulls against the main one is damped: when both agree, the reason adds to the
        # strength of the news.
        if main and main * sum(sentiments[start + 1 : end]) < 0:
            weight = self.subordinate
            sentiments[start + 1 : end] = [v * weight for v in sentiments[start + 1 : end]]
        return sentiments


def build_engine(lex: LexiconData, engine: VaderEngine | None = None) -> VaderEngine:
    engine = engine or EnglishEngine()
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
