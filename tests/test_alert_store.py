"""Alert rows on both databases: evaluation persists states, events and outbox rows together; restarts are quiet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tracker.alerts.evaluate import evaluate_all, preview_rule
from tracker.alerts.rules import RuleIn
from tracker.models import AlertEvent, AlertRule, HeadlineRow, HeadlineTopic, Notification, Source
from tracker.series import Sums
from tracker.settings import Settings
from tracker.store import alerts as store
from tracker.store.rollups import apply_deltas

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
SETTINGS = Settings(database_url="sqlite://", allow_private_networks=True)


def add_rule(engine, **kw) -> int:
    base = {
        "name": "sour nvda",
        "topic": "nvda",
        "metric": "mean_sentiment",
        "window": "6h",
        "op": "<",
        "threshold": -0.3,
        "channels": ["https://example.com/hook"],
    }
    base.update(kw)
    with engine.begin() as conn:
        return store.insert_rule(conn, RuleIn.model_validate(base).to_columns(), now=NOW - 10 * HOUR)


def put_hours(engine, topic: str, hours: list[datetime], compound: float, n: int = 3) -> None:
    deltas = {}
    for h in hours:
        neg = n if compound <= -0.05 else 0
        deltas[(topic, h, "en")] = Sums(n, n, n * compound, n * compound * compound, 0, neg, n - neg, 0)
    with engine.begin() as conn:
        apply_deltas(conn, deltas)


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def test_evaluation_writes_state_event_and_outbox_atomically(engine):
    rule_id = add_rule(engine)
    start = hour_floor(NOW)
    put_hours(engine, "nvda", [start - i * HOUR for i in range(6)], -0.6)
    with engine.begin() as conn:
        src = conn.execute(
            Source.__table__.insert()
            .values(name="s", kind="rss", url="https://e.com/f")
            .returning(Source.__table__.c.id)
        ).scalar_one()
        hid = conn.execute(
            HeadlineRow.__table__.insert()
            .values(
                dedupe_key="url:x",
                title_fp="fp",
                title="Nvidia <script>alert(1)</script> plunges {{7*7}}",
                url="javascript:alert(1)",
                source_id=src,
                published_at=NOW - HOUR,
                first_seen_at=NOW - HOUR,
                tagged=True,
                topics="nvda",
                compound=-0.7,
            )
            .returning(HeadlineRow.__table__.c.id)
        ).scalar_one()
        conn.execute(
            HeadlineTopic.__table__.insert().values(
                headline_id=hid, topic="nvda", published_at=NOW - HOUR, relevance=1.0, in_title=True
            )
        )

    report = evaluate_all(engine, SETTINGS, now=NOW)
    assert report.ok, report.errors
    assert report.rules == 1
    assert report.states == {"firing": 1}
    assert report.notifications == 1
    with engine.connect() as conn:
        row = store.get_rule(conn, rule_id)
        assert row.state == "firing"
        assert row.last_value == -0.6
        assert row.last_notified_at == NOW
        events = store.list_events(conn, rule_id=rule_id)
        notes = conn.execute(select(Notification.__table__)).all()
    assert [(e["from_state"], e["to_state"]) for e in events] == [("ok", "firing")]
    assert len(notes) == 1
    payload = json.loads(notes[0].payload)
    assert payload["event_id"] == notes[0].event_id
    assert payload["state"] == {"from": "ok", "to": "firing"}
    assert payload["window"]["length"] == "6h"
    assert payload["headlines"][0]["title"].startswith("Nvidia <script>")  # data, kept raw in JSON
    assert payload["headlines"][0]["url"] is None  # javascript: never offered as a link

    # A second evaluation (or a restart: everything comes from the DB) sends nothing new.
    report2 = evaluate_all(engine, SETTINGS, now=NOW + timedelta(minutes=5))
    assert report2.notifications == 0
    assert count(engine, Notification) == 1
    assert count(engine, AlertEvent) == 1


def test_nodata_while_firing_is_an_event_with_a_notification(engine):
    add_rule(engine, min_headlines=2)
    put_hours(engine, "nvda", [hour_floor(NOW) - i * HOUR for i in range(3)], -0.6)
    assert evaluate_all(engine, SETTINGS, now=NOW).states == {"firing": 1}
    later = NOW + 12 * HOUR  # the 6h window is empty by then
    report = evaluate_all(engine, SETTINGS, now=later)
    assert report.states == {"nodata": 1}
    with engine.connect() as conn:
        notes = store.list_notifications(conn)
        row = conn.execute(select(AlertRule.__table__)).one()
    assert [n["reason"] for n in notes] == ["nodata", "firing"]
    assert row.state == "nodata"
    assert row.pending_since is not None  # still open: it will resolve or fire again, never vanish


def test_evaluation_of_many_topics_and_disabled_rules(engine):
    for i, topic in enumerate(["nvda", "amd", "all"]):
        add_rule(engine, name=f"r{i}", topic=topic, metric="volume", op=">", threshold=5, channels=[])
    add_rule(engine, name="off", enabled=False)
    put_hours(engine, "amd", [hour_floor(NOW)], 0.1, n=9)
    put_hours(engine, "all", [hour_floor(NOW)], 0.1, n=2)
    report = evaluate_all(engine, SETTINGS, now=NOW)
    assert report.rules == 3
    assert report.states == {"nodata": 1, "firing": 1, "ok": 1}
    assert report.notifications == 0  # no channels: the state still moves


def test_crud_and_preview(engine):
    rid = add_rule(engine)
    with engine.begin() as conn:
        assert store.name_taken(conn, "sour nvda")
        assert not store.name_taken(conn, "sour nvda", except_id=rid)
        assert store.update_rule(conn, rid, {"threshold": -0.2}, now=NOW)
        assert store.get_rule(conn, rid).threshold == -0.2
    hours = [hour_floor(NOW) - timedelta(days=d) for d in (10, 20, 30)]
    put_hours(engine, "nvda", hours, -0.8)
    with engine.connect() as conn:
        rule = store.rule_from_row(store.get_rule(conn, rid))
    out = preview_rule(engine, rule, now=NOW)
    assert out.fired == 3
    assert out.hours == 90 * 24
    assert count(engine, AlertEvent) == 0  # a preview writes nothing
    with engine.begin() as conn:
        assert store.delete_rule(conn, rid)
        assert not store.delete_rule(conn, rid)
    assert count(engine, AlertRule) == 0


def test_a_broken_read_is_recorded_as_error_not_raised(engine, monkeypatch):
    add_rule(engine)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "topic_hour_rows", boom)
    report = evaluate_all(engine, SETTINGS, now=NOW)
    assert report.states == {"error": 1}
    assert "disk on fire" in report.errors[0]
    with engine.connect() as conn:
        row = conn.execute(select(AlertRule.__table__)).one()
    assert row.state == "error"
    assert "disk on fire" in row.last_error


# ---------------------------------------------------------------------------------------------------
# CLI


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    import sys

    from tracker.cli import main

    monkeypatch.setattr(sys, "argv", ["tracker", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_add_list_history_rm(sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_url)
    code, out, err = run_cli(
        monkeypatch, capsys, "alerts", "add", "chips sour", "--metric", "mean_sentiment", "--op", "<",
        "--threshold", "-0.3", "--topic", "nvda", "--window", "6h", "--for", "1h",
    )  # fmt: skip
    assert code == 0, err
    assert "added alert rule 'chips sour'" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list")
    assert "chips sour" in out and "[ok]" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list", "--format", "json")
    assert json.loads(out)[0]["for"] == "1h"
    code, out, err = run_cli(monkeypatch, capsys, "alerts", "evaluate")
    assert code == 0, err
    assert "1 rule(s)" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "history", "chips sour")
    assert "ok -> nodata" in out
    code, _, err = run_cli(monkeypatch, capsys, "alerts", "test", "chips sour")
    assert code == 2 and "no channels" in err
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "rm", "chips sour")
    assert code == 0 and "deleted" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list")
    assert "no alert rules" in out


def test_cli_errors_are_one_line_exit_2(sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_url)
    code, _, err = run_cli(
        monkeypatch, capsys, "alerts", "add", "x", "--metric", "price", "--op", "<", "--threshold", "1"
    )  # fmt: skip
    assert code == 2 and err.startswith("error: metric:") and "Traceback" not in err
    code, _, err = run_cli(
        monkeypatch, capsys, "alerts", "add", "x", "--metric", "index", "--op", ">", "--threshold", "1",
        "--channel", "http://169.254.169.254/latest",
    )  # fmt: skip
    assert code == 2 and "non-public" in err
    code, _, err = run_cli(monkeypatch, capsys, "alerts", "rm", "nope")
    assert code == 2 and "no alert rule named 'nope'" in err


def test_restart_while_firing_sends_nothing_new(db_url):
    from tracker.store.engine import dispose_engines, open_engine

    engine = open_engine(db_url)
    add_rule(engine, repeat_interval="6h")
    put_hours(engine, "nvda", [hour_floor(NOW) - i * HOUR for i in range(6)], -0.6)
    assert evaluate_all(engine, SETTINGS, now=NOW).notifications == 1
    dispose_engines()  # a new process: nothing survives but the database
    engine = open_engine(db_url)
    put_hours(engine, "nvda", [hour_floor(NOW) + i * HOUR for i in range(1, 4)], -0.6)
    quiet = [evaluate_all(engine, SETTINGS, now=NOW + timedelta(minutes=m)) for m in (30, 90, 150)]
    assert [r.states for r in quiet] == [{"firing": 1}] * 3
    assert sum(r.notifications for r in quiet) == 0
    # The repeat interval still counts from the notification made before the restart.
    assert evaluate_all(engine, SETTINGS, now=NOW + 6 * HOUR).notifications == 1
    with engine.connect() as conn:
        reasons = [n["reason"] for n in store.list_notifications(conn)]
    assert reasons == ["repeat", "firing"]


def test_one_broken_rule_errors_alone(engine):
    bad = add_rule(engine, name="bad")
    add_rule(engine, name="good", metric="volume", op=">", threshold=1, channels=[])
    with engine.begin() as conn:
        store.update_rule(conn, bad, {"metric": "bogus"}, now=NOW)  # a row edited by hand
    put_hours(engine, "nvda", [hour_floor(NOW)], 0.1)
    report = evaluate_all(engine, SETTINGS, now=NOW)
    assert report.ok
    with engine.connect() as conn:
        rows = {r.name: r for r in store.list_rules(conn)}
    assert rows["bad"].state == "error" and "unknown metric" in rows["bad"].last_error
    assert rows["good"].state == "firing"


def test_a_silence_survives_a_restart_and_the_alert_is_sent_once_when_it_ends(db_url, monkeypatch, capsys):
    from tracker.store.engine import dispose_engines, open_engine

    engine = open_engine(db_url)
    rule_id = add_rule(engine, repeat_interval="1h")
    put_hours(engine, "nvda", [hour_floor(NOW) + i * HOUR for i in range(-6, 8)], -0.6)
    assert evaluate_all(engine, SETTINGS, now=NOW).notifications == 1  # firing, told
    with engine.begin() as conn:
        store.set_silence(conn, rule_id, NOW + 3 * HOUR)
    inside = [evaluate_all(engine, SETTINGS, now=NOW + timedelta(minutes=m)) for m in (60, 120)]
    dispose_engines()  # a restart during the silence
    engine = open_engine(db_url)
    inside.append(evaluate_all(engine, SETTINGS, now=NOW + timedelta(minutes=170)))
    assert [r.states for r in inside] == [{"firing": 1}] * 3  # evaluated all along...
    assert sum(r.notifications for r in inside) == 0  # ...and muted, though the 1 h repeat interval passed
    after = [evaluate_all(engine, SETTINGS, now=NOW + timedelta(minutes=m)) for m in (185, 200)]
    assert [r.notifications for r in after] == [1, 0]
    with engine.connect() as conn:
        reasons = [n["reason"] for n in store.list_notifications(conn)]
        row = store.get_rule(conn, rule_id)
    assert reasons == ["repeat", "firing"] and row.told == "firing"
    assert store.rule_dict(row)["silenced_until"] is not None


def test_cli_silence_and_unsilence(sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("TRACKER_DATABASE_URL", sqlite_url)
    code, _, err = run_cli(
        monkeypatch, capsys, "alerts", "add", "chips sour", "--metric", "mean_sentiment", "--op", "<",
        "--threshold", "-0.3",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, "alerts", "silence", "chips sour", "--for", "2h")
    assert code == 0 and "silenced until" in out, err
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list")
    assert "(silenced until" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list", "--format", "json")
    assert json.loads(out)[0]["silenced_until"] is not None
    code, _, err = run_cli(monkeypatch, capsys, "alerts", "silence", "chips sour", "--for", "400d")
    assert code == 2 and "at most 90d" in err and "Traceback" not in err
    code, _, err = run_cli(monkeypatch, capsys, "alerts", "silence", "chips sour", "--for", "soon")
    assert code == 2 and "--for:" in err
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "unsilence", "chips sour")
    assert code == 0 and "no longer silenced" in out
    code, out, _ = run_cli(monkeypatch, capsys, "alerts", "list")
    assert "silenced" not in out


def test_a_rule_that_fires_when_the_news_stops(engine):
    # no_data="firing": every feed failing (no headlines in the window) is itself the alert.
    add_rule(engine, name="news stopped", topic="all", metric="volume", op="<", threshold=1, min_headlines=1,
             no_data="firing")  # fmt: skip
    report = evaluate_all(engine, SETTINGS, now=NOW)
    assert report.states == {"firing": 1} and report.notifications == 1
    put_hours(engine, "all", [hour_floor(NOW) + HOUR], -0.1)
    assert evaluate_all(engine, SETTINGS, now=NOW + 2 * HOUR).states == {"resolved": 1}
