"""Privacy and CSP: the bar works on a page with a strict Content-Security-Policy, asks
nothing of anyone but its own server before a click, and leaves no cookie or stored value."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from widget_server import platforms

from .conftest import VIOLATIONS, Live, Tab, poll, strict_csp, wait_for

def test_bar_works_under_a_strict_csp(live: Live, tab: Tab) -> None:
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    tab.page.add_init_script(VIOLATIONS)
    url = live.add_page("/csp", '<div data-sharebar data-services="weibo,wechat,copy" data-counts="true"></div>',
                        headers=strict_csp(live.server))
    page = tab.goto(url)
    assert tab.control("weibo").evaluate("el => getComputedStyle(el.querySelector('svg')).width") == "32px"  # styled
    poll(page, "() => document.querySelector('.sb-total')")  # and the counts: a box beside the tiles
    assert page.evaluate("getComputedStyle(document.querySelector('.sb-total')).display") == "flex"

    tab.control("copy").click()
    page.locator("[data-sharebar] [role=status]").get_by_text("已复制链接").wait_for()
    tab.control("wechat").click()
    page.get_by_role("dialog").wait_for()
    poll(page, "() => { const i = document.querySelector('dialog img'); return i && i.complete && i.naturalWidth > 0; }")
    page.keyboard.press("Escape")
    assert live.wait_for_shares(2) == [("copy", url), ("wechat", url)]
    assert page.evaluate("window.__violations") == []
    assert tab.errors == []

    # The listener does hear what this policy forbids: an inline style attribute.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    assert poll(page, "() => window.__violations.length") == 1


def server_requests(tab: Tab, live: Live, page_url: str) -> list[str]:
    """The requests after the page itself, as server paths; fails on any other host."""
    others = [url for url in tab.requests if url != page_url]
    assert all(url.startswith(live.server + "/") for url in others), others
    return sorted(urlsplit(url).path for url in others)


def test_before_a_click_only_the_sharebar_server_is_asked(live: Live, tab: Tab) -> None:
    everything = ",".join(s.id for s in platforms.SERVICES)
    url = live.add_page("/quiet", f'<div data-sharebar></div><div data-sharebar data-services="{everything}"></div>')
    page = tab.goto(url, bars=2)
    page.wait_for_load_state("networkidle")
    # The script brings its stylesheet and the site's config; the second bar names services
    # beyond the site's: the whole registry, once.
    assert server_requests(tab, live, url) == ["/static/sharebar-services.js", "/static/sharebar.js"]
    # The share module asks for its stylesheet when it runs: the last request.
    with page.expect_request(re.compile(r"/static/sharebar-share\.css$")):
        page.locator("[data-sharebar] [data-service=weibo]").first.hover()
        page.keyboard.press("Tab")  # focus, hover: not a click; focus readies what a click does
    page.wait_for_load_state("networkidle")
    assert server_requests(tab, live, url) == [
        "/static/sharebar-services.js", "/static/sharebar-share.css", "/static/sharebar-share.js", "/static/sharebar.js"]


def test_a_page_that_sends_no_referrer_asks_for_the_config(live: Live, tab: Tab) -> None:
    """The server cannot tell the page's site from the script's request: the same script for
    every page, and the config asked for, one more request before the bar draws."""
    url = live.add_page("/no-referrer", "<div data-sharebar></div>", {"Referrer-Policy": "no-referrer"})
    tab.goto(url).wait_for_load_state("networkidle")
    assert server_requests(tab, live, url) == ["/static/sharebar.js", "/v1/config"]
    assert tab.page.eval_on_selector_all("[data-sharebar] [data-service]", "els => els.map(e => e.dataset.service)") == \
        list(platforms.DEFAULT_SERVICES)


def test_counts_are_two_more_requests_their_code_and_the_numbers(live: Live, tab: Tab, tabs: Any) -> None:
    url = live.add_page("/counts-asked", '<div data-sharebar data-counts="true"></div>')
    tab.goto(url).wait_for_selector(".sb-total")
    tab.page.wait_for_load_state("networkidle")
    assert server_requests(tab, live, url) == ["/static/sharebar-counts.js", "/static/sharebar.js", "/v1/counts"]

    live.set_site_settings(counts=True)
    other: Tab = tabs()
    other.goto(live.add_page("/counts-site", "<div data-sharebar></div>")).wait_for_selector(".sb-total")
    other.page.wait_for_load_state("networkidle")
    assert server_requests(other, live, url.replace("/counts-asked", "/counts-site")) == [
        "/static/sharebar-counts.js", "/static/sharebar.js", "/v1/counts"]


def test_no_cookie_and_nothing_stored(live: Live, tab: Tab) -> None:
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    url = live.add_page("/private", '<div data-sharebar data-counts="true" '
                                    'data-services="weibo,wechat,copy,mastodon"></div>')
    page = tab.goto(url)
    page.wait_for_load_state("networkidle")
    tab.popup_from("weibo").close()
    tab.control("copy").click()
    tab.control("wechat").click()
    page.get_by_role("dialog").wait_for()
    page.keyboard.press("Escape")
    poll(page, "() => !document.querySelector('dialog')")
    tab.control("mastodon").click()
    page.get_by_role("dialog").get_by_role("textbox").fill("mastodon.example")
    with tab.context.expect_page() as opened:
        page.get_by_role("dialog").get_by_role("button", name="分享").click()
    wait_for(lambda: opened.value.url != "about:blank", 5.0, "the Mastodon page")
    live.wait_for_shares(4, settle=0)

    assert tab.context.cookies() == []
    assert tab.cookies_set == []
    assert tab.context.storage_state()["origins"] == []  # no localStorage on any origin
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]


def test_the_demo_page_runs_under_the_servers_own_strict_csp(tmp_path: Any, tab: Tab) -> None:
    """The server's own HTML carries ``edges.HTML_POLICY``; the demo page, its bars, its
    like-and-share buttons and its activity list work under it without a violation."""
    from conftest import make_app  # the suite's conftest, as tests/browser/conftest.py uses it
    from widget_server import edges

    from .conftest import serve

    app = make_app(f"sqlite:///{tmp_path}/demo.db", tmp_path, DEMO=True)
    server, port = serve(app)
    try:
        tab.page.add_init_script(VIOLATIONS)
        answer = tab.page.goto(f"http://127.0.0.1:{port}/demo")
        assert answer.headers["content-security-policy"] == edges.HTML_POLICY
        poll(tab.page, "() => document.querySelectorAll('[data-sharebar] > .sb:not([hidden])').length >= 4")
        assert tab.page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # demo.css applied
        tab.page.locator("[data-sharebar-action=like]").click()
        tab.page.get_by_role("dialog").wait_for()
        tab.page.keyboard.press("Escape")
        tab.page.wait_for_load_state("networkidle")
        assert tab.page.evaluate("window.__violations") == []
        assert tab.errors == []
    finally:
        server.shutdown()
        app.extensions["widget_engine"].dispose()
