"""The pure side of alerts: rule validation, the state machine on synthetic series with a fake clock, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tracker.alerts.evaluate import TopicSeries, hour_index, hour_start, metric_value, replay
from tracker.alerts.rules import Notify, Rule, RuleIn, RuleState, Transition, step
from tracker.series import Sums

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def make_rule(**kw) -> Rule:
    base = {
        "id": 1,
        "name": "r",
        "topic": "nvda",
        "metric": "mean_sentiment",
        "window_seconds": 6 * 3600,
        "op": "<",
        "threshold": -0.30,
        "channels": ("https://example.com/hook",),
    }
    base.update(kw)
    return Rule(**base)


def run(rule: Rule, values, *, state: RuleState | None = None, start: datetime = T0, step_by: timedelta = HOUR):
    """Feed ``values`` (float, None for no data, or an Exception for an evaluation error) one per tick."""
    state = state or RuleState()
    states, notes, transitions = [], [], []
    now = start
    for v in values:
        error = str(v) if isinstance(v, Exception) else None
        value = None if isinstance(v, Exception) else v
        state, decisions = step(rule, state, value, error, now)
        states.append(state.state)
        notes += [(now, d.reason) for d in decisions if isinstance(d, Notify)]
        transitions += [(d.from_state, d.to_state) for d in decisions if isinstance(d, Transition)]
        now += step_by
    return state, states, notes, transitions


CASES = [
    # name, rule overrides, values, expected states, expected notification reasons
    (
        "flapping with hysteresis fires once, resolves once",
        {"clear_threshold": -0.25},
        [-0.29, -0.31, -0.29, -0.31, -0.29, -0.26, -0.31, -0.24, -0.20],
        ["ok", "firing", "firing", "firing", "firing", "firing", "firing", "resolved", "ok"],
        ["firing", "resolved"],
    ),
    (
        "flapping without hysteresis fires on every dip",
        {},
        [-0.31, -0.29, -0.31, -0.29],
        ["firing", "resolved", "firing", "resolved"],
        ["firing", "resolved", "firing", "resolved"],
    ),
    (
        "for: pending until it held 2h, then firing",
        {"for_seconds": 7200},
        [-0.4, -0.4, -0.4, -0.4],
        ["pending", "pending", "firing", "firing"],
        ["firing"],
    ),
    (
        "for: a dip shorter than for never fires",
        {"for_seconds": 7200},
        [-0.4, -0.4, -0.1, -0.4, -0.1],
        ["pending", "pending", "ok", "pending", "ok"],
        [],
    ),
    (
        "no data while ok is nodata, silently",
        {},
        [-0.1, None, None, -0.1],
        ["ok", "nodata", "nodata", "ok"],
        [],
    ),
    (
        "no data while firing never resolves silently",
        {},
        [-0.4, None, None, -0.1, -0.1],
        ["firing", "nodata", "nodata", "resolved", "ok"],
        ["firing", "nodata", "resolved"],
    ),
    (
        "data back while still breaching fires again",
        {},
        [-0.4, None, -0.4],
        ["firing", "nodata", "firing"],
        ["firing", "nodata", "firing"],
    ),
    (
        "pending then no data drops the pending",
        {"for_seconds": 7200},
        [-0.4, None, -0.4, -0.4, -0.4],
        ["pending", "nodata", "pending", "pending", "firing"],
        ["firing"],
    ),
    (
        "evaluation error is its own state",
        {},
        [-0.1, RuntimeError("db down"), RuntimeError("db down"), -0.1],
        ["ok", "error", "error", "ok"],
        [],
    ),
    (
        "error while firing is told, and recovery resolves",
        {},
        [-0.4, RuntimeError("boom"), -0.1],
        ["firing", "error", "resolved"],
        ["firing", "error", "resolved"],
    ),
    (
        "no_data=keep: a firing alert stays firing, quietly, through the gap",
        {"no_data": "keep", "repeat_seconds": 86400},
        [-0.4, None, None, -0.1],
        ["firing", "firing", "firing", "resolved"],
        ["firing", "resolved"],
    ),
    (
        "no_data=keep: an ok rule stays ok",
        {"no_data": "keep"},
        [-0.1, None, -0.1],
        ["ok", "ok", "ok"],
        [],
    ),
    (
        "no_data=firing: the news stopping fires, through for, and data back resolves",
        {"no_data": "firing", "for_seconds": 3600},
        [-0.1, None, None, None, -0.1],
        ["ok", "pending", "firing", "firing", "resolved"],
        ["firing", "resolved"],
    ),
    (
        "on_error=keep: errors change nothing",
        {"on_error": "keep"},
        [-0.4, RuntimeError("db down"), -0.4],
        ["firing", "firing", "firing"],
        ["firing"],
    ),
    (
        "on_error=firing: a failing evaluation fires",
        {"on_error": "firing"},
        [-0.1, RuntimeError("db down"), -0.1],
        ["ok", "firing", "resolved"],
        ["firing", "resolved"],
    ),
    (
        "op > with a clear threshold",
        {"op": ">", "threshold": 60.0, "clear_threshold": 55.0, "metric": "index"},
        [50.0, 61.0, 58.0, 56.0, 54.0],
        ["ok", "firing", "firing", "firing", "resolved"],
        ["firing", "resolved"],
    ),
]


@pytest.mark.parametrize(("name", "overrides", "values", "states", "reasons"), CASES, ids=[c[0] for c in CASES])
def test_state_machine_table(name, overrides, values, states, reasons):
    _, got_states, notes, _ = run(make_rule(**overrides), values)
    assert got_states == states
    assert [r for _, r in notes] == reasons


def test_flapping_records_pending_visible_and_exactly_one_fire_resolve_pair():
    rule = make_rule(clear_threshold=-0.25, for_seconds=3600)
    values = [-0.29, -0.31, -0.29, -0.31, -0.31, -0.29, -0.31, -0.29, -0.26, -0.24, -0.29]
    _, states, notes, transitions = run(rule, values)
    assert "pending" in states
    assert [r for _, r in notes] == ["firing", "resolved"]
    assert transitions.count(("pending", "firing")) == 1
    assert transitions.count(("firing", "resolved")) == 1


def test_repeat_interval_renotifies_only_every_interval():
    rule = make_rule(repeat_seconds=4 * 3600)
    _, _, notes, _ = run(rule, [-0.4] * 10)
    assert [(t - T0) / HOUR for t, _ in notes] == [0, 4, 8]
    assert [r for _, r in notes] == ["firing", "repeat", "repeat"]


def test_restart_while_firing_sends_nothing_new():
    rule = make_rule(repeat_seconds=6 * 3600)
    state, _, notes, _ = run(rule, [-0.4, -0.4])
    assert len(notes) == 1
    # What the store would give back after a restart: the same values, a fresh object.
    reloaded = RuleState(**{f: getattr(state, f) for f in RuleState.__dataclass_fields__})
    _, states, notes2, transitions = run(rule, [-0.4, -0.4, -0.4], state=reloaded, start=T0 + 2 * HOUR)
    assert states == ["firing"] * 3
    assert notes2 == []
    assert transitions == []


def test_silence_mutes_sends_keeps_evaluating_and_renotifies_a_still_firing_alert_when_it_ends():
    # Fires at T0, silenced from T0+1h to T0+4h; the repeat interval (2 h) passes inside the silence.
    rule = make_rule(repeat_seconds=2 * 3600, silenced_until=T0 + 4 * HOUR)
    state, states, notes, _ = run(make_rule(repeat_seconds=2 * 3600), [-0.4])
    assert notes == [(T0, "firing")] and state.told == "firing"
    state, states, notes, transitions = run(rule, [-0.4, -0.1, -0.4, -0.4, -0.4], state=state, start=T0 + HOUR)
    # Evaluation went on (it resolved and fired again inside the silence, both recorded) but nothing was sent...
    assert states == ["firing", "resolved", "firing", "firing", "firing"]
    assert transitions == [("firing", "resolved"), ("resolved", "firing")]
    # ...until the first evaluation once the silence is over (T0+4h): the repeat interval had long passed.
    assert notes == [(T0 + 4 * HOUR, "repeat")]
    assert state.told == "firing" and state.last_notified_at == T0 + 4 * HOUR


def test_an_alert_that_fired_during_a_silence_is_announced_when_it_ends():
    rule = make_rule(silenced_until=T0 + 3 * HOUR)
    state, states, notes, _ = run(rule, [-0.1, -0.4, -0.4, -0.4, -0.4])
    assert states == ["ok", "firing", "firing", "firing", "firing"]
    assert notes == [(T0 + 3 * HOUR, "firing")]
    assert state.told == "firing"


def test_an_alert_that_resolved_during_a_silence_is_resolved_for_receivers_when_it_ends():
    state, _, notes, _ = run(make_rule(), [-0.4])
    assert notes == [(T0, "firing")]
    rule = make_rule(silenced_until=T0 + 3 * HOUR)
    state, states, notes, _ = run(rule, [-0.1, -0.1, -0.1], state=state, start=T0 + HOUR)
    assert states == ["resolved", "ok", "ok"]
    assert notes == [(T0 + 3 * HOUR, "resolved")] and state.told == "resolved"


def test_a_silence_lifted_early_still_brings_receivers_up_to_date():
    # Told firing at T0; silenced for 10 h at T0+1h; resolves inside; the silence is lifted at T0+3h.
    state, _, notes, _ = run(make_rule(), [-0.4])
    muted = make_rule(silenced_until=T0 + 10 * HOUR)
    state, states, notes, _ = run(muted, [-0.1, -0.1], state=state, start=T0 + HOUR)
    assert states == ["resolved", "ok"] and notes == []
    lifted = make_rule(silenced_until=None)
    state, states, notes, _ = run(lifted, [-0.1, -0.1], state=state, start=T0 + 3 * HOUR)
    assert notes == [(T0 + 3 * HOUR, "resolved")] and state.told == "resolved"
    # And the other way: it fired inside a silence that was then lifted.
    state, _, notes, _ = run(muted, [-0.4, -0.4], state=state, start=T0 + 5 * HOUR)
    assert notes == []
    state, _, notes, _ = run(lifted, [-0.4], state=state, start=T0 + 7 * HOUR)
    assert notes == [(T0 + 7 * HOUR, "firing")] and state.told == "firing"


def test_a_new_rule_muted_from_the_start_sends_no_nodata_or_resolved_for_what_nobody_heard():
    rule = make_rule(silenced_until=T0 + HOUR)
    _, states, notes, _ = run(rule, [-0.4, None, -0.1], state=RuleState())
    assert states == ["firing", "nodata", "resolved"]
    assert notes == []


def test_no_data_that_began_inside_a_silence_is_told_when_it_ends():
    state, _, notes, _ = run(make_rule(), [-0.4])  # told firing
    muted = make_rule(silenced_until=T0 + 3 * HOUR)
    state, states, notes, _ = run(muted, [None, None, None, None, -0.4], state=state, start=T0 + HOUR)
    assert states == ["nodata", "nodata", "nodata", "nodata", "firing"]
    assert notes == [(T0 + 3 * HOUR, "nodata"), (T0 + 5 * HOUR, "firing")]


def test_an_alert_that_fired_and_passed_inside_a_silence_sends_nothing():
    rule = make_rule(silenced_until=T0 + 3 * HOUR)
    state, states, notes, _ = run(rule, [-0.4, -0.1, -0.1, -0.1, -0.1])
    assert states == ["firing", "resolved", "ok", "ok", "ok"]
    assert notes == [] and state.told is None


def test_receivers_told_it_resolved_get_no_resolve_or_nodata_for_an_alert_they_never_heard_of():
    # Told "resolved", then it fired inside a silence and lost its data just after: no "nodata" to send.
    state = RuleState(told="resolved")
    rule = make_rule(silenced_until=T0 + HOUR)
    state, states, notes, _ = run(rule, [-0.4, None], state=state)
    assert states == ["firing", "nodata"]
    assert notes == []


def test_step_is_pure_and_stamps_evaluation_time():
    rule = make_rule()
    s0 = RuleState()
    a = step(rule, s0, -0.4, None, T0)
    b = step(rule, s0, -0.4, None, T0)
    assert a == b
    assert s0 == RuleState()
    assert a[0].last_evaluated_at == T0
    assert a[0].active_since == T0
    assert a[0].last_notified_at == T0


# ---------------------------------------------------------------------------------------------------
# Validation


def body(**kw):
    base = {"name": "n", "topic": "nvda", "metric": "index", "window": "6h", "op": ">", "threshold": 60}
    base.update(kw)
    return base


def test_rule_in_accepts_and_normalises():
    r = RuleIn.model_validate(body(window="360m", **{"for": "90m"}, repeat_interval="1d"))
    assert r.window == "6h"
    assert r.for_ == "90m"
    assert r.repeat_interval == "1d"
    cols = r.to_columns()
    assert cols["window_seconds"] == 6 * 3600
    assert cols["for_seconds"] == 5400
    assert cols["repeat_seconds"] == 86400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"metric": "price"}, "metric"),
        ({"op": ">="}, "op"),
        ({"window": "90m"}, "window"),
        ({"window": "60d"}, "window"),
        ({"window": "soon"}, "window"),
        ({"for": "x"}, "for"),
        ({"topic": "NVDA; drop"}, "topic"),
        ({"threshold": float("nan")}, "threshold"),
        ({"min_headlines": -1}, "min_headlines"),
        ({"channels": ["not a url"]}, "channels"),
        ({"channels": ["http://a\\@b/"]}, "channels"),
        ({"name": "a\r\nBcc: x@y"}, "name"),
        ({"repeat_interval": "10s"}, "repeat_interval"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_rule_in_errors_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as info:
        RuleIn.model_validate(body(**overrides))
    assert field in {str(p) for e in info.value.errors() for p in e["loc"]}


def test_clear_threshold_must_be_on_the_quiet_side():
    with pytest.raises(ValidationError, match="clear_threshold"):
        RuleIn.model_validate(body(op=">", threshold=60, clear_threshold=70))
    assert RuleIn.model_validate(body(op="<", threshold=-0.3, clear_threshold=-0.25)).clear_threshold == -0.25


# ---------------------------------------------------------------------------------------------------
# Metrics over series


def hours_series(counts: dict[int, tuple[int, float]]) -> TopicSeries:
    """counts: hour offset from T0 -> (headlines, compound of each)."""
    rows = []
    for off, (n, c) in counts.items():
        neg = n if c <= -0.05 else 0
        rows.append((T0 + off * HOUR, Sums(n, n, n * c, n * c * c, n if c >= 0.05 else 0, neg, 0, 0)))
    return TopicSeries(rows)


def test_window_sums_and_min_headlines():
    series = hours_series({0: (2, -0.5), 1: (2, 0.5), 5: (1, -0.5), 6: (10, 0.9)})
    end = hour_index(T0) + 6  # window 6h covers hours 0..5
    rule = make_rule(min_headlines=5)
    assert metric_value(rule, series, end) == pytest.approx(-0.1)
    assert metric_value(make_rule(min_headlines=6), series, end) is None
    assert metric_value(make_rule(metric="volume"), series, end) == 5.0
    assert metric_value(make_rule(metric="negative_share"), series, end) == pytest.approx(0.6)


def test_volume_zscore_against_thirty_days_and_flat_baseline():
    rule = make_rule(metric="volume_zscore", window_seconds=24 * 3600, min_headlines=0)
    flat = hours_series({d * 24: (10, 0.0) for d in range(31)})
    end = hour_index(T0) + 31 * 24
    assert metric_value(rule, flat, end) is None  # stdev 0: no data
    varied = {d * 24: (10 + (d % 2) * 2, 0.0) for d in range(30)}
    varied[30 * 24] = (30, 0.0)
    z = metric_value(rule, hours_series(varied), end)
    assert z is not None and z > 10


def test_replay_counts_fires_over_history():
    # Four sour days separated by calm ones: the replay must find four firings.
    counts = {}
    for h in range(24 * 20):
        sour = (h // 24) % 5 == 0
        counts[h] = (3, -0.6 if sour else 0.3)
    series = hours_series(counts)
    rule = make_rule(window_seconds=3600)
    out = replay(rule, series, first_end=hour_index(T0) + 1, last_end=hour_index(T0) + 24 * 20)
    assert out.fired == 4
    assert out.resolved == 4
    assert out.hours == 24 * 20
    assert out.start == hour_start(hour_index(T0) + 1)


def test_strided_baseline_counts_match_the_plain_ones():
    counts = {h: ((h * 7) % 5, 0.1) for h in range(24 * 40)}
    series = hours_series(counts)
    end = hour_index(T0) + 24 * 40
    for w in (1, 6, 24):
        k = 720 // w
        plain = [series.count(end - (i + 1) * w, end - i * w) for i in range(1, k + 1)]
        assert series.counts_before(end, w, k) == plain
    # Windows reaching before the stored span count as empty, through the slow path.
    assert series.counts_before(hour_index(T0) + 3, 1, 5) == [
        series.count(hour_index(T0) + 2 - i, hour_index(T0) + 3 - i) for i in range(1, 6)
    ]
