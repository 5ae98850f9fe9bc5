"""``serve(config, host=, port=)``: run the dashboard with uvicorn in this process.

Used by ``tracker serve`` (dashboard alone) and ``tracker run`` (the scheduler runs in a background thread
beside it). Binds to the configured host, 127.0.0.1 by default; never daemonises and never forks workers
(the scheduler must run once per database).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from tracker.config import Config


def build_server(
    config: Config, *, host: str | None = None, port: int | None = None, engine: Engine | None = None
) -> Any:
    """A configured ``uvicorn.Server`` (not started): tests start it in a thread and stop it with ``should_exit``."""
    import uvicorn

    from dashboards.app import create_app

    app = create_app(config, engine=engine)
    listen = host or config.settings.host
    app.state.listen_host = listen
    uv_config = uvicorn.Config(
        app,
        host=listen,
        port=config.settings.port if port is None else port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Server(uv_config)


def serve(config: Config, *, host: str | None = None, port: int | None = None, engine: Engine | None = None) -> None:
    """Serve the dashboard until interrupted (Ctrl-C / SIGTERM)."""
    build_server(config, host=host, port=port, engine=engine).run()
