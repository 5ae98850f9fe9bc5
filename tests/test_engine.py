from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from tracker.models import Source


def test_schema_created_on_first_use_and_times_stay_aware(engine):
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with Session(engine) as s:
        s.add(Source(name="a", kind="rss", url="https://example.com/feed", next_fetch_at=when))
        s.commit()
    with Session(engine) as s:
        row = s.exec(select(Source)).one()
        assert row.next_fetch_at == when
        assert row.next_fetch_at.tzinfo is not None


def test_naive_datetimes_are_refused(engine):
    with Session(engine) as s:
        s.add(Source(name="b", kind="rss", url="https://example.com/f", next_fetch_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            s.commit()


def test_an_index_added_by_a_later_release_is_built_when_an_old_database_is_opened(db_url):
    from sqlalchemy import inspect, text

    from tracker.store.engine import dispose_engines, open_engine

    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_headlines_compound_published"))
    assert "ix_headlines_compound_published" not in {i["name"] for i in inspect(engine).get_indexes("headlines")}
    dispose_engines()
    reopened = open_engine(db_url)
    assert "ix_headlines_compound_published" in {i["name"] for i in inspect(reopened).get_indexes("headlines")}


def test_a_nullable_column_added_by_a_later_release_is_added_to_an_old_database(db_url):
    from sqlalchemy import inspect, text

    from tracker.store.engine import dispose_engines, open_engine

    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert_rules (name, topic, metric, window_seconds, op, threshold, min_headlines,"
                " for_seconds, repeat_seconds, channels, enabled, state) VALUES"
                " ('r', 'all', 'mean_sentiment', 3600, '<', -0.3, 1, 0, 86400, '[]', true, 'ok')"
            )
        )
        conn.execute(text("ALTER TABLE alert_rules DROP COLUMN silenced_until"))
        conn.execute(text("ALTER TABLE alert_rules DROP COLUMN told"))
    dispose_engines()
    reopened = open_engine(db_url)
    columns = {c["name"]: c for c in inspect(reopened).get_columns("alert_rules")}
    assert {"silenced_until", "told"} <= set(columns)
    with reopened.connect() as conn:
        assert conn.execute(text("SELECT name, silenced_until, told FROM alert_rules")).one() == ("r", None, None)


@pytest.mark.parametrize(
    ("state", "pending", "notified", "told"),
    [("firing", True, True, "firing"), ("nodata", True, True, "nodata"), ("nodata", False, True, "resolved"),
     ("ok", False, True, "resolved"), ("ok", False, False, None), ("pending", True, False, None)],
)  # fmt: skip
def test_what_receivers_were_told_is_filled_in_for_rules_of_an_older_release(db_url, state, pending, notified, told):
    from sqlalchemy import text

    from tracker.store.engine import dispose_engines, open_engine

    engine = open_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO alert_rules (name, topic, metric, window_seconds, op, threshold, min_headlines,"
                 " for_seconds, repeat_seconds, channels, enabled, state, pending_since, last_notified_at) VALUES"
                 " ('r', 'all', 'mean_sentiment', 3600, '<', -0.3, 1, 0, 86400, '[]', true, :s, :p, :n)"),
            {"s": state, "p": "2026-11-30 10:00:00" if pending else None, "n": "2026-11-30 11:00:00" if notified else None},
        )  # fmt: skip
        conn.execute(text("ALTER TABLE alert_rules DROP COLUMN told"))
    dispose_engines()
    with open_engine(db_url).connect() as conn:
        assert conn.execute(text("SELECT told FROM alert_rules")).scalar_one() == told


def test_two_processes_bringing_one_old_database_up_to_date_at_once(db_url):
    # The collector and the dashboard starting together after an upgrade: neither may fail.
    import threading

    from sqlalchemy import create_engine, inspect, text

    from tracker.store.engine import _configure_sqlite, _create_schema, open_engine

    open_engine(db_url)
    for _ in range(3):
        with open_engine(db_url).begin() as conn:
            conn.execute(text("DROP INDEX ix_headlines_compound_published"))
        errors: list[BaseException] = []

        def bring_up() -> None:
            # A second engine configured as open_engine does (another process would have its own).
            sqlite = db_url.startswith("sqlite")
            engine = create_engine(db_url, connect_args={"timeout": 30, "check_same_thread": False} if sqlite else {})
            if sqlite:
                _configure_sqlite(engine)
            try:
                _create_schema(engine)
            except BaseException as exc:
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=bring_up) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        names = {i["name"] for i in inspect(open_engine(db_url)).get_indexes("headlines")}
        assert "ix_headlines_compound_published" in names
