"""The charts page reads the partner API's stats functions; its geometry and its words."""
from __future__ import annotations

import glob
import re
from datetime import date, timedelta

import pytest
from flask import Flask
from wtforms import SelectField

from conftest import BeaconSender, Partner, Seeder, issue_token, table_rows, upsert
from test_dashboard import Person, own_site
from widget_server import counting, db
from widget_server.dashboard import REASON_TEXT, charts, charts_views, forms, i18n
from widget_server.models import daily_uniques, refusals as refusals_table
from widget_server.query import DateRange

TODAY = date.today()
LANGUAGE_NAMES = {"简体中文", "繁體中文", "English"}  # each in its own language


def day(offset: int) -> str:
    return (TODAY - timedelta(days=offset)).isoformat()


@pytest.fixture
def charted(app: Flask) -> tuple[Person, int]:
    owner = Person(app, "owner-a@example.com")
    owner.sign_in()
    site_id = own_site(app, "owner-a@example.com", domains=("example.com",))
    seed = Seeder(app, site_id)
    seed.rollup(day(1), "https://example.com/post/1", "weibo", shares=10, clickbacks=30)
    seed.rollup(day(2), "https://example.com/post/2", "wechat", shares=4, clickbacks=5, bot_shares=7)
    seed.rollup(day(2), "https://example.com/post/2", "wechat", referrer="weixin.qq.com", clickbacks=3)
    seed.rollup(day(3), "https://example.com/post/1", "", action="like", actions=6, action_shares=3)
    return owner, site_id


def test_charts_show_every_figure_with_a_table(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    page = owner.get(f"/dashboard/sites/{site_id}/charts?period=7").get_data(as_text=True)
    for title in ("Shares and click-backs over time", "By platform, with lift", "Top pages",
                  "Top referrers of click-backs", "actions by verb and the share rate", "Filtered traffic",
                  "The long tail"):
        assert title in page
    assert 'aria-label="Weibo: Shares 10, Click-backs 30, Lift 3"' in page  # lift = 30 / 10
    assert "weixin.qq.com" in page and "https://example.com/post/1" in page
    assert re.search(r"<th scope=\"row\">like</th><td>6</td><td>3</td><td>0.5</td>", page)
    assert 'aria-label="Shares: Counted 14"' in page and 'aria-label="Bot shares: Kept out 7"' in page
    assert 'aria-label="Rate limited: Kept out 0"' in page and 'aria-label="Repeats: Kept out 0"' in page
    assert page.count('class="table-view"') == 7


def test_charts_for_one_page(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    page = owner.get(f"/dashboard/sites/{site_id}/charts",
                     query_string={"period": "30", "page": "https://example.com/post/2"}).get_data(as_text=True)
    assert 'aria-label="WeChat: Shares 4, Click-backs 8' in page or 'aria-label="WeChat: Shares 4' in page
    assert "Weibo:" not in page


def test_charts_in_chinese(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    owner.post("/dashboard/lang", {"lang-lang": "zh-CN", "next": "/dashboard/"}, prefix="lang-",
               token_from="/dashboard/")
    page = owner.get(f"/dashboard/sites/{site_id}/charts").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "分享与回流趋势" in page and "回流率" in page
    assert 'aria-label="微博：' in page or 'aria-label="微博:' in page


@pytest.mark.parametrize("query,field", [
    ({"period": "1000"}, "period"),
    ({"period": "custom", "start": "2026-13-01", "end": "2026-01-01"}, "start"),
    ({"period": "custom", "start": "2026-05-01", "end": "2026-01-01"}, "start"),
    ({"period": "custom", "start": "2020-01-01", "end": "2026-01-01"}, "start"),
])
def test_a_bad_period_is_shown_beside_its_field(app: Flask, charted: tuple[Person, int], query: dict[str, str],
                                                field: str) -> None:
    owner, site_id = charted
    response = owner.get(f"/dashboard/sites/{site_id}/charts", query_string=query)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.get_data(as_text=True)


def test_choose_periods() -> None:
    today = date(2026, 11, 30)
    assert charts_views.choose({"period": "7"}, today).range == DateRange(date(2026, 11, 24), today)
    custom = charts_views.choose({"period": "custom", "start": "2026-01-01", "end": "2026-01-31"}, today)
    assert custom.range.days == 31 and custom.error is None


def test_line_chart_geometry() -> None:
    rows = [{"date": "d1", "shares": 0, "clickbacks": 0}, {"date": "d2", "shares": 5, "clickbacks": 10}]
    chart = charts.line_chart(rows, [("shares", "S"), ("clickbacks", "C")])
    assert chart.ticks[0][1] == "0" and chart.ticks[-1][1] == "10"
    assert chart.columns[1].points[1].y == charts.TOP  # the largest value touches the top
    assert chart.columns[0].points[0].y == charts.HEIGHT - charts.BOTTOM


def test_bar_chart_scales_every_series_alike() -> None:
    chart = charts.bar_chart([{"p": "a", "x": 50, "y": 100, "lift": 2.0}], "p", [("x", "X"), ("y", "Y")], note="lift")
    (bar,) = chart.bars
    assert bar.values[1][2] == 2 * bar.values[0][2] and bar.note == "2"


@pytest.mark.parametrize("top,parts", [(1, 1), (2, 2), (10, 5), (20, 4), (50, 5), (500, 5)])
def test_ticks_fall_on_round_numbers(top: float, parts: int) -> None:
    assert charts.tick_parts(top) == parts
    assert all(float(top * n / parts).is_integer() for n in range(parts + 1))


@pytest.mark.parametrize("value,top", [(0, 1), (1, 1), (7, 10), (12, 20), (30, 50), (101, 200)])
def test_nice_max(value: float, top: float) -> None:
    assert charts.nice_max(value) == top


def test_every_text_of_the_dashboard_has_a_chinese_translation() -> None:
    texts = set()
    for path in glob.glob("widget_server/templates/dashboard/*.html") + glob.glob("widget_server/dashboard/*.py"):
        texts |= {m[1] for m in re.findall(r"""_\(\s*(['"])(.+?)\1""", open(path, encoding="utf-8").read())}
    from widget_server.dashboard import settings_form
    texts |= set(settings_form.MESSAGES.values()) | set(REASON_TEXT.values())
    for form in (forms.SiteSettings, forms.AddMember, forms.NewToken):
        for field in vars(form).values():
            if getattr(field, "field_class", None) is SelectField:  # (scopes are named as the API names them)
                texts |= {choice.label for choice in field.kwargs["choices"] if choice.label not in LANGUAGE_NAMES}
    missing = sorted(text for text in texts if text not in i18n.ZH and not text.isdigit())
    assert missing == []


def test_the_long_tail_of_click_backs(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    with app.app_context(), db.engine().begin() as conn:
        for age, count in (("0", 9), ("2-7", 4), ("31+", 1)):
            upsert(conn, daily_uniques, {"site_id": site_id, "day": date.fromisoformat(day(1)), "dim": "age",
                                         "value": age}, {"clickbacks": count})
    page = owner.get(f"/dashboard/sites/{site_id}/charts?period=7").get_data(as_text=True)
    assert "The long tail: click-backs by days since the share" in page
    for label, count in (("Day 0", 9), ("Day 1", 0), ("Days 2-7", 4), ("Days 8-30", 0), ("Later", 1)):
        assert f'aria-label="{label}: Click-backs {count}"' in page


def test_the_long_tail_of_one_page(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    (post,) = [row.id for row in table_rows(app, "pages") if row.url == "https://example.com/post/2"]
    with app.app_context(), db.engine().begin() as conn:
        for dim, age, count in (("age", "0", 9), (f"age:{post}", "0", 2), (f"age:{post}", "8-30", 5),
                                (f"age:{post + 1}", "1", 7)):
            upsert(conn, daily_uniques, {"site_id": site_id, "day": date.fromisoformat(day(1)), "dim": dim,
                                         "value": age}, {"clickbacks": count})
    page = owner.get(f"/dashboard/sites/{site_id}/charts",
                     query_string={"period": "7", "page": "https://example.com/post/2"}).get_data(as_text=True)
    for label, count in (("Day 0", 2), ("Day 1", 0), ("Days 2-7", 0), ("Days 8-30", 5), ("Later", 0)):
        assert f'aria-label="{label}: Click-backs {count}"' in page
    assert 'id="long-tail-table"' in page
    _id, token = issue_token(app, [site_id])
    partner = Partner(app.test_client(), site_id, token)
    served = partner.get("/api/v1/stats/long-tail", period="7d", filters="page==https://example.com/post/2")
    assert served.get_json()["results"] == [{"age": "0", "clickbacks": 2}, {"age": "1", "clickbacks": 0},
                                            {"age": "2-7", "clickbacks": 0}, {"age": "8-30", "clickbacks": 5},
                                            {"age": "31+", "clickbacks": 0}]
    whole_site = partner.get("/api/v1/stats/long-tail", period="7d").get_json()["results"]
    assert [row["clickbacks"] for row in whole_site] == [9, 0, 0, 0, 0]
    for filters in ("platform==weibo", "page!=https://example.com/post/2", "page==a;page==b"):
        refused = partner.get("/api/v1/stats/long-tail", filters=filters)
        assert refused.status_code == 400 and refused.get_json()["param"] == "filters"


def test_filtered_traffic_is_a_chart_with_repeats_and_refusals(app: Flask, charted: tuple[Person, int]) -> None:
    owner, site_id = charted
    with app.app_context(), db.engine().begin() as conn:
        for reason, count in (("repeat", 4), ("rate-limited", 3), ("foreign-domain", 2)):
            upsert(conn, refusals_table, {"site_id": site_id, "day": date.fromisoformat(day(1)), "reason": reason},
                   {"count": count})
    page = owner.get(f"/dashboard/sites/{site_id}/charts?period=7").get_data(as_text=True)
    chart = page[page.index('id="filtered-h"'):page.index('id="filtered-table"')]
    for label in ("Shares: Counted 14", "Click-backs: Counted 38", "Bot shares: Kept out 7",
                  "Bot click-backs: Kept out 0", "Repeats: Kept out 4", "Rate limited: Kept out 3",
                  "Foreign domain: Kept out 2", "Bad key: Kept out 0", "Malformed: Kept out 0"):
        assert f'tabindex="0" role="img" aria-label="{label}"' in chart
        assert f"<title>{label}</title>" in chart
    table = page[page.index('id="filtered-table"'):]
    assert re.search(r'<th scope="row">Repeats</th><td>—</td><td>4</td>', table)
    one_page = owner.get(f"/dashboard/sites/{site_id}/charts", query_string={
        "period": "7", "page": "https://example.com/post/2"}).get_data(as_text=True)
    assert 'aria-label="Bot shares: Kept out 7"' in one_page and "Repeats: Kept out" not in one_page
    assert "counted for the whole site" in one_page
    owner.post("/dashboard/lang", {"lang-lang": "zh-CN", "next": "/dashboard/"}, prefix="lang-",
               token_from="/dashboard/")
    chinese = owner.get(f"/dashboard/sites/{site_id}/charts?period=7").get_data(as_text=True)
    assert 'aria-label="重复：未计入 4"' in chinese or 'aria-label="重复: 未计入 4"' in chinese


def test_a_click_back_is_counted_in_its_age_bucket(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    assert beacon.clickback(code).status_code == 204
    ages = [(row.value, row.clickbacks) for row in table_rows(app, "daily_uniques") if row.dim == "age"]
    assert ages == [("0", 1)]


def test_a_click_back_is_counted_in_its_pages_age_bucket(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    assert beacon.clickback(code).status_code == 204
    (page,) = table_rows(app, "pages")
    ages = [(row.dim, row.value, row.clickbacks) for row in table_rows(app, "daily_uniques")
            if row.dim.startswith("age:")]
    assert ages == [(f"age:{page.id}", "0", 1)]


@pytest.mark.parametrize("seconds,bucket", [(0, "0"), (86399, "0"), (86400, "1"), (2 * 86400, "2-7"),
                                            (8 * 86400 - 1, "2-7"), (8 * 86400, "8-30"), (31 * 86400, "31+")])
def test_age_buckets(seconds: int, bucket: str) -> None:
    assert counting.age_bucket(seconds) == bucket
