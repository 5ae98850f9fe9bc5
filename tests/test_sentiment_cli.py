"""`tracker eval` and `tracker score` through the Typer app (CliRunner), on self-written data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

try:  # the full command set; falls back to this part's commands while other modules are being written
    import tracker.cli
except ImportError:  # pragma: no cover
    import tracker.cli.sentiment  # noqa: F401
from tracker.cli.app import UserError, app
from tracker.sentiment import model
from tracker.sentiment.evaluate import evaluate, held_out, load_datasets

runner = CliRunner()

SEMEVAL = [
    ("Nvidia shares plunge after weak guidance", "-0.6"),
    ("Chipmaker beats estimates, stock soars", "0.7"),
    ("Rally lifts chip stocks to record high", "0.5"),
    ("Layoffs and writedowns hit software group", "-0.5"),
    ("Company appoints new finance chief", "0.0"),
    ("Short seller report sends Palantir tumbling", "-0.7"),
]
FIQA = {
    "1": {"sentence": "Tesla shares slump on delivery miss", "info": [{"sentiment_score": "-0.5"}]},
    "2": {"sentence": "AMD upgrade lifts stock", "info": [{"sentiment_score": "0.4"}, {"sentiment_score": "0.6"}]},
    "3": {"sentence": "Intel bearish outlook drags shares lower", "info": [{"sentiment_score": "-0.4"}]},
}
FPB = [
    ("Operating profit rose to EUR 13.1 mn from EUR 8.7 mn .", "positive"),
    ("Net sales decreased by 5 % to EUR 20 mn .", "negative"),
    ("The company is based in Espoo , Finland .", "neutral"),
    ("The Board proposes a dividend of EUR 0.50 per share .", "neutral"),
    ("Pre-tax loss widened to EUR 3 mn from EUR 1 mn .", "negative"),
    ("Se\u00f1or Oy 's order intake grew by 20 % .", "positive"),  # latin-1 character
]


def write_eval_dir(root: Path) -> Path:
    (root / "semeval2017_task5").mkdir(parents=True)
    lines = ['"id","company","title","sentiment score"']
    lines += [f'"{i}","X","{t}","{g}"' for i, (t, g) in enumerate(SEMEVAL)]
    (root / "semeval2017_task5" / "Headlines_Trainingdata.csv").write_text(
        "\n".join(lines) + "\n", encoding="utf-8-sig"
    )
    (root / "fiqa2018_task1").mkdir()
    (root / "fiqa2018_task1" / "task1_headline_ABSA_train.json").write_text(json.dumps(FIQA), encoding="utf-8")
    (root / "financial_phrasebank").mkdir()
    body = "".join(f"{t}@{label}\n" for t, label in FPB)
    (root / "financial_phrasebank" / "Sentences_AllAgree.txt").write_bytes(body.encode("latin-1"))
    return root


def test_eval_json_on_a_tiny_folder(tmp_path: Path) -> None:
    data = write_eval_dir(tmp_path / "eval")
    result = runner.invoke(app, ["eval", str(data), "--format", "json", "--part", "all"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # stdout only: a stray server thread of another test may write to stderr
    model_label = {"minilm-head-en/2026.12.1"} if model.available() else set()
    assert set(figures) == {"vader/3.3.2", "vader-finance-en/2026.12.4"} | model_label
    ours = figures["vader-finance-en/2026.12.4"]
    assert set(ours) == {"semeval_headlines", "fiqa_headlines", "fpb_allagree"}
    assert ours["semeval_headlines"]["n"] == len(SEMEVAL)
    assert ours["fiqa_headlines"]["n"] == len(FIQA)
    assert ours["fpb_allagree"]["n"] == len(FPB)
    for metric in ("pearson", "sign_flip", "zero_share", "per_second"):
        assert metric in ours["semeval_headlines"]
    for metric in ("accuracy", "macro_f1", "sign_flip", "zero_share", "per_second"):
        assert metric in ours["fpb_allagree"]
    # these headlines are easy for the overlay and mostly missed by plain VADER
    assert ours["semeval_headlines"]["pearson"] > 0.8
    assert ours["semeval_headlines"]["pearson"] > figures["vader/3.3.2"]["semeval_headlines"]["pearson"]
    assert ours["fpb_allagree"]["accuracy"] >= 5 / 6


def test_eval_table_and_held_out_split(tmp_path: Path) -> None:
    data = write_eval_dir(tmp_path / "eval")
    result = runner.invoke(app, ["eval", str(data)])
    assert result.exit_code == 0, result.output
    assert "held-out 30 %" in result.output and "vader-finance-en/2026.12.4" in result.output
    # The default part is the held-out one, chosen by the stable hash; tune + held-out = everything.
    expected = sum(1 for t, _ in SEMEVAL if held_out(t))
    sets = {d.name: d for d in load_datasets(data, "held_out")}
    assert len(sets["semeval_headlines"].texts) == expected
    tune = {d.name: d for d in load_datasets(data, "tune")}
    assert len(tune["semeval_headlines"].texts) == len(SEMEVAL) - expected


def test_held_out_is_stable_and_about_thirty_percent() -> None:
    texts = [f"headline number {i}" for i in range(2000)]
    share = sum(map(held_out, texts)) / len(texts)
    assert 0.27 < share < 0.33
    assert held_out("Nvidia  Shares plunge") == held_out("nvidia shares plunge")


def test_gold_of_fiqa_is_the_mean_of_targets(tmp_path: Path) -> None:
    data = write_eval_dir(tmp_path / "eval")
    fiqa = next(d for d in load_datasets(data, "all") if d.name == "fiqa_headlines")
    assert fiqa.gold is not None
    assert fiqa.gold[fiqa.texts.index("AMD upgrade lifts stock")] == pytest.approx(0.5)


def test_eval_user_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path / "missing")])
    assert isinstance(result.exception, UserError)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["eval", str(empty)])
    assert isinstance(result.exception, UserError) and "no labelled set" in str(result.exception)
    result = runner.invoke(app, ["eval", str(empty), "--format", "xml"])
    assert isinstance(result.exception, UserError)


def test_eval_on_shared_data_reaches_the_targets(shared_dir: Path) -> None:
    data = shared_dir / "eval"
    if not (data / "financial_phrasebank" / "Sentences_AllAgree.txt").is_file():
        pytest.skip("../shared/eval is absent")
    figures = evaluate(data)  # held-out part
    ours, plain = figures["vader-finance-en/2026.12.4"], figures["vader/3.3.2"]
    assert ours["semeval_headlines"]["pearson"] >= 0.60
    assert ours["fiqa_headlines"]["pearson"] >= 0.60
    assert ours["fpb_allagree"]["macro_f1"] >= 0.75
    assert ours["fpb_allagree"]["sign_flip"] < 0.05
    for name in ("semeval_headlines", "fiqa_headlines"):
        assert ours[name]["pearson"] > plain[name]["pearson"]
        assert ours[name]["zero_share"] < plain[name]["zero_share"]
        assert ours[name]["sign_flip"] < plain[name]["sign_flip"]
    if model.available():
        # The model scorer is shipped because it beats the overlay on the held-out headline sets.
        head = figures["minilm-head-en/2026.12.1"]
        for name in ("semeval_headlines", "fiqa_headlines"):
            assert head[name]["pearson"] > ours[name]["pearson"]
            assert head[name]["sign_flip"] <= ours[name]["sign_flip"]
        assert head["fpb_allagree"]["macro_f1"] >= 0.75


def test_score_json_from_arguments() -> None:
    result = runner.invoke(app, ["score", "--format", "json", "Nvidia shares plunge 10%", "Nvidia n'est pas une bulle"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # stdout only: a stray server thread of another test may write to stderr
    assert [r["language"] for r in rows] == ["en", "fr"]
    assert rows[0]["compound"] < 0 < rows[1]["compound"]
    assert rows[0]["scorer"] == "vader-finance-en" and rows[1]["scorer"] == "vader-finance-fr"
    assert {"text", "language", "compound", "scorer", "explanation"} <= set(rows[0])
    tokens = [(c["token"], c["kind"]) for c in rows[0]["explanation"]["contributions"]]
    assert ("plunge", "lexicon") in tokens


def test_score_stdin_and_unscored_language() -> None:
    text = "Nvidia beats estimates as AI chip demand soars\n\nDie Nvidia-Aktie bricht nach den Zahlen ein\n"
    result = runner.invoke(app, ["score", "--format", "json"], input=text)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # stdout only: a stray server thread of another test may write to stderr
    assert len(rows) == 2
    assert rows[0]["compound"] > 0
    assert rows[1]["language"] != "en" and rows[1]["compound"] is None and rows[1]["explanation"] is None


def test_score_table_prints_markup_as_text() -> None:
    result = runner.invoke(app, ["score", "--language", "en", "[red]Nvidia[/red] rallies"])
    assert result.exit_code == 0, result.output
    assert "[red]" in result.output and "rallies lexicon" in result.output
    assert "unscored" not in result.output


def test_score_shows_unscored_headlines() -> None:
    result = runner.invoke(app, ["score", "--language", "de", "Nvidia bricht ein"])
    assert result.exit_code == 0, result.output
    assert "unscored" in result.output


def test_rescore_rejects_a_bad_since() -> None:
    result = runner.invoke(app, ["rescore", "--since", "yesterday-ish"])
    assert isinstance(result.exception, UserError) and "--since" in str(result.exception)
