"""The optional model scorer: its shipped head, its maths, how it is chosen, and (with the ml extra) what it scores.

The first half runs everywhere; the second skips when the extra (pip install '.[ml]') is absent.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select

from tracker.config import ConfigError, parse_config
from tracker.models import NEGATIVE_AT, POSITIVE_AT, HeadlineRow, Source
from tracker.sentiment import Router, build_router, configure, get_router, model
from tracker.sentiment.english import EnglishFinanceScorer
from tracker.sentiment.french import FrenchFinanceScorer

needs_ml = pytest.mark.skipif(not model.available(), reason="the ml extra is not installed")


@pytest.fixture(autouse=True)
def _lexicon_router_after() -> object:
    yield
    configure("lexicon")  # a test that chose the model must not leave it to the others


def test_the_shipped_head_fits_the_current_overlay() -> None:
    head = model.load_head()
    # The overlay's compound is one of the head's inputs: a lexicon change without retraining is caught here.
    assert head["overlay"] == EnglishFinanceScorer().label, "retrain: python scripts/train_model_head.py ../shared/eval"
    assert len(head["weights"]) == model.EMBEDDING_DIM + 1
    assert all(math.isfinite(w) for w in head["weights"]) and math.isfinite(head["bias"])
    assert 0 < head["dead_zone"] < 0.5
    assert head["training"]["part"].startswith("tune")
    # The overlay's own score carries real weight next to 384 embedding dimensions of about 0.05 each.
    assert head["weights"][-1] > 0.2


def test_fit_ridge_solves_the_penalised_least_squares_problem() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6))
    true_w = np.array([0.5, -1.0, 0.0, 2.0, 0.1, -0.3])
    y = x @ true_w + 0.7 + rng.normal(scale=0.01, size=400)
    w, b = model.fit_ridge(x, y, alpha=1e-9)
    assert np.allclose(w, true_w, atol=0.01) and b == pytest.approx(0.7, abs=0.01)
    # With a penalty: the gradient of |y - Xw - b|² + α|w|² is zero at the answer (intercept unpenalised).
    w, b = model.fit_ridge(x, y, alpha=50.0)
    residual = y - x @ w - b
    assert np.allclose(-2 * x.T @ residual + 2 * 50.0 * w, 0, atol=1e-6)
    assert abs(residual.sum()) < 1e-6
    assert np.linalg.norm(w) < np.linalg.norm(true_w)  # shrunk


@pytest.mark.parametrize(
    ("raw", "width", "expected"),
    [(0.3, 0.1, 0.3), (-0.3, 0.1, -0.3), (1.7, 0.1, 0.9999), (-3.0, 0.1, -0.9999), (0.0, 0.1, 0.0)],
)
def test_dead_zone_outside_keeps_and_clips(raw: float, width: float, expected: float) -> None:
    assert model.dead_zone(raw, width) == expected


def test_dead_zone_inside_is_neutral_and_keeps_the_direction() -> None:
    for raw in np.linspace(-0.0999, 0.0999, 41):
        got = model.dead_zone(float(raw), 0.1)
        assert NEGATIVE_AT < got < POSITIVE_AT
        assert got == 0 or math.copysign(1, got) == math.copysign(1, raw)
    # Monotonic across the edge: the largest inside value stays below the smallest outside one.
    assert model.dead_zone(0.0999, 0.1) < model.dead_zone(0.1, 0.1)


def test_router_score_many_keeps_the_order_across_languages() -> None:
    router = Router({"en": EnglishFinanceScorer(), "fr": FrenchFinanceScorer()})
    items = [
        ("Nvidia shares plunge 10%", "en"),
        ("Krach sur les valeurs de l'IA", "fr"),
        ("Nvidia-Aktie bricht ein", "de"),
        ("Nvidia beats estimates as AI chip demand soars", "en-GB"),
        ("", "en"),
    ]
    assert router.score_many(items) == [router.score(text, lang) for text, lang in items]


def test_router_explain_many_matches_one_at_a_time() -> None:
    router = Router({"en": EnglishFinanceScorer(), "fr": FrenchFinanceScorer()})
    items = [("Nvidia shares plunge 10%", "en"), ("Nvidia-Aktie bricht ein", "de"), ("Krach sur l'IA", "fr")]
    assert router.explain_many(items) == [router.explain(text, lang) for text, lang in items]
    assert router.explain_many(items)[1].contributions == [] and router.explain_many([]) == []


def test_choosing_the_model_without_the_extra_names_file_line_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "available", lambda: False)
    monkeypatch.delenv("TRACKER_ENGLISH_SCORER", raising=False)
    text = '[settings]\nport = 8001\nenglish_scorer = "model"\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, "my.toml")
    assert str(err.value).startswith("my.toml, line 3: settings.english_scorer:")
    assert "pip install" in str(err.value)
    monkeypatch.setenv("TRACKER_ENGLISH_SCORER", "model")
    with pytest.raises(ConfigError, match=r"environment variable TRACKER_ENGLISH_SCORER: .*ml extra"):
        parse_config("", "my.toml")
    with pytest.raises(model.ModelUnavailable, match="ml extra"):
        configure("model")
    with pytest.raises(ValueError, match="unknown English scorer"):
        configure("bert")


def test_an_unknown_english_scorer_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"x.toml, line 2: settings.english_scorer: Input should be 'lexicon' or 'model'"
    ):
        parse_config('[settings]\nenglish_scorer = "bert"\n', "x.toml")


def test_the_cli_refuses_the_model_without_the_extra_and_without_a_traceback(tmp_path: Path) -> None:
    # A child process in which the extra looks absent, so this runs the same with or without it installed.
    code = (
        "import sys, tracker.sentiment.model as m; m.available = lambda: False\n"
        "from tracker.cli import main; sys.argv = ['tracker', 'score', 'Nvidia soars']; main()\n"
    )
    env = {"TRACKER_ENGLISH_SCORER": "model", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "TRACKER_ENGLISH_SCORER" in proc.stderr and "ml extra" in proc.stderr


# ---- with the ml extra -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scorer() -> model.MiniLMHeadScorer:
    if not model.available():
        pytest.skip("the ml extra is not installed")
    return model.MiniLMHeadScorer()


@needs_ml
def test_model_scores_clear_headlines_with_the_right_sign(scorer: model.MiniLMHeadScorer) -> None:
    assert scorer.label == "minilm-head-en/2026.12.1"
    good = ["Nvidia beats estimates as AI chip demand soars", "Broadcom shares jump to a record high"]
    bad = ["Nvidia shares plunge 10%", "Oracle slumps after weak guidance and layoffs"]
    assert all(scorer.compound(t) >= POSITIVE_AT for t in good)
    assert all(scorer.compound(t) <= NEGATIVE_AT for t in bad)
    neutral = scorer.compound("The company will hold its annual general meeting on Thursday")
    assert NEGATIVE_AT < neutral < POSITIVE_AT


@needs_ml
def test_model_batches_score_like_single_calls(scorer: model.MiniLMHeadScorer) -> None:
    texts = [
        "Nvidia shares plunge 10%",
        "CoreWeave raises $2bn as data-centre demand soars",
        "Is the AI bubble about to burst?",
        "Palantir",
        "",
        "x" * 5000,  # capped like every scorer's input
    ]
    batch = scorer.score_many(texts)
    for text, got in zip(texts, batch, strict=True):
        one = scorer.score(text)
        assert got.compound == pytest.approx(one.compound, abs=2e-4)  # padding in a batch moves the 6th digit
        assert (got.scorer, got.version, got.pos, got.neg) == (one.scorer, one.version, one.pos, one.neg)
        assert -1 < got.compound < 1


@needs_ml
def test_model_explanation_adds_up(scorer: model.MiniLMHeadScorer) -> None:
    for text in ("Nvidia shares plunge as revenue soars", "Nvidia n'a rien", "Chip stocks rally", "Results due"):
        exp = scorer.explain(text)
        assert exp.scorer == scorer.label and exp.compound == scorer.compound(text)
        assert sum(c.effect for c in exp.contributions) == pytest.approx(exp.valence, abs=1e-3)
        assert exp.valence / math.sqrt(exp.valence**2 + 15) == pytest.approx(exp.compound, abs=1e-3)
        assert exp.contributions[-1].kind == "model"
        overlay = scorer.overlay.explain(text)
        assert exp.contributions[:-1] == overlay.contributions  # the words the head also saw


@needs_ml
def test_model_explains_a_table_in_one_batch_like_one_at_a_time(scorer: model.MiniLMHeadScorer) -> None:
    texts = ["Nvidia shares plunge 10%", "CoreWeave raises $2bn as demand soars", "Results due on Thursday"]
    calls = []
    encode = scorer.encoder.encode

    def counting(batch):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return encode(batch)

    scorer.encoder.encode = counting  # type: ignore[method-assign]
    try:
        many = scorer.explain_many(texts)
    finally:
        scorer.encoder.encode = encode  # type: ignore[method-assign]
    assert calls == [3]
    for text, got in zip(texts, many, strict=True):
        one = scorer.explain(text)
        assert got.compound == pytest.approx(one.compound, abs=2e-4)
        assert [c.kind for c in got.contributions] == [c.kind for c in one.contributions]


@needs_ml
def test_a_head_trained_on_another_lexicon_is_refused(scorer: model.MiniLMHeadScorer) -> None:
    head = {**model.load_head(), "overlay": "vader-finance-en/1999.1.1"}
    with pytest.raises(model.ModelUnavailable, match="retrain"):
        model.MiniLMHeadScorer(head=head, overlay=scorer.overlay)


@needs_ml
def test_the_configured_model_routes_english_and_leaves_french(scorer: model.MiniLMHeadScorer) -> None:
    router = build_router("model")
    assert router.scorer_names() == {"en": "minilm-head-en/2026.12.1", "fr": "vader-finance-fr/2026.12.1"}
    configure("model")
    assert get_router().scorer_names()["en"] == "minilm-head-en/2026.12.1"
    configure("lexicon")
    assert get_router().scorer_names()["en"].startswith("vader-finance-en/")


@needs_ml
def test_rescore_with_the_model_writes_its_name_and_version(sqlite_url: str) -> None:
    from tracker.store.engine import open_engine
    from tracker.store.rescore import rescore

    engine = open_engine(sqlite_url)
    h, s = HeadlineRow.__table__, Source.__table__  # type: ignore[attr-defined]
    from datetime import UTC, datetime

    when = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(s).values(name="t", kind="rss", url="https://example.com/feed"))
        titles = [("Nvidia shares plunge 10%", "en"), ("Krach sur les valeurs de l'IA", "fr")]
        conn.execute(
            insert(h),
            [
                {
                    "dedupe_key": f"k{i}",
                    "title_fp": f"f{i}",
                    "title": t,
                    "summary": "",
                    "source_id": 1,
                    "published_at": when,
                    "first_seen_at": when,
                    "language": lang,
                    "tagged": True,
                    "topics": "nvda",
                    "date_flag": "ok",
                    "sightings": 1,
                }
                for i, (t, lang) in enumerate(titles)
            ],
        )
    report = rescore(engine, router=build_router("model"))
    assert report.changed == 2
    with engine.connect() as conn:
        rows = dict(conn.execute(select(h.c.title, h.c.scorer)).all())
    assert rows == {"Nvidia shares plunge 10%": "minilm-head-en", "Krach sur les valeurs de l'IA": "vader-finance-fr"}


def test_eval_leaves_out_a_model_that_cannot_be_built_and_says_why(tmp_path: Path, monkeypatch) -> None:
    from test_sentiment_cli import write_eval_dir
    from typer.testing import CliRunner

    import tracker.cli  # noqa: F401  (registers the commands)
    from tracker.cli.app import app

    def refuse(*args: object, **kwargs: object) -> None:
        raise model.ModelUnavailable("the model head was trained with vader-finance-en/0: retrain it")

    monkeypatch.setattr(model, "available", lambda: True)
    monkeypatch.setattr(model, "MiniLMHeadScorer", refuse)
    result = CliRunner().invoke(app, ["eval", str(write_eval_dir(tmp_path / "eval")), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "model scorer left out: the model head was trained with" in result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"vader/3.3.2", EnglishFinanceScorer().label}


def test_training_refuses_to_reuse_a_head_version(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "head.json"
    out.write_text(json.dumps(model.load_head()), encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(root / "scripts" / "train_model_head.py"),
            str(tmp_path),
            "--out",
            str(out),
            "--version",
            model.load_head()["version"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert proc.returncode == 2 and "give a new --version" in proc.stderr and "Traceback" not in proc.stderr
