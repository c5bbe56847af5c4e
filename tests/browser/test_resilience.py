"""When things go wrong: share beacons the server refuses for now (5xx, 429) or that never
arrive are retried with the same event id and stored once, also when the reader leaves; bad
attributes, an unknown language, a missing icon and a config that fails to load give a bar
drawn with fallbacks, one console warning and no error in the host page; a page on a domain
the site does not list, or with a bad key, gets one warning naming the reason and the fix."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import table_rows
from widget_server import platforms, signing

from .conftest import SHOWN, Live, Tab, poll, pumped

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}


class FlakyEvents:
    """Stands in for a server that refuses beacons: ``answers`` says what each attempt gets
    (a status to answer with, "abort" for a network error, "pass" to reach the real server);
    attempts past the list pass. Records each attempt's body, time and resource type."""

    def __init__(self, answers: list[Any], retry_after: str | None = None):
        self.answers, self.retry_after = answers, retry_after
        self.attempts: list[tuple[float, dict[str, Any], str]] = []

    def __call__(self, route: Any) -> None:
        request = route.request
        self.attempts.append((time.monotonic(), json.loads(request.post_data), request.resource_type))
        answer = self.answers[len(self.attempts) - 1] if len(self.attempts) <= len(self.answers) else "pass"
        if answer == "pass":
            route.continue_()
        elif answer == "abort":
            route.abort("failed")
        else:
            headers = {**CORS, **({"Retry-After": self.retry_after} if self.retry_after else {})}
            route.fulfill(status=answer, headers=headers, content_type="application/problem+json", body="{}")


def share_once(live: Live, tab: Tab, flaky: FlakyEvents) -> Any:
    """A page whose copy control the reader clicks once, with beacons going through ``flaky``."""
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    tab.page.route(f"{live.server}/v1/events", flaky)
    page = tab.goto(live.add_page("/flaky", '<div data-sharebar data-services="copy"></div>'))
    tab.control("copy").click()
    return page


def stored_ids(live: Live) -> list[str]:
    return [row.event_id for row in table_rows(live.app, "events") if row.type == "share"]


def wait_stored(live: Live, page: Any, timeout: float = 20.0) -> list[str]:
    """The stored share events' ids once there is one; a little longer to catch a double."""
    pumped(page, lambda: stored_ids(live), "the share stored", timeout)
    page.wait_for_timeout(300)
    return stored_ids(live)


@pytest.mark.parametrize("failure", [503, 500, "abort"])
def test_a_refused_or_lost_beacon_is_retried_and_stored_once(live: Live, tab: Tab, failure: Any) -> None:
    flaky = FlakyEvents([failure, failure])
    page = share_once(live, tab, flaky)
    stored = wait_stored(live, page)
    ids = {body["id"] for _, body, _ in flaky.attempts}
    assert len(flaky.attempts) == 3 and len(ids) == 1  # the same event each time
    assert stored == list(ids)
    first, second, third = (at for at, _, _ in flaky.attempts)
    assert 0.5 <= second - first and 1.0 <= third - second  # backing off


def test_a_429_waits_as_long_as_retry_after_says(live: Live, tab: Tab) -> None:
    flaky = FlakyEvents([429], retry_after="2")
    page = share_once(live, tab, flaky)
    assert len(wait_stored(live, page)) == 1
    assert flaky.attempts[1][0] - flaky.attempts[0][0] >= 1.9


def test_a_beacon_refused_for_good_is_not_retried(live: Live, tab: Tab) -> None:
    flaky = FlakyEvents([400])
    page = share_once(live, tab, flaky)
    pumped(page, lambda: flaky.attempts, "the first attempt")
    page.wait_for_timeout(2500)
    assert len(flaky.attempts) == 1 and stored_ids(live) == []


def test_a_beacon_still_waiting_goes_with_send_beacon_when_the_reader_leaves(live: Live, tab: Tab) -> None:
    flaky = FlakyEvents([503], retry_after="60")  # the next try would be a minute away
    page = share_once(live, tab, flaky)
    pumped(page, lambda: flaky.attempts, "the first attempt")
    # The page has read the 503 (and so holds the beacon for later) once the fetch's resource
    # timing entry is there: it is added after the response the fetch's promise resolved with.
    poll(page, "performance.getEntriesByType('resource').some(e => e.name.endsWith('/v1/events'))")
    page.goto(live.add_page("/elsewhere", "<p>another page</p>", lang="zh-CN"))
    stored = wait_stored(live, page)
    assert stored == [flaky.attempts[0][1]["id"]]
    if len(flaky.attempts) > 1:  # when the route saw the last one too: sendBeacon's ping
        assert flaky.attempts[-1][2] == "ping" and flaky.attempts[-1][1] == flaky.attempts[0][1]


# -- bad input: drawn with fallbacks, one warning, nothing thrown ----------------------------


def drawn(tab: Tab, url: str) -> list[str]:
    tab.goto(url)
    tab.page.wait_for_load_state("networkidle")
    return tab.page.eval_on_selector_all("[data-sharebar] [data-service]", "els => els.map(e => e.dataset.service)")


def only_network_errors(tab: Tab) -> list[str]:
    """Console errors that are not the browser's own report of a failed request."""
    return [error for error in tab.errors if not error.startswith("Failed to load resource")]


@pytest.mark.parametrize("services,expected", [
    ("weibo, nope,weibo,,copy,googleplus", ["weibo", "copy"]),  # unknown, duplicated, empty
    (",".join(["weibo", "x", "not-a-service"] * 67), ["weibo", "x"]),  # 201 entries
    ("nope,nothing", []),  # nothing known: an empty bar, still no error
])
def test_unknown_duplicated_and_too_many_services(live: Live, tab: Tab, services: str, expected: list[str]) -> None:
    url = live.add_page("/bad-services", f'<div data-sharebar data-services="{services}"></div>')
    assert drawn(tab, url) == expected
    assert len(tab.warnings) == 1 and "unknown services" in tab.warnings[0]
    assert tab.errors == []


def test_an_unknown_language_falls_back_to_the_pages(live: Live, tab: Tab) -> None:
    url = live.add_page("/bad-lang", '<div data-sharebar data-lang="klingon" data-services="weibo,copy"></div>',
                        lang="zh-TW")
    assert drawn(tab, url) == ["weibo", "copy"]
    assert tab.control("copy").get_attribute("title") == "複製連結"
    assert tab.page.locator(".sb").get_attribute("lang") == "zh-TW"
    assert len(tab.warnings) == 1 and "klingon" in tab.warnings[0]
    assert tab.errors == []


def test_a_page_in_another_language_gets_english_without_a_warning(live: Live, tab: Tab) -> None:
    url = live.add_page("/french", '<div data-sharebar data-services="weibo,copy"></div>', lang="fr")
    assert drawn(tab, url) == ["weibo", "copy"]
    assert tab.control("copy").get_attribute("title") == "Copy link"
    assert tab.warnings == [] and tab.errors == []


def config_url(live: Live) -> re.Pattern[str]:
    """/v1/config with any query: a pattern, so that no other request waits on this thread."""
    return re.compile("^" + re.escape(f"{live.server}/v1/config") + r"(\?|$)")


# A page that sends no Referer: the server cannot tell the page's site, so the script comes
# without its config and the widget asks for it.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


def rewrite_config(tab: Tab, live: Live, change: Callable[[dict[str, Any]], None]) -> None:
    def handle(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        change(body)
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-encoding", "content-length")}
        route.fulfill(status=answer.status, body=json.dumps(body), headers=headers)
    tab.page.route(config_url(live), handle)


def test_an_icon_missing_from_the_set_is_drawn_as_a_monogram(live: Live, tab: Tab) -> None:
    rewrite_config(tab, live, lambda body: body["services"]["douban"].pop("i"))
    url = live.add_page("/no-icon", '<div data-sharebar></div>', NO_REFERRER)
    assert drawn(tab, url) == list(platforms.DEFAULT_SERVICES)
    assert tab.control("douban").locator("svg text").text_content() == "豆"
    assert len(tab.warnings) == 1 and "douban" in tab.warnings[0]
    assert tab.errors == []


@pytest.mark.parametrize("failure", ["abort", 500, "not json"])
def test_a_config_that_fails_to_load_still_gives_the_default_bar(live: Live, tab: Tab, failure: Any) -> None:
    def handle(route: Any) -> None:
        if failure == "abort":
            route.abort("failed")
        elif failure == "not json":
            route.fulfill(status=200, headers=CORS, content_type="application/json", body="<html>")
        else:
            route.fulfill(status=failure, headers=CORS, body="{}")
    tab.page.route(config_url(live), handle)
    url = live.add_page("/no-config", '<div data-sharebar></div><div data-sharebar data-services="x,copy"></div>',
                        NO_REFERRER)
    tab.page.goto(url)
    poll(tab.page, f"() => document.querySelectorAll('{SHOWN}').length == 2")
    tab.page.wait_for_load_state("networkidle")
    services = tab.page.eval_on_selector_all("[data-sharebar]", "hs => hs.map(h => h.querySelectorAll('[data-service]').length)")
    assert services == [len(platforms.DEFAULT_SERVICES), 2]
    assert len(tab.warnings) == 1 and "config" in tab.warnings[0]
    assert only_network_errors(tab) == []


# -- refusals the owner can fix: one console warning saying why and what to do -------------


def test_a_page_on_a_domain_the_site_does_not_list_warns_once_and_still_draws(live: Live, tab: Tab) -> None:
    # 127.0.0.1 serves the same host pages, but the site lists only localhost.
    url = live.add_page("/foreign", '<div data-sharebar data-services="weibo,copy"></div>').replace(
        "localhost", "127.0.0.1")
    assert drawn(tab, url) == ["weibo", "copy"]
    assert len(tab.warnings) == 1
    assert "foreign-domain" in tab.warnings[0] and "add 127.0.0.1 to them" in tab.warnings[0]
    with tab.page.expect_response(lambda answer: answer.url.endswith("/v1/events")) as refused:
        tab.popup_from("weibo")
    assert refused.value.status == 403  # the beacon too: the same reason, no second warning
    assert len(tab.warnings) == 1 and only_network_errors(tab) == []
    assert live.shares() == []


def test_a_refused_beacon_warns_once_with_the_servers_reason(live: Live, tab: Tab) -> None:
    problem = {"type": "https://sharebar.invalid/problems/foreign-origin", "title": "Foreign origin",
               "status": 403, "detail": "The beacon's page is not on one of the site's domains: add it."}
    tab.page.route(f"{live.server}/v1/events", lambda route: route.fulfill(
        status=403, headers=CORS, content_type="application/problem+json", body=json.dumps(problem)))
    drawn(tab, live.add_page("/origin", '<div data-sharebar data-services="weibo,x"></div>'))
    assert tab.warnings == []  # the config had nothing to refuse
    tab.popup_from("weibo")
    tab.popup_from("x")
    pumped(tab.page, lambda: tab.warnings, "the refusal's warning")
    assert tab.warnings == ["Sharebar: " + problem["detail"] + " (foreign-origin)"]
    assert only_network_errors(tab) == []


@pytest.mark.parametrize("key,reason", [("MQ.tampered-key", "invalid-site-key"), (None, "unknown-site")])
def test_a_bad_or_revoked_key_warns_once_naming_it(live: Live, tab: Tab, key: str | None, reason: str) -> None:
    if key is None:  # a well-signed key of a site that is gone
        with live.app.app_context():
            key = signing.site_key(9999)
    url = live.host.add("/bad-key", live.page_html('<div data-sharebar data-services="weibo,copy"></div>').replace(
        live.site.key, key))
    assert drawn(tab, url) == ["weibo", "copy"]  # from the whole registry, as when the config fails
    assert len(tab.warnings) == 1 and f"({reason})" in tab.warnings[0] and "snippet" in tab.warnings[0]
    assert only_network_errors(tab) == []
