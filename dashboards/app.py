"""``create_app(config)``: the FastAPI application of the dashboard, its API and its CSV downloads.

Everything the app needs (config, engine, clock, templates) is passed in and kept on ``app.state.ctx``:
no settings or engine are built at import time. Security headers (CSP without inline scripts, nosniff,
Referrer-Policy) are added to every response; plotly.js is served from the installed ``plotly`` package and
Swagger UI (``/docs``) from the installed ``fastapi_offline`` package, so every page works offline under one
policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboards.context import AppContext, ctx, utc_now
from dashboards.params import BadParameter, NotFound
from tracker.config import Config, load_config
from tracker.sentiment import configure as configure_scorers
from tracker.store import queries

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """Pure ASGI middleware (no buffering, so streamed CSV stays streamed) adding the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def make_templates() -> Jinja2Templates:
    # Autoescape for every template whatever its name: select_autoescape() would only cover .html/.xml.
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True)
    return Jinja2Templates(env=env)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/export/", "/healthz"))


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    templates: Jinja2Templates = ctx(request).templates
    return templates.TemplateResponse(
        request, "error.html", {"title": f"Error {status}", "status": status, "message": message}, status_code=status
    )


def plotly_js_path() -> Path:
    return Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))


def swagger_ui_path() -> Path:
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def create_app(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The dashboard app for ``config`` (built-in defaults when None); ``engine`` overrides the configured URL."""
    cfg = config if config is not None else load_config(None)
    configure_scorers(cfg.settings.english_scorer)
    app = FastAPI(
        title="AI Bubble Tracker",
        summary="Headline sentiment about AI infrastructure: series, the AI Bubble Index, headlines, CSV.",
        version="0.1.0",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN and starts it inline: ours is below
        redoc_url=None,
    )
    app.state.ctx = AppContext(config=cfg, templates=make_templates(), clock=clock or utc_now, _engine=engine)
    # Where the server listens decides whether writes (alert rules) need the admin token; serve() updates it.
    app.state.listen_host = cfg.settings.host
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(BadParameter)
    async def _bad_parameter(request: Request, exc: BadParameter) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(queries.UnknownSource)
    async def _unknown_source(request: Request, exc: queries.UnknownSource) -> Response:
        return _error(request, 404, f"source: no source named {str(exc)[:100]!r}")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return _error(request, 422, "; ".join(parts))

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> Response:
        log.error("database error on %s: %s", request.url.path, exc)
        return _error(request, 503, "the database is unavailable; try again shortly")

    @app.get("/healthz", tags=["api"], summary="Liveness and database reachability")
    def healthz(request: Request) -> JSONResponse:
        c = ctx(request)
        try:
            queries.ping(c.engine())
            failing = len(queries.failing_sources(c.engine()))
        except Exception as exc:  # any failure to reach the database is "degraded", never a crash
            return JSONResponse(
                {"status": "degraded", "database": "unreachable", "error": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok", "failing_sources": failing})

    plotly_js = plotly_js_path()

    @app.get("/assets/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        return FileResponse(
            plotly_js, media_type="text/javascript", headers={"Cache-Control": "public, max-age=604800"}
        )

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        templates: Jinja2Templates = ctx(request).templates
        return templates.TemplateResponse(request, "docs.html", {"title": "API"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    from dashboards import alerts, api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(alerts.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path())), name="docs-assets")
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory dashboards.app:app_factory``: config from $TRACKER_CONFIG or the defaults."""
    import os

    return create_app(load_config(os.environ.get("TRACKER_CONFIG") or None))
