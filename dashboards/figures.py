"""Pure figure builders: points or headline rows in, ``plotly.graph_objects.Figure`` out.

No database, no request, no clock. Feed text shown in a figure (hover text of headlines) is HTML-escaped
first, because plotly.js renders a subset of HTML (``<a href>``, ``<b>``...) in text and hover labels.
Missing values stay ``None`` (gaps in a line), never interpolated. Each figure is built from plain dicts in
one ``go.Figure(...)`` call: adding traces one by one validates the whole figure each time (ten times slower).
``validate=False`` skips plotly's property validation (four times faster): the pages use it, the tests build
every figure validated and check that both give the same JSON.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from tracker.series import Point

INDEX_COLOUR = "#b2182b"
BAND_COLOUR = "rgba(178, 24, 43, 0.18)"
TONE_COLOUR = "#2166ac"
TONE_BAND = "rgba(33, 102, 172, 0.18)"
VOLUME_COLOUR = "rgba(120, 120, 120, 0.55)"
BUBBLE_COLOUR = "#e08214"
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
_HOVER_TITLE_CHARS = 160


def escape_text(text: str | None, limit: int = _HOVER_TITLE_CHARS) -> str:
    """Feed text made inert for plotly's HTML-ish labels (and capped: a hover label is no place for essays)."""
    if not text:
        return ""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def _base_layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": _FONT,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "hovermode": "x unified",
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    }
    layout.update(extra)
    return layout


def _xs(points: Sequence[Point]) -> list[str]:
    # ISO text keeps the JSON small and the axis in UTC whatever the browser's time zone.
    return [p.bucket_start.strftime("%Y-%m-%d %H:%M") for p in points]


def _band(
    xs: list[str], low: list[Any], high: list[Any], colour: str, name: str, axis: str = "y"
) -> list[dict[str, Any]]:
    return [
        {
            "type": "scatter",
            "x": xs,
            "y": high,
            "mode": "lines",
            "line": {"width": 0},
            "hoverinfo": "skip",
            "showlegend": False,
            "yaxis": axis,
            "name": f"{name} high",
        },
        {
            "type": "scatter",
            "x": xs,
            "y": low,
            "mode": "lines",
            "line": {"width": 0},
            "fill": "tonexty",
            "fillcolor": colour,
            "hoverinfo": "skip",
            "name": name,
            "yaxis": axis,
        },
    ]


def _volume(xs: list[str], points: Sequence[Point], axis: str) -> dict[str, Any]:
    return {
        "type": "bar",
        "x": xs,
        "y": [p.headlines for p in points],
        "name": "headlines",
        "marker": {"color": VOLUME_COLOUR},
        "yaxis": axis,
        "hovertemplate": "%{y} headlines<extra></extra>",
    }


def _line_over_volume(
    points: Sequence[Point],
    *,
    title: str,
    values: list[float | None],
    band: tuple[list[float | None], list[float | None], str, str],
    line: tuple[str, str, str],
    yaxis: dict[str, Any],
    height: int,
    validate: bool,
) -> go.Figure:
    """A line with its band above, the headline volume as bars below: the index and tone charts."""
    xs = _xs(points)
    low, high, band_colour, band_name = band
    name, colour, hover = line
    data = [
        *_band(xs, low, high, band_colour, band_name),
        {
            "type": "scatter",
            "x": xs,
            "y": values,
            "mode": "lines+markers",
            "name": name,
            "line": {"color": colour, "width": 2},
            "marker": {"size": 4},
            "connectgaps": False,
            "hovertemplate": hover,
        },
        _volume(xs, points, "y2"),
    ]
    layout = _base_layout(
        title={"text": escape_text(title), "x": 0, "font": {"size": 14}},
        height=height,
        yaxis={"domain": [0.32, 1.0], "gridcolor": "#eee", **yaxis},
        yaxis2={"domain": [0.0, 0.24], "title": {"text": "headlines"}, "gridcolor": "#eee", "rangemode": "tozero"},
        xaxis={"anchor": "y2", "gridcolor": "#eee"},
    )
    return go.Figure(data=data, layout=layout, _validate=validate)


def index_figure(points: Sequence[Point], *, title: str = "AI Bubble Index", validate: bool = True) -> go.Figure:
    """The index (0-100, higher = souring) with its band, and the headline volume as bars underneath."""
    return _line_over_volume(
        points,
        title=title,
        values=[p.index for p in points],
        band=([p.index_low for p in points], [p.index_high for p in points], BAND_COLOUR, "band (95 %)"),
        line=("index", INDEX_COLOUR, "index %{y:.1f}<extra></extra>"),
        yaxis={"range": [0, 100], "title": {"text": "index"}},
        height=420,
        validate=validate,
    )


def tone_figure(points: Sequence[Point], *, title: str = "Tone", validate: bool = True) -> go.Figure:
    """Mean compound with its 95 % interval, and volume bars: one topic's page."""
    return _line_over_volume(
        points,
        title=title,
        values=[p.mean_sentiment for p in points],
        band=([p.ci_low for p in points], [p.ci_high for p in points], TONE_BAND, "95 % interval"),
        line=("mean sentiment", TONE_COLOUR, "mean %{y:.3f}<extra></extra>"),
        yaxis={"range": [-1, 1], "title": {"text": "compound"}},
        height=380,
        validate=validate,
    )


def bubble_share_figure(
    points: Sequence[Point], *, title: str = "Bubble-talk share", validate: bool = True
) -> go.Figure:
    """Share of tagged headlines that talk about an AI bubble, per bucket (gaps where there were none)."""
    xs = _xs(points)
    data = [
        {
            "type": "scatter",
            "x": xs,
            "y": [p.bubble_share for p in points],
            "mode": "lines+markers",
            "name": "bubble-talk share",
            "line": {"color": BUBBLE_COLOUR, "width": 2},
            "marker": {"size": 4},
            "connectgaps": False,
            "hovertemplate": "%{y:.1%}<extra></extra>",
        }
    ]
    layout = _base_layout(
        title={"text": escape_text(title), "x": 0, "font": {"size": 14}},
        height=260,
        showlegend=False,
        yaxis={"range": [0, 1], "tickformat": ".0%", "gridcolor": "#eee"},
        xaxis={"gridcolor": "#eee"},
    )
    return go.Figure(data=data, layout=layout, _validate=validate)


def small_multiples_figure(
    series: Mapping[str, Sequence[Point]], labels: Mapping[str, str], *, columns: int = 4, validate: bool = True
) -> go.Figure:
    """Mean tone per topic, one small panel each, sharing the -1..1 scale so panels compare at a glance."""
    keys = list(series)
    rows = max(1, -(-len(keys) // columns))
    gap_x, gap_y = 0.04, 0.5 / rows
    width = (1.0 - gap_x * (columns - 1)) / columns
    height = (1.0 - gap_y * (rows - 1)) / rows
    data: list[dict[str, Any]] = []
    layout = _base_layout(
        height=max(180, 150 * rows), showlegend=False, hovermode="closest", margin={"l": 30, "r": 10, "t": 20, "b": 20}
    )
    annotations = []
    for i, key in enumerate(keys):
        points = series[key]
        r, c = divmod(i, columns)
        n = i + 1
        suffix = "" if n == 1 else str(n)
        # Rounded and clamped: float noise like -1e-17 fails plotly's [0, 1] check.
        x0 = min(1.0, max(0.0, round(c * (width + gap_x), 6)))
        y1 = min(1.0, max(0.0, round(1.0 - r * (height + gap_y), 6)))
        x1 = min(1.0, round(x0 + width, 6))
        y0 = max(0.0, round(y1 - height, 6))
        label = escape_text(labels.get(key, key), 60)
        data.append(
            {
                "type": "scatter",
                "x": _xs(points),
                "y": [p.mean_sentiment for p in points],
                "mode": "lines",
                "line": {"color": TONE_COLOUR, "width": 1.5},
                "connectgaps": False,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "name": label,
                "hovertemplate": f"{label}<br>%{{x}}: %{{y:.3f}}<extra></extra>",
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": [x0, x1],
            "anchor": f"y{suffix}",
            "showticklabels": r == rows - 1,
            "gridcolor": "#f0f0f0",
        }
        layout[f"yaxis{suffix}"] = {
            "domain": [y0, y1],
            "anchor": f"x{suffix}",
            "range": [-1, 1],
            "tickvals": [-1, 0, 1],
            "zeroline": True,
            "zerolinecolor": "#bbb",
            "gridcolor": "#f0f0f0",
        }
        annotations.append(
            {
                "text": label,
                "xref": "paper",
                "yref": "paper",
                "x": x0,
                "y": y1,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11},
            }
        )
    layout["annotations"] = annotations
    return go.Figure(data=data, layout=layout, _validate=validate)


def headlines_figure(
    rows: Sequence[Mapping[str, Any]], *, title: str = "Headlines", validate: bool = True
) -> go.Figure:
    """Each scored headline as a dot (time, compound); the hover shows its escaped title and publisher."""
    scored = [r for r in rows if r.get("compound") is not None]
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "x": [r["published_at"].strftime("%Y-%m-%d %H:%M") for r in scored],
            "y": [r["compound"] for r in scored],
            "text": [
                f"{escape_text(r.get('title'))}<br>{escape_text(r.get('publisher') or r.get('source'))}" for r in scored
            ],
            "hovertemplate": "%{text}<br>%{y:.3f}<extra></extra>",
            "marker": {
                "size": 7,
                "color": [r["compound"] for r in scored],
                "colorscale": [[0.0, INDEX_COLOUR], [0.5, "#f7f7f7"], [1.0, TONE_COLOUR]],
                "cmin": -1,
                "cmax": 1,
            },
            "name": "headlines",
        }
    ]
    layout = _base_layout(
        title={"text": escape_text(title), "x": 0, "font": {"size": 14}},
        height=300,
        showlegend=False,
        hovermode="closest",
        yaxis={"range": [-1.05, 1.05], "title": {"text": "compound"}, "gridcolor": "#eee"},
        xaxis={"gridcolor": "#eee"},
    )
    return go.Figure(data=data, layout=layout, _validate=validate)
