"""CSV exports: formula neutralisation, RFC 4180 quoting, types that pandas reads back, streaming."""

from __future__ import annotations

import io
import math
import random
from datetime import UTC, datetime

import pandas as pd
import pytest
from factories import Item, add_items, at, sample_items
from sqlalchemy import Text, literal, select

from tracker.export import (
    HEADLINE_COLUMNS,
    SERIES_COLUMNS,
    iso_z,
    iter_headlines_csv,
    iter_series_csv,
    iter_series_csv_many,
    safe_cell,
    sql_safe_text,
    sql_text_cell,
    write_series_csv,
)
from tracker.series import Sums, build_series
from tracker.store import queries


@pytest.mark.parametrize(
    "text",
    ["=HYPERLINK(\"http://x\",\"y\")", "+cmd", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", " =1+1", "|calc", "%0A",
     "\x00=1", "  \t @x", "\tplain"],
)  # fmt: skip
def test_formula_cells_get_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Nvidia soars", "", "(AMD) up", "“Bubble” talk", "日本語", "42 chips", "a=b"])
def test_plain_text_is_untouched(text):
    assert safe_cell(text) == text


def test_numbers_stay_numbers_and_missing_values_are_empty():
    assert safe_cell(-0.5423) == -0.5423
    assert safe_cell(3) == 3
    assert safe_cell(None) == ""
    assert safe_cell(math.nan) == ""
    assert safe_cell(math.inf) == ""
    assert safe_cell(datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)) == "2026-11-30T12:00:05Z"


def test_iso_z_refuses_naive_times():
    with pytest.raises(ValueError):
        iso_z(datetime(2026, 1, 1))


def _hostile_items() -> list[Item]:
    return [
        Item('He said "sell"\nnow', at(30, 12), ("nvda",), -0.5423, url="https://e.com/?a=1,2", publisher="Pub, Inc."),
        Item('=HYPERLINK("http://evil")', at(30, 11), ("ai_bubble", "capex"), None, language="fr", publisher=None),
        Item("-2+3", at(30, 10), ("amd",), 1.0, url="https://e.com/b", publisher="Ünïcødé", language="de"),
    ]


def test_headlines_csv_reads_back_with_pandas(engine):
    add_items(engine, _hostile_items())
    text = "".join(iter_headlines_csv(queries.iter_headline_lines(engine, topic="all")))
    assert text.startswith(",".join(HEADLINE_COLUMNS) + "\r\n")
    df = pd.read_csv(io.StringIO(text), keep_default_na=True)
    assert list(df.columns) == list(HEADLINE_COLUMNS)
    assert df["compound"].dtype == float
    assert df["compound"].tolist()[0] == -0.5423 and df["compound"].tolist()[2] == 1.0
    assert math.isnan(df["compound"].iloc[1])
    assert df["title"].tolist() == ['He said "sell"\nnow', '\'=HYPERLINK("http://evil")', "'-2+3"]
    assert df["publisher"].iloc[0] == "Pub, Inc." and df["publisher"].iloc[2] == "Ünïcødé"
    assert math.isnan(df["publisher"].iloc[1])
    assert df["url"].iloc[0] == "https://e.com/?a=1,2"
    assert df["topics"].tolist() == ["nvda", "ai_bubble capex", "amd"]
    assert df["language"].tolist() == ["en", "fr", "de"]
    times = pd.to_datetime(df["published_at"], utc=True)
    assert times.iloc[0] == pd.Timestamp("2026-11-30T12:00:00Z")
    assert df["published_at"].iloc[0] == "2026-11-30T12:00:00Z"


def test_empty_export_still_has_its_header():
    assert "".join(iter_headlines_csv([])) == ",".join(HEADLINE_COLUMNS) + "\r\n"


def test_cells_the_database_writes_are_neutralised_like_python_ones(engine):
    # The headline export quotes and neutralises cells in SQL; the series export in Python. Same rule.
    rng = random.Random(11)
    alphabet = ["A", "z", "{", "|", "[", "=", "+", "-", "@", "|", "%", "\t", "\r", "\n", " ", "\xa0", "\u3000", "\u2028", "\x1f", "\x7f", '"',
                "'", ",", "a", "Z", "1", "é", "日"]  # fmt: skip
    texts = ["", "plain", "=1+1", " =1", "\t=x", "\tplain", "\u3000@x", '"quoted"', "a=b", "日本語"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(400)]
    with engine.connect() as conn:
        for i in range(0, len(texts), 200):
            part = texts[i : i + 200]
            got = conn.execute(select(*(sql_text_cell(literal(t), conn.dialect.name) for t in part))).one()
            assert list(got) == ['"' + safe_cell(t).replace('"', '""') + '"' for t in part]
        assert conn.execute(select(sql_text_cell(literal(None, Text), conn.dialect.name))).scalar() == '""'
        if conn.dialect.name == "postgresql":  # the COPY path neutralises in SQL and lets the server quote
            for i in range(0, len(texts), 200):
                part = texts[i : i + 200]
                got = conn.execute(select(*(sql_safe_text(literal(t, Text)) for t in part))).one()
                assert list(got) == [safe_cell(t) for t in part]
            assert conn.execute(select(sql_safe_text(literal(None, Text)))).scalar() is None


def test_series_csv_long_format():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    s = Sums(headlines=2, scored=2, sum_compound=0.4, sum_sq_compound=0.1, positive=2, bubble=1)
    points = build_series(
        [(datetime(2026, 11, 2, 5, tzinfo=UTC), s)], bucket="day", start=start, end=datetime(2026, 11, 4, tzinfo=UTC)
    )
    out = io.StringIO()
    write_series_csv(points, "nvda", out)
    df = pd.read_csv(io.StringIO(out.getvalue()))
    assert list(df.columns) == list(SERIES_COLUMNS)
    assert df["headlines"].tolist() == [0, 2, 0]
    assert df["headlines"].dtype.kind == "i"
    assert df["mean_sentiment"].dtype == float
    assert math.isnan(df["mean_sentiment"].iloc[0])
    assert df["mean_sentiment"].iloc[1] == pytest.approx(0.2)
    assert df["bucket_start"].iloc[1] == "2026-11-02T00:00:00Z"
    both = pd.read_csv(io.StringIO("".join(iter_series_csv_many({"nvda": points, "all": points}))))
    assert both["topic"].tolist() == ["nvda"] * 3 + ["all"] * 3
    assert "".join(iter_series_csv([], "x")) == ",".join(SERIES_COLUMNS) + "\r\n"


def test_export_from_the_database_is_streamed_in_chunks(engine):
    add_items(engine, sample_items())
    chunks = list(iter_headlines_csv(queries.iter_headline_lines(engine, topic="all", batch=2)))
    assert [c.count("\r\n") for c in chunks] == [1, 2, 2, 2]  # the header, then batches of two rows
    df = pd.read_csv(io.StringIO("".join(chunks)))
    assert len(df) == 6
    assert df["topics"].tolist()[-1] == "nvda"
    assert df["published_at"].tolist()[0] == "2026-11-03T15:00:00Z"


def _run_cli(monkeypatch, capsys, db_url, *args):
    from tracker.cli import main

    monkeypatch.setenv("TRACKER_DATABASE_URL", db_url)
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    monkeypatch.setattr("sys.argv", ["tracker", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exports_the_same_files(monkeypatch, capsys, tmp_path, db_url):
    from tracker.store.engine import open_engine

    add_items(open_engine(db_url), sample_items())
    window = ["--start", "2026-11-01", "--end", "2026-11-04T00:00:00Z"]
    target = tmp_path / "series.csv"
    code, _, err = _run_cli(
        monkeypatch, capsys, db_url, "export", "series", "--topic", "nvda", "--topic", "all", *window, "-o", str(target)
    )
    assert code == 0, err
    df = pd.read_csv(target)
    assert df["topic"].tolist() == ["nvda"] * 3 + ["all"] * 3
    assert df["headlines"].tolist() == [0, 3, 1, 0, 3, 3]
    assert "wrote 6 rows" in err
    heads = tmp_path / "headlines.csv"
    code, _, err = _run_cli(
        monkeypatch, capsys, db_url, "export", "headlines", "--topic", "nvda", *window, "-o", str(heads)
    )
    assert code == 0, err
    h = pd.read_csv(heads)
    assert list(h.columns) == list(HEADLINE_COLUMNS) and len(h) == 4
    assert h["published_at"].iloc[0] == "2026-11-03T08:00:00Z"
    code, out, _ = _run_cli(
        monkeypatch, capsys, db_url, "export", "headlines", "--source", "feed-fr", *window, "-o", "-"
    )
    assert code == 0 and out.count("\r\n") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["series", "--bucket", "minute"], "--bucket"),
        (["series", "--start", "yesterday"], "--start"),
        (["series", "--start", "2026-11-05", "--end", "2026-11-01"], "--start"),
        (["series", "--topic", "nope"], "--topic"),
        (["headlines", "--source", "nope"], "--source"),
        (["series", "--range", "forever"], "--range"),
        (["series", "--bucket", "hour", "--start", "2000-01-01", "--end", "2026-01-01"], "--bucket"),
    ],
)
def test_cli_bad_values_exit_2_without_traceback(monkeypatch, capsys, tmp_path, sqlite_url, args, message):
    target = tmp_path / "x.csv"
    code, _, err = _run_cli(monkeypatch, capsys, sqlite_url, "export", *args, "-o", str(target))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not target.exists()
