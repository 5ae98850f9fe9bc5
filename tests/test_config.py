"""The config file: built-in defaults, validation errors that name the file, the line and the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.config import ConfigError, defaults_text, load_config, parse_config
from tracker.durations import format_duration, parse_duration

REQUIRED_TICKERS = {
    "NVDA",
    "AMD",
    "TSM",
    "AVGO",
    "PLTR",
    "ORCL",
    "MSFT",
    "GOOGL",
    "META",
    "AMZN",
    "CRWV",
    "SMCI",
    "ARM",
    "MU",
    "ASML",
    "INTC",
}
REQUIRED_THEMES = {"ai_bubble", "capex", "datacenter_power", "export_controls", "depreciation", "circular_financing"}


def test_builtin_defaults_cover_the_product():
    config = load_config(None)
    tickers = {t.ticker for t in config.topics if t.kind == "ticker"}
    assert REQUIRED_TICKERS <= tickers
    assert REQUIRED_THEMES <= {t.key for t in config.topics if t.kind == "theme"}
    kinds = {s.kind for s in config.sources}
    assert kinds == {"rss", "hn_algolia", "gdelt_doc"}
    assert any(s.language == "fr" for s in config.sources), "French sources are part of the defaults"
    bubble = next(t for t in config.topics if t.key == "ai_bubble")
    assert "bulle de l'ia" in bubble.terms


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tracker.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_SOURCE = '[[sources]]\nname = "a"\nkind = "rss"\nurl = "https://example.com/feed"\n'
GOOD_TOPIC = '[[topics]]\nkey = "nvda"\nlabel = "NVIDIA"\nkind = "ticker"\nterms = ["nvidia"]\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD_SOURCE + GOOD_TOPIC + '[[sources]]\nname = "b"\nkind = "atom"\nurl = "https://x.org/"\n',
            "line 12: sources.1.kind",
        ),
        (
            GOOD_SOURCE + '[[sources]]\nname = "b"\nkind = "rss"\nurl = "file:///etc/passwd"\n',
            "line 8: sources.1.url: must start with http",
        ),
        (
            GOOD_SOURCE + '[[sources]]\nname = "a"\nkind = "rss"\nurl = "https://x.org/"\n',
            "line 6: sources.1.name: 'a' is used twice",
        ),
        (
            GOOD_SOURCE + '[[sources]]\nname = "b"\nkind = "rss"\nurl = "http://public@127.0.0.1/feed"\n',
            "line 8: sources.1.url: must not carry a user name",
        ),
        (
            GOOD_SOURCE + '[[sources]]\nname = "b"\nkind = "rss"\nurl = "https://u:pw@x.org/feed"\n',
            "line 8: sources.1.url: must not carry a user name",
        ),
        (GOOD_SOURCE + 'every = "often"\n', "line 5: sources.0.every"),
        (GOOD_SOURCE + 'colour = "red"\n', "line 5: sources.0.colour: unknown key"),
        (
            GOOD_TOPIC + '[[topics]]\nkey = "Bad Key"\nlabel = "x"\nkind = "theme"\nterms = ["x"]\n',
            "line 7: topics.1.key",
        ),
        ("[settings]\nmax_body_bytes = -1\n" + GOOD_SOURCE, "line 2: settings.max_body_bytes"),
        ("[settings]\nno_such_setting = 1\n", "line 2: settings.no_such_setting"),
        (GOOD_SOURCE + "url = = broken\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_bad_config_exits_non_zero_without_traceback(tmp_path):
    path = _write(tmp_path, GOOD_SOURCE + 'kind = "rss"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(path), "sources"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr


def test_environment_beats_the_file(monkeypatch):
    monkeypatch.setenv("TRACKER_MAX_CONCURRENCY", "7")
    config = parse_config("[settings]\nmax_concurrency = 3\n", "x.toml")
    assert config.settings.max_concurrency == 7
    monkeypatch.delenv("TRACKER_MAX_CONCURRENCY")
    assert parse_config("[settings]\nmax_concurrency = 3\n", "x.toml").settings.max_concurrency == 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRACKER_PORT", "abc", "environment variable TRACKER_PORT: Input should be a valid integer"),
        ("tracker_port", "abc", "environment variable TRACKER_PORT: Input should be a valid integer"),
        ("TRACKER_HOST_SPACING", "nope", "environment variable TRACKER_HOST_SPACING: not valid JSON"),
        (
            "TRACKER_HOST_SPACING",
            '{"api.gdeltproject.org": -1}',
            "environment variable TRACKER_HOST_SPACING: host_spacing:",
        ),
    ],
)
def test_a_bad_environment_variable_is_named_not_a_line_of_the_file(tmp_path, name, value, message):
    path = _write(tmp_path, "[settings]\nport = 8001\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(path), "sources"],
        capture_output=True, text=True, timeout=60, env={**os.environ, name: value},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr and "line" not in proc.stderr


def test_host_spacing_from_the_file_and_its_default():
    assert load_config(None).settings.host_spacing == {"api.gdeltproject.org": 5.0}
    config = parse_config('[settings]\nhost_spacing = {"News.Example" = 2}\n', "x.toml")
    assert config.settings.host_spacing == {"news.example": 2.0}


def test_init_copy_of_defaults_parses_back():
    assert len(parse_config(defaults_text(), "copy.toml").sources) == len(load_config(None).sources)


@pytest.mark.parametrize(
    ("text", "seconds", "written"),
    [
        ("30s", 30, "30s"),
        ("30m", 1800, "30m"),
        ("90m", 5400, "90m"),
        ("6h", 21600, "6h"),
        ("7d", 604800, "7d"),
        ("2w", 1209600, "14d"),
    ],
)
def test_durations_round_trip(text, seconds, written):
    assert parse_duration(text).total_seconds() == seconds
    assert format_duration(parse_duration(text)) == written


@pytest.mark.parametrize("text", ["", "6", "h", "-1h", "0m", "1.5h", "6 hours"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)
