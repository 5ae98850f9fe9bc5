"""The web layer: FastAPI app, JSON API, CSV downloads, pages and pure Plotly figure builders.

Reads data only through ``tracker.store.queries`` and ``tracker.series``; never writes to the database
(except through the alerts page, which goes through ``tracker.alerts``).
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See ``dashboards.app.create_app`` (imported lazily so ``import dashboards`` stays cheap)."""
    from dashboards.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
