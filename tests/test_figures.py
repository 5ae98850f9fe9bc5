"""Figure builders on fixed points: traces, gaps kept as gaps, escaped hover text, valid JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go

from dashboards import figures
from tracker.series import Point, Sums, build_series

START = datetime(2026, 11, 1, tzinfo=UTC)


def fixed_points() -> list[Point]:
    rows = [
        (START + timedelta(hours=3), Sums(headlines=4, scored=4, sum_compound=-0.8, sum_sq_compound=0.5, negative=3, positive=1, bubble=2)),
        (START + timedelta(days=2, hours=1), Sums(headlines=2, scored=1, sum_compound=0.5, sum_sq_compound=0.25, positive=1)),
    ]  # fmt: skip
    return build_series(rows, bucket="day", start=START, end=START + timedelta(days=3))


def test_index_figure_has_band_line_and_volume_with_gaps():
    points = fixed_points()
    fig = figures.index_figure(points)
    assert isinstance(fig, go.Figure)
    kinds = [(t.type, t.name) for t in fig.data]
    assert kinds == [
        ("scatter", "band (95 %) high"),
        ("scatter", "band (95 %)"),
        ("scatter", "index"),
        ("bar", "headlines"),
    ]
    line = fig.data[2]
    assert list(line.x) == ["2026-11-01 00:00", "2026-11-02 00:00", "2026-11-03 00:00"]
    assert line.y[1] is None  # the empty day is a gap, not an interpolated value
    assert line.y[0] == points[0].index
    assert list(fig.data[3].y) == [4, 0, 2]
    assert fig.data[1].fill == "tonexty"
    assert list(fig.layout.yaxis.range) == [0, 100]


def test_tone_and_bubble_figures():
    points = fixed_points()
    tone = figures.tone_figure(points, title="NVIDIA <i>")
    assert tone.layout.title.text == "NVIDIA &lt;i&gt;"
    assert tone.data[2].y[0] == -0.2 and tone.data[2].y[2] == 0.5
    bubble = figures.bubble_share_figure(points)
    assert list(bubble.data[0].y) == [0.5, None, 0.0]


def test_small_multiples_one_panel_per_topic_inside_the_paper():
    series = {f"t{i}": fixed_points() for i in range(6)}
    fig = figures.small_multiples_figure(series, {"t0": "<Zero>"}, columns=4)
    assert len(fig.data) == 6
    layout = fig.layout.to_plotly_json()
    domains = [layout[k]["domain"] for k in layout if k.startswith(("xaxis", "yaxis"))]
    assert len(domains) == 12
    assert all(0.0 <= lo < hi <= 1.0 for lo, hi in domains)
    assert fig.layout.annotations[0].text == "&lt;Zero&gt;"
    assert figures.small_multiples_figure({}, {}).data == ()


def test_headlines_figure_escapes_feed_text():
    rows = [
        {"title": "<script>alert(1)</script>", "publisher": "<b>x</b>", "compound": -0.5,
         "published_at": START, "source": "s"},
        {"title": "unscored", "publisher": None, "compound": None, "published_at": START, "source": "s"},
    ]  # fmt: skip
    fig = figures.headlines_figure(rows)
    assert list(fig.data[0].y) == [-0.5]
    text = fig.data[0].text[0]
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert json.loads(fig.to_json())["data"][0]["y"] == [-0.5]


def test_escape_text_caps_length():
    assert figures.escape_text("x" * 500, 10) == "x" * 9 + "…"
    assert figures.escape_text(None) == ""


def test_unvalidated_figures_give_the_same_json():
    points = fixed_points()
    rows = [{"title": "<x>", "publisher": "p", "compound": 0.1, "published_at": START, "source": "s"}]
    builders = [
        lambda v: figures.index_figure(points, validate=v),
        lambda v: figures.tone_figure(points, validate=v),
        lambda v: figures.bubble_share_figure(points, validate=v),
        lambda v: figures.small_multiples_figure({"a": points, "b": points}, {}, validate=v),
        lambda v: figures.headlines_figure(rows, validate=v),
    ]
    for build in builders:
        assert json.loads(build(True).to_json()) == json.loads(build(False).to_json())
