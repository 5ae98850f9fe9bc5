"""The README documents every setting and every command (a test in the spirit of datasette's test_docs)."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_table_and_nothing_else():
    documented = set(re.findall(r"^\| `TRACKER_([A-Z_]+)` \| `([a-z_]+)` \|", README, re.MULTILINE))
    assert {(n.upper(), n) for n in Settings.model_fields} == documented


def test_the_readme_table_gives_each_setting_its_default_and_description():
    import json

    rows = re.findall(r"^\| `TRACKER_[A-Z_]+` \| `([a-z_]+)` \| (.+?) \| (.+) \|$", README, re.MULTILINE)
    assert rows
    for name, default, description in rows:
        field = Settings.model_fields[name]
        assert description == field.description, name
        value = field.get_default(call_default_factory=True)
        if name == "database_url":
            continue  # depends on the user's data directory
        if value is None:
            expected = "(none)"
        elif isinstance(value, bool):
            expected = f"`{str(value).lower()}`"
        elif isinstance(value, dict):
            expected = f"`{json.dumps(value)}`"
        else:
            expected = f"`{value}`"
        assert default == expected, name


def test_every_command_is_in_the_readme():
    import tracker.cli as cli

    group = typer.main.get_command(cli.app)
    assert hasattr(group, "commands")  # a click group (Typer may carry its own copy of click)
    names: list[str] = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            names += [f"{name} {sub}" for sub in cmd.commands]
        else:
            names.append(name)
    missing = [n for n in names if f"tracker {n}" not in README]
    assert not missing, f"commands not in the README: {missing}"
