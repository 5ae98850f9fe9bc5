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
