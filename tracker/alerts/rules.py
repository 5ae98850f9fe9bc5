"""Alert rules: the validated rule a user writes, and the pure state machine that decides what happens to it.

``RuleIn`` is the body of the API and the CLI (durations written ``6h``, ``7d``); ``Rule`` and ``RuleState`` are
the plain values the state machine works on; ``step`` moves one rule forward by one evaluation.

The semantics follow Prometheus / Grafana: ``ok`` -> ``pending`` (the condition holds, waiting out ``for``) ->
``firing`` -> ``resolved`` (the value went back past the clear threshold) -> ``ok`` on the next quiet
evaluation; ``nodata`` and ``error`` are states of their own. An alert never resolves silently: a firing rule
that loses its data goes to ``nodata`` with a notification, and stays *active* (``active_since`` kept) until a
real value resolves or re-fires it.

This module must never touch the database, the network or the clock: ``now`` is always passed in.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tracker.durations import format_duration, parse_duration
from tracker.models import ALL_TOPIC
from tracker.settings import Settings

Metric = Literal["index", "mean_sentiment", "negative_share", "bubble_share", "volume", "volume_zscore"]
METRICS: tuple[str, ...] = ("index", "mean_sentiment", "negative_share", "bubble_share", "volume", "volume_zscore")
Op = Literal["<", ">"]
STATES: tuple[str, ...] = ("ok", "pending", "firing", "resolved", "nodata", "error")

MAX_WINDOW = timedelta(days=30)
MAX_CHANNELS = 10
MAX_CHANNEL_LENGTH = 2000
_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]{0,30}):", re.IGNORECASE)
_ZERO = {"0", "0s", "0m", "0h", "0d", "none", ""}


def channel_kind(url: str) -> Literal["webhook", "email", "apprise"]:
    """``http(s)://`` is a webhook, ``mailto:`` is e-mail through the SMTP settings, any other scheme apprise."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        return "webhook"
    if scheme == "mailto":
        return "email"
    return "apprise"


def _optional_duration(value: Any) -> timedelta:
    if value is None or str(value).strip().lower() in _ZERO:
        return timedelta(0)
    return parse_duration(str(value))


class RuleIn(BaseModel):
    """A rule as users write it (API body, CLI options). Validation errors name the field."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=100)
    topic: str = ALL_TOPIC
    metric: Metric
    window: str = "24h"
    op: Op
    threshold: float
    min_headlines: int = Field(default=1, ge=0, le=1_000_000)
    for_: str | None = Field(default=None, alias="for")
    clear_threshold: float | None = None
    repeat_interval: str = "24h"
    channels: list[str] = Field(default_factory=list, max_length=MAX_CHANNELS)
    enabled: bool = True
    no_data: Literal["nodata", "keep", "firing"] = "nodata"
    on_error: Literal["error", "keep", "firing"] = "error"

    @field_validator("name")
    @classmethod
    def _name_printable(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("topic")
    @classmethod
    def _topic_shape(cls, value: str) -> str:
        value = value.strip()
        if value != ALL_TOPIC and not _TOPIC_RE.match(value):
            raise ValueError("must be a topic key (lower-case letters, digits, _) or 'all'")
        return value

    @field_validator("window")
    @classmethod
    def _window_hours(cls, value: str) -> str:
        delta = parse_duration(value)
        # Rollups are hourly: a window that is not whole hours would silently be rounded.
        if delta.total_seconds() % 3600:
            raise ValueError("must be whole hours (1h, 6h, 24h, 7d...): the store keeps hourly sums")
        if delta > MAX_WINDOW:
            raise ValueError("must be at most 30d")
        return format_duration(delta)

    @field_validator("for_")
    @classmethod
    def _for_duration(cls, value: str | None) -> str | None:
        delta = _optional_duration(value)
        if delta > timedelta(days=30):
            raise ValueError("must be at most 30d")
        return format_duration(delta) if delta else None

    @field_validator("repeat_interval")
    @classmethod
    def _repeat_duration(cls, value: str) -> str:
        delta = parse_duration(value)
        if delta < timedelta(minutes=1):
            raise ValueError("must be at least 1m")
        return format_duration(delta)

    @field_validator("threshold", "clear_threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("channels")
    @classmethod
    def _channels_shape(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for url in value:
            url = url.strip()
            if not url:
                continue
            if len(url) > MAX_CHANNEL_LENGTH:
                raise ValueError(f"a channel is longer than {MAX_CHANNEL_LENGTH} characters")
            if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url) or "\\" in url:
                raise ValueError("a channel contains spaces, control characters or a backslash")
            if not _SCHEME_RE.match(url):
                raise ValueError(f"{url[:60]!r} is not a URL (http(s)://..., mailto:..., or an apprise URL)")
            if url not in out:
                out.append(url)
        return out

    @field_validator("clear_threshold")
    @classmethod
    def _clear_side(cls, clear: float | None, info: ValidationInfo) -> float | None:
        op, threshold = info.data.get("op"), info.data.get("threshold")
        if clear is None or threshold is None:
            return clear
        # The clear threshold sits on the quiet side of the threshold, or the alert could never resolve.
        if op == ">" and clear > threshold:
            raise ValueError("must be at or below threshold when op is '>'")
        if op == "<" and clear < threshold:
            raise ValueError("must be at or above threshold when op is '<'")
        return clear

    def to_columns(self) -> dict[str, Any]:
        """The ``alert_rules`` column values of this rule (without id and state)."""
        return {
            "name": self.name,
            "topic": self.topic,
            "metric": self.metric,
            "window_seconds": int(parse_duration(self.window).total_seconds()),
            "op": self.op,
            "threshold": self.threshold,
            "min_headlines": self.min_headlines,
            "for_seconds": int(_optional_duration(self.for_).total_seconds()),
            "clear_threshold": self.clear_threshold,
            "repeat_seconds": int(parse_duration(self.repeat_interval).total_seconds()),
            "channels": json.dumps(self.channels),
            "enabled": self.enabled,
            "no_data": self.no_data,
            "on_error": self.on_error,
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """What the state machine needs of a rule (durations in seconds)."""

    id: int
    name: str
    topic: str
    metric: str
    window_seconds: int
    op: str
    threshold: float
    min_headlines: int = 1
    for_seconds: int = 0
    clear_threshold: float | None = None
    repeat_seconds: int = 86400
    channels: tuple[str, ...] = ()
    silenced_until: datetime | None = None  # notifications muted until then; evaluation goes on
    no_data: str = "nodata"  # what no data means: nodata (its own state), keep (the last state), firing
    on_error: str = "error"  # what a failed evaluation means: error, keep, firing

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and now < self.silenced_until

    @property
    def clear(self) -> float:
        return self.threshold if self.clear_threshold is None else self.clear_threshold

    @property
    def window(self) -> str:
        return format_duration(timedelta(seconds=self.window_seconds))

    def breaches(self, value: float) -> bool:
        """The firing condition, for a rule that is not active."""
        return value > self.threshold if self.op == ">" else value < self.threshold

    def still_breaching(self, value: float) -> bool:
        """The condition for an active rule: it stays until the value passes the clear threshold (hysteresis)."""
        return value > self.clear if self.op == ">" else value < self.clear

    def describe(self) -> str:
        return f"{self.metric} over {self.window} for {self.topic} {self.op} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class RuleState:
    """The persisted evaluation state of one rule.

    ``active_since`` is Prometheus' ``activeAt``: when the condition started to hold. It is kept while a firing
    rule is in ``nodata`` or ``error``, which is how the machine remembers that an alert is still open.
    """

    state: str = "ok"
    state_since: datetime | None = None
    active_since: datetime | None = None
    last_value: float | None = None
    last_evaluated_at: datetime | None = None
    last_notified_at: datetime | None = None
    last_error: str | None = None
    told: str | None = None  # what receivers were last told: firing, resolved, nodata or error

    @property
    def alert_open(self) -> bool:
        """Firing, or lost its data / errored while firing: receivers have been told and not yet untold."""
        return self.state == "firing" or (self.state in ("nodata", "error") and self.active_since is not None)


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change: becomes an ``alert_events`` row."""

    from_state: str
    to_state: str
    value: float | None
    message: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A notification to send on every channel of the rule: becomes ``notifications`` (outbox) rows.

    ``reason`` is ``firing``, ``repeat``, ``resolved``, ``nodata`` or ``error``.
    """

    reason: str
    state: str
    previous: str
    value: float | None
    message: str


Decision = Transition | Notify


MAX_SILENCE = timedelta(days=90)


def silence_until(duration: str, now: datetime) -> datetime:
    """The end of a silence of ``duration`` (``30m``, ``1h``, ``7d``) from ``now``; ValueError if out of range."""
    delta = parse_duration(duration)
    if delta > MAX_SILENCE:
        raise ValueError(f"a silence lasts at most {format_duration(MAX_SILENCE)}, not {duration}")
    return now + delta


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def step(
    rule: Rule, state: RuleState, value: float | None, error: str | None, now: datetime
) -> tuple[RuleState, list[Decision]]:
    """One evaluation of ``rule``: the new state and what to record and send.

    ``value`` None means no data (too few headlines, nothing to compute); ``error`` set means the evaluation
    failed (``value`` is then ignored). Pure: the same inputs always give the same outputs.

    A silenced rule is evaluated as any other (its state changes are recorded) but sends nothing. The first
    evaluation after the silence (ended or lifted) tells the receivers what changed while they were not told:
    a rule still firing is announced as firing (Alertmanager's behaviour), one that resolved meanwhile as
    resolved; ``told`` keeps what they were last told, so this needs nothing but the persisted state.
    """
    new, decisions = _step(rule, state, value, error, now)
    told = {"repeat": "firing"}
    if rule.silenced(now):
        # Muted: nothing sent, so neither the repeat clock nor what receivers know moves.
        muted: list[Decision] = [d for d in decisions if not isinstance(d, Notify)]
        return replace(new, last_notified_at=state.last_notified_at, told=state.told), muted
    never_told = state.told is None and state.last_notified_at is None  # a new rule, muted from the start
    if state.told == "resolved" or never_told:
        # Receivers know of no open alert (it fired, muted, and passed): no "resolved", "nodata" or "error"
        # about it.
        kept: list[Decision] = [
            d for d in decisions if not (isinstance(d, Notify) and d.reason in ("resolved", "nodata", "error"))
        ]
        if len(kept) != len(decisions):
            new, decisions = replace(new, last_notified_at=state.last_notified_at), kept
    unheard = state.told in ("resolved", "nodata", "error") or never_told
    if unheard:
        # A "still firing" reminder for an alert whose firing was muted: to its receivers it is news.
        decisions = [
            replace(d, reason="firing") if isinstance(d, Notify) and d.reason == "repeat" else d for d in decisions
        ]
    notes = [d for d in decisions if isinstance(d, Notify)]
    if notes:
        return replace(new, told=told.get(notes[-1].reason, notes[-1].reason)), decisions
    # Nothing to send this time: make sure receivers are not left behind by notifications muted earlier
    # (a silence that ended, or was lifted early). Outside silences what they were told always matches.
    if new.state == "firing" and unheard:
        shown = new.last_value if value is not None and error is None else None  # fired on no data / an error
        message = f"{rule.name}: firing after the silence, {rule.describe()} (value {_fmt(shown)})"
        decisions.append(Notify("firing", "firing", state.state, new.last_value, message))
        new = replace(new, last_notified_at=now, told="firing")
    elif not new.alert_open and state.told in ("firing", "nodata", "error"):
        message = f"{rule.name}: resolved during the silence (value {_fmt(new.last_value)})"
        decisions.append(Notify("resolved", new.state, state.state, new.last_value, message))
        new = replace(new, last_notified_at=now, told="resolved")
    elif new.state in ("nodata", "error") and new.alert_open and state.told == "firing":
        message = f"{rule.name}: {'no data' if new.state == 'nodata' else 'evaluation failing'} since the silence"
        decisions.append(Notify(new.state, new.state, state.state, None, message))
        new = replace(new, last_notified_at=now, told=new.state)
    return new, decisions


def _step(
    rule: Rule, state: RuleState, value: float | None, error: str | None, now: datetime
) -> tuple[RuleState, list[Decision]]:
    prev = state.state
    decisions: list[Decision] = []
    new = replace(state, last_evaluated_at=now)

    def move(to: str, *, val: float | None, message: str, notify: str | None = None, **changes: Any) -> None:
        nonlocal new
        new = replace(new, state=to, state_since=now if to != prev else new.state_since, **changes)
        if to != prev:
            decisions.append(Transition(prev, to, val, message))
        if notify is not None:
            decisions.append(Notify(notify, to, prev, val, message))
            new = replace(new, last_notified_at=now)

    # The rule's mapping (Grafana's "no data" / "error" handling): its own state (default), keep the last
    # state, or count as the condition holding ("firing": e.g. alert when the news stops coming in).
    if error is not None:
        value = None
        new = replace(new, last_error=error[:500])
        if rule.on_error == "keep":
            return new, decisions
        if rule.on_error != "firing":
            message = f"{rule.name}: evaluation failed: {error}"[:500]
            if prev == "error":
                return new, decisions
            if state.alert_open:
                # Receivers were told it fires; tell them we can no longer tell (Grafana's "Error" alerting).
                move("error", val=None, message=message, notify="error" if prev == "firing" else None)
            else:
                move("error", val=None, message=message, active_since=None)
            return new, decisions
    elif value is None:
        new = replace(new, last_error=None)
        if rule.no_data == "keep":
            return new, decisions
        if rule.no_data != "firing":
            message = f"{rule.name}: no data for {rule.describe()}"
            if prev == "nodata":
                return new, decisions
            if state.alert_open:
                move("nodata", val=None, message=message, notify="nodata" if prev == "firing" else None)
            else:
                move("nodata", val=None, message=message, active_since=None)
            return new, decisions
    else:
        new = replace(new, last_error=None, last_value=value)
    # From here on, value None means no data or an error that the rule counts as its condition holding.
    if state.alert_open:
        if value is None or rule.still_breaching(value):
            if prev != "firing":
                # Data came back and the condition still holds: the alert is firing again, say so.
                move(
                    "firing",
                    val=value,
                    message=f"{rule.name}: {rule.describe()} (value {_fmt(value)})",
                    notify="firing",
                )
            elif state.last_notified_at is None or now - state.last_notified_at >= timedelta(
                seconds=rule.repeat_seconds
            ):
                move(
                    "firing",
                    val=value,
                    message=f"{rule.name}: still firing, {rule.describe()} (value {_fmt(value)})",
                    notify="repeat",
                )
            return new, decisions
        move(
            "resolved",
            val=value,
            message=f"{rule.name}: resolved, value {_fmt(value)} passed the clear threshold {rule.clear:g}",
            notify="resolved",
            active_since=None,
        )
        return new, decisions

    if value is None or rule.breaches(value):
        active_since = state.active_since if prev == "pending" and state.active_since is not None else now
        held = now - active_since
        firing_message = f"{rule.name}: {rule.describe()} (value {_fmt(value)})"
        if held >= timedelta(seconds=rule.for_seconds):
            move("firing", val=value, message=firing_message, notify="firing", active_since=active_since)
        elif prev != "pending":
            move(
                "pending",
                val=value,
                message=(
                    f"{rule.name}: pending (must hold {format_duration(timedelta(seconds=rule.for_seconds))}), "
                    f"{rule.describe()} (value {_fmt(value)})"
                ),
                active_since=active_since,
            )
        return new, decisions

    if prev != "ok":
        move("ok", val=value, message=f"{rule.name}: ok (value {_fmt(value)})", active_since=None)
    return new, decisions


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and localhost are loopback (None counts as loopback); 0.0.0.0, a LAN address or a name are not."""
    if host is None:
        return True
    h = host.strip().strip("[]").lower()
    if h in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_write_safety(settings: Settings, host: str) -> None:
    """Refuse to serve writable alerts on a non-loopback address without an admin token (ValueError).

    ``tracker run`` / ``tracker serve`` call this before starting: a reachable server that lets anyone create
    alert rules lets anyone make this host send requests to the targets they choose.
    """
    if not is_loopback(host) and settings.admin_token is None:
        raise ValueError(
            f"refusing to listen on {host!r} without an admin token: anyone who can reach it could create alert "
            "rules and make this host send requests. Set admin_token (TRACKER_ADMIN_TOKEN) or listen on 127.0.0.1."
        )
