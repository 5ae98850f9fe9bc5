"""docker-compose.yml (Docker does not run here): its commands, variables and ports must match the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return cmd if isinstance(cmd, list) else cmd.split()


def test_services_and_postgres_health(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "tracker"}
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    volume = pg["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a bind mount
    assert services["tracker"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_tracker_command_is_a_real_cli_command(compose):
    import typer.main

    from tracker.cli import app

    cmd = _command(compose["services"]["tracker"])
    assert cmd[0] == "tracker"
    click_app = typer.main.get_command(app)
    sub = click_app.commands[cmd[1]]  # type: ignore[attr-defined]
    options = {opt for param in sub.params for opt in getattr(param, "opts", [])}
    for arg in cmd[2:]:
        if arg.startswith("--"):
            assert arg in options, f"{cmd[1]} has no option {arg}"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install ." in dockerfile
    assert re.search(r'CMD \["tracker", "run"', dockerfile)


def test_every_variable_is_a_setting(compose):
    fields = set(Settings.model_fields)
    env = compose["services"]["tracker"]["environment"]
    names = list(env) if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
    tracker_vars = [n for n in names if n.startswith("TRACKER_")]
    assert {"TRACKER_DATABASE_URL", "TRACKER_HOST", "TRACKER_PORT", "TRACKER_ADMIN_TOKEN"} <= set(tracker_vars)
    for name in tracker_vars:
        assert name.removeprefix("TRACKER_").lower() in fields, name
    assert env["TRACKER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["TRACKER_DATABASE_URL"]
    # The values parse as settings (with the compose defaults substituted).
    values = {k.removeprefix("TRACKER_").lower(): re.sub(r"\$\{[^}]*\}", "x", str(v)) for k, v in env.items()}
    settings = Settings(**values)
    assert settings.port == 8000


def test_ports_bind_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
