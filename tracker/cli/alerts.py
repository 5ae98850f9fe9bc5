"""``tracker alerts add|list|rm|silence|unsilence|test|history|evaluate``: manage alert rules from the command line.

The same validation and address checks as the API (``RuleIn``, ``check_target``); mistakes are ``UserError``
(one line, exit code 2, no traceback). Never prints channel URLs in full in the history (they may hold secrets).
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pydantic import ValidationError

from tracker.alerts.evaluate import evaluate_all
from tracker.alerts.notify import check_target, deliver_pending, kind_label, send_test
from tracker.alerts.rules import RuleIn, silence_until
from tracker.cli.app import UserError, app, echo_json, state
from tracker.models import ALL_TOPIC
from tracker.store import alerts as store

alerts_app = typer.Typer(help="Threshold alerts on the series: rules, tests, history.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _now() -> datetime:
    return datetime.now(UTC)


def _describe_errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "rule"
        parts.append(f"{loc}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


def _find(name_or_id: str) -> int:
    with state.engine().connect() as conn:
        row = store.get_rule_by_name(conn, name_or_id)
        if row is None and name_or_id.isdigit():
            row = store.get_rule(conn, int(name_or_id))
    if row is None:
        raise UserError(f"no alert rule named {name_or_id!r} (see `tracker alerts list`)")
    return int(row.id)


@alerts_app.command("add")
def add(
    name: str = typer.Argument(..., help="A unique name for the rule."),
    metric: str = typer.Option(
        ..., "--metric", "-m", help="index, mean_sentiment, negative_share, bubble_share, volume, volume_zscore"
    ),
    op: str = typer.Option(..., "--op", help="'<' or '>'"),
    threshold: float = typer.Option(..., "--threshold", "-t", help="Fire when the value passes this."),
    topic: str = typer.Option(ALL_TOPIC, "--topic", help="A topic key, or 'all'."),
    window: str = typer.Option("24h", "--window", "-w", help="Rolling window, whole hours: 6h, 24h, 7d."),
    min_headlines: int = typer.Option(1, "--min-headlines", help="Fewer headlines in the window = no data."),
    for_: str = typer.Option(None, "--for", help="How long the condition must hold before firing (e.g. 1h)."),
    clear: float = typer.Option(None, "--clear", help="Clear threshold (hysteresis); default: the threshold."),
    repeat: str = typer.Option("24h", "--repeat", help="Re-notify while firing at most this often."),
    no_data: str = typer.Option(
        "nodata", "--no-data", help="No data means: nodata (its own state), keep (the last state) or firing."
    ),
    on_error: str = typer.Option("error", "--on-error", help="A failed evaluation means: error, keep or firing."),
    channel: list[str] = typer.Option(
        None, "--channel", "-c", help="https://… webhook, mailto:…, or apprise URL (repeatable)."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Create an alert rule."""
    try:
        rule = RuleIn.model_validate(
            {
                "name": name,
                "topic": topic,
                "metric": metric,
                "window": window,
                "op": op,
                "threshold": threshold,
                "min_headlines": min_headlines,
                "for": for_,
                "clear_threshold": clear,
                "repeat_interval": repeat,
                "no_data": no_data,
                "on_error": on_error,
                "channels": list(channel or []),
            }
        )
    except ValidationError as exc:
        raise UserError(_describe_errors(exc)) from None
    config = state.config
    if rule.topic != ALL_TOPIC and rule.topic not in config.topic_keys():
        raise UserError(f"topic: unknown topic {rule.topic!r} (known: all, {', '.join(config.topic_keys())})")
    for url in rule.channels:
        try:
            check_target(url, config.settings)
        except ValueError as exc:
            raise UserError(f"channels: {kind_label(url)}: {exc}") from None
    engine = state.engine()
    with engine.begin() as conn:
        if store.name_taken(conn, rule.name):
            raise UserError(f"name: a rule named {rule.name!r} already exists")
        rule_id = store.insert_rule(conn, rule.to_columns(), now=_now())
    if fmt == "json":
        echo_json({"id": rule_id, "name": rule.name})
    else:
        typer.echo(f"added alert rule {rule.name!r} (id {rule_id})")


@alerts_app.command("list")
def list_cmd(fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """Rules with their state and last value."""
    with state.engine().connect() as conn:
        rows = store.list_rules(conn)
    if fmt == "json":
        echo_json([store.rule_dict(r) for r in rows])
        return
    if not rows:
        typer.echo("no alert rules (add one with `tracker alerts add`)")
        return
    for r in rows:
        rule = store.rule_from_row(r)
        value = "-" if r.last_value is None else f"{r.last_value:.4g}"
        flag = "" if r.enabled else " (disabled)"
        if rule.silenced(_now()):
            flag += f" (silenced until {rule.silenced_until:%Y-%m-%dT%H:%M:%SZ})"
        typer.echo(
            f"{r.id:>4}  {r.name}{flag}  [{r.state}]  value {value}  {rule.describe()}  channels {len(rule.channels)}"
        )


@alerts_app.command("rm")
def rm(name: str = typer.Argument(..., help="Rule name (or id).")) -> None:
    """Delete a rule and its history."""
    rule_id = _find(name)
    with state.engine().begin() as conn:
        store.delete_rule(conn, rule_id)
    typer.echo(f"deleted alert rule {name!r}")


@alerts_app.command("silence")
def silence(
    name: str = typer.Argument(..., help="Rule name (or id)."),
    for_: str = typer.Option("1h", "--for", help="How long to mute its notifications (30m, 1h, 7d; at most 90d)."),
) -> None:
    """Mute a rule's notifications for a while; it keeps being evaluated, and a change is sent when it ends."""
    try:
        until = silence_until(for_, _now())
    except ValueError as exc:
        raise UserError(f"--for: {exc}") from None
    _set_silence(name, until)
    typer.echo(f"alert rule {name!r} silenced until {until:%Y-%m-%dT%H:%M:%SZ}")


@alerts_app.command("unsilence")
def unsilence(name: str = typer.Argument(..., help="Rule name (or id).")) -> None:
    """Lift a rule's silence now."""
    _set_silence(name, None)
    typer.echo(f"alert rule {name!r} is no longer silenced")


def _set_silence(name: str, until: datetime | None) -> None:
    rule_id = _find(name)
    with state.engine().begin() as conn:
        store.set_silence(conn, rule_id, until)


@alerts_app.command("test")
def test(name: str = typer.Argument(..., help="Rule name (or id).")) -> None:
    """Send a test notification on every channel of a rule, now."""
    rule_id = _find(name)
    report = send_test(state.engine(), state.config.settings, rule_id, now=_now())
    for r in report.results:
        extra = f" ({r['error']})" if r.get("error") else ""
        typer.echo(f"{kind_label(r['channel'])}: {r['status']}{extra}")
    if report.errors:
        raise UserError("; ".join(report.errors))
    if report.delivered != report.attempted:
        raise typer.Exit(1)


@alerts_app.command("history")
def history(
    name: str = typer.Argument(None, help="Only this rule (name or id)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """State changes and deliveries, newest first."""
    rule_id = _find(name) if name else None
    with state.engine().connect() as conn:
        events = store.list_events(conn, rule_id=rule_id, limit=limit)
        deliveries = store.list_notifications(conn, rule_id=rule_id, limit=limit)
    for d in deliveries:
        d["channel"] = kind_label(d["channel"])
    if fmt == "json":
        echo_json({"events": events, "deliveries": deliveries})
        return
    typer.echo("state changes:" if events else "no state changes yet")
    for e in events:
        value = "" if e["value"] is None else f" value {e['value']:.4g}"
        typer.echo(f"  {e['at']:%Y-%m-%d %H:%M}  {e['name']}: {e['from_state']} -> {e['to_state']}{value}")
    typer.echo("deliveries:" if deliveries else "no deliveries yet")
    for d in deliveries:
        err = f" ({d['last_error']})" if d["last_error"] else ""
        typer.echo(
            f"  {d['created_at']:%Y-%m-%d %H:%M}  {d['reason']} to {d['channel']}: {d['status']}, {d['attempts']} attempt(s){err}"
        )


@alerts_app.command("evaluate")
def evaluate_cmd(fmt: str = typer.Option("table", "--format", help="table or json")) -> None:
    """Evaluate every rule now and deliver what is due (what the scheduler does after each cycle)."""
    engine, settings = state.engine(), state.config.settings
    now = _now()
    report = evaluate_all(engine, settings, now=now)
    delivery = deliver_pending(engine, settings, now=now)
    if fmt == "json":
        echo_json({"rules": report.rules, "states": report.states, "transitions": report.transitions,
                   "notifications": report.notifications, "delivered": delivery.delivered,
                   "errors": report.errors + delivery.errors})  # fmt: skip
    else:
        typer.echo(
            f"{report.rules} rule(s) in {report.seconds * 1000:.0f} ms: {report.states}; "
            f"{report.transitions} change(s), {delivery.delivered} delivered, {delivery.retrying} retrying"
        )
    if report.errors or delivery.errors:
        raise UserError("; ".join(report.errors + delivery.errors))
