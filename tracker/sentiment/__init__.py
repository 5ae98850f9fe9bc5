"""Headline sentiment: one scorer per language, routed by the headline's language.

``get_router()`` gives the process-wide router (built once: building the engines reads the lexicon files).
A language without a scorer gets ``None``, so its headlines stay visibly unscored rather than being scored
by a lexicon of another language. Nothing here reads the labelled evaluation data or touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tracker.models import Score
from tracker.sentiment.engine import Scorer
from tracker.sentiment.explain import Contribution, Explanation

__all__ = ["Contribution", "Explanation", "Router", "Scorer", "get_router"]


def _base_language(language: str | None) -> str:
    return (language or "").strip().lower().replace("_", "-").split("-")[0]


class Router:
    def __init__(self, scorers: dict[str, Scorer]) -> None:
        self.scorers = dict(scorers)

    def scorer_for(self, language: str | None) -> Scorer | None:
        return self.scorers.get(_base_language(language))

    def score(self, text: str, language: str) -> Score | None:
        scorer = self.scorer_for(language)
        return None if scorer is None else scorer.score(text or "")

    def _by_scorer(self, pairs: list[tuple[str, str]]) -> list[tuple[Scorer, list[int], list[str]]]:
        """The (text, language) pairs grouped by their scorer: each scorer, its pairs' positions and texts."""
        groups: dict[int, tuple[Scorer, list[int], list[str]]] = {}
        get = self.scorers.get
        for i, (text, language) in enumerate(pairs):
            scorer = get(language) or get(_base_language(language))
            if scorer is not None:
                group = groups.setdefault(id(scorer), (scorer, [], []))
                group[1].append(i)
                group[2].append(text or "")
        return list(groups.values())

    def score_many(self, items: Iterable[tuple[str, str]]) -> list[Score | None]:
        """Scores in the order given; each scorer gets its headlines in one call (the model scorer batches)."""
        pairs = list(items)
        out: list[Score | None] = [None] * len(pairs)
        for scorer, positions, texts in self._by_scorer(pairs):
            for i, score in zip(positions, scorer.score_many(texts), strict=True):
                out[i] = score
        return out

    def explain_many(self, items: Iterable[tuple[str, str]]) -> list[Explanation]:
        """Explanations in the order given; each scorer explains its headlines in one call (the model batches)."""
        pairs = list(items)
        out = [Explanation(0.0, "none", 0.0, [], method="unscored") for _ in pairs]
        for scorer, positions, texts in self._by_scorer(pairs):
            for i, explanation in zip(positions, scorer.explain_many(texts), strict=True):
                out[i] = explanation
        return out

    def explain(self, text: str, language: str) -> Explanation:
        scorer = self.scorer_for(language)
        if scorer is None:
            return Explanation(0.0, "none", 0.0, [], method="unscored")
        result: Explanation = scorer.explain(text or "")
        return result

    def copyable(self) -> bool:
        """Whether every scorer may be copied into worker processes (see ``Scorer.copyable``)."""
        return all(getattr(s, "copyable", False) for s in self.scorers.values())

    def scorer_names(self) -> dict[str, str]:
        return {lang: s.label for lang, s in self.scorers.items()}


ENGLISH_SCORERS = ("lexicon", "model")

_router: Router | None = None
_english = "lexicon"
_lock = threading.Lock()


def _check_english(english: str) -> None:
    if english not in ENGLISH_SCORERS:
        raise ValueError(f"unknown English scorer {english!r} (expected one of {', '.join(ENGLISH_SCORERS)})")


def build_router(english: str = "lexicon") -> Router:
    """English by the finance overlay (``lexicon``) or by the optional model scorer (``model``), French by its
    lexicon. Raises ``ModelUnavailable`` for ``model`` without the ml extra."""
    from tracker.sentiment.english import EnglishFinanceScorer
    from tracker.sentiment.french import FrenchFinanceScorer

    _check_english(english)
    en: Scorer
    if english == "model":
        from tracker.sentiment.model import MiniLMHeadScorer

        en = MiniLMHeadScorer()
    else:
        en = EnglishFinanceScorer()
    return Router({"en": en, "fr": FrenchFinanceScorer()})


def configure(english: str) -> None:
    """Choose the English scorer of the process-wide router (the ``english_scorer`` setting).

    Cheap: it only checks that the choice can be built (the model's extra is installed) and drops a router
    built with another choice; the router itself is built on first use."""
    global _router, _english
    _check_english(english)
    if english == "model":
        from tracker.sentiment.model import INSTALL_HINT, ModelUnavailable, available

        if not available():
            raise ModelUnavailable(f"the model scorer needs the ml extra: {INSTALL_HINT}")
    with _lock:
        if english != _english:
            _english, _router = english, None


def get_router() -> Router:
    """The process-wide router, built on first use with the configured English scorer."""
    global _router
    if _router is None:
        with _lock:
            if _router is None:
                _router = build_router(_english)
    return _router
