"""The ``tracker`` command. Each sub-module registers its commands on the shared Typer app."""

from __future__ import annotations

import sys

import typer

from tracker.cli.app import UserError, app
from tracker.config import ConfigError

# Importing the command modules registers their commands on the shared app.
from tracker.cli import alerts as _alerts  # noqa: F401  isort: skip
from tracker.cli import collect as _collect  # noqa: F401  isort: skip
from tracker.cli import export as _export  # noqa: F401  isort: skip
from tracker.cli import sentiment as _sentiment  # noqa: F401  isort: skip


def main() -> None:
    try:
        code = app(standalone_mode=False)
        # Outside standalone mode click returns an Exit's code (Ctrl-C becomes 130) instead of exiting.
        if isinstance(code, int) and code:
            sys.exit(code)
    except (ConfigError, UserError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


__all__ = ["app", "main"]
