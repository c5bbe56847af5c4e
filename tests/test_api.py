"""The partner stats API, read as a partner reads it: numbers against hand-computed sums.

Every call pins the reference day with ``date=`` (``REF``), so "7d" is 2026-03-25..31.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import Partner, Registered, Seeder, issue_token, register
from widget_server import db, tokens
from widget_server.models import Site

REF = "2026-03-31"
A, B, C = "https://example.com/a", "https://example.com/b", "https://example.com/c"
EVIL_TITLE = '=HYPERLINK("https://evil.example/","click")'
AGGREGATE, TIMESERIES = "/api/v1/stats/aggregate", "/api/v1/stats/timeseries"
BREAKDOWN, LEADERBOARD = "/api/v1/stats/breakdown", "/api/v1/stats/leaderboard"


@pytest.fixture
def data(seed: Seeder) -> Seeder:
    """A month of a site's shares and click-backs (see the sums in each test)."""
    seed.page(A, "Alpha")
    seed.page(B, "Beta")
    seed.page(C, EVIL_TITLE)
    seed.rollup("2026-03-31", A, "weibo", shares=5, clickbacks=2)
    seed.rollup("2026-03-31", A, "weibo", "weibo.cn", clickbacks=10, bot_clickbacks=4)
    seed.rollup("2026-03-30", A, "qq", shares=3, bot_shares=7)
    seed.rollup("2026-03-30", B, "weibo", shares=2)
    seed.rollup("2026-03-30", B, "wechat", "mp.weixin.qq.com", clickbacks=6)
    seed.rollup("2026-03-25", C, "x", shares=1)
    seed.rollup("2026-03-01", B, "qq", shares=4, clickbacks=1)
    seed.rollup("2026-02-15", A, "weibo", "t.co", clickbacks=3)
    seed.rollup("2025-12-31", B, "x", shares=9)
    seed.rollup("2025-03-31", B, "x", shares=100)  # a year and a day before REF: in no period
    seed.uniques("2026-03-31", "", "", sharers=4, visitors=9)
    seed.uniques("2026-03-30", "", "", sharers=5, visitors=5)
    seed.uniques("2026-03-31", "platform", "weibo", sharers=4, visitors=9)
    seed.uniques("2026-03-30", "platform", "weibo", sharers=2)
    seed.uniques("2026-03-30", "platform", "qq", sharers=3)
    seed.uniques("2026-03-31", "page", str(seed.pages[A]), sharers=4, visitors=9)
    seed.uniques("2026-03-30", "page", str(seed.pages[A]), sharers=3)
    seed.uniques("2026-03-30", "page", str(seed.pages[B]), sharers=2, visitors=5)
    return seed


def results(response: Any) -> Any:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["results"]


def values(response: Any) -> dict[str, Any]:
    return {name: metric["value"] for name, metric in results(response).items()}


# -- aggregate ----------------------------------------------------------------------------


def test_aggregate_sums_every_metric_over_seven_days(partner: Partner, data: Seeder) -> None:
    response = partner.get(AGGREGATE, period="7d", date=REF,
                           metrics="shares,clickbacks,sharers,visitors,lift,bot_shares,bot_clickbacks")
    assert values(response) == {"shares": 11, "clickbacks": 18, "sharers": 9, "visitors": 14, "lift": 1.64,
                                "bot_shares": 7, "bot_clickbacks": 4}
    body = response.get_json()
    assert body["results"]["shares"] == {"value": 11}
    assert body["query"]["date_range"] == ["2026-03-25", "2026-03-31"]
    assert "warning" not in body
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("period", "day", "shares", "clickbacks"), [
    ("day", REF, 5, 12),
    ("7d", REF, 11, 18),
    ("30d", REF, 11, 18),  # 03-02..03-31: the 1st is out
    ("month", REF, 15, 19),
    ("month", "2026-03-15", 15, 19),  # the calendar month, whichever day names it
    ("6mo", REF, 24, 22),  # 2025-10-01..2026-03-31
    ("12mo", REF, 24, 22),  # 2025-04-01..: the row of 2025-03-31 stays out
    ("day", "2026-03-29", 0, 0),
])
def test_periods_are_relative_to_date(partner: Partner, data: Seeder, period: str, day: str,
                                      shares: int, clickbacks: int) -> None:
    response = partner.get(AGGREGATE, period=period, date=day, metrics="shares,clickbacks")
    assert values(response) == {"shares": shares, "clickbacks": clickbacks}


def test_custom_period_includes_both_ends(partner: Partner, data: Seeder) -> None:
    response = partner.get(AGGREGATE, period="custom", date="2026-02-15,2026-03-01", metrics="shares,clickbacks")
    assert values(response) == {"shares": 4, "clickbacks": 4}


def test_default_period_is_30d_up_to_today_and_default_metric_shares(partner: Partner, seed: Seeder) -> None:
    today = datetime.now(timezone.utc).date()
    seed.rollup(today.isoformat(), A, shares=2)
    seed.rollup((today - timedelta(days=29)).isoformat(), A, shares=3)
    seed.rollup((today - timedelta(days=30)).isoformat(), A, shares=50)
    assert values(partner.get(AGGREGATE)) == {"shares": 5}


def test_lift_is_null_without_shares(partner: Partner, data: Seeder) -> None:
    assert values(partner.get(AGGREGATE, period="day", date="2026-02-15", metrics="lift,clickbacks")) == {
        "lift": None, "clickbacks": 3}


@pytest.mark.parametrize(("filters", "expected"), [
    ("platform==weibo", {"shares": 7, "clickbacks": 12, "sharers": 6, "visitors": 9}),
    ("platform!=weibo", {"shares": 4, "clickbacks": 6, "sharers": None, "visitors": None}),
    ("platform==weibo|qq", {"shares": 10, "clickbacks": 12, "sharers": None, "visitors": None}),
    (f"page=={A}", {"shares": 8, "clickbacks": 12, "sharers": 7, "visitors": 9}),
    (f"page=={A}?utm_source=weibo#top", {"shares": 8, "clickbacks": 12, "sharers": 7, "visitors": 9}),
    ("page==https://example.com/nowhere", {"shares": 0, "clickbacks": 0, "sharers": 0, "visitors": 0}),
    (f"page!={A}", {"shares": 3, "clickbacks": 6, "sharers": None, "visitors": None}),
    ("referrer==weibo.cn", {"shares": 0, "clickbacks": 10, "sharers": 0, "visitors": 0}),
    ("referrer==", {"shares": 0, "clickbacks": 2, "sharers": 0, "visitors": 0}),
    ("platform==weibo;referrer==weibo.cn", {"shares": 0, "clickbacks": 10, "sharers": None, "visitors": None}),
    (f"platform==weibo;page=={B}", {"shares": 2, "clickbacks": 0, "sharers": None, "visitors": None}),
    ("platform==weibo;platform!=weibo", {"shares": 0, "clickbacks": 0, "sharers": None, "visitors": None}),
    # Plain shares and click-backs have action ''; the seeded data has no per-action uniques.
    ("action==", {"shares": 11, "clickbacks": 18, "sharers": 0, "visitors": 0}),
    ("action==like", {"shares": 0, "clickbacks": 0, "sharers": 0, "visitors": 0}),
])
def test_filters(partner: Partner, data: Seeder, filters: str, expected: dict[str, Any]) -> None:
    response = partner.get(AGGREGATE, period="7d", date=REF, metrics="shares,clickbacks,sharers,visitors",
                           filters=filters)
    assert values(response) == expected
    body = response.get_json()
    assert ("warning" in body) == (expected["sharers"] is None)
    assert body["query"]["filters"] == filters


def test_filter_values_may_escape_separators(partner: Partner, seed: Seeder) -> None:
    odd = "https://example.com/a;b|c"
    seed.rollup(REF, odd, "weibo", shares=2)
    seed.rollup(REF, A, "weibo", shares=1)
    response = partner.get(AGGREGATE, period="day", date=REF, filters="page==https://example.com/a\\;b\\|c")
    assert values(response) == {"shares": 2}


# -- timeseries ---------------------------------------------------------------------------


def test_timeseries_per_date_includes_empty_days(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(TIMESERIES, period="7d", date=REF, metrics="shares,clickbacks,lift"))
    assert [row["date"] for row in rows] == [f"2026-03-{day}" for day in range(25, 32)]
    assert rows[0] == {"date": "2026-03-25", "shares": 1, "clickbacks": 0, "lift": 0.0}
    assert rows[1] == {"date": "2026-03-26", "shares": 0, "clickbacks": 0, "lift": None}
    assert rows[5] == {"date": "2026-03-30", "shares": 5, "clickbacks": 6, "lift": 1.2}
    assert rows[6] == {"date": "2026-03-31", "shares": 5, "clickbacks": 12, "lift": 2.4}


def test_timeseries_defaults_to_months_for_6mo(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(TIMESERIES, period="6mo", date=REF, metrics="shares,clickbacks"))
    assert rows == [
        {"date": "2025-10-01", "shares": 0, "clickbacks": 0},
        {"date": "2025-11-01", "shares": 0, "clickbacks": 0},
        {"date": "2025-12-01", "shares": 9, "clickbacks": 0},
        {"date": "2026-01-01", "shares": 0, "clickbacks": 0},
        {"date": "2026-02-01", "shares": 0, "clickbacks": 3},
        {"date": "2026-03-01", "shares": 15, "clickbacks": 19},
    ]


def test_timeseries_by_week_starts_on_monday_clipped_to_the_range(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(TIMESERIES, period="custom", date="2026-03-01,2026-03-31", interval="week"))
    # 2026-03-01 is a Sunday, 03-02 a Monday.
    assert [row["date"] for row in rows] == ["2026-03-01", "2026-03-02", "2026-03-09", "2026-03-16",
                                             "2026-03-23", "2026-03-30"]
    assert [row["shares"] for row in rows] == [4, 0, 0, 0, 1, 10]


def test_timeseries_uniques_sum_daily_uniques(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(TIMESERIES, period="7d", date=REF, metrics="sharers,visitors", interval="month"))
    assert rows == [{"date": "2026-03-25", "sharers": 9, "visitors": 14}]


# -- breakdown ----------------------------------------------------------------------------


def test_breakdown_by_platform_largest_first(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(BREAKDOWN, property="platform", period="7d", date=REF,
                               metrics="shares,clickbacks,sharers,lift"))
    assert rows == [
        {"platform": "weibo", "shares": 7, "clickbacks": 12, "sharers": 6, "lift": 1.71},
        {"platform": "qq", "shares": 3, "clickbacks": 0, "sharers": 3, "lift": 0.0},
        {"platform": "x", "shares": 1, "clickbacks": 0, "sharers": 0, "lift": 0.0},
        {"platform": "wechat", "shares": 0, "clickbacks": 6, "sharers": 0, "lift": None},
    ]


def test_breakdown_by_page_has_url_and_title(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(BREAKDOWN, property="page", period="7d", date=REF, metrics="shares,visitors"))
    assert rows == [
        {"page": A, "title": "Alpha", "shares": 8, "visitors": 9},
        {"page": B, "title": "Beta", "shares": 2, "visitors": 5},
        {"page": C, "title": EVIL_TITLE, "shares": 1, "visitors": 0},
    ]


def test_breakdown_sorts_by_the_first_metric(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(BREAKDOWN, property="referrer", period="month", date=REF, metrics="clickbacks,shares"))
    assert rows == [
        {"referrer": "weibo.cn", "clickbacks": 10, "shares": 0},
        {"referrer": "mp.weixin.qq.com", "clickbacks": 6, "shares": 0},
        {"referrer": "", "clickbacks": 3, "shares": 0},
    ]


def test_breakdown_with_a_filter_on_another_property(partner: Partner, data: Seeder) -> None:
    response = partner.get(BREAKDOWN, property="platform", period="7d", date=REF,
                           metrics="shares,clickbacks,sharers", filters=f"page=={A}")
    assert results(response) == [
        {"platform": "weibo", "shares": 5, "clickbacks": 12, "sharers": None},
        {"platform": "qq", "shares": 3, "clickbacks": 0, "sharers": None},
    ]
    assert "sharers and visitors are null" in response.get_json()["warning"]


def test_breakdown_by_page_filtered_on_page_keeps_uniques(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(BREAKDOWN, property="page", period="7d", date=REF, metrics="shares,sharers",
                               filters=f"page!={A}"))
    assert rows == [{"page": B, "title": "Beta", "shares": 2, "sharers": 2},
                    {"page": C, "title": EVIL_TITLE, "shares": 1, "sharers": 0}]


def test_breakdown_by_action_of_plain_shares(partner: Partner, data: Seeder) -> None:
    rows = results(partner.get(BREAKDOWN, property="action", period="7d", date=REF, metrics="shares,clickbacks"))
    assert rows == [{"action": "", "shares": 11, "clickbacks": 18}]


def test_breakdown_pages(partner: Partner, data: Seeder) -> None:
    def pages(**params: Any) -> list[str]:
        rows = results(partner.get(BREAKDOWN, property="page", period="7d", date=REF, **params))
        return [row["page"] for row in rows]

    assert pages(limit=2) == [A, B]
    assert pages(limit=2, page=2) == [C]
    assert pages(limit=1, page=2) == [B]
    assert pages(limit=2, page=3) == []


def test_breakdown_default_limit_is_100(partner: Partner, seed: Seeder) -> None:
    for n in range(105):
        seed.rollup(REF, f"https://example.com/p{n}", shares=n + 1)
    rows = results(partner.get(BREAKDOWN, property="page", period="day", date=REF))
    assert len(rows) == 100
    assert rows[0] == {"page": "https://example.com/p104", "title": None, "shares": 105}


# -- leaderboard --------------------------------------------------------------------------


@pytest.mark.parametrize(("order_by", "expected"), [
    ("shares", [(A, 8), (B, 2), (C, 1)]),
    ("clickbacks", [(A, 12), (B, 6)]),  # C brought nobody back: not on the board
    ("lift", [(B, 3.0), (A, 1.5)]),
])
def test_leaderboard(partner: Partner, data: Seeder, order_by: str, expected: list[tuple[str, Any]]) -> None:
    rows = results(partner.get(LEADERBOARD, period="7d", date=REF, order_by=order_by))
    assert [(row["page"], row[order_by]) for row in rows] == expected
    assert rows[0]["title"] in ("Alpha", "Beta")
    assert set(rows[0]) == {"page", "title", "shares", "clickbacks", "lift"}


def test_leaderboard_limit(partner: Partner, data: Seeder) -> None:
    assert len(results(partner.get(LEADERBOARD, period="7d", date=REF, limit=2))) == 2


def opt_in(app: Flask, site: Registered, on: Any = True) -> None:
    with app.app_context():
        session = db.session()
        row = session.get(Site, site.id)
        assert row is not None
        row.settings = {**(row.settings or {}), "public_leaderboard": on}
        session.commit()


def test_public_leaderboard_is_off_unless_the_site_opts_in(app: Flask, client: FlaskClient, site: Registered,
                                                           data: Seeder) -> None:
    response = client.get("/v1/leaderboard", query_string={"site": site.key})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/leaderboard-off")
    opt_in(app, site, "yes")  # only a real true turns it on
    assert client.get("/v1/leaderboard", query_string={"site": site.key}).status_code == 404


def test_public_leaderboard_shows_url_title_and_one_number(app: Flask, client: FlaskClient, site: Registered,
                                                           seed: Seeder) -> None:
    today = datetime.now(timezone.utc).date()
    seed.page(A, "Alpha")
    seed.rollup(today.isoformat(), A, shares=4, clickbacks=9)
    seed.rollup((today - timedelta(days=1)).isoformat(), B, shares=6, clickbacks=1)
    seed.rollup((today - timedelta(days=7)).isoformat(), C, shares=50)  # before the last 7 days
    opt_in(app, site)
    response = client.get("/v1/leaderboard", query_string={"site": site.key})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.get_json() == {"period": "7d", "order_by": "shares", "results": [
        {"page": B, "title": None, "shares": 6}, {"page": A, "title": "Alpha", "shares": 4}]}
    by_clickbacks = client.get("/v1/leaderboard", query_string={"site": site.key, "order_by": "clickbacks",
                                                                "limit": "1", "period": "30d"}).get_json()
    assert by_clickbacks["results"] == [{"page": A, "title": "Alpha", "clickbacks": 9}]


@pytest.mark.parametrize(("params", "param"), [
    ({"limit": "51"}, "limit"),
    ({"period": "custom", "date": "2026-01-01,2026-01-02"}, "period"),
    ({"order_by": "visitors"}, "order_by"),
    ({"period": "year"}, "period"),
])
def test_public_leaderboard_bad_input(app: Flask, client: FlaskClient, site: Registered,
                                      params: dict[str, str], param: str) -> None:
    opt_in(app, site)
    response = client.get("/v1/leaderboard", query_string={"site": site.key, **params})
    assert response.status_code == 400
    assert response.get_json()["param"] == param


def test_public_leaderboard_ignores_filters_and_date(app: Flask, client: FlaskClient, site: Registered,
                                                    data: Seeder) -> None:
    opt_in(app, site)
    response = client.get("/v1/leaderboard", query_string={"site": site.key, "date": REF, "filters": "nonsense"})
    assert response.status_code == 200
    assert response.get_json()["results"] == []  # up to today, long after the seeded days


# -- CSV ----------------------------------------------------------------------------------


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_breakdown_as_csv_neutralises_formulas(partner: Partner, data: Seeder) -> None:
    response = partner.get(BREAKDOWN, property="page", period="7d", date=REF, metrics="shares,lift", format="csv")
    assert read_csv(response) == [
        ["page", "title", "shares", "lift"],
        [A, "Alpha", "8", "1.5"],
        [B, "Beta", "2", "3.0"],
        [C, "'" + EVIL_TITLE, "1", "0.0"],
    ]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "breakdown" in disposition


def test_csv_on_accept_header(partner: Partner, data: Seeder) -> None:
    response = partner.get(AGGREGATE, period="7d", date=REF, metrics="shares,sharers,lift",
                           filters="platform==weibo|qq", headers={"Accept": "text/csv"})
    assert read_csv(response) == [["shares", "sharers", "lift"], ["10", "", "1.2"]]


def test_timeseries_and_leaderboard_as_csv(partner: Partner, data: Seeder) -> None:
    rows = read_csv(partner.get(TIMESERIES, period="7d", date=REF, format="csv"))
    assert rows[0] == ["date", "shares"] and rows[-1] == ["2026-03-31", "5"] and len(rows) == 8
    board = read_csv(partner.get(LEADERBOARD, period="7d", date=REF, format="csv"))
    assert board[0] == ["page", "title", "shares", "clickbacks", "lift"]
    assert board[1] == [A, "Alpha", "8", "12", "1.5"]


@pytest.mark.parametrize("dangerous", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_look_like_formulas(partner: Partner, seed: Seeder, dangerous: str) -> None:
    seed.rollup(REF, A, "weibo", referrer=dangerous, clickbacks=1)
    rows = read_csv(partner.get(BREAKDOWN, property="referrer", period="day", date=REF, format="csv"))
    assert rows[1][0] == "'" + dangerous


def test_json_wins_when_both_are_acceptable(partner: Partner, data: Seeder) -> None:
    response = partner.get(AGGREGATE, headers={"Accept": "*/*"})
    assert response.mimetype == "application/json"


# -- tokens at the door -------------------------------------------------------------------


def test_another_sites_data_is_404_like_a_missing_site(app: Flask, client: FlaskClient, partner: Partner,
                                                       data: Seeder) -> None:
    other = register(app, "Other", ("other.example",))
    Seeder(app, other.id).rollup(REF, "https://other.example/x", shares=3)
    theirs = partner.get(AGGREGATE, site_id=other.id, date=REF)
    missing = partner.get(AGGREGATE, site_id=99999, date=REF)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()
    assert theirs.get_json()["param"] == "site_id"
    # The other site's own token reads it.
    own = Partner(client, other.id, issue_token(app, [other.id])[1])
    assert values(own.get(AGGREGATE, period="day", date=REF)) == {"shares": 3}


def test_a_token_for_two_sites_reads_both(app: Flask, client: FlaskClient, site: Registered, data: Seeder) -> None:
    other = register(app, "Other", ("other.example",))
    both = Partner(client, site.id, issue_token(app, [site.id, other.id])[1])
    assert both.get(AGGREGATE, date=REF).status_code == 200
    assert both.get(AGGREGATE, site_id=other.id, date=REF).status_code == 200


@pytest.mark.parametrize(("header", "reason"), [
    (None, "invalid-token"),
    ("", "invalid-token"),
    ("Bearer", "invalid-token"),
    ("Basic dXNlcjpwYXNz", "invalid-token"),
    ("Bearer sbp_" + "A" * 43, "invalid-token"),
    ("Bearer not-a-token", "invalid-token"),
])
def test_missing_or_garbled_token_is_401(client: FlaskClient, site: Registered, header: str | None,
                                        reason: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get(AGGREGATE, query_string={"site_id": site.id}, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/" + reason)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("edit", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: t[:-1],
    lambda t: t + "A",
    lambda t: t.upper(),
    lambda t: t.replace("sbp_", "sbq_"),
    lambda t: " " + t[:20] + " " + t[20:],
])
def test_tampered_token_is_401(client: FlaskClient, partner: Partner, edit: Any) -> None:
    assert partner.get(AGGREGATE).status_code == 200
    tampered = Partner(client, partner.site_id, edit(partner.token))
    response = tampered.get(AGGREGATE)
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("/invalid-token")


def test_expired_token_is_401(app: Flask, client: FlaskClient, site: Registered) -> None:
    issued = datetime.now(timezone.utc) - timedelta(days=91)
    expired = Partner(client, site.id, issue_token(app, [site.id], now=issued)[1])
    response = expired.get(AGGREGATE)
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("/expired-token")


def test_revoked_token_is_401(app: Flask, partner: Partner) -> None:
    assert partner.get(AGGREGATE).status_code == 200
    with app.app_context():
        token_id = tokens.authenticate(f"Bearer {partner.token}").id
        tokens.revoke(token_id)
    response = partner.get(AGGREGATE)
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("/revoked-token")


def test_missing_scope_is_403(app: Flask, client: FlaskClient, site: Registered) -> None:
    feed_only = Partner(client, site.id, issue_token(app, [site.id], scopes=("feed:read",))[1])
    response = feed_only.get(AGGREGATE)
    assert response.status_code == 403
    assert response.get_json()["type"].endswith("/insufficient-scope")
    # Scope is checked before the site, so a 403 says nothing about other sites either.
    assert feed_only.get(AGGREGATE, site_id=99999).status_code == 403


# -- bad input ----------------------------------------------------------------------------


BAD_INPUT = [
    (AGGREGATE, {"metrics": "pageviews"}, "metrics", "unknown-metric"),
    (AGGREGATE, {"metrics": "shares,,clickbacks"}, "metrics", "unknown-metric"),
    (AGGREGATE, {"metrics": ""}, "metrics", "unknown-metric"),
    (AGGREGATE, {"metrics": "shares,shares"}, "metrics", "unknown-metric"),
    (BREAKDOWN, {"property": "country"}, "property", "unknown-property"),
    (BREAKDOWN, {}, "property", "unknown-property"),
    (BREAKDOWN, {"property": "event:page"}, "property", "unknown-property"),
    (AGGREGATE, {"period": "year"}, "period", "unknown-period"),
    (AGGREGATE, {"period": "7D"}, "period", "unknown-period"),
    (AGGREGATE, {"period": "custom"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "custom", "date": "2026-03-01"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "custom", "date": "2026-03-31,2026-03-01"}, "date", "backwards-range"),
    (AGGREGATE, {"period": "custom", "date": "2024-01-01,2026-01-01"}, "date", "range-too-long"),
    (AGGREGATE, {"period": "custom", "date": "2026-02-30,2026-03-01"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "7d", "date": "yesterday"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "7d", "date": "2026-03-01,2026-03-02"}, "date", "invalid-date"),
    (BREAKDOWN, {"property": "page", "limit": "1001"}, "limit", "invalid-limit"),
    (BREAKDOWN, {"property": "page", "limit": "0"}, "limit", "invalid-limit"),
    (BREAKDOWN, {"property": "page", "limit": "-5"}, "limit", "invalid-limit"),
    (BREAKDOWN, {"property": "page", "limit": "ten"}, "limit", "invalid-limit"),
    (BREAKDOWN, {"property": "page", "page": "0"}, "page", "invalid-page"),
    (AGGREGATE, {"filters": "platform=weibo"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": "country==CN"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": "platform==weibo;"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": ";"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": "==weibo"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": "platform~=weibo"}, "filters", "invalid-filter"),
    (AGGREGATE, {"filters": ";".join(["platform==x"] * 21)}, "filters", "invalid-filter"),
    (TIMESERIES, {"interval": "hour"}, "interval", "unknown-interval"),
    (LEADERBOARD, {"order_by": "sharers"}, "order_by", "invalid-order"),
    (LEADERBOARD, {"limit": "101"}, "limit", "invalid-limit"),
    (AGGREGATE, {"format": "xml"}, "format", "unknown-format"),
    (AGGREGATE, {"site_id": "abc"}, "site_id", "invalid-site-id"),
    (AGGREGATE, {"site_id": None}, "site_id", "invalid-site-id"),
    # Empty is not absent: a partner who sent period= meant something.
    (AGGREGATE, {"period": ""}, "period", "unknown-period"),
    (LEADERBOARD, {"period": ""}, "period", "unknown-period"),
    (AGGREGATE, {"date": ""}, "date", "invalid-date"),
    (TIMESERIES, {"interval": ""}, "interval", "unknown-interval"),
    # Days whose periods would leave the calendar (year 0, or past 9999).
    (AGGREGATE, {"period": "custom", "date": "0001-01-01,0001-01-02"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "custom", "date": "9999-12-01,9999-12-31"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "12mo", "date": "0001-01-01"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "7d", "date": "0001-01-01"}, "date", "invalid-date"),
    (TIMESERIES, {"period": "month", "date": "9999-12-31", "interval": "week"}, "date", "invalid-date"),
    (AGGREGATE, {"period": "custom", "date": "1969-12-31,1970-01-02"}, "date", "invalid-date"),
]


@pytest.mark.parametrize(("path", "params", "param", "reason"), BAD_INPUT)
def test_bad_input_is_400_naming_the_parameter(partner: Partner, path: str, params: dict[str, Any],
                                               param: str, reason: str) -> None:
    if "site_id" in params and params["site_id"] is None:
        response = partner.client.get(path, headers={"Authorization": f"Bearer {partner.token}"})
    else:
        response = partner.get(path, **params)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["param"] == param
    assert problem["type"].endswith("/" + reason)
    assert problem["status"] == 400 and problem["detail"]


def test_range_of_exactly_731_days_is_accepted(partner: Partner) -> None:
    assert partner.get(AGGREGATE, period="custom", date="2024-01-01,2025-12-31").status_code == 200


@pytest.mark.parametrize(("period", "day"), [("12mo", "1970-01-01"), ("7d", "1970-01-01"), ("month", "9999-01-01"),
                                             ("custom", "1970-01-01,1970-01-31"), ("custom", "9998-12-01,9999-01-01")])
def test_the_first_and_last_days_are_answered(partner: Partner, period: str, day: str) -> None:
    for path in (AGGREGATE, TIMESERIES):
        assert partner.get(path, period=period, date=day, interval="week").status_code == 200
