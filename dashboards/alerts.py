"""The alerts API and page: ``router`` with ``/api/alerts...`` (JSON) and ``/alerts`` (HTML).

Reads need nothing; writes (create, edit, delete, send a test) need the admin token whenever one is configured
or the server listens on anything but loopback, and are refused outright on a non-loopback server without a
token. ``check_write_safety`` is the same rule for ``tracker run/serve`` to call before starting.

The app provides, on ``request.app.state``: ``ctx`` (the dashboard's AppContext: engine, config, clock,
templates) or, failing that, ``engine`` and ``config``; and ``listen_host`` (missing = loopback). Validation
errors are 422 with the field named, in our own shape (``detail`` list + ``errors`` by field), so the page can
show each next to its field. Feed text is never put into HTML here: the templates autoescape, and the
sparklines are SVG built from numbers only.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from tracker.alerts import evaluate
from tracker.alerts.notify import check_target, kind_label, send_test
from tracker.alerts.rules import METRICS, Rule, RuleIn, check_write_safety, is_loopback, silence_until
from tracker.models import ALL_TOPIC
from tracker.settings import Settings
from tracker.store import alerts as store

router = APIRouter()
__all__ = ["check_write_safety", "router"]
log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SPARK_HOURS = 48
SPARK_W, SPARK_H = 120, 28
_templates: Jinja2Templates | None = None


# ---------------------------------------------------------------------------------------------------
# Write safety


class WriteRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def authorize_write(request: Request, token_field: str | None = None) -> None:
    settings = _settings(request)
    host = getattr(request.app.state, "listen_host", None)
    configured = settings.admin_token.get_secret_value() if settings.admin_token is not None else None
    if configured:
        given = _bearer(request) or token_field
        if not given or not hmac.compare_digest(given.encode(), configured.encode()):
            raise WriteRefused(401, "this server needs the admin token for changes (Authorization: Bearer ...)")
        return
    if not is_loopback(host):
        raise WriteRefused(403, "changes are disabled: the server is not on loopback and no admin token is set")
    # Loopback without a token: a web page elsewhere could still make the browser post here. Browsers send
    # Origin with such requests; it must be this server.
    origin = request.headers.get("origin")
    if origin and origin != "null":
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            netloc = ""
        if netloc != request.headers.get("host", "").lower():
            raise WriteRefused(403, "cross-site request refused")
    elif origin == "null":
        raise WriteRefused(403, "cross-site request refused")


# ---------------------------------------------------------------------------------------------------
# What the app gives us


def _ctx(request: Request) -> Any:
    return getattr(request.app.state, "ctx", None)


def _engine(request: Request) -> Engine:
    c = _ctx(request)
    if c is not None:
        return c.engine()
    return request.app.state.engine


def _config(request: Request) -> Any:
    c = _ctx(request)
    return c.config if c is not None else getattr(request.app.state, "config", None)


def _settings(request: Request) -> Settings:
    cfg = _config(request)
    if isinstance(cfg, Settings):
        return cfg
    settings = getattr(cfg, "settings", None)
    if isinstance(settings, Settings):
        return settings
    raise RuntimeError("the app has no settings: set app.state.config")


def _now(request: Request) -> datetime:
    c = _ctx(request)
    if c is not None and hasattr(c, "now"):
        return c.now()
    return datetime.now(UTC)


def _topic_keys(request: Request) -> list[str] | None:
    cfg = _config(request)
    keys = getattr(cfg, "topic_keys", None)
    return list(keys()) if callable(keys) else None


def _templates_for(request: Request) -> Jinja2Templates:
    c = _ctx(request)
    if c is not None and isinstance(getattr(c, "templates", None), Jinja2Templates):
        return c.templates
    global _templates
    if _templates is None:
        env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
        _templates = Jinja2Templates(env=env)
    return _templates


# ---------------------------------------------------------------------------------------------------
# Bodies and views


def _invalid(errors: list[tuple[str, str]]) -> JSONResponse:
    detail = [{"loc": ["body", field], "msg": msg, "type": "value_error"} for field, msg in errors]
    by_field: dict[str, str] = {}
    for field, msg in errors:
        by_field.setdefault(field, msg)
    return JSONResponse({"detail": detail, "errors": by_field}, status_code=422)


def _validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = [p for p in e.get("loc", ()) if isinstance(p, str)]
        field = loc[0] if loc else "body"
        out.append((field, str(e.get("msg", "invalid")).removeprefix("Value error, ")))
    return out


async def _json_body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise WriteRefused(415, "send the rule as JSON (Content-Type: application/json)")
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise WriteRefused(413, "rule body too large")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise WriteRefused(400, "the body is not valid JSON") from None


def _validate(request: Request, data: Any, *, rule_id: int | None = None) -> RuleIn | JSONResponse:
    if not isinstance(data, dict):
        return _invalid([("body", "must be a JSON object")])
    try:
        rule_in = RuleIn.model_validate(data)
    except ValidationError as exc:
        return _invalid(_validation_errors(exc))
    errors: list[tuple[str, str]] = []
    topics = _topic_keys(request)
    if topics is not None and rule_in.topic != ALL_TOPIC and rule_in.topic not in topics:
        errors.append(("topic", f"unknown topic {rule_in.topic!r}"))
    settings = _settings(request)
    for channel in rule_in.channels:
        try:
            check_target(channel, settings)
        except ValueError as exc:
            errors.append(("channels", f"{kind_label(channel)}: {exc}"))
    if errors:
        return _invalid(errors)
    with _engine(request).connect() as conn:
        if store.name_taken(conn, rule_in.name, except_id=rule_id):
            return _invalid([("name", "a rule with this name already exists")])
    return rule_in


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


rule_view = store.rule_dict


def _may_write(request: Request) -> bool:
    try:
        authorize_write(request)
    except WriteRefused:
        return False
    return True


def _view(row: Any, *, full: bool) -> dict[str, Any]:
    """A rule for display; channel URLs (which often carry a secret) only for those who may change the rule."""
    v = rule_view(row)
    if not full:
        v["channels"] = [kind_label(c) for c in v["channels"]]
    return v


def _restore_channels(data: dict[str, Any], existing: list[str]) -> dict[str, Any]:
    """An edit that sends back a redacted channel unchanged means "keep that channel as it is"."""
    channels = data.get("channels")
    if not isinstance(channels, list):
        return data
    unused = list(existing)
    out = []
    for c in channels:
        match = next((e for e in unused if isinstance(c, str) and c == kind_label(e) and c != e), None)
        if match is not None:
            unused.remove(match)
            out.append(match)
        else:
            out.append(c)
    return {**data, "channels": out}


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _iso(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]


def _refused(exc: WriteRefused) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)


def sparkline(values: list[float | None]) -> list[str]:
    """SVG polyline ``points`` strings (one per unbroken run of values), scaled to the sparkline box."""
    present = [v for v in values if v is not None]
    if not present:
        return []
    lo, hi = min(present), max(present)
    span = (hi - lo) or 1.0
    step = SPARK_W / max(1, len(values) - 1)
    runs: list[str] = []
    current: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(" ".join(current))
            current = []
            continue
        y = SPARK_H - 2 - (v - lo) / span * (SPARK_H - 4)
        current.append(f"{i * step:.1f},{y:.1f}")
    if current:
        runs.append(" ".join(current))
    return runs


# ---------------------------------------------------------------------------------------------------
# API


@router.get("/api/alerts", tags=["alerts"], summary="Alert rules with their state")
def list_alerts(request: Request) -> JSONResponse:
    with _engine(request).connect() as conn:
        rows = store.list_rules(conn)
    full = _may_write(request)
    return JSONResponse([_view(r, full=full) for r in rows])


@router.post("/api/alerts", tags=["alerts"], summary="Create an alert rule", status_code=201)
async def create_alert(request: Request) -> Response:
    try:
        authorize_write(request)
        data = await _json_body(request)
    except WriteRefused as exc:
        return _refused(exc)
    checked = _validate(request, data)
    if isinstance(checked, JSONResponse):
        return checked
    engine = _engine(request)
    with engine.begin() as conn:
        rule_id = store.insert_rule(conn, checked.to_columns(), now=_now(request))
        row = store.get_rule(conn, rule_id)
    return JSONResponse(rule_view(row), status_code=201)


@router.get("/api/alerts/events", tags=["alerts"], summary="State changes and deliveries, newest first")
def alert_events(request: Request, rule_id: int | None = None, limit: int = 100) -> JSONResponse:
    limit = max(1, min(limit, 1000))
    with _engine(request).connect() as conn:
        events = store.list_events(conn, rule_id=rule_id, limit=limit)
        deliveries = store.list_notifications(conn, rule_id=rule_id, limit=limit)
    for d in deliveries:
        d["channel"] = kind_label(d["channel"])
    return JSONResponse({"events": _jsonable(events), "deliveries": _jsonable(deliveries)})


@router.post("/api/alerts/preview", tags=["alerts"], summary="How often a rule would have fired in 90 days")
async def preview_alert(request: Request) -> Response:
    try:
        data = await _json_body(request)
    except WriteRefused as exc:
        return _refused(exc)
    if not isinstance(data, dict):
        return _invalid([("body", "must be a JSON object")])
    data = {**data, "name": data.get("name") or "preview", "channels": []}
    try:
        rule_in = RuleIn.model_validate(data)
    except ValidationError as exc:
        return _invalid(_validation_errors(exc))
    cols = rule_in.to_columns()
    rule = Rule(
        id=0,
        name=rule_in.name,
        topic=cols["topic"],
        metric=cols["metric"],
        window_seconds=cols["window_seconds"],
        op=cols["op"],
        threshold=cols["threshold"],
        min_headlines=cols["min_headlines"],
        for_seconds=cols["for_seconds"],
        clear_threshold=cols["clear_threshold"],
        repeat_seconds=cols["repeat_seconds"],
    )
    result = evaluate.preview_rule(_engine(request), rule, now=_now(request)).as_dict()
    values = result["values"]
    result["sparkline"] = sparkline(values[-SPARK_HOURS * 4 :])
    result["summary"] = (
        f"Would have fired {result['fired']} time{'s' if result['fired'] != 1 else ''} in the last 90 days "
        f"({result['hours_by_state'].get('firing', 0)} hours firing, "
        f"{result['hours_by_state'].get('nodata', 0)} hours without data)."
    )
    return JSONResponse(result)


@router.get("/api/alerts/{rule_id:int}", tags=["alerts"], summary="One alert rule")
def get_alert(request: Request, rule_id: int) -> JSONResponse:
    with _engine(request).connect() as conn:
        row = store.get_rule(conn, rule_id)
    if row is None:
        return JSONResponse({"detail": f"no alert rule with id {rule_id}"}, status_code=404)
    return JSONResponse(_view(row, full=_may_write(request)))


@router.put("/api/alerts/{rule_id:int}", tags=["alerts"], summary="Replace an alert rule's definition")
async def put_alert(request: Request, rule_id: int) -> Response:
    try:
        authorize_write(request)
        data = await _json_body(request)
    except WriteRefused as exc:
        return _refused(exc)
    engine = _engine(request)
    with engine.connect() as conn:
        current = store.get_rule(conn, rule_id)
    if current is None:
        return JSONResponse({"detail": f"no alert rule with id {rule_id}"}, status_code=404)
    if isinstance(data, dict):
        data = _restore_channels(data, list(store.rule_from_row(current).channels))
    checked = _validate(request, data, rule_id=rule_id)
    if isinstance(checked, JSONResponse):
        return checked
    with engine.begin() as conn:
        store.update_rule(conn, rule_id, checked.to_columns(), now=_now(request))
        row = store.get_rule(conn, rule_id)
    return JSONResponse(rule_view(row))


@router.delete("/api/alerts/{rule_id:int}", tags=["alerts"], summary="Delete an alert rule and its history")
def delete_alert(request: Request, rule_id: int) -> Response:
    try:
        authorize_write(request)
    except WriteRefused as exc:
        return _refused(exc)
    with _engine(request).begin() as conn:
        deleted = store.delete_rule(conn, rule_id)
    if not deleted:
        return JSONResponse({"detail": f"no alert rule with id {rule_id}"}, status_code=404)
    return Response(status_code=204)


@router.post("/api/alerts/{rule_id:int}/silence", tags=["alerts"], summary="Mute a rule's notifications for a while")
async def silence_alert(request: Request, rule_id: int) -> Response:
    """JSON body ``{"for": "1h"}`` (``{}`` means 1 h; at most 90 d). The rule keeps being evaluated and its state
    changes are recorded; the first evaluation after the silence sends what changed meanwhile. Notifications
    already in the outbox before the silence are still delivered."""
    try:
        authorize_write(request)
        data = await _json_body(request)
    except WriteRefused as exc:
        return _refused(exc)
    duration = data.get("for", "1h") if isinstance(data, dict) else None
    if not isinstance(duration, str):
        return _invalid([("for", "a duration such as 30m, 1h or 7d")])
    try:
        until = silence_until(duration, _now(request))
    except ValueError as exc:
        return _invalid([("for", str(exc))])
    return _set_silence(request, rule_id, until)


@router.delete("/api/alerts/{rule_id:int}/silence", tags=["alerts"], summary="Lift a rule's silence")
def unsilence_alert(request: Request, rule_id: int) -> Response:
    try:
        authorize_write(request)
    except WriteRefused as exc:
        return _refused(exc)
    return _set_silence(request, rule_id, None)


def _set_silence(request: Request, rule_id: int, until: datetime | None) -> Response:
    with _engine(request).begin() as conn:
        if not store.set_silence(conn, rule_id, until):
            return JSONResponse({"detail": f"no alert rule with id {rule_id}"}, status_code=404)
        row = store.get_rule(conn, rule_id)
    return JSONResponse(_view(row, full=True))


@router.post("/api/alerts/{rule_id:int}/test", tags=["alerts"], summary="Send a test notification now")
def test_alert(request: Request, rule_id: int) -> Response:
    try:
        authorize_write(request)
    except WriteRefused as exc:
        return _refused(exc)
    engine = _engine(request)
    with engine.connect() as conn:
        if store.get_rule(conn, rule_id) is None:
            return JSONResponse({"detail": f"no alert rule with id {rule_id}"}, status_code=404)
    report = send_test(engine, _settings(request), rule_id, now=_now(request))
    results = [{**r, "channel": kind_label(r["channel"])} for r in report.results]
    return JSONResponse(
        {"delivered": report.delivered, "failed": report.failed, "retrying": report.retrying,
         "errors": report.errors, "results": results},
        status_code=200 if not report.errors else 400,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Page


@router.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
def alerts_page(request: Request) -> Response:
    engine = _engine(request)
    now = _now(request)
    end = evaluate.hour_index(now) + 1
    with engine.connect() as conn:
        rows = store.list_rules(conn)
        rules = [store.rule_from_row(r) for r in rows]
        series = evaluate.load_series(conn, rules, end=end, extra_hours=SPARK_HOURS) if rules else {}
        events = store.list_events(conn, limit=50)
        deliveries = store.list_notifications(conn, limit=50)
    views = []
    full = _may_write(request)
    for row, rule in zip(rows, rules, strict=True):
        v = _view(row, full=full)
        values = evaluate.recent_values(rule, series.get(rule.topic, evaluate.EMPTY_SERIES), end=end, hours=SPARK_HOURS)
        v["spark"] = sparkline(values)
        v["silenced"] = rule.silenced(now)
        v["json"] = json.dumps({k: v[k] for k in RuleIn.model_fields if k in v} | {"for": v["for"]})
        views.append(v)
    for d in deliveries:
        d["channel"] = kind_label(d["channel"])
    topics = _topic_keys(request) or []
    settings = _settings(request)
    host = getattr(request.app.state, "listen_host", None)
    return _templates_for(request).TemplateResponse(
        request,
        "alerts.html",
        {
            "title": "Alerts",
            "path": "/alerts",
            "rules": views,
            "events": events,
            "deliveries": deliveries,
            "topics": [ALL_TOPIC, *topics],
            "metrics": METRICS,
            "needs_token": settings.admin_token is not None or not is_loopback(host),
            "spark_w": SPARK_W,
            "spark_h": SPARK_H,
        },
    )


@router.get("/alerts/assets/alerts.js", include_in_schema=False)
def alerts_js() -> FileResponse:
    return FileResponse(HERE / "static" / "alerts.js", media_type="text/javascript")
