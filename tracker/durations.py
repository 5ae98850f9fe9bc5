"""Durations written the way users write them: ``30s``, ``30m``, ``6h``, ``7d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse ``"6h"`` into ``timedelta(hours=6)``; raise ValueError with a readable message otherwise.

    >>> parse_duration("90m")
    datetime.timedelta(seconds=5400)
    """
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration: write a whole number and a unit, like 30m, 6h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration: ``timedelta(hours=6)`` -> ``"6h"``."""
    seconds = int(delta.total_seconds())
    # Weeks are read but not written: "7d" is how people say it.
    for unit, size in sorted(((u, s) for u, s in _UNITS.items() if u != "w"), key=lambda kv: -kv[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
