"""Click-backs: attributed to their share, counted once per visitor, never for bots,
never from a code that does not exist; address-bar links when the site opts in."""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from flask import Flask

from conftest import BeaconSender, make_app, register, table_rows
from widget_server import db
from widget_server.models import Site

REDIS_URL = os.environ.get("WIDGET_TEST_REDIS_URL")


def totals(app: Flask, **where: str) -> dict[str, int]:
    """Sums of every rollup counter over the rows matching ``where``."""
    sums = {"shares": 0, "clickbacks": 0, "bot_shares": 0, "bot_clickbacks": 0}
    for row in table_rows(app, "daily_rollups"):
        if all(getattr(row, name) == value for name, value in where.items()):
            for name in sums:
                sums[name] += getattr(row, name)
    return sums


def uniques(app: Flask, dim: str = "", value: str = "") -> tuple[int, int]:
    rows = [r for r in table_rows(app, "daily_uniques") if r.dim == dim and r.value == value]
    return sum(r.sharers for r in rows), sum(r.visitors for r in rows)


def test_clickback_is_attributed_to_its_share(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share(service="weibo")
    response = beacon.clickback(code)
    assert response.status_code == 204
    assert totals(app, service="weibo") == {"shares": 1, "clickbacks": 1, "bot_shares": 0, "bot_clickbacks": 0}
    assert totals(app, referrer="weibo.com")["clickbacks"] == 1
    clickback = [row for row in table_rows(app, "events") if row.type == "clickback"][0]
    assert clickback.service == "weibo"
    assert clickback.code == code
    assert clickback.referrer == "weibo.com"
    assert 0 <= clickback.age_seconds < 60
    assert clickback.status == "counted"
    assert uniques(app) == (1, 1)


def test_clickbacks_of_many_readers_and_the_long_tail(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share(service="qq")
    for reader in range(5):
        assert beacon.clickback(code, ip=f"198.51.100.{reader}").status_code == 204
    assert totals(app)["clickbacks"] == 5
    assert uniques(app, "platform", "qq") == (1, 5)


def test_unknown_code_records_nothing(app: Flask, beacon: BeaconSender) -> None:
    beacon.share()
    response = beacon.clickback("doesnotexist")
    assert response.status_code == 404
    assert response.get_json()["type"].endswith("/unknown-share")
    assert [row.type for row in table_rows(app, "events")] == ["share"]
    assert totals(app)["clickbacks"] == 0


def test_code_of_another_site_records_nothing(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    other = register(app, "Other", ("other.net",))
    response = beacon.clickback(code, site=other.key, url="https://other.net/post/1")
    assert response.status_code == 404
    assert totals(app)["clickbacks"] == 0


def test_clickback_on_unregistered_page_records_nothing(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    assert beacon.clickback(code, url="https://unregistered.org/post/1").status_code == 403
    assert beacon.clickback(code, site="MQ.forged").status_code == 400
    assert totals(app)["clickbacks"] == 0


def test_sharer_clicking_own_link_is_not_counted(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    assert beacon.clickback(code, ip=beacon.ip).status_code == 204
    assert totals(app)["clickbacks"] == 0
    assert [row.status for row in table_rows(app, "events") if row.type == "clickback"] == ["self"]


def test_flood_one_visitor_many_shares_counts_once(app: Flask, beacon: BeaconSender) -> None:
    statuses = [beacon.send(service="weibo").status_code for _ in range(40)]
    assert statuses == [204] * 40
    assert totals(app)["shares"] == 1
    assert uniques(app) == (1, 0)
    assert {row.status for row in table_rows(app, "events")} == {"counted", "repeat"}


def test_flood_one_share_many_clickbacks_by_one_visitor(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    for _ in range(30):
        beacon.clickback(code)
    assert totals(app)["clickbacks"] == 1


PREVIEW_FETCHERS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "",
]


def test_bot_clicks_are_flagged_and_kept_out_of_counts(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    for number, agent in enumerate(PREVIEW_FETCHERS):
        for repeat in range(3):
            response = beacon.clickback(code, ip=f"192.0.2.{number}", headers={"User-Agent": agent})
            assert response.status_code == 204
    assert totals(app) == {"shares": 1, "clickbacks": 0, "bot_shares": 0,
                           "bot_clickbacks": 3 * len(PREVIEW_FETCHERS)}
    assert uniques(app) == (1, 0)
    bots = [row for row in table_rows(app, "events") if row.status == "bot"]
    assert len(bots) == 3 * len(PREVIEW_FETCHERS)


def test_bot_shares_are_flagged(app: Flask, beacon: BeaconSender) -> None:
    beacon.send(headers={"User-Agent": "python-requests/2.31"})
    assert totals(app)["shares"] == 0
    assert totals(app)["bot_shares"] == 1


def test_in_app_browsers_are_readers_not_bots(app: Flask, beacon: BeaconSender) -> None:
    code = beacon.share()
    agents = [
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
        "Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 NetType/WIFI Language/zh_CN",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 Weibo (iPhone15,2__weibo__14.0.0__iphone__os17.0)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 QQ/8.9.80.614 V1_IPH_SQ_8.9.80_1_APP_A Pixel/1170 Core/WKWebView NetType/WIFI",
    ]
    for number, agent in enumerate(agents):
        beacon.clickback(code, ip=f"192.0.2.{number}", headers={"User-Agent": agent})
    assert totals(app)["clickbacks"] == 3


def enable(app: Flask, site_id: int, **settings: Any) -> None:
    with app.app_context():
        site = db.session().get(Site, site_id)
        site.settings = {**site.settings, **settings}
        db.session().commit()


def address_code(tagged: datetime) -> str:
    seconds = int(tagged.timestamp())
    digits = ""
    while seconds:
        seconds, digit = divmod(seconds, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return f"a-{digits}-{uuid.uuid4().hex[:8]}"


def test_address_bar_links_are_attributed_when_the_site_opts_in(app: Flask, beacon: BeaconSender) -> None:
    code = address_code(datetime.now(timezone.utc).replace(microsecond=0))
    assert beacon.clickback(code, referrer="").status_code == 404  # off by default
    enable(app, beacon.site.id, address_bar=True)
    assert beacon.clickback(code, referrer="").status_code == 204
    assert beacon.clickback(code, ip="198.51.100.99", referrer="").status_code == 204
    assert totals(app, service="address")["clickbacks"] == 2
    assert totals(app)["shares"] == 0  # the share itself was never seen, only its click-backs
    ages = [row.age_seconds for row in table_rows(app, "events")]
    assert all(0 <= age < 120 for age in ages)


def test_address_code_from_days_ago_gives_the_long_tail_age(app: Flask, beacon: BeaconSender) -> None:
    enable(app, beacon.site.id, address_bar=True)
    tagged = datetime.fromtimestamp(time.time() - 3 * 86400, timezone.utc)
    assert beacon.clickback(address_code(tagged)).status_code == 204
    age = table_rows(app, "events")[0].age_seconds
    assert 3 * 86400 - 5 <= age <= 3 * 86400 + 60


@pytest.mark.parametrize("code", ["", "has space", "x" * 41, None])
def test_bad_codes_are_refused(app: Flask, beacon: BeaconSender, code: Any) -> None:
    response = beacon.clickback(code, url="https://example.com/post/1")
    assert response.status_code == 400
    assert response.get_json()["param"] == "code"
    assert table_rows(app, "events") == []


LIMITS = [("memory", None)] + ([("redis", REDIS_URL)] if REDIS_URL else [])


@pytest.mark.parametrize(("backend", "redis_url"), LIMITS)
def test_rate_limits_answer_429_with_retry_after(tmp_path: Any, database_url: str, backend: str,
                                                 redis_url: str | None) -> None:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=f"test-{uuid.uuid4().hex}",
                   RATE_LIMIT_VISITOR="5/minute", RATE_LIMIT_SITE="8/minute")
    site = register(app)
    sender = BeaconSender(app.test_client(), site)
    statuses = [sender.send(service="weibo").status_code for _ in range(7)]
    assert statuses == [204] * 5 + [429] * 2
    refused = sender.send(service="weibo")
    assert refused.get_json()["type"].endswith("/rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Other visitors go on until the site's own limit is used up; refused hits don't use it.
    others = [sender.send(service="qq", ip=f"192.0.2.{n}").status_code for n in range(4)]
    assert others == [204, 204, 204, 429]
    assert totals(app)["shares"] == 1 + 3
    app.extensions["widget_engine"].dispose()


@pytest.mark.skipif(not REDIS_URL, reason="WIDGET_TEST_REDIS_URL is not set")
def test_redis_limits_are_shared_between_workers(tmp_path: Any, database_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    settings = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix, "RATE_LIMIT_VISITOR": "4/minute"}
    first = make_app(database_url, tmp_path, **settings)
    second = make_app(database_url, tmp_path, **settings)  # another worker, same database and Redis
    site = register(first)
    one, two = BeaconSender(first.test_client(), site), BeaconSender(second.test_client(), site)
    statuses = [sender.send().status_code for sender in (one, two, one, two, one, two)]
    assert statuses == [204, 204, 204, 204, 429, 429]


def test_per_dimension_totals_agree_with_the_fine_rollups(app: Flask, beacon: BeaconSender) -> None:
    codes = [beacon.share(service=service, url=f"https://example.com/{n}", ip=f"203.0.113.{n}")
             for n, service in enumerate(["weibo", "weibo", "qq", "x"])]
    for n, code in enumerate(codes):
        beacon.clickback(code, url=f"https://example.com/{n}", ip=f"198.51.100.{n}")
        beacon.clickback(code, url=f"https://example.com/{n}", headers={"User-Agent": "Twitterbot/1.0"})
    beacon.clickback(codes[0], url="https://example.com/0", referrer="https://t.co/x", ip="198.51.100.99")
    fine = totals(app)
    rows = table_rows(app, "daily_uniques")
    for dim in ("", "page", "platform"):
        for counter in fine:
            assert sum(getattr(row, counter) for row in rows if row.dim == dim) == fine[counter], (dim, counter)
    assert fine == {"shares": 4, "clickbacks": 5, "bot_shares": 0, "bot_clickbacks": 4}
    referrers = {row.value: row.clickbacks for row in rows if row.dim == "referrer"}
    assert referrers == {"weibo.com": 4, "t.co": 1}
