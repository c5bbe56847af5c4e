"""Layout where readers are: below 600 px a floating bar leaves the page's content reachable
(room reserved at the end of the page, or a fold button: the site's float_mobile setting);
the like-and-share prompt is an overlay that moves none of the page's elements. Screenshots
at phone width in both themes go to bench/out/."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Live, Tab, poll

PHONE = {"width": 375, "height": 667}
ARTICLE = ("<article>" + "<p>这是一篇在手机上读的文章。分享栏停在屏幕下方，正文的最后一行也要读得到。</p>" * 30 +
           '<p id="end">全文完。</p></article>')


def at_the_end(page: Any) -> Any:
    page.evaluate("() => scrollTo(0, document.documentElement.scrollHeight)")
    poll(page, "() => innerHeight + scrollY >= document.documentElement.scrollHeight - 1")
    return page


def reachable(page: Any, selector: str) -> bool:
    """True when a tap on the middle of the element's last line lands on the element."""
    return page.evaluate("""s => {
        const r = document.querySelector(s).getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.bottom - 4);
        return !!hit && hit.closest(s) !== null;
    }""", selector)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_float_bar_on_a_phone_reserves_room_at_the_end(live: Live, tabs: Any, screenshots: Path,
                                                        scheme: str) -> None:
    tab: Tab = tabs(viewport=PHONE, color_scheme=scheme)
    page = tab.goto(live.add_page("/phone", ARTICLE + '<div data-sharebar data-layout="float"></div>'))
    bar = page.locator("[data-sharebar] .sb").bounding_box()
    assert bar["y"] + bar["height"] == PHONE["height"] and bar["width"] == PHONE["width"]  # a bottom strip
    assert bar["height"] <= 48  # one row: it scrolls sideways rather than wrap
    assert reachable(at_the_end(page), "#end")
    page.screenshot(path=screenshots / f"float-phone-{scheme}.png")
    assert tab.errors == []


def test_a_float_bar_on_a_phone_folds_away_where_the_site_chose_collapse(live: Live, tabs: Any,
                                                                        screenshots: Path) -> None:
    live.set_site_settings(float_mobile="collapse")
    tab: Tab = tabs(viewport=PHONE)
    page = tab.goto(live.add_page("/fold", ARTICLE + '<div data-sharebar data-layout="float"></div>'))
    at_the_end(page)
    assert not reachable(page, "#end")  # the strip covers the last line...
    fold = page.locator("[data-sharebar] button.sb-fold")
    fold.wait_for()  # its code (sharebar-fold.js) comes after the bar's: only such bars fetch it
    assert fold.is_visible() and fold.get_attribute("title") == "分享"
    assert fold.get_attribute("aria-expanded") == "true"
    fold.click()
    assert fold.get_attribute("aria-expanded") == "false"
    assert reachable(page, "#end")  # ... until the reader folds it away
    assert not page.locator("[data-service=weibo]").is_visible()
    page.screenshot(path=screenshots / "float-phone-folded.png")
    fold.click()
    assert page.locator("[data-service=weibo]").is_visible()


def test_no_fold_button_and_no_reserved_room_on_a_wide_screen(live: Live, tabs: Any) -> None:
    live.set_site_settings(float_mobile="collapse")
    tab: Tab = tabs(viewport={"width": 1000, "height": 700})
    page = tab.goto(live.add_page("/wide", ARTICLE + '<div data-sharebar data-layout="float"></div>'))
    assert not page.locator(".sb-fold").is_visible()
    assert page.evaluate("() => getComputedStyle(document.body, '::after').content") in ("none", "normal")


def test_settings_refuse_an_unknown_float_mobile(live: Live) -> None:
    with pytest.raises(ValueError):
        live.set_site_settings(float_mobile="hide")


def test_the_share_prompt_is_an_overlay_that_moves_nothing(live: Live, tab: Tab) -> None:
    url = live.add_page("/overlay", '<p>前文</p><button id="like" data-sharebar-action="like" data-title="诗">赞</button>'
                                    '<p id="after">后文，不该被挤开。</p><div data-sharebar></div>')
    page = tab.goto(url)
    before = page.locator("#after").bounding_box()
    page.click("#like")
    box = page.locator(".sb-ask[role=dialog]")
    box.wait_for()
    assert page.locator("#after").bounding_box() == before
    button, prompt = page.locator("#like").bounding_box(), box.bounding_box()
    assert button["y"] + button["height"] <= prompt["y"] <= button["y"] + button["height"] + 12
    assert box.evaluate("b => getComputedStyle(b).position") == "absolute"
    assert tab.errors == []
