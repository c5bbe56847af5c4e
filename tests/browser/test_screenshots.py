"""Screenshots for a person to look at, in bench/out/ (not committed): every look of the bar
and both dialogs. Each test also checks that what it photographs is on screen."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from conftest import Seeder
from widget_server import platforms

from .conftest import Live, Tab, poll

EVERYTHING = ",".join(s.id for s in platforms.SERVICES)
GALLERY_STYLE = """<style>
body { font: 15px system-ui, sans-serif; margin: 24px; color: #222; }
h2 { font-size: 14px; margin: 18px 0 6px; color: #555; }
.night { background: #1b1b1f; color: #eee; padding: 12px; border-radius: 8px; }
.night h2 { color: #bbb; }
</style>"""
GALLERY = """
<h2>light, medium (site defaults)</h2><div id="light" data-sharebar data-theme="light"></div>
<h2>small</h2><div id="small" data-sharebar data-size="small"></div>
<h2>large</h2><div id="large" data-sharebar data-size="large"></div>
<h2>counts, zh-CN</h2><div id="zh" data-sharebar data-counts="true" data-url="/counted"></div>
<h2>counts, en, large</h2><div id="en" data-sharebar data-counts="true" data-lang="en" data-size="large"
   data-url="/counted"></div>
<h2>every service</h2><div id="all" data-sharebar data-services="{all}"></div>
<div class="night"><h2>dark</h2><div id="dark" data-sharebar data-theme="dark" data-services="{all}"></div>
<h2>dark, counts</h2><div id="dark-counts" data-sharebar data-theme="dark" data-counts="true" data-url="/counted"></div>
</div>
"""
ARTICLE = "<article>" + "<p>这是一篇用来看浮动分享栏的文章。正文很长，读者向下滚动时分享栏停在左边。</p>" * 40 + "</article>"


def seed_counts(live: Live) -> None:
    seed = Seeder(live.app, live.site.id)
    today = date.today().isoformat()
    for service_id, shares in (("weibo", 12_345), ("wechat", 3_456), ("qzone", 87), ("x", 1_234_567), ("copy", 5)):
        seed.rollup(today, f"http://localhost:{live.host.port}/counted", service_id, shares=shares)


def test_screenshot_every_look(live: Live, tabs: Any, screenshots: Path) -> None:
    seed_counts(live)
    tab: Tab = tabs(viewport={"width": 1000, "height": 900})
    url = live.add_page("/gallery", GALLERY.format(all=EVERYTHING), head=GALLERY_STYLE)
    page = tab.goto(url, bars=8)
    poll(page, "() => document.querySelectorAll('.sb-total').length == 3")
    page.screenshot(path=screenshots / "bars.png", full_page=True)
    assert page.locator("#dark-counts .sb-total b").inner_text() == "125万"  # 1,250,460
    assert page.locator("#en .sb-total b").inner_text() == "1.3M"
    for host in ("#light", "#small", "#large", "#zh", "#en", "#all", "#dark"):
        assert page.locator(f"{host} [data-service]").first.is_visible()

    tab.control("copy", "#light").click()
    status = page.locator("#light [role=status]")
    status.get_by_text("已复制链接").wait_for()
    page.locator("#light").screenshot(path=screenshots / "copied.png")


def test_screenshot_float_layout(live: Live, tabs: Any, screenshots: Path) -> None:
    url = live.add_page("/float", ARTICLE + '<div data-sharebar data-layout="float"></div>')
    for name, viewport in (("float.png", {"width": 1000, "height": 700}), ("float-narrow.png", {"width": 390, "height": 700})):
        tab: Tab = tabs(viewport=viewport)
        page = tab.goto(url)
        page.mouse.wheel(0, 600)
        poll(page, "() => scrollY > 300")
        page.screenshot(path=screenshots / name)
        box = page.locator("[data-sharebar] .sb").bounding_box()
        assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"]  # on screen after scrolling


def test_screenshot_dialogs(live: Live, tabs: Any, screenshots: Path) -> None:
    tab: Tab = tabs(viewport={"width": 800, "height": 600})
    url = live.add_page("/dialogs", ARTICLE[:600] + '<div id="light" data-sharebar></div>'
                        '<div id="dark" data-sharebar data-theme="dark" data-lang="en" data-services="wechat,mastodon"></div>')
    page = tab.goto(url, bars=2)
    tab.control("wechat", "#light").click()
    poll(page, "() => { const i = document.querySelector('dialog img'); return i && i.complete && i.naturalWidth > 0; }")
    page.screenshot(path=screenshots / "wechat-dialog.png")
    assert page.get_by_role("dialog").get_by_role("img").is_visible()
    page.keyboard.press("Escape")
    poll(page, "() => !document.querySelector('dialog')")

    tab.control("mastodon", "#dark").click()
    page.get_by_role("dialog").get_by_role("textbox").fill("mastodon.social")
    page.screenshot(path=screenshots / "mastodon-dialog-dark.png")
    assert page.get_by_role("dialog", name="Share on Mastodon").is_visible()
