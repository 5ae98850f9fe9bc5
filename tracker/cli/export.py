"""``tracker export series|headlines``: the dashboard's CSV downloads, written from the command line.

Same filters and the same files as ``/export/series.csv`` and ``/export/headlines.csv``. A bad value is a
``UserError`` (one line, exit code 2). Never writes a partial file under the final name: it writes a
temporary file beside it and renames it when complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from tracker.cli.app import UserError, app, state
from tracker.durations import parse_duration
from tracker.export import iter_headlines_csv, iter_series_csv_many
from tracker.models import ALL_TOPIC
from tracker.series import BUCKETS, Bucket, Point

export_app = typer.Typer(
    help="Write CSV files of series or headlines (the dashboard's downloads).", no_args_is_help=True
)
app.add_typer(export_app, name="export")

_MAX_POINTS = 10_000
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_OUTPUT_HELP = "File to write, or - for standard output."


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"{option}: {value!r} is not an ISO-8601 date or time (e.g. 2026-11-30 or 2026-11-30T08:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _window(start: str | None, end: str | None, range_: str, bucket: str | None) -> tuple[datetime, datetime, Bucket]:
    hi = _time(end, "--end") or datetime.now(UTC)
    lo = _time(start, "--start")
    if lo is None:
        text = "365d" if range_ == "1y" else range_
        try:
            lo = hi - parse_duration(text)
        except ValueError as exc:
            raise UserError(f"--range: {exc}") from None
    if lo >= hi:
        raise UserError("--start must be before --end")
    chosen = bucket or "day"
    if chosen not in BUCKETS:
        raise UserError(f"--bucket must be one of {', '.join(BUCKETS)}, not {chosen!r}")
    if (hi - lo) / _STEP[chosen] > _MAX_POINTS:
        raise UserError(f"--bucket {chosen} over this range gives more than {_MAX_POINTS} points: use a larger bucket")
    return lo, hi, chosen


def _check_filters(topics: list[str], source: str | None) -> None:
    known = set(state.config.topic_keys()) | {ALL_TOPIC}
    for t in topics:
        if t not in known:
            raise UserError(f"--topic: no topic {t!r} (see tracker's config; 'all' means every topic)")
    if source is not None:
        from tracker.store.queries import source_names

        if source not in source_names(state.engine()):
            raise UserError(f"--source: no source named {source!r}")


def _write(chunks: Iterator[str], output: str) -> None:
    """Write ``chunks`` to ``output`` (``-`` is standard output) atomically."""
    if output == "-":
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    target = Path(output)
    if target.is_dir():
        raise UserError(f"-o: {output} is a directory")
    if not target.parent.exists():
        raise UserError(f"-o: the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@export_app.command("series")
def export_series(
    output: str = typer.Option(..., "-o", "--output", help=_OUTPUT_HELP),
    topic: list[str] = typer.Option([ALL_TOPIC], "--topic", help="Topic key or all; repeat for several."),
    bucket: str = typer.Option("day", "--bucket", help="hour, day or week (UTC)."),
    start: str | None = typer.Option(None, "--start", help="ISO-8601 start (default: end minus --range)."),
    end: str | None = typer.Option(None, "--end", help="ISO-8601 end, exclusive (default: now)."),
    range_: str = typer.Option("30d", "--range", help="Window ending at --end when --start is not given (7d, 30d...)."),
    language: str | None = typer.Option(None, "--language", help="Only headlines in this language."),
    source: str | None = typer.Option(None, "--source", help="Only headlines carried by this source."),
) -> None:
    """Tone, shares and the AI Bubble Index per bucket, one long-format CSV."""
    lo, hi, chosen = _window(start, end, range_, bucket)
    _check_filters(topic, source)
    from tracker.store import queries

    engine = state.engine()

    counted = [0]

    def each() -> Iterator[tuple[str, list[Point]]]:
        for t in dict.fromkeys(topic):
            points = queries.series(engine, topic=t, bucket=chosen, start=lo, end=hi, language=language, source=source)
            counted[0] += len(points)
            yield t, points

    _write(iter_series_csv_many(each()), output)
    rows = counted[0]
    if output != "-":
        typer.echo(f"wrote {rows} rows to {output}", err=True)


@export_app.command("headlines")
def export_headlines(
    output: str = typer.Option(..., "-o", "--output", help=_OUTPUT_HELP),
    topic: str = typer.Option(ALL_TOPIC, "--topic", help="Topic key, or all for every tagged headline."),
    bucket: str | None = typer.Option(None, "--bucket", help="Accepted for symmetry with series; ignored."),
    start: str | None = typer.Option(None, "--start", help="ISO-8601 start (default: end minus --range)."),
    end: str | None = typer.Option(None, "--end", help="ISO-8601 end, exclusive (default: now)."),
    range_: str = typer.Option("30d", "--range", help="Window ending at --end when --start is not given."),
    language: str | None = typer.Option(None, "--language", help="Only headlines in this language."),
    source: str | None = typer.Option(None, "--source", help="Only headlines carried by this source."),
) -> None:
    """Headlines, newest first: published_at, source, publisher, title, url, language, compound, topics."""
    lo, hi, _ = _window(start, end, range_, "week" if bucket is None else bucket)
    _check_filters([topic], source)
    from tracker.store import queries

    batches = queries.iter_headline_lines(
        state.engine(), topic=topic, start=lo, end=hi, language=language, source=source
    )
    counted = [0]

    def counting() -> Iterator[list[str]]:
        for batch in batches:
            counted[0] += len(batch)
            yield batch

    _write(iter_headlines_csv(counting()), output)
    rows = counted[0]
    if output != "-":
        typer.echo(f"wrote {rows} rows to {output}", err=True)
