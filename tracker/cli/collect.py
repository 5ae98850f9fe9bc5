"""Commands of the collection engine: init, collect, run, serve, sources, headlines."""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracker.cli.app import UserError, app, echo_json, state
from tracker.config import defaults_text
from tracker.pipeline import SourceReport, run_once

FORMATS = ("table", "json")


def _format(value: str) -> str:
    if value not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def parse_iso(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{option}: {value!r} is not an ISO-8601 date or time (e.g. 2026-11-30 or 2026-11-30T08:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def init(
    path: Path = typer.Argument(Path("tracker.toml"), help="Where to write the config."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write an editable copy of the built-in configuration."""
    if path.exists() and not force:
        raise UserError(f"{path} exists already (use --force to overwrite it)")
    path.write_text(defaults_text(), encoding="utf-8")
    typer.echo(f"wrote {path}; use it with: tracker --config {path} ...")


@app.command()
def collect(
    once: bool = typer.Option(False, "--once", help="Run one cycle and exit (otherwise collect on a schedule)."),
    all_sources: bool = typer.Option(False, "--all", help="Fetch every source now, due or not."),
    source: list[str] = typer.Option(None, "--source", "-s", help="Only this source (repeatable)."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Collect headlines: one cycle with --once, else on a schedule until stopped."""
    fmt = _format(fmt)
    config = state.config
    engine = state.engine()
    names = list(source or [])
    unknown = sorted(set(names) - {s.name for s in config.sources})
    if unknown:
        raise UserError(f"unknown source(s): {', '.join(unknown)} (see `tracker sources`)")
    if not once:
        from tracker.scheduler import build_scheduler

        _setup_logging()
        scheduler = build_scheduler(engine, config, blocking=True)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            scheduler.start()
        return
    console = Console(stderr=True)
    on_tty = sys.stderr.isatty() and fmt == "table"
    if on_tty:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("collecting", total=None)

            def claimed(n: int) -> None:
                progress.update(task, total=n)

            def advance(_report: SourceReport) -> None:
                progress.advance(task)

            cycle = run_once(
                engine,
                config,
                names=names or None,
                force=all_sources or bool(names),
                progress=advance,
                on_claimed=claimed,
            )
    else:
        cycle = run_once(engine, config, names=names or None, force=all_sources or bool(names))
    reports = sorted(cycle.sources, key=lambda r: r.name)
    if fmt == "json":
        echo_json(
            [
                {
                    "source": r.name,
                    "new": r.new,
                    "seen": r.seen,
                    "skipped": r.skipped,
                    "status": r.status,
                    "error": r.error,
                }
                for r in reports
            ]
        )
    else:
        table = Table(title=f"collection at {_when(cycle.started_at)}")
        for col in ("source", "new", "already seen", "status", "error"):
            table.add_column(col)
        for r in reports:
            status = "304" if r.not_modified else str(r.status or "")
            table.add_row(Text(r.name), str(r.new), str(r.seen), status, Text(r.error or ""))
        Console().print(table)
        if not reports:
            typer.echo("no source was due (use --all to fetch every source now)")
    if reports and all(r.error for r in reports):
        raise typer.Exit(1)


def _listen(host: str | None, port: int | None) -> tuple[str, int]:
    """Where the dashboard listens; refuses (exit 2) a non-loopback address with writes open and no token."""
    from tracker.alerts.rules import check_write_safety

    settings = state.config.settings
    host = host or settings.host
    try:
        check_write_safety(settings, host)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return host, settings.port if port is None else port


_HOST_OPTION = typer.Option(None, "--host", help="Address to listen on (default: settings.host, 127.0.0.1).")
_PORT_OPTION = typer.Option(None, "--port", help="Port (default: settings.port, 8000).")


@app.command()
def serve(host: str = _HOST_OPTION, port: int = _PORT_OPTION) -> None:
    """Serve the dashboard alone."""
    from dashboards.server import serve as serve_dashboard

    host, port = _listen(host, port)
    _setup_logging()
    serve_dashboard(state.config, engine=state.engine(), host=host, port=port)


@app.command()
def run(host: str = _HOST_OPTION, port: int = _PORT_OPTION) -> None:
    """The main job: collect on a schedule and serve the dashboard, in one process."""
    from dashboards.server import serve as serve_dashboard
    from tracker.scheduler import build_scheduler

    host, port = _listen(host, port)
    _setup_logging()
    engine = state.engine()
    scheduler = build_scheduler(engine, state.config)
    scheduler.start()
    try:
        serve_dashboard(state.config, engine=engine, host=host, port=port)
    finally:
        scheduler.shutdown(wait=False)


@app.command()
def sources(fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """Each source's state: last success, last error, consecutive errors, next fetch."""
    from tracker.store.sources import list_sources, sync_sources

    fmt = _format(fmt)
    engine = state.engine()
    with engine.begin() as conn:
        sync_sources(conn, state.config, now=datetime.now(UTC))
    rows = [s for s in list_sources(engine) if s.enabled]
    if fmt == "json":
        echo_json(
            [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "url": s.url,
                    "last_success_at": _when(s.last_success_at) or None,
                    "last_error_at": _when(s.last_error_at) or None,
                    "last_error": s.last_error,
                    "consecutive_errors": s.consecutive_errors,
                    "next_fetch_at": _when(s.next_fetch_at) or None,
                    "items_total": s.items_total,
                }
                for s in rows
            ]
        )
        return
    table = Table()
    for col in ("name", "kind", "last success", "errors", "last error", "next fetch"):
        table.add_column(col)
    for s in rows:
        table.add_row(
            Text(s.name),
            s.kind,
            _when(s.last_success_at),
            str(s.consecutive_errors),
            Text((s.last_error or "")[:80]),
            _when(s.next_fetch_at),
        )
    Console().print(table)


@app.command()
def headlines(
    topic: str = typer.Option(None, "--topic", help="Topic key (see the config), or all."),
    since: str = typer.Option(None, "--since", help="ISO-8601 date or time (UTC when no zone)."),
    limit: int = typer.Option(20, "--limit", min=1, max=10000, help="How many, newest first."),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Stored headlines, newest first."""
    from tracker.store.queries import headlines as query_headlines

    fmt = _format(fmt)
    start = parse_iso(since, "--since")
    if topic and topic != "all" and topic not in state.config.topic_keys():
        raise UserError(f"--topic: unknown topic {topic!r}; known: all, {', '.join(state.config.topic_keys())}")
    rows = query_headlines(state.engine(), topic=None if topic == "all" else topic, start=start, limit=limit)
    if fmt == "json":
        echo_json(
            [
                {
                    "title": r["title"],
                    "url": r["url"],
                    "source": r["source"],
                    "publisher": r["publisher"],
                    "published_at": _when(r["published_at"]),
                    "date_inferred": r["date_inferred"],
                    "language": r["language"],
                    "compound": r["compound"],
                    "topics": r["topics"],
                    "summary": r["summary"],
                }
                for r in rows
            ]
        )
        return
    table = Table()
    for col in ("published", "source", "lang", "score", "topics", "title"):
        table.add_column(col)
    for r in rows:
        score = "" if r["compound"] is None else f"{r['compound']:+.2f}"
        table.add_row(
            _when(r["published_at"]),
            Text(r["source"] or ""),
            r["language"],
            score,
            " ".join(r["topics"]),
            Text(r["title"]),
        )
    Console().print(table)
