"""Rendering: every data-sharebar element becomes one bar, drawn as its attributes say."""
from __future__ import annotations

from typing import Any

from widget_server import platforms

from .conftest import Live, Tab, poll


def services_of(page: Any, host: str) -> list[str]:
    return page.eval_on_selector_all(f"{host} [data-service]", "els => els.map(e => e.dataset.service)")


def name_of(tab: Tab, host: str, service: str) -> str:
    return tab.control(service, host).get_attribute("title") or ""


def test_every_bar_gets_the_sites_default_services(live: Live, tab: Tab) -> None:
    bars = '<div id="a" data-sharebar></div><p>text</p><section id="b" data-sharebar></section><div id="c" data-sharebar></div>'
    page = tab.goto(live.add_page("/defaults", bars), bars=3)
    for host in ("#a", "#b", "#c"):
        assert services_of(page, host) == list(platforms.DEFAULT_SERVICES)
        assert page.locator(f"{host} [role=group]").get_attribute("aria-label") == "分享"
        assert page.locator(f"{host} [data-service]").first.is_visible()
    assert tab.errors == []


def test_services_attribute_keeps_its_order_and_drops_unknown_ids(live: Live, tab: Tab) -> None:
    bars = ('<div id="a" data-sharebar data-services="copy, douban,weibo,googleplus,weibo,renren,tieba"></div>'
            '<div id="b" data-sharebar data-services="hackernews,bluesky,email"></div>')
    page = tab.goto(live.add_page("/services", bars), bars=2)
    assert services_of(page, "#a") == ["copy", "douban", "weibo", "tieba"]
    assert services_of(page, "#b") == ["hackernews", "bluesky", "email"]


def test_language_attribute_names_the_controls(live: Live, tab: Tab) -> None:
    bars = "".join(f'<div id="{i}" data-sharebar data-lang="{lang}" data-services="weibo,qzone,tieba,copy"></div>'
                   for i, lang in (("cn", "zh-CN"), ("tw", "zh-TW"), ("en", "en")))
    page = tab.goto(live.add_page("/langs", bars, lang="zh-CN"), bars=3)
    assert name_of(tab, "#cn", "weibo").startswith("分享到微博")
    assert name_of(tab, "#tw", "weibo").startswith("分享到微博")
    assert name_of(tab, "#en", "weibo").startswith("Share on Weibo")
    assert [name_of(tab, host, "qzone") for host in ("#cn", "#tw", "#en")] == [
        "分享到QQ空间（在新窗口中打开）", "分享到QQ空間（在新視窗中開啟）", "Share on Qzone (opens in a new window)"]
    assert [name_of(tab, host, "copy") for host in ("#cn", "#tw", "#en")] == ["复制链接", "複製連結", "Copy link"]
    assert [page.locator(f"{host} .sb").get_attribute("lang") for host in ("#cn", "#tw", "#en")] == [
        "zh-CN", "zh-TW", "en"]


def test_page_language_is_the_default(live: Live, tab: Tab) -> None:
    tab.goto(live.add_page("/english", '<div data-sharebar data-services="tieba"></div>', lang="en-GB"))
    assert name_of(tab, "[data-sharebar]", "tieba") == "Share on Baidu Tieba (opens in a new window)"
    tab.goto(live.add_page("/hk", '<div data-sharebar data-services="tieba"></div>', lang="zh-HK"))
    assert name_of(tab, "[data-sharebar]", "tieba").startswith("分享到百度貼吧")


def test_sizes_are_three_and_never_below_24px(live: Live, tab: Tab) -> None:
    bars = "".join(f'<div id="{size}" data-sharebar data-size="{size}"></div>' for size in ("small", "medium", "large"))
    tab.goto(live.add_page("/sizes", bars), bars=3)
    heights = [tab.control("weibo", f"#{size}").bounding_box()["height"] for size in ("small", "medium", "large")]
    assert heights[0] >= 24 and heights[0] < heights[1] < heights[2], heights


def test_themes_draw_light_tiles_and_dark_outlines(live: Live, tab: Tab) -> None:
    bars = '<div id="light" data-sharebar data-theme="light"></div><div id="dark" data-sharebar data-theme="dark"></div>'
    page = tab.goto(live.add_page("/themes", bars), bars=2)
    style = "(el, p) => getComputedStyle(el)[p]"
    tile = {theme: page.locator(f"#{theme} [data-service=weibo] svg").evaluate(style, "backgroundColor")
            for theme in ("light", "dark")}
    icon = {theme: page.locator(f"#{theme} [data-service=weibo] svg").evaluate(style, "color")
            for theme in ("light", "dark")}
    assert icon["light"] == "rgb(255, 255, 255)"  # white on the brand colour
    assert tile["dark"] == "rgb(27, 27, 31)"  # the dark surface, brand-coloured icon
    assert tile["light"] != tile["dark"] and icon["dark"] != icon["light"]


def test_float_layout_stays_at_the_left_edge(live: Live, tab: Tab) -> None:
    bars = '<div style="height:3000px">long article</div><div data-sharebar data-layout="float"></div>'
    page = tab.goto(live.add_page("/float", bars))
    bar = page.locator("[data-sharebar] .sb")
    assert bar.evaluate("el => getComputedStyle(el).position") == "fixed"
    before = bar.bounding_box()
    viewport = page.viewport_size
    assert before["x"] == 0
    assert abs(before["y"] + before["height"] / 2 - viewport["height"] / 2) <= 2
    page.mouse.wheel(0, 2000)
    poll(page, "() => scrollY > 1000")
    assert bar.bounding_box() == before
    assert tab.control("weibo").is_visible()


def test_bars_added_after_load_are_drawn(live: Live, tab: Tab) -> None:
    page = tab.goto(live.add_page("/later", '<div id="first" data-sharebar></div><p id="p">no bar yet</p>'))
    # An element added by the page, then, separately, an attribute set on an existing one.
    page.evaluate("""() => {
        const later = document.createElement('div');
        later.id = 'later';
        later.dataset.sharebar = '';
        later.dataset.services = 'telegram,copy';
        document.querySelector('main').append(later);
    }""")
    page.wait_for_selector("#later [data-service=telegram]")
    page.evaluate("document.getElementById('p').setAttribute('data-sharebar', '')")
    page.wait_for_selector("#p [data-service=weibo]")
    assert services_of(page, "#later") == ["telegram", "copy"]
    assert services_of(page, "#p") == list(platforms.DEFAULT_SERVICES)


def test_a_bar_is_drawn_once(live: Live, tab: Tab) -> None:
    # The snippet pasted twice, bars added around a drawn bar, and an explicit render call.
    second = f'<script async src="{live.server}/static/sharebar.js" data-site="{live.site.key}"></script>'
    page = tab.goto(live.add_page("/once", '<div id="a" data-sharebar></div>' + second))
    page.evaluate("""() => {
        const a = document.getElementById('a');
        a.before(Object.assign(document.createElement('p'), {textContent: 'added'}));
        const b = document.createElement('div');
        b.id = 'b';
        b.dataset.sharebar = '';
        a.after(b);
        Sharebar.render();
    }""")
    page.wait_for_selector("#b [data-service]")
    page.wait_for_load_state("networkidle")
    for host in ("#a", "#b"):
        assert page.locator(f"{host} .sb").count() == 1
        assert services_of(page, host) == list(platforms.DEFAULT_SERVICES)
    assert page.evaluate("document.adoptedStyleSheets.length") == 1  # the bar's stylesheet, once


QUEUE_STUB = """<script>
window.Sharebar = window.Sharebar || function () { (Sharebar.q = Sharebar.q || []).push(arguments); };
Sharebar('track', {type: 'share', service: 'douban', url: location.href, title: 'queued'});
Sharebar('no-such-method');
Sharebar('track', {type: 'share', service: 'qq', url: location.href, title: 'queued'});
</script>"""


def test_calls_queued_before_the_script_loads_run_after(live: Live, tab: Tab) -> None:
    url = live.add_page("/queued", "<div data-sharebar></div>", head=QUEUE_STUB)
    page = tab.goto(url)
    assert page.evaluate("typeof Sharebar.render") == "function"
    assert live.wait_for_shares(2) == [("douban", url), ("qq", url)]
    assert any("no-such-method" in error for error in tab.errors)  # reported, and the rest ran
