"""Accessibility: names in the bar's language that say when a new window opens, keyboard
order and activation, a visible focus ring, labelled modal dialogs, 3:1 contrast in every
theme."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from widget_server import platforms
from widget_server.platforms import contrast_ratio

from .conftest import Live, Tab, poll, wait_for

NATIVE_STUB = ("Object.defineProperty(Navigator.prototype, 'share', {configurable: true,"
               " value: () => Promise.resolve()});")
EVERYTHING = ",".join(s.id for s in platforms.SERVICES)
LANGS = ("zh-CN", "zh-TW", "en")
# How each kind of control is named, per language: popups say that they open a new window.
NAMES = {
    "popup": ("分享到{}（在新窗口中打开）", "分享到{}（在新視窗中開啟）", "Share on {} (opens in a new window)"),
    "link": ("通过{}分享", "透過{}分享", "Share via {}"),
    "qr": ("分享到{}", "分享到{}", "Share on {}"),
    "fediverse": ("分享到{}", "分享到{}", "Share on {}"),
    "copy": ("{}", "{}", "{}"),
    "print": ("{}", "{}", "{}"),
    "native": ("{}", "{}", "{}"),
}


def expected_name(service: platforms.Service, lang: int) -> str:
    return NAMES[service.kind][lang].format(service.names[lang])


@pytest.mark.parametrize("lang", LANGS)
def test_every_control_is_named_in_the_bars_language(live: Live, tab: Tab, lang: str) -> None:
    tab.page.add_init_script(NATIVE_STUB)
    page = tab.goto(live.add_page("/names", f'<div data-sharebar data-lang="{lang}" data-services="{EVERYTHING}"></div>'))
    bar = page.get_by_role("group", name="Share" if lang == "en" else "分享")
    for service in platforms.SERVICES:
        role = "link" if service.kind in ("popup", "link") else "button"
        control = bar.get_by_role(role, name=expected_name(service, LANGS.index(lang)), exact=True)
        assert control.count() == 1, f"{service.id}: no {role} named {expected_name(service, LANGS.index(lang))!r}"
        assert control.get_attribute("data-service") == service.id
        if service.kind == "popup":
            assert control.get_attribute("target") == "_blank"


FOCUSABLE = ["weibo", "wechat", "qq", "copy", "email", "mastodon", "print"]


def test_tab_reaches_every_control_in_order_with_a_visible_ring(live: Live, tab: Tab, screenshots: Path) -> None:
    bars = (f'<button id="before">before</button><div data-sharebar data-services="{",".join(FOCUSABLE)}"></div>'
            '<button id="after">after</button>')
    page = tab.goto(live.add_page("/keyboard", bars))
    page.focus("#before")
    reached = []
    for _ in FOCUSABLE:
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.dataset.service"))
        ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                                 return [s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
        assert ring[0] != "none" and ring[1] >= 2, f"{reached[-1]}: no focus ring ({ring})"
    assert reached == FOCUSABLE
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "after"

    # The ring is seen, not just declared: the pixels around a control change with focus.
    box = tab.control("copy").bounding_box()
    clip = {"x": box["x"] - 6, "y": box["y"] - 6, "width": box["width"] + 12, "height": box["height"] + 12}
    page.focus("#after")
    unfocused = page.screenshot(clip=clip)
    page.focus("#before")
    for _ in range(FOCUSABLE.index("copy") + 1):
        page.keyboard.press("Tab")
    focused = page.screenshot(clip=clip)
    assert focused != unfocused
    bar = page.locator("[data-sharebar] .sb").bounding_box()
    around = {"x": max(0, bar["x"] - 8), "y": max(0, bar["y"] - 8), "width": bar["width"] + 16, "height": bar["height"] + 16}
    page.screenshot(clip=around, path=screenshots / "focus-ring.png")  # the ring drawn outside the bar


def test_enter_and_space_activate_the_controls(live: Live, tab: Tab) -> None:
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    tab.page.add_init_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; };")
    url = live.add_page("/keys", '<div data-sharebar data-services="weibo,wechat,copy,print,mastodon"></div>')
    page = tab.goto(url)

    tab.control("copy").focus()
    page.keyboard.press("Space")
    page.get_by_text("已复制链接").wait_for()
    tab.control("print").focus()
    page.keyboard.press("Enter")
    assert poll(page, "() => window.__printed") == 1

    for key in ("Enter", "Space"):
        tab.control("wechat").focus()
        page.keyboard.press(key)
        page.get_by_role("dialog").wait_for()
        assert page.evaluate("!!document.activeElement.closest('dialog')")
        page.keyboard.press("Escape")
        poll(page, "() => !document.querySelector('dialog')")
        assert page.evaluate("document.activeElement.dataset.service") == "wechat"

    tab.control("weibo").focus()
    with tab.context.expect_page() as opened:
        page.keyboard.press("Enter")  # a link: Enter follows it, as links do
    wait_for(lambda: opened.value.url.startswith("https://service.weibo.com/"), 5.0, "Weibo's share page")
    opened.value.close()

    tab.control("mastodon").focus()
    page.keyboard.press("Enter")
    page.get_by_role("dialog").wait_for()
    page.keyboard.type("mastodon.example")
    with tab.context.expect_page() as opened:
        page.keyboard.press("Enter")  # submits the server
    wait_for(lambda: opened.value.url.startswith("https://mastodon.example/share?"), 5.0, "the Mastodon page")
    services = [service for service, _ in live.wait_for_shares(6)]
    assert services == sorted(["copy", "print", "wechat", "wechat", "weibo", "mastodon"])


def test_dialogs_are_labelled_modal_dialogs(live: Live, tab: Tab) -> None:
    page = tab.goto(live.add_page("/dialogs", '<div data-sharebar data-lang="en" data-services="wechat,mastodon"></div>'))
    for service_id, name in (("wechat", "Share on WeChat"), ("mastodon", "Share on Mastodon")):
        tab.control(service_id).click()
        dialog = page.get_by_role("dialog", name=name, exact=True)
        dialog.wait_for()
        assert dialog.evaluate("el => el.matches(':modal')")  # the page behind is inert
        assert dialog.get_attribute("lang") == "en"
        dialog.get_by_role("button", name="Close").click()
        poll(page, "() => !document.querySelector('dialog')")
        assert page.evaluate("document.activeElement.dataset.service") == service_id


COLOURS = """() => [...document.querySelectorAll('[data-service] svg')].map(svg => {
    const s = getComputedStyle(svg);
    return [svg.parentElement.dataset.service, s.backgroundColor, s.color, s.borderTopColor];
})"""


def hex_of(css: str) -> str:
    r, g, b, *alpha = (float(x) for x in re.findall(r"[\d.]+", css))
    assert not alpha or alpha[0] == 1, f"translucent colour {css}"
    return "#{:02x}{:02x}{:02x}".format(round(r), round(g), round(b))


@pytest.mark.parametrize("theme, scheme, page_colour", [
    ("light", "light", "#ffffff"), ("dark", "light", "#111111"),
    ("auto", "light", "#ffffff"), ("auto", "dark", "#111111"),
])
def test_controls_keep_3_to_1_contrast_in_every_theme(live: Live, tabs: Any, theme: str, scheme: str,
                                                      page_colour: str) -> None:
    tab: Tab = tabs(color_scheme=scheme)
    tab.page.add_init_script(NATIVE_STUB)
    bar = f'<div data-sharebar data-theme="{theme}" data-services="{EVERYTHING}"></div>'
    page = tab.goto(live.add_page("/contrast", bar, body_attrs=f'bgcolor="{page_colour}"'))
    assert hex_of(page.evaluate("getComputedStyle(document.body).backgroundColor")) == page_colour
    failing = []
    for service_id, tile, icon, border in page.evaluate(COLOURS):
        tile, icon, border = hex_of(tile), hex_of(icon), hex_of(border)
        glyph = contrast_ratio(icon, tile)  # the icon on its tile
        edge = max(contrast_ratio(tile, page_colour), contrast_ratio(border, page_colour))  # the tile on the page
        if min(glyph, edge) < 3:
            failing.append(f"{service_id}: icon {icon} on {tile} {glyph:.2f}, tile/border on page {edge:.2f}")
    assert len(page.evaluate(COLOURS)) == len(platforms.SERVICES)
    assert failing == []
