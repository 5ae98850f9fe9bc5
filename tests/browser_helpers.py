"""Debian's Chromium for the browser tests: where it is, skipping (or failing in CI) without it, launching it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("TRACKER_REQUIRE_BROWSER") == "1":
            pytest.fail("TRACKER_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is not installed")


def launch(pw: Any) -> Any:
    """A headless Chromium from Playwright's sync API (its own browser download does not work here)."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
