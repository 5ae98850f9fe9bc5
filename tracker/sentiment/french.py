"""The French scorer: the VADER engine with this project's French finance lexicon and French pre-processing.

The pre-pass splits elisions (l'IA, d'Nvidia, s'effondre, n'est), turns "ne … pas / ne … plus / ne … jamais"
into one negation marker VADER can see, maps French degree adverbs onto VADER's boosters and "mais" onto its
"but" rule. "plus" alone is "more", never a negation. This module must never mutate vaderSentiment's module
globals (the French negators live on the engine instance) and must not depend on GPL code.
"""

from __future__ import annotations

import re
import string

from tracker.sentiment.engine import (
    MAX_TEXT_CHARS,
    LexiconData,
    Scorer,
    Token,
    VaderEngine,
    load_lexicon,
    phrase_token,
    split_tokens,
)
from tracker.sentiment.english import PhrasePass

# Always a negation, with or without "ne" (headline French often drops it: "Pas de bulle", "Sans surprise").
STANDALONE_NEGATORS = frozenset({"pas", "jamais", "sans", "aucun", "aucune", "ni", "non", "nullement", "guère"})
# What closes a "ne …" construct. "plus" is here and only here.
CLOSERS = frozenset({"pas", "plus", "jamais", "rien", "guère", "point", "aucun", "aucune", "nullement", "personne"})
NEGATION_MARK = "ne"
FRENCH_NEGATORS = STANDALONE_NEGATORS | {NEGATION_MARK}

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_ELISION = re.compile(r"\b(jusqu|lorsqu|puisqu|quoiqu|qu|[ldjmtscn])'(?=\w)", re.IGNORECASE)
_STRIP = string.punctuation + "«»“”…"


def _elide(match: re.Match[str]) -> str:
    # "n'" is the negation particle; the other elided words (articles, pronouns) carry no sentiment and would
    # only stretch VADER's three-word negation window, so they go.
    return "ne " if match.group(1).lower() == "n" else ""


class FrenchFinanceScorer(Scorer):
    language = "fr"

    def __init__(self, lex: LexiconData | None = None) -> None:
        lex = lex or load_lexicon("fr_finance.toml")
        engine = VaderEngine(negators=FRENCH_NEGATORS, contraction_negates=False)
        english = engine.lexicon
        # VADER's English words would misfire on French text ("pain" is bread); keep only its emoticons.
        engine.lexicon = {k: v for k, v in english.items() if not any(c.isalpha() for c in k)}
        engine.lexicon.update(lex.words)
        # An emoji becomes one token valued as the English scorer values its (English) description, so
        # 📈 and 📉 mean the same in both languages.
        english = {**english, **load_lexicon("en_finance.toml").words}
        self._emoji_tokens: dict[str, str] = {}
        for ch, desc in engine.emojis.items():
            if len(ch) != 1:  # VADER looks emojis up one character at a time; longer keys never match
                continue
            value = sum(english.get(w, 0.0) for w in desc.lower().split())
            if value:
                token = f"emoji{ord(ch):x}"
                engine.lexicon[token] = round(value, 3)
                self._emoji_tokens[ch] = token
        # Phrases are written as a reader spells them ("bulle de l'IA"); match them after the same elision pass.
        phrases = {" ".join(_ELISION.sub(_elide, p).split()): v for p, v in lex.phrases.items()}
        for phrase, valence in phrases.items():
            if valence:
                engine.lexicon[phrase_token(phrase)] = valence
        super().__init__(engine, lex.name, lex.version)
        self.lexicon_data = lex
        self.phrases = PhrasePass(phrases)
        boosters = lex.extra.get("boosters", {})
        self.boosters: dict[str, str] = {k.lower(): str(v) for k, v in boosters.get("map", {}).items()}

    def _emoji_token(self, ch: str) -> str:
        return self._emoji_tokens.get(ch, "emoji")

    def tokens(self, text: str) -> list[Token]:
        text = _ELISION.sub(_elide, text[:MAX_TEXT_CHARS].translate(_APOSTROPHES))
        text = self.phrases.apply(text)
        raw = split_tokens(text, self.engine.emojis, self._emoji_token)
        lows = [t.engine.strip(_STRIP).lower() for t in raw]
        drop: set[int] = set()
        out: list[Token] = []
        for i, tok in enumerate(raw):
            if i in drop:
                continue
            low = lows[i]
            phrase = self.phrases.surfaces.get(low)
            if phrase:
                out.append(Token(tok.engine, phrase, True))
            elif low == "ne":
                closer = next((k for k in range(i + 1, min(i + 5, len(raw))) if lows[k] in CLOSERS), None)
                if closer is None:
                    continue  # an expletive "ne" ("avant qu'il ne chute") negates nothing
                # The closer goes: VADER looks for the negator before the word, and "ne" already is one.
                drop.add(closer)
                out.append(Token(NEGATION_MARK, f"{tok.surface} … {raw[closer].surface}"))
            elif low == "mais":
                out.append(Token("but", tok.surface))
            elif low in self.boosters:
                out.append(Token(self.boosters[low], tok.surface))
            else:
                out.append(tok)
        return out

    def prepare(self, text: str) -> str:
        return " ".join(t.engine for t in self.tokens(text))
