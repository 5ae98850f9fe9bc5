"""Topic tagging: which configured topics a headline is about, and how strongly.

``Tagger(topics)`` compiles the topics once into a dictionary keyed by the first word of every term, so
``tag(title, summary)`` costs one tokenisation plus a set intersection and a few lookups, whatever the number
of terms. Matching is on whole words only ("AI" never matches "Airlines", "intel" never "intelligence"),
case- and accent-insensitive, except that an ``ambiguous`` term written with capitals ("MU", "AI", "IA") must
appear exactly so. Ambiguous terms count only when one of the topic's ``context`` terms is also present, and
an ``exclude`` phrase cancels the topic's matches inside it ("Oracle of Omaha" is Warren Buffett).

It must never use the text as anything but data: no regex is built from feed text, nothing is evaluated.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tracker.config import TopicConfig
from tracker.models import TopicHit

_TERM, _AMBIGUOUS, _EXCLUDE = range(3)
# Latin letters and digits: the words terms are made of. Apostrophes, hyphens and dots split words, so
# "bulle de l’IA", "dot-com" and "C.C. Wei" match however the publisher punctuated them.
_WORD_RE = re.compile("[0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+")

_MAX_CHARS = 5000  # cleaned text is far shorter; this only bounds the work on a caller's mistake
TITLE_WEIGHT = 1.0
SUMMARY_WEIGHT = 0.5
AMBIGUOUS_WEIGHT = 0.8  # a term that needed context to count is weaker evidence than an unambiguous one
EXTRA_HIT = 0.1
SUMMARY_CAP = 0.8


def _build_fold() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        c = chr(code)
        base = "".join(ch for ch in unicodedata.normalize("NFD", c) if not unicodedata.combining(ch))
        if base != c and base.isascii():
            table[code] = base
    table.update({ord("ß"): "ss", ord("æ"): "ae", ord("œ"): "oe", ord("ø"): "o", ord("đ"): "d", ord("ł"): "l"})
    return table


_FOLD = _build_fold()


def _lower_words(words: list[str]) -> list[str]:
    """Lower-cased, accent-folded copies of ``words``, position for position."""
    if not words:
        return []
    joined = " ".join(words).lower()
    if not joined.isascii():
        joined = joined.translate(_FOLD)
    return joined.split(" ")


@dataclass(frozen=True, slots=True)
class _Entry:
    rest: tuple[str, ...]  # the term's folded words after the first
    topic: int
    kind: int
    exact: tuple[str, ...] | None  # the words as written, for capitalised ambiguous terms


@dataclass(frozen=True, slots=True)
class _Context:
    words: frozenset[str]  # one-word context terms, folded
    phrases: tuple[tuple[str, ...], ...]  # longer ones


# One text's words: (as written, folded, is the title)
_Words = tuple[list[str], list[str], bool]
# A raw match: (kind, start, end, in the title)
_Match = tuple[int, int, int, bool]


def _has_phrase(low: list[str], phrase: tuple[str, ...]) -> bool:
    first, n = phrase[0], len(phrase)
    if first not in low:
        return False
    at = -1
    for _ in range(low.count(first)):
        at = low.index(first, at + 1)
        if tuple(low[at : at + n]) == phrase:
            return True
    return False


class Tagger:
    """Compiled topics. Build it once per config and call ``tag`` for every item."""

    def __init__(self, topics: Sequence[TopicConfig]) -> None:
        self._keys = [t.key for t in topics]
        index: dict[str, list[_Entry]] = {}
        seen: set[tuple[str, _Entry]] = set()
        self._contexts: list[_Context] = []
        for number, topic in enumerate(topics):
            groups = ((_TERM, topic.terms), (_AMBIGUOUS, topic.ambiguous), (_EXCLUDE, topic.exclude))
            ambiguous_words: set[tuple[str, ...]] = set()
            for kind, terms in groups:
                for term in terms:
                    written = _WORD_RE.findall(term)
                    if not written:
                        continue
                    folded = _lower_words(written)
                    exact = tuple(written) if kind == _AMBIGUOUS and term != term.lower() else None
                    if kind == _AMBIGUOUS:
                        ambiguous_words.add(tuple(folded))
                    entry = _Entry(tuple(folded[1:]), number, kind, exact)
                    if (folded[0], entry) not in seen:
                        seen.add((folded[0], entry))
                        index.setdefault(folded[0], []).append(entry)
            # A context list that repeats an ambiguous word would let that word vouch for itself.
            context = {tuple(_lower_words(_WORD_RE.findall(c))) for c in topic.context} - {()} - ambiguous_words
            self._contexts.append(
                _Context(frozenset(c[0] for c in context if len(c) == 1), tuple(c for c in context if len(c) > 1))
            )
        # first word -> [(length of the rest, {rest: entries})]: one slice and one lookup per length.
        self._index: dict[str, list[tuple[int, dict[tuple[str, ...], list[_Entry]]]]] = {}
        for first, entries in index.items():
            by_len: dict[int, dict[tuple[str, ...], list[_Entry]]] = {}
            for e in entries:
                by_len.setdefault(len(e.rest), {}).setdefault(e.rest, []).append(e)
            self._index[first] = sorted(by_len.items())
        self._first = frozenset(index)

    def _scan(self, text: str, in_title: bool, found: dict[int, list[_Match]]) -> _Words:
        words = _WORD_RE.findall(text[:_MAX_CHARS]) if text else []
        low = _lower_words(words)
        for first in self._first.intersection(low):
            groups = self._index[first]
            count = low.count(first)
            at = low.index(first)
            while True:
                for n, by_rest in groups:
                    entries = by_rest.get(tuple(low[at + 1 : at + 1 + n]) if n else ())
                    if entries is not None:
                        for e in entries:
                            if e.exact is None or tuple(words[at : at + 1 + n]) == e.exact:
                                found.setdefault(e.topic, []).append((e.kind, at, at + 1 + n, in_title))
                count -= 1
                if not count:
                    break
                at = low.index(first, at + 1)
        return words, low, in_title

    def _has_context(self, topic: int, texts: tuple[_Words, _Words]) -> bool:
        ctx = self._contexts[topic]
        for _, low, _ in texts:
            if not ctx.words.isdisjoint(low):
                return True
            if any(_has_phrase(low, p) for p in ctx.phrases):
                return True
        return False

    def tag(self, title: str, summary: str) -> list[TopicHit]:
        """The topics of one headline, most relevant first. Relevance is in 0..1: a title hit counts 1.0
        (0.8 for an ambiguous term), a summary-only hit half that, each further hit 0.1 more, capped at 1.0
        in the title and 0.8 in the summary."""
        found: dict[int, list[_Match]] = {}
        texts = (self._scan(title, True, found), self._scan(summary, False, found))
        if not found:
            return []
        hits: list[tuple[float, int, TopicHit]] = []
        for topic, matches in found.items():
            hit = self._resolve(topic, matches, texts)
            if hit is not None:
                hits.append((hit[0], topic, TopicHit(self._keys[topic], hit[0], hit[1])))
        if len(hits) > 1:
            hits.sort(key=lambda h: (-h[0], h[1]))
        return [h[2] for h in hits]

    def _resolve(self, topic: int, matches: list[_Match], texts: tuple[_Words, _Words]) -> tuple[float, bool] | None:
        """(relevance, in_title) of one topic from its raw matches, or None when nothing counts."""
        if len(matches) == 1 and matches[0][0] == _TERM:  # the common case: one plain mention
            return (TITLE_WEIGHT, True) if matches[0][3] else (SUMMARY_WEIGHT, False)
        excludes = [m for m in matches if m[0] == _EXCLUDE]
        context: bool | None = None  # looked up only when an ambiguous term needs it
        weights: list[tuple[float, bool]] = []
        starts: set[tuple[bool, int]] = set()
        for kind, start, end, in_title in matches:
            if kind == _EXCLUDE:
                continue
            if excludes and any(t == in_title and s <= start and end <= e for _, s, e, t in excludes):
                continue
            if kind == _AMBIGUOUS:
                if context is None:
                    context = self._has_context(topic, texts)
                if not context:
                    continue
            if (in_title, start) in starts:  # "micron" and "micron technology" are one mention
                continue
            starts.add((in_title, start))
            weights.append((1.0 if kind == _TERM else AMBIGUOUS_WEIGHT, in_title))
        if not weights:
            return None
        title_weights = [w for w, t in weights if t]
        extra = EXTRA_HIT * (len(weights) - 1)
        if title_weights:
            return round(min(1.0, TITLE_WEIGHT * max(title_weights) + extra), 3), True
        return round(min(SUMMARY_CAP, SUMMARY_WEIGHT * max(w for w, _ in weights) + extra), 3), False


def topic_keys_of(hits: Sequence[TopicHit]) -> list[str]:
    """The topic keys of ``hits``, in order, each once."""
    return list(dict.fromkeys(h.key for h in hits))
