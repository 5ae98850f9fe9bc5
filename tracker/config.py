"""The TOML config: sources to collect, topics to tag, and a ``[settings]`` table.

``load_config(path)`` reads a file (or the built-in ``defaults.toml`` when ``path`` is None) and validates it.
Any problem raises ``ConfigError`` whose message names the file, the line and the key, so the CLI can print
one clear sentence and exit non-zero without a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsError

from tracker.durations import parse_duration
from tracker.settings import Settings

SOURCE_KINDS = ("rss", "hn_algolia", "gdelt_doc")
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
DEFAULTS_NAME = "defaults.toml"


class ConfigError(Exception):
    """A config file that cannot be used. ``str(err)`` is the whole message for the user."""


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["rss", "hn_algolia", "gdelt_doc"]
    url: str = Field(min_length=1, max_length=2000)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    every: str | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        if not re.match(r"^https?://", value, re.IGNORECASE):
            raise ValueError("must start with http:// or https://")
        if "\\" in value or any(ord(c) < 0x21 for c in value):
            raise ValueError("must not contain backslashes, spaces or control characters")
        if "@" in value.split("//", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
            # user@host: a credential shown by `tracker sources`, or a disguise for the real host.
            raise ValueError("must not carry a user name or password before the host")
        return value

    @field_validator("every")
    @classmethod
    def _every_is_duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value).total_seconds() < 60:
            raise ValueError("must be at least 1m: polling faster is rude to the publisher")
        return value


class TopicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    label: str = Field(min_length=1, max_length=100)
    kind: Literal["ticker", "theme"]
    ticker: str | None = None
    terms: list[str] = Field(default_factory=list)
    # Terms that also mean something else ("ARM", "MU", "ON"): they count only with a context term nearby.
    ambiguous: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    # Phrases that cancel a match ("Oracle of Omaha" is Warren Buffett, not ORCL).
    exclude: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not _KEY_RE.match(value) or value == "all":
            raise ValueError("must be lower-case letters, digits and _ (and not 'all')")
        return value

    @model_validator(mode="after")
    def _has_terms(self) -> TopicConfig:
        if not self.terms and not self.ambiguous:
            raise ValueError("needs at least one entry in terms or ambiguous")
        if self.ambiguous and not self.context:
            raise ValueError("ambiguous terms need a context list")
        return self


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    topics: list[TopicConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Config:
    path: str  # where it came from, for messages ("<built-in defaults>" for the packaged file)
    settings: Settings
    sources: list[SourceConfig]
    topics: list[TopicConfig]

    def topic_keys(self) -> list[str]:
        return [t.key for t in self.topics]


def defaults_text() -> str:
    return resources.files("tracker").joinpath(DEFAULTS_NAME).read_text(encoding="utf-8")


def _locate(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number (1-based) of the key at pydantic location ``loc`` in the TOML text."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    rest = list(loc)
    if rest and rest[0] in ("sources", "topics", "settings"):
        section = rest.pop(0)
        if section == "settings":
            header = re.compile(r"^\s*\[settings\]\s*(#.*)?$")
            found = [i for i, line in enumerate(lines) if header.match(line)]
        else:
            header = re.compile(rf"^\s*\[\[{section}\]\]\s*(#.*)?$")
            found = [i for i, line in enumerate(lines) if header.match(line)]
            if rest and isinstance(rest[0], int):
                index = rest.pop(0)
                found = found[index : index + 1] if index < len(found) else []
        if not found:
            return None
        start = found[0]
        nxt = [i for i, line in enumerate(lines) if i > start and re.match(r"^\s*\[", line)]
        end = nxt[0] if nxt else len(lines)
        if not rest:
            return start + 1
    if rest and isinstance(rest[0], str):
        key = re.compile(rf"^\s*\"?{re.escape(rest[0])}\"?\s*=")
        for i in range(start, end):
            if key.match(lines[i]):
                return i + 1
    return start + 1 if start or end != len(lines) else None


def _describe(path: str, text: str, err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    # pydantic puts the literal kind or validator name after the field: keep only real keys and indexes.
    key = ".".join(str(p) for p in loc if not (isinstance(p, str) and "[" in p))
    line = _locate(text, loc)
    where = f"{path}, line {line}" if line else path
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    return f"{where}: {key}: {msg}"


def parse_config(text: str, path: str) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        messages = [_describe(path, text, e) for e in exc.errors()]  # type: ignore[arg-type]
        raise ConfigError("\n".join(messages)) from None
    for section, items, attr in (("sources", parsed.sources, "name"), ("topics", parsed.topics, "key")):
        seen: set[str] = set()
        for index, item in enumerate(items):
            value = getattr(item, attr)
            if value in seen:
                line = _locate(text, (section, index, attr))
                raise ConfigError(f"{path}, line {line}: {section}.{index}.{attr}: {value!r} is used twice")
            seen.add(value)
    try:
        settings = Settings(**parsed.settings)
    except SettingsError as exc:  # an environment variable that is not even JSON, for a setting that needs it
        field = re.search(r'field "([a-z_]+)"', str(exc))
        name = f"TRACKER_{field.group(1).upper()}" if field else "a TRACKER_* variable"
        raise ConfigError(f"environment variable {name}: not valid JSON") from None
    except ValidationError as exc:
        messages = []
        set_vars = {k.upper() for k in os.environ}  # pydantic-settings matches names regardless of case
        for e in exc.errors():
            env = f"TRACKER_{str(e['loc'][0]).upper()}" if e["loc"] else ""
            if env and env in set_vars:  # the environment beats the file: name the variable, not a line
                messages.append(f"environment variable {env}: {str(e['msg']).removeprefix('Value error, ')}")
            else:
                messages.append(_describe(path, text, {**e, "loc": ("settings", *e["loc"])}))
        raise ConfigError("\n".join(messages)) from None
    if settings.english_scorer == "model":
        from tracker.sentiment.model import INSTALL_HINT, available

        if not available():
            if "TRACKER_ENGLISH_SCORER" in {k.upper() for k in os.environ}:
                where = "environment variable TRACKER_ENGLISH_SCORER"
            else:
                line = _locate(text, ("settings", "english_scorer"))
                where = f"{path}, line {line}: settings.english_scorer" if line else f"{path}: settings.english_scorer"
            raise ConfigError(f"{where}: the model scorer needs the ml extra: {INSTALL_HINT}")
    return Config(path=path, settings=settings, sources=parsed.sources, topics=parsed.topics)


def load_config(path: str | Path | None) -> Config:
    """Load ``path``, or the built-in defaults when ``path`` is None."""
    if path is None:
        return parse_config(defaults_text(), "<built-in defaults>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot be read: {exc}") from None
    return parse_config(text, str(p))
