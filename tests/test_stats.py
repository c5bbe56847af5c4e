"""The stats queries: which table answers, which index they use, and that they never read events."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, Select, event

from conftest import Registered
from widget_server import db, stats
from widget_server.query import DateRange, Filter, StatsQuery

SPAN = DateRange(date(2026, 3, 1), date(2026, 3, 30))


def breakdown(prop: str, *filters: Filter, metrics: tuple[str, ...] = ("shares", "sharers")) -> StatsQuery:
    return StatsQuery(site_id=1, period="30d", range=SPAN, metrics=metrics, filters=filters, prop=prop)


@pytest.mark.parametrize(("filters", "prop", "dim", "exact"), [
    ((), None, "", True),
    ((Filter("platform", ("weibo",)),), None, "platform", True),
    ((Filter("platform", ("weibo", "qq")),), None, "platform", False),
    ((Filter("platform", ("weibo",), negate=True),), None, "platform", False),
    ((Filter("platform", ("weibo",)), Filter("page", ("https://example.com/",))), None, None, False),
    ((Filter("action", ("like",)),), None, "action", True),
    ((), "page", "page", True),
    ((Filter("page", ("a", "b"), negate=True),), "page", "page", True),
    ((Filter("platform", ("weibo",)),), "page", None, False),
    ((), "action", "action", True),
    ((), "referrer", "referrer", True),
])
def test_which_table_answers(filters: tuple[Filter, ...], prop: str | None, dim: str | None, exact: bool) -> None:
    assert stats.dim_of(filters, prop) == dim
    assert stats.uniques_exact(filters, prop) == exact


def test_referrer_on_the_rollups_counts_no_shares() -> None:
    source = stats.source(breakdown("referrer", Filter("platform", ("weibo",))))
    assert source.table.name == "daily_rollups" and not source.shares and not source.uniques


@pytest.mark.parametrize(("day", "interval", "start"), [
    (date(2026, 3, 4), "date", date(2026, 3, 4)),
    (date(2026, 3, 4), "week", date(2026, 3, 2)),
    (date(2026, 3, 1), "week", date(2026, 3, 1)),  # the week began in February: clipped
    (date(2026, 3, 30), "month", date(2026, 3, 1)),
])
def test_bucket(day: date, interval: str, start: date) -> None:
    assert stats.bucket(day, interval, SPAN) == start


def test_ratio() -> None:
    assert stats.ratio(7, 3) == 2.33
    assert stats.ratio(7, 0) is None
    assert stats.ratio(0, 5) == 0.0


@contextmanager
def explained(conn: Connection) -> Iterator[None]:
    """Run statements as EXPLAIN (QUERY PLAN) instead, with their real parameters."""
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "

    def rewrite(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> Any:
        return prefix + statement, parameters

    event.listen(conn, "before_cursor_execute", rewrite, retval=True)
    try:
        yield
    finally:
        event.remove(conn, "before_cursor_execute", rewrite)


def plan(app: Flask, statement: Select[Any]) -> str:
    with app.app_context(), db.engine().connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # tables this small would be scanned
        with explained(conn):
            rows = conn.execute(statement).all()
    return "\n".join(" ".join(str(cell) for cell in row) for row in rows)


@pytest.mark.parametrize(("query", "index"), [
    (breakdown("page"), "ix_uniques_site_dim_day"),
    (breakdown("platform", Filter("platform", ("weibo",))), "ix_uniques_site_dim_day"),
    (breakdown("action"), "ix_uniques_site_dim_day"),
    (breakdown("action", Filter("platform", ("weibo",))), "daily_rollups"),
    (breakdown("platform", Filter("page", ("https://example.com/",))), "daily_rollups"),
])
def test_breakdowns_search_an_index(app: Flask, site: Registered, query: StatsQuery, index: str) -> None:
    explained_plan = plan(app, stats.breakdown_select(query))
    assert index in explained_plan
    if "sqlite" in app.config["DATABASE_URL"]:
        assert "SCAN daily_rollups" not in explained_plan and "SCAN daily_uniques" not in explained_plan
        assert "SEARCH" in explained_plan
    else:
        assert "Seq Scan on daily" not in explained_plan


@pytest.mark.parametrize("query", [
    breakdown("page", metrics=("shares", "clickbacks", "sharers", "visitors", "lift", "bot_shares", "bot_clickbacks")),
    breakdown("action", Filter("page", ("https://example.com/",))),
    breakdown("referrer", Filter("platform", ("weibo",))),
])
def test_stats_never_read_events(query: StatsQuery) -> None:
    sql = str(stats.breakdown_select(query)).lower()
    assert " events" not in sql and "share_codes" not in sql
