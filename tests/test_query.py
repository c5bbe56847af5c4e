"""Stats parameters parsed without a request: periods, filters, metrics, limits."""
from __future__ import annotations

from datetime import date

import pytest

from widget_server import query
from widget_server.problems import Problem
from widget_server.query import DateRange, Filter

TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(("period", "day", "start", "end"), [
    ("day", None, "2026-03-31", "2026-03-31"),
    ("7d", None, "2026-03-25", "2026-03-31"),
    ("30d", None, "2026-03-02", "2026-03-31"),
    ("month", None, "2026-03-01", "2026-03-31"),
    ("6mo", None, "2025-10-01", "2026-03-31"),
    ("12mo", None, "2025-04-01", "2026-03-31"),
    (None, None, "2026-03-02", "2026-03-31"),  # 30d by default
    ("7d", "2026-01-03", "2025-12-28", "2026-01-03"),
    ("month", "2024-02-10", "2024-02-01", "2024-02-29"),
    ("6mo", "2026-01-15", "2025-08-01", "2026-01-31"),
    ("12mo", "2026-12-31", "2026-01-01", "2026-12-31"),
    ("custom", "2026-01-01,2026-01-01", "2026-01-01", "2026-01-01"),
    ("custom", " 2025-01-01 , 2026-12-31 ", "2025-01-01", "2026-12-31"),
])
def test_periods(period: str | None, day: str | None, start: str, end: str) -> None:
    assert query.parse_period(period, day, TODAY) == DateRange(date.fromisoformat(start), date.fromisoformat(end))


def test_range_days() -> None:
    assert DateRange(date(2024, 1, 1), date(2025, 12, 31)).days == query.MAX_DAYS


@pytest.mark.parametrize(("raw", "expected"), [
    ("platform==weibo", (Filter("platform", ("weibo",)),)),
    ("platform==weibo|qq;page!=https://example.com/a",
     (Filter("platform", ("weibo", "qq")), Filter("page", ("https://example.com/a",), negate=True))),
    ("page==https://example.com/?q==1", (Filter("page", ("https://example.com/?q==1",)),)),
    ("page==https://example.com/?a=1\\;b=2", (Filter("page", ("https://example.com/?a=1;b=2",)),)),
    ("referrer==a\\|b|c", (Filter("referrer", ("a|b", "c")),)),
    ("referrer==\\\\", (Filter("referrer", ("\\",)),)),
    ("referrer==a\\\\;platform==x", (Filter("referrer", ("a\\",)), Filter("platform", ("x",)))),
    ("referrer==a\\\\|b", (Filter("referrer", ("a\\", "b")),)),
    ("referrer==", (Filter("referrer", ("",)),)),
    ("action!=like|comment", (Filter("action", ("like", "comment"), negate=True),)),
    ("", ()),
    (None, ()),
])
def test_filters(raw: str | None, expected: tuple[Filter, ...]) -> None:
    assert query.parse_filters(raw) == expected


@pytest.mark.parametrize("raw", ["platform", "platform=weibo", "Platform==weibo", "country==CN", "platform==a;;",
                                 "visit:source==x", " ==x"])
def test_filters_that_do_not_parse(raw: str) -> None:
    with pytest.raises(Problem) as exc:
        query.parse_filters(raw)
    assert (exc.value.status, exc.value.param) == (400, "filters")


def test_metrics() -> None:
    assert query.parse_metrics(None) == ("shares",)
    assert query.parse_metrics("lift, shares") == ("lift", "shares")
    with pytest.raises(Problem):
        query.parse_metrics("shares,Shares")


@pytest.mark.parametrize(("raw", "period", "expected"), [
    (None, "7d", "date"), (None, "6mo", "month"), (None, "12mo", "month"), ("day", "7d", "date"),
    ("week", "6mo", "week"),
])
def test_interval(raw: str | None, period: str, expected: str) -> None:
    assert query.parse_interval(raw, period) == expected


def test_breakdown_query_defaults() -> None:
    built = query.breakdown_query({"property": "page"}, 7, TODAY)
    assert (built.site_id, built.prop, built.limit, built.page, built.metrics, built.period) == (
        7, "page", 100, 1, ("shares",), "30d")


def test_public_leaderboard_ignores_date_and_filters() -> None:
    built = query.public_leaderboard_query({"date": "2020-01-01", "filters": "x", "limit": "50"}, 1, TODAY)
    assert built.range == DateRange(date(2026, 3, 25), TODAY)
    assert (built.filters, built.limit, built.order_by) == ((), 50, "shares")


@pytest.mark.parametrize(("raw", "wants_csv", "expected"), [
    (None, False, "json"), (None, True, "csv"), ("json", True, "json"), ("csv", False, "csv"),
])
def test_format(raw: str | None, wants_csv: bool, expected: str) -> None:
    assert query.parse_format(raw, wants_csv) == expected


@pytest.mark.parametrize("raw", ["", "0", "-1", "1.5", "12345678901234", " 7", "७", "7\n"])
def test_site_id_refused(raw: str) -> None:
    with pytest.raises(Problem) as exc:
        query.parse_site_id(raw)
    assert exc.value.param == "site_id"


@pytest.mark.parametrize("raw", ["1001", "0", "", "+5", "1e3", "٣"])
def test_limit_refused(raw: str) -> None:
    with pytest.raises(Problem) as exc:
        query.parse_int(raw, "limit", 100, query.MAX_LIMIT)
    assert exc.value.param == "limit"
