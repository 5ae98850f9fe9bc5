"""What every route needs from the application: config, the engine (opened on first use), a clock, templates.

Kept on ``app.state.ctx`` by ``create_app`` so nothing is a module-level global: two apps on two databases
can live in one process (the tests do). Routes get it with ``ctx(request)``. Never opens a connection here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.engine import Engine

from tracker.config import Config


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    config: Config
    templates: Jinja2Templates
    clock: Callable[[], datetime] = utc_now
    _engine: Engine | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self) -> Engine:
        """The engine, opened (and the schema created) on first use, so a down database fails a request, not startup."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from tracker.store.engine import open_engine

                    self._engine = open_engine(self.config.settings.database_url)
        return self._engine

    def now(self) -> datetime:
        return self.clock()

    def topic_labels(self) -> dict[str, str]:
        return {"all": "All AI infrastructure", **{t.key: t.label for t in self.config.topics}}


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context


_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(text_or_obj: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``, no ``&``."""
    text = text_or_obj if isinstance(text_or_obj, str) else json.dumps(text_or_obj, allow_nan=False)
    return Markup(text.translate(_JSON_ESCAPES))  # noqa: S704  (escaped just above: nothing can close the block)
