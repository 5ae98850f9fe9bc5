#!/usr/bin/env python3
"""Quickstart for a fresh machine with only Python 3.11+: creates ./.venv, installs what is needed, runs.

    python3 bootstrap.py run    # collect on a schedule into a SQLite file and serve the dashboard
    python3 bootstrap.py test   # lint, type-check and run the whole test suite

Anything after the sub-command is passed on (to `tracker run`, or to pytest).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _python() -> Path:
    return BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_env(extra: str | None) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    if not _python().exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = f".[{extra}]" if extra else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    if not stamp.exists():
        print(f"installing {spec} into {VENV} ...", flush=True)
        subprocess.run([str(_python()), "-m", "pip", "install", "-q", "-e", spec], cwd=ROOT, check=True)
        stamp.touch()


def run(cmd: list[str]) -> int:
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    what, rest = argv[0], argv[1:]
    if what == "run":
        ensure_env(None)
        return run([str(BIN / "tracker"), "run", *rest])
    ensure_env("test")
    steps = [
        [str(BIN / "ruff"), "check", "tracker", "dashboards", "tests", "bench", "scripts", "bootstrap.py"],
        [str(BIN / "ruff"), "format", "--check", "tracker", "dashboards", "tests", "bench", "scripts", "bootstrap.py"],
        [str(BIN / "mypy")],
    ]
    for step in steps:
        print("$", " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)), flush=True)
        code = run(step)
        if code:
            return code
    return run([str(_python()), "-m", "pytest", *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
