"""Shares recorded and counted: each click is one share event of the right service and page,
/v1/counts answers them, and a bar with data-counts shows them, abbreviated by language."""
from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest

from conftest import Seeder

from widget_server import platforms

from .conftest import Live, Tab, poll
from .test_a11y import LANGS, expected_name

STUBS = """
window.print = () => {};
Object.defineProperty(Navigator.prototype, 'share', {configurable: true, value: () => Promise.resolve()});
addEventListener('click', e => { if (e.target.closest && e.target.closest('a[href^="mailto:"]')) e.preventDefault(); });
"""
CLICKED = ["weibo", "email", "wechat", "copy", "print", "native", "telegram"]


def counts_of(live: Live, url: str) -> dict[str, Any]:
    query = urlencode({"site": live.site.key, "url": url})
    with urlopen(f"{live.server}/v1/counts?{query}") as answer:
        return dict(json.load(answer))


def shown_counts(page: Any, host: str = "[data-sharebar]") -> dict[str, str]:
    """What the bar shows: {"total": "12", service: "3", ...}."""
    poll(page, f"() => document.querySelector('{host} .sb-total')")
    return page.evaluate("""host => {
        const bar = document.querySelector(host);
        const shown = {total: bar.querySelector('.sb-total b').textContent};
        for (const b of bar.querySelectorAll('[data-service]')) {
            const n = b.querySelector('.sb-n');
            if (n) shown[b.dataset.service] = n.textContent;
        }
        return shown;
    }""", host)


def test_every_click_is_one_share_and_the_bar_counts_it(live: Live, tabs: Any) -> None:
    tab: Tab = tabs()
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    tab.page.add_init_script(STUBS)
    url = live.add_page("/counted", f'<div data-sharebar data-services="{",".join(CLICKED)}"></div>')
    page = tab.goto(url)
    for service_id in CLICKED:
        if service_id in ("weibo", "telegram"):
            tab.popup_from(service_id).close()
            continue
        tab.control(service_id).click()
        if service_id == "wechat":
            page.get_by_role("dialog").wait_for()
            page.keyboard.press("Escape")
            poll(page, "() => !document.querySelector('dialog')")
    assert live.wait_for_shares(len(CLICKED)) == sorted((service_id, url) for service_id in CLICKED)

    expected = {"url": url, "total": len(CLICKED), "services": {service_id: 1 for service_id in CLICKED}}
    assert counts_of(live, url) == expected
    # Another reader, nothing cached, on the same page now showing counts.
    live.add_page("/counted", f'<div data-sharebar data-counts="true" data-services="{",".join(CLICKED)}"></div>')
    reader: Tab = tabs()
    reader.page.add_init_script(STUBS)  # has the Web Share API too
    shown = shown_counts(reader.goto(url))
    assert shown == {"total": str(len(CLICKED)), **{service_id: "1" for service_id in CLICKED}}


# (shares seeded per service, what the bar shows for them), by language
BIG = {"weibo": 12_345, "qq": 987, "douban": 123_456_789}
SHOWN = {
    "zh-CN": {"total": "1.2亿", "weibo": "1.2万", "qq": "987", "douban": "1.2亿"},
    "en": {"total": "123.5M", "weibo": "12.3k", "qq": "987", "douban": "123.5M"},
    "zh-TW": {"total": "1.2億", "weibo": "1.2萬", "qq": "987", "douban": "1.2億"},
}


@pytest.mark.parametrize("lang", sorted(SHOWN))
def test_big_counts_are_abbreviated_by_language(live: Live, tab: Tab, lang: str) -> None:
    url = live.add_page("/big", f'<div data-sharebar data-counts="true" data-lang="{lang}" '
                                'data-services="weibo,qq,douban,x"></div>')
    seed = Seeder(live.app, live.site.id)
    for service_id, shares in BIG.items():
        seed.rollup(date.today().isoformat(), url, service_id, shares=shares)
    assert counts_of(live, url)["total"] == sum(BIG.values())
    page = tab.goto(url)
    assert shown_counts(page) == SHOWN[lang]  # x has none: no number shown
    # A screen reader hears the number after the control's name.
    name = f"{expected_name(next(s for s in platforms.SERVICES if s.id == 'weibo'), LANGS.index(lang))} {SHOWN[lang]['weibo']}"
    assert page.get_by_role("link", name=name, exact=True).count() == 1


@pytest.mark.parametrize("page_lang,asked", [("zh-CN", "/v1/counts"), ("en", "/v1/config")])
def test_counts_of_a_site_that_shows_them_take_one_request(live: Live, tab: Tab, page_lang: str, asked: str) -> None:
    """The script brings the site's config for a page in the reader's language (the tab's is
    zh-CN), and the counts come alone; for a page in another language, they come with the
    config it asks for."""
    live.set_site_settings(counts=True)
    url = live.add_page("/site-counts", "<div data-sharebar></div>", lang=page_lang)
    Seeder(live.app, live.site.id).rollup(date.today().isoformat(), url, "douban", shares=999)
    assert shown_counts(tab.goto(url)) == {"total": "999", "douban": "999"}
    assert [request for request in tab.requests if "/v1/" in request] == [
        request for request in tab.requests if asked in request] and len(
        [request for request in tab.requests if asked in request]) == 1
