"""One typed settings object for the whole tracker.

Values come, highest priority first, from ``TRACKER_*`` environment variables, then the ``[settings]``
table of the TOML config file, then the defaults below. Every field has a description: the README's
settings table is checked against this class by a test (tests/test_docs.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def default_database_url() -> str:
    """A SQLite file in the user's data directory (created on first use)."""
    data_dir = Path(platformdirs.user_data_dir("ai-bubble-tracker", appauthor=False))
    return f"sqlite:///{data_dir / 'tracker.db'}"


class Settings(BaseSettings):
    """Settings of the tracker. Environment variables are the field names in capitals, prefixed TRACKER_."""

    model_config = SettingsConfigDict(env_prefix="TRACKER_", extra="forbid", validate_default=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the database: a SQLite file by default, postgresql+psycopg://... for scale.",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Let the fetcher and the notifiers reach private, loopback and link-local addresses.",
    )
    user_agent: str = Field(
        default="ai-bubble-tracker/0.1 (headline sentiment research; set TRACKER_USER_AGENT to add your contact)",
        description="User-Agent header sent with every request.",
    )
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for each read.")
    fetch_deadline: float = Field(
        default=30.0, gt=0, description="Seconds one whole fetch may take, redirects included."
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Cap on a decoded response body, in bytes.")
    max_items_per_fetch: int = Field(
        default=1000, gt=0, description="Items kept from one response; the rest are dropped with a warning."
    )
    max_redirects: int = Field(default=5, ge=0, description="Redirect hops followed per fetch.")
    max_concurrency: int = Field(default=128, gt=0, description="Fetches in flight at once across all hosts.")
    per_host_limit: int = Field(default=2, gt=0, description="Fetches in flight at once to one host.")
    host_spacing: dict[str, float] = Field(
        default_factory=lambda: {"api.gdeltproject.org": 5.0},
        description="Least seconds between the starts of two requests to one host (a JSON object: host to seconds).",
    )
    default_every: str = Field(default="30m", description="Fetch interval of a source that sets no `every`.")
    tick_seconds: float = Field(default=30.0, gt=0, description="How often the scheduler looks for due sources.")
    alert_every: str = Field(default="5m", description="How often alert rules are evaluated besides after each cycle.")
    english_scorer: Literal["lexicon", "model"] = Field(
        default="lexicon",
        description="How English headlines are scored: `lexicon` (VADER with the finance overlay) or `model` "
        "(MiniLM embeddings and a trained head; needs the ml extra, about 1/100 of the speed).",
    )
    host: str = Field(default="127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the dashboard listens on.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token required for writes (alert rules) when the server listens on anything but loopback.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Key of the HMAC-SHA256 signature sent with webhooks (X-Tracker-Signature)."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for mailto: alert channels.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(default="starttls", description="SMTP transport security.")
    smtp_username: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(default="tracker@localhost", description="From address of alert e-mails.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment beats the config file (passed as init values), so a deployment can override a file.
        return env_settings, init_settings

    @field_validator("host_spacing")
    @classmethod
    def _spacing(cls, value: dict[str, float]) -> dict[str, float]:
        for host, seconds in value.items():
            if not host or not math.isfinite(seconds) or seconds < 0 or seconds > 3600:
                raise ValueError(f"host_spacing: {host!r} needs a host name and 0 to 3600 seconds, not {seconds}")
        return {host.lower(): float(seconds) for host, seconds in value.items()}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(file_values: dict[str, Any] | None = None) -> Settings:
    """Build the settings from the environment and the config file's ``[settings]`` table."""
    return Settings(**(file_values or {}))
