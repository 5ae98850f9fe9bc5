"""Why a headline scored as it did: a trace of the VADER walk, word by word.

The trace runs the engine's own steps (per-word valence, the "but" rule, punctuation emphasis) and keeps the
intermediate valences, so the contributions add up exactly to the valence sum that VADER normalises into the
compound score. It is not a leave-one-out: removing a word would also move the negation windows of its
neighbours, which says less about what the engine did. This module never changes a score and never mutates
the engine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from vaderSentiment.vaderSentiment import C_INCR, SentiText, normalize, scalar_inc_dec

if TYPE_CHECKING:
    from tracker.sentiment.engine import Scorer, Token

KINDS = ("lexicon", "phrase", "negation", "booster", "but", "clause", "caps", "punctuation", "mixed", "model")


@dataclass(frozen=True, slots=True)
class Contribution:
    token: str  # the headline's word or phrase (an emoji for emoji entries)
    kind: str  # one of KINDS
    effect: float  # change of the valence sum (before VADER's normalisation into the compound)
    target: str | None = None  # the word a negation, booster, caps or "but" acted on


@dataclass(frozen=True, slots=True)
class Explanation:
    compound: float
    scorer: str  # name/version
    valence: float  # sum of the contributions; compound = valence / sqrt(valence² + 15)
    contributions: list[Contribution] = field(default_factory=list)
    method: str = "trace"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _window_negator(scorer: Scorer, words: list[str], i: int) -> int | None:
    """Position of the negating word VADER found in the three words before ``i`` (nearest first)."""
    engine = scorer.engine
    for back in (1, 2, 3):
        j = i - back
        if j < 0:
            break
        w = words[j].lower()
        if engine.is_negator(w) or w in ("no", "least"):
            return j
    return None


def _surface(token: Token, word: str) -> str:
    # A plain word is shown as VADER saw it (without the punctuation stuck to it).
    return word if token.surface == token.engine else token.surface


def trace(scorer: Scorer, tokens: list[Token]) -> Explanation:
    engine = scorer.engine
    text = " ".join(t.engine for t in tokens)
    senti = SentiText(text)
    words = senti.words_and_emoticons
    if len(words) != len(tokens):  # cannot happen with our own tokens; keep the engine's words if it does
        from tracker.sentiment.engine import Token as _Token

        tokens = [_Token(w, w) for w in words]
    lexicon = engine.lexicon

    sentiments = engine.valences(senti)
    # The engine's own changes to VADER's walk (a degree word after the verb, a negation further back), when it
    # makes any: the difference from the plain walk, each shown as the word that caused it.
    from tracker.sentiment.engine import PlainEngine

    adjust: dict[int, list[tuple[int, str, float]]] = {}
    plain_walk = sentiments
    if hasattr(engine, "adjustments"):
        plain_walk = PlainEngine.valences(engine, senti)
        for i, j, kind, delta in engine.adjustments(senti, list(plain_walk)):
            adjust.setdefault(i, []).append((j, kind, delta))
    before_but = list(plain_walk)
    after_but = engine._but_check(words, list(sentiments))
    scores = engine.score_valence(list(after_but), text)

    out: list[Contribution] = []
    but_total = 0.0
    for i, item in enumerate(words):
        low = item.lower()
        if low not in lexicon or (before_but[i] == 0 and after_but[i] == 0):
            continue
        surface = _surface(tokens[i], item)
        raw = float(lexicon[low])
        valence = raw
        caps = 0.0
        if item.isupper() and senti.is_cap_diff:
            caps = C_INCR if raw > 0 else -C_INCR
        valence += caps
        boosts: list[tuple[int, float]] = []
        for back, damp in ((1, 1.0), (2, 0.95), (3, 0.9)):
            j = i - back
            if j < 0 or words[j].lower() in lexicon:
                continue
            s = scalar_inc_dec(words[j], valence, senti.is_cap_diff) * damp
            if s:
                boosts.append((j, s))
                valence += s
        residual = before_but[i] - valence
        kind = "phrase" if tokens[i].phrase else "lexicon"
        if abs(residual) > 1e-9:
            neg = _window_negator(scorer, words, i)
            if neg is None:  # VADER's idiom rules: part of the word's own value here
                raw += residual
                residual = 0.0
        out.append(Contribution(surface, kind, round(raw, 4)))
        if caps:
            out.append(Contribution(surface, "caps", round(caps, 4), surface))
        for j, s in boosts:
            out.append(Contribution(_surface(tokens[j], words[j]), "booster", round(s, 4), surface))
        for j, adj_kind, delta in adjust.get(i, ()):
            out.append(Contribution(_surface(tokens[j], words[j]), adj_kind, round(delta, 4), surface))
        if abs(residual) > 1e-9:
            out.append(Contribution(_surface(tokens[neg], words[neg]), "negation", round(residual, 4), surface))  # type: ignore[index]
        but_total += after_but[i] - before_but[i] - sum(d for _, _, d in adjust.get(i, ()))
    if abs(but_total) > 1e-9:
        # The "but" rule, or the engine's own clause rule (a damped subordinate clause: "as", "despite"...).
        clause_words: frozenset[str] = getattr(engine, "clause_words", frozenset())
        low = [w.lower() for w in words]
        bi = next((j for j, w in enumerate(low) if w == "but" or (j and w in clause_words)), 0)
        kind = "but" if low[bi] == "but" else "clause"
        out.append(Contribution(_surface(tokens[bi], words[bi]), kind, round(but_total, 4)))
    total = float(sum(after_but))
    if total:
        amp = engine._punctuation_emphasis(text)
        if amp:
            out.append(Contribution("!" if "!" in text else "?", "punctuation", round(math.copysign(amp, total), 4)))
            total += math.copysign(amp, total)
    compound = round(normalize(total), 4) if after_but else 0.0
    # VADER rounds its own compound to 4 places; use its figure so the two can never differ.
    compound = float(scores.get("compound", compound))
    if total and abs(compound - round(normalize(total), 4)) > 1e-9:
        # The engine called the headline mixed (engine.is_mixed) and scaled its score into the neutral band:
        # shown as the change of valence sum that gives the reported compound.
        valence = compound * math.sqrt(15 / (1 - compound * compound))
        out.append(Contribution("positive and negative words balance", "mixed", round(valence - total, 4)))
        total = valence
    return Explanation(compound, scorer.label, round(total, 4), out)
