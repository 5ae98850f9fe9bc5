"""Commands of the sentiment part: ``tracker eval``, ``tracker score`` and ``tracker rescore``.

``eval`` measures the scorers on a labelled folder kept outside the project; ``score`` shows how the pipeline
would score (and why) headlines given as arguments or on standard input; ``rescore`` rescores stored history.
Headline text is untrusted: it is capped, and printed as plain text (never as Rich markup).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracker.cli.app import UserError, app, echo_json, state

FORMATS = ("table", "json")
PARTS = ("held_out", "tune", "all")
PART_NOTES = {
    "held_out": "figures on the held-out 30 % of each set (the lexicon was tuned on the other 70 %)",
    "tune": "figures on the 70 % the lexicon was tuned on: flattering, use the held-out part to judge",
    "all": "figures on every item, the tuning part included",
}
MAX_STDIN_LINES = 100_000
MAX_LINE_CHARS = 2000
METRIC_COLUMNS = ("n", "pearson", "accuracy", "macro_f1", "sign_flip", "zero_share", "per_second")
# Short headers so the table fits 80 columns; the JSON output carries the full metric names.
HEADERS = {
    "pearson": "r",
    "accuracy": "acc",
    "macro_f1": "F1",
    "sign_flip": "flip",
    "zero_share": "zeros",
    "per_second": "/s",
}


def _format(value: str) -> str:
    if value not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 or column == "per_second" else f"{value:.3f}"
    return str(value)


@app.command("eval")
def eval_command(
    data_dir: Path = typer.Argument(..., help="Folder laid out like ../shared/eval (never copied anywhere)."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    part: str = typer.Option("held_out", "--part", help="held_out (reported), tune (what was tuned on) or all"),
) -> None:
    """Score the labelled sets with plain VADER, the finance overlay and (with the ml extra) the model, side by side."""
    from tracker.sentiment.evaluate import default_scorers, evaluate

    fmt = _format(fmt)
    if part not in PARTS:
        raise UserError(f"--part must be one of {', '.join(PARTS)}, not {part!r}")
    if not data_dir.is_dir():
        raise UserError(f"{data_dir} is not a folder")
    notes: list[str] = []
    try:
        result = evaluate(data_dir, part=part, scorers=default_scorers(notes))  # type: ignore[arg-type]
    except (FileNotFoundError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(str(exc)) from None
    for note in notes:
        typer.echo(note, err=True)
    if fmt == "json":
        echo_json(result)
        return
    console = Console()
    console.print(PART_NOTES[part])
    for scorer, sets in result.items():  # one table per scorer keeps each within 80 columns
        table = Table(title=Text(scorer))
        table.add_column("data set", no_wrap=True)
        for col in METRIC_COLUMNS:
            table.add_column(HEADERS.get(col, col), justify="right")
        for name, metrics in sets.items():
            table.add_row(Text(name), *(_cell(metrics.get(c), c) for c in METRIC_COLUMNS))
        console.print(table)


def _detect(text: str, hint: str | None) -> str:
    from tracker.language import detect_language

    return detect_language(text, hint)


def _read_texts(texts: list[str] | None) -> list[str]:
    if texts:
        return [t[:MAX_LINE_CHARS] for t in texts]
    if sys.stdin is None or sys.stdin.isatty():
        raise UserError("give headlines as arguments or one per line on standard input")
    out = []
    for i, line in enumerate(sys.stdin):
        if i >= MAX_STDIN_LINES:
            raise UserError(f"more than {MAX_STDIN_LINES} lines on standard input")
        line = line.strip()[:MAX_LINE_CHARS]
        if line:
            out.append(line)
    return out


def _contribution_text(contributions: list[Any]) -> str:
    return ", ".join(f"{c.token} {c.kind} {c.effect:+.2f}" for c in contributions)


@app.command()
def score(
    texts: list[str] = typer.Argument(None, help="Headlines to score (default: one per line on stdin)."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    language: str | None = typer.Option(None, "--language", "-l", help="Language hint (en, fr...)."),
) -> None:
    """Score headlines as the pipeline would (language detected, routed to its scorer) and explain each."""
    from tracker.sentiment import get_router

    fmt = _format(fmt)
    state.config  # noqa: B018 - loads the config, which chooses the English scorer (english_scorer)
    router = get_router()
    results: list[dict[str, Any]] = []
    for text in _read_texts(texts):
        lang = _detect(text, language)
        scored = router.score(text, lang)
        explanation = router.explain(text, lang) if scored is not None else None
        results.append(
            {
                "text": text,
                "language": lang,
                "compound": None if scored is None else scored.compound,
                "pos": None if scored is None else scored.pos,
                "neu": None if scored is None else scored.neu,
                "neg": None if scored is None else scored.neg,
                "scorer": None if scored is None else scored.scorer,
                "version": None if scored is None else scored.version,
                "explanation": None if explanation is None else explanation.to_dict(),
                "_contributions": [] if explanation is None else explanation.contributions,
            }
        )
    if fmt == "json":
        echo_json([{k: v for k, v in r.items() if not k.startswith("_")} for r in results])
        return
    table = Table()
    for col in ("compound", "lang", "scorer", "headline", "why"):
        table.add_column(col, justify="right" if col == "compound" else "left")
    for r in results:
        table.add_row(
            "unscored" if r["compound"] is None else f"{r['compound']:+.3f}",
            Text(r["language"]),
            Text(r["scorer"] or "–"),
            Text(r["text"]),
            Text(_contribution_text(r["_contributions"])),
        )
    Console().print(table)


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since: not an ISO date or time: {value[:40]!r}") from None
    # A date or time without an offset means UTC, like every time the tracker stores.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@app.command()
def rescore(
    since: str | None = typer.Option(None, "--since", help="Only headlines published at or after this ISO time."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    force: bool = typer.Option(False, "--force", help="Rescore even rows already scored by the current version."),
) -> None:
    """Rescore stored headlines with the current scorers and rebuild the rollups."""
    from tracker.store.rescore import rescore as run_rescore

    fmt = _format(fmt)
    when = _parse_since(since)
    report = run_rescore(state.engine(), since=when, force=force)
    if fmt == "json":
        echo_json(report.to_dict())
        return
    typer.echo(
        f"rescored {report.scanned} headlines ({report.changed} changed, {report.unscored} unscored) "
        f"in {report.seconds:.2f}s, {report.per_second:,.0f}/s"
        + (f" in {report.workers} processes" if report.workers > 1 else "")
        + " with "
        + ", ".join(f"{lang}={name}" for lang, name in sorted(report.scorers.items()))
    )
