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

    def score_many(self, items: Iterable[tuple[str, str]]) -> list[Score | None]:
        out: list[Score | None] = []
        get = self.scorers.get
        for text, language in items:
            scorer = get(language) or get(_base_language(language))
            out.append(None if scorer is None else scorer.score(text or ""))
        return out

    def explain(self, text: str, language: str) -> Explanation:
        scorer = self.scorer_for(language)
        if scorer is None:
            return Explanation(0.0, "none", 0.0, [], method="unscored")
        result: Explanation = scorer.explain(text or "")
        return result

    def scorer_names(self) -> dict[str, str]:
        return {lang: s.label for lang, s in self.scorers.items()}


_router: Router | None = None
_lock = threading.Lock()


def build_router() -> Router:
    from tracker.sentiment.english import EnglishFinanceScorer
    from tracker.sentiment.french import FrenchFinanceScorer

    return Router({"en": EnglishFinanceScorer(), "fr": FrenchFinanceScorer()})


def get_router() -> Router:
    """The process-wide router, built on first use."""
    global _router
    if _router is None:
        with _lock:
            if _router is None:
                _router = build_router()
    return _router
