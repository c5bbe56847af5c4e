"""The aggregator's upkeep: salts ahead, and the event log kept by whole months (native
partitions on PostgreSQL, created ahead and dropped once counted), its counting decisions
with it."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from conftest import BeaconSender, aggregate, table_rows
from widget_server import db, ingest, upkeep
from widget_server.models import daily_marks, event_log, page_totals, visitor_marks


def old_event(beacon: BeaconSender, month: date) -> dict:
    moment = datetime(month.year, month.month, 2, tzinfo=timezone.utc)
    parsed = ingest.parse_beacon(beacon.body())
    return ingest.log_row(beacon.site.id, parsed, ingest.Reader("c" * 32, False), now=moment)


def test_upkeep_makes_the_salts_of_today_and_tomorrow(app: Flask) -> None:
    with app.app_context():
        upkeep.run(db.engine(), app.config, date(2026, 11, 30))
    assert sorted(str(row.day) for row in table_rows(app, "salts")) == ["2026-11-30", "2026-12-01"]


def test_upkeep_forgets_the_day_marks_of_both_tables_after_two_days(app: Flask, beacon: BeaconSender) -> None:
    site = beacon.site.id
    days = [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(daily_marks), [{"site_id": site, "day": day, "mark": f"w{n:039d}"} for n, day in enumerate(days)])
        conn.execute(insert(visitor_marks), [{"site_id": site, "day": day, "visitor": "c" * 32, "tokens": "0" * 12}
                                             for day in days])
    with app.app_context():
        upkeep.run(db.engine(), app.config, date(2026, 11, 30))
    for table in ("daily_marks", "visitor_marks"):
        assert sorted(str(row.day) for row in table_rows(app, table)) == ["2026-11-29", "2026-11-30"], table


def test_the_event_log_is_partitioned_by_month_and_old_months_dropped_whole(app: Flask,
                                                                             beacon: BeaconSender) -> None:
    with app.app_context(), db.engine().begin() as conn:
        if conn.dialect.name != "postgresql":
            pytest.skip("native partitions are PostgreSQL's")
        today = date.today()
        upkeep.ensure_partitions(conn, upkeep.add_months(today, 2))
        names = upkeep.partitions(conn)
        assert upkeep.partition_name(upkeep.add_months(today.replace(day=1), 5)) in names  # three months ahead
        old, older = upkeep.add_months(today.replace(day=1), -1), upkeep.add_months(today.replace(day=1), -2)
        conn.execute(insert(event_log), [old_event(beacon, older), old_event(beacon, old)])
    aggregate(app)  # both counted
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log), [old_event(beacon, old)])  # not counted yet
        dropped = upkeep.drop_partitions(conn, today.replace(day=1))
        assert dropped == [upkeep.partition_name(older)]  # the older month is counted; the other waits
        assert upkeep.partition_name(old) in upkeep.partitions(conn)
    aggregate(app)
    with app.app_context(), db.engine().begin() as conn:
        assert upkeep.drop_partitions(conn, today.replace(day=1)) == [upkeep.partition_name(old)]
        assert conn.scalar(select(func.count()).select_from(event_log)) == 0
    assert len(table_rows(app, "events")) == 3  # the counts stay


def test_sqlite_keeps_the_event_log_months_too(app: Flask, beacon: BeaconSender) -> None:
    if app.extensions["widget_engine"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL drops partitions")
    today = date.today()
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log), [old_event(beacon, upkeep.add_months(today.replace(day=1), -4))])
    aggregate(app)
    with app.app_context():
        upkeep.run(db.engine(), {**app.config, "EVENT_LOG_MONTHS": 3}, today)
    assert table_rows(app, "event_log") == [] and table_rows(app, "events") == []  # its decision went with it
    assert [row.shares for row in table_rows(app, "page_totals")] == [1]  # its count stays


def test_the_counting_decisions_go_with_their_event_log_months(app: Flask, beacon: BeaconSender) -> None:
    """A row of ``events`` a counted beacon would otherwise be kept for ever; the counts stay."""
    today = date.today()
    old = upkeep.add_months(today.replace(day=1), -2)
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log), [old_event(beacon, old)])
    assert beacon.send().status_code == 204

    def months() -> list[str]:
        return sorted(str(row.day)[:7] for row in table_rows(app, "events"))

    assert months() == [f"{old:%Y-%m}", f"{today:%Y-%m}"]
    with app.app_context():
        upkeep.run(db.engine(), {**app.config, "EVENT_LOG_MONTHS": 1}, today)
    assert months() == [f"{today:%Y-%m}"]
    with app.app_context(), db.engine().connect() as conn:
        assert conn.scalar(select(func.sum(page_totals.c.shares))) == 2
