"""The ``tracker`` Typer application and what every command shares: config, settings, engine, errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import typer
from sqlalchemy.engine import Engine

from tracker.config import Config, load_config

app = typer.Typer(
    help="AI Bubble Tracker: collect AI-infrastructure headlines, score their sentiment, serve the dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UserError(Exception):
    """A mistake the user can fix (bad argument, missing file): printed as one line, exit code 2."""


@dataclass
class State:
    config_path: str | None = None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            from tracker.sentiment import configure

            configure(self._config.settings.english_scorer)  # load_config checked that it can be built
        return self._config

    def engine(self) -> Engine:
        from tracker.store.engine import open_engine

        return open_engine(self.config.settings.database_url)


state = State()


@app.callback()
def _root(
    config: str | None = typer.Option(
        None, "--config", "-c", help="TOML config file (default: $TRACKER_CONFIG, else the built-in defaults)."
    ),
) -> None:
    state.config_path = config or os.environ.get("TRACKER_CONFIG") or None
    state._config = None


def echo_json(data: Any) -> None:
    import json

    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
