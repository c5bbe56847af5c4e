"""Every kind of service, clicked: popups open the platform's share page with the page's
details, links are followed, WeChat shows a QR code, Mastodon asks for the server, copy
copies, native uses the Web Share API, print prints; and every click is recorded once.

Shared URLs may carry a share code (``_sb=CODE``): it is taken out before comparing.
"""
from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

import pytest

from widget_server import platforms

from .conftest import Live, Tab, base_of, poll, query_of, wait_for, without_share_code

# What a bar shares, as the page gives it (attributes) and as platforms should receive it.
TITLE = "标题 & <测试> 100% #1"
SUMMARY = "摘要：一句话, with commas"
ATTRS = {"title": TITLE, "summary": SUMMARY, "via": "@账号", "hashtags": "#话题, second"}
VIA, HASHTAGS = "账号", ["话题", "second"]
URL_KINDS = ("popup", "link", "fediverse")
POPUPS = [s.id for s in platforms.SERVICES if s.kind == "popup"]
LINKS = [s.id for s in platforms.SERVICES if s.kind == "link"]


def service(service_id: str) -> platforms.Service:
    return next(s for s in platforms.SERVICES if s.id == service_id)


def expected_share_url(service_id: str, url: str, image: str = "", title: str = TITLE, summary: str = SUMMARY,
                       via: str = VIA, hashtags: list[str] | None = None) -> str:
    """The registry's template filled as its docstring says, percent-encoded as
    encodeURIComponent does; parameters left empty are dropped by the query comparison."""
    tags = HASHTAGS if hashtags is None else hashtags
    values = {
        "url": url, "title": title, "summary": summary, "image": image, "via": via,
        "hashtags": ",".join(tags), "tags_weibo": "".join(f" #{tag}#" for tag in tags),
        "via_at": f" @{via}" if via else "",
    }
    template = service(service_id).template
    assert template is not None
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe="-_.!~*'()"), template)


def assert_same_share(actual: str, expected: str) -> None:
    """Same scheme, host and path; same parameters, value by value (empty ones dropped)."""
    assert base_of(without_share_code(actual)) == base_of(expected)
    wanted = {key: value for key, value in query_of(expected).items() if value}
    assert query_of(actual) == wanted, actual


def bar_attrs(**values: str) -> str:
    return " ".join(f'data-{key}="{html.escape(value)}"' for key, value in values.items())


def test_share_urls_follow_the_registry_templates(live: Live, tab: Tab) -> None:
    page = tab.goto(live.add_page("/templates", "<div data-sharebar></div>"))
    full = {"url": "https://localhost/文章/1?a=1&b=2", "image": "https://localhost/封面.png", **ATTRS}
    bare = {"url": "https://localhost/p", "title": "Only a title"}
    ids = [s.id for s in platforms.SERVICES if s.kind in URL_KINDS]
    urls = page.evaluate("([ids, full, bare]) => Promise.all(ids.map(id => "
                         "Promise.all([Sharebar.shareUrl(id, full), Sharebar.shareUrl(id, bare)])))", [ids, full, bare])
    absolute_url = "https://localhost/%E6%96%87%E7%AB%A0/1?a=1&b=2"  # as new URL() writes it
    for service_id, (shared, minimal) in zip(ids, urls):
        assert_same_share(shared, expected_share_url(service_id, absolute_url, "https://localhost/%E5%B0%81%E9%9D%A2.png"))
        assert_same_share(minimal, expected_share_url(service_id, bare["url"], title=bare["title"], summary="",
                                                      via="", hashtags=[]))
        assert not re.search(r"[?&][^=&]+=(&|$)", minimal), f"{service_id}: empty parameter in {minimal}"
    weibo, x = (query_of(urls[ids.index(i)][0]) for i in ("weibo", "x"))
    assert weibo["title"] == f"{TITLE} #话题# #second# @账号"  # Weibo's #话题# and @账号
    assert (x["hashtags"], x["via"], x["text"]) == ("话题,second", "账号", TITLE)


def test_popup_services_open_the_platforms_share_page(live: Live, tab: Tab) -> None:
    shared = f"http://localhost:{live.host.port}/post/1?id=7"
    image = f"http://localhost:{live.host.port}/cover.png"
    attrs = bar_attrs(services=",".join(POPUPS), url=shared, image=image, **ATTRS)
    tab.goto(live.add_page("/popups", f"<div data-sharebar {attrs}></div>"))
    for service_id in POPUPS:
        popup = tab.popup_from(service_id)
        assert_same_share(popup.url, expected_share_url(service_id, shared, image))
        assert popup.evaluate("window.opener") is None, f"{service_id}: the popup can reach the page"
        popup.close()
    assert tab.page.url.endswith("/popups")  # the page itself stayed
    assert live.wait_for_shares(len(POPUPS)) == sorted((service_id, shared) for service_id in POPUPS)


LINK_SPY = """addEventListener('click', e => {
  const a = e.target.closest && e.target.closest('a');
  if (!a) return;
  (window.__followed = window.__followed || []).push({href: a.href, prevented: e.defaultPrevented});
  e.preventDefault();  // the test stands in for the mail and SMS apps
});"""


def test_link_services_are_followed(live: Live, tab: Tab) -> None:
    tab.page.add_init_script(LINK_SPY)
    url = live.add_page("/links", f'<div data-sharebar {bar_attrs(services="email,sms", **ATTRS)}></div>')
    page = tab.goto(url)
    for service_id in LINKS:
        tab.control(service_id).click()
    followed = poll(page, "() => window.__followed && window.__followed.length == 2 && window.__followed")
    for service_id, link in zip(LINKS, followed):
        assert not link["prevented"], f"{service_id}: the widget kept the browser from following its link"
        assert_same_share(link["href"], expected_share_url(service_id, url))
    assert live.wait_for_shares(2) == [("email", url), ("sms", url)]


def test_blocked_popup_opens_a_tab_or_shows_a_link(live: Live, tab: Tab) -> None:
    tab.page.add_init_script("window.open = () => null;")  # what a popup blocker does
    url = live.add_page("/blocked", '<div data-sharebar data-services="weibo,telegram"></div>')
    page = tab.goto(url)
    tab.control("weibo").click()
    expected = expected_share_url("weibo", url, title="测试页面", summary="", via="", hashtags=[])
    status = page.locator("[data-sharebar] [role=status]")
    link = status.locator("a")
    wait_for(lambda: link.count() or tab.opened, 3.0, "a new tab or a link to the share page")
    if link.count():
        assert link.is_visible() and "拦截" in status.inner_text()
        assert_same_share(link.get_attribute("href") or "", expected)
    for opened in tab.opened:
        wait_for(lambda: opened.url != "about:blank", 5.0, "the new tab's address")
        assert_same_share(opened.url, expected)
    assert live.wait_for_shares(1) == [("weibo", url)]


def qr_image_loaded(page: Any) -> bool:
    return bool(page.evaluate("() => { const i = document.querySelector('dialog img');"
                              " return i && i.complete && i.naturalWidth > 0; }"))


def test_wechat_shows_the_servers_qr_code_and_escape_closes_it(live: Live, tab: Tab) -> None:
    url = live.add_page("/wechat", '<div data-sharebar data-services="weibo,wechat,copy"></div>')
    page = tab.goto(url)
    tab.control("wechat").click()
    dialog = page.get_by_role("dialog", name="分享到微信")
    dialog.wait_for()
    wait_for(lambda: qr_image_loaded(page), 5.0, "the QR code image")
    img = dialog.locator("img")
    src = img.get_attribute("src") or ""
    assert src.startswith(f"{live.server}/v1/qr.svg?")
    assert query_of(src)["url"] == url and query_of(src)["site"] == live.site.key
    assert img.get_attribute("alt") == "本页二维码" and img.is_visible()
    assert "用微信扫一扫" in dialog.inner_text()
    page.keyboard.press("Escape")
    poll(page, "() => !document.querySelector('dialog')")
    assert page.evaluate("document.activeElement.dataset.service") == "wechat"
    tab.control("wechat").click()
    dialog.get_by_role("button", name="关闭").click()
    poll(page, "() => !document.querySelector('dialog')")
    assert live.wait_for_shares(2) == [("wechat", url), ("wechat", url)]


IN_APP = {
    "wechat": ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
               "Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220089 MMWEBSDK/20240301 MMWEBID/1234 "
               "MicroMessenger/8.0.48.2580(0x28003036) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"),
    "qq": ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
           "Chrome/109.0.5414.86 MQQBrowser/6.2 TBS/047601 Mobile Safari/537.36 V1_AND_SQ_9.0.20_5844_YYB_D "
           "QQ/9.0.20.14375 NetType/WIFI WebP/0.3.0 AppId/537210084 Pixel/1080"),
}


@pytest.mark.parametrize("app_name", sorted(IN_APP))
def test_wechat_inside_an_in_app_browser_points_to_its_menu(live: Live, tabs: Any, app_name: str) -> None:
    tab = tabs(user_agent=IN_APP[app_name], viewport={"width": 390, "height": 780}, has_touch=True)
    page = tab.goto(live.add_page("/in-app", '<div data-sharebar data-services="wechat"></div>'))
    tab.control("wechat").click()
    dialog = page.get_by_role("dialog", name="分享到微信")
    dialog.wait_for()
    assert dialog.locator("img").count() == 0
    assert "右上角" in dialog.inner_text() and "扫一扫" not in dialog.inner_text()


def mastodon_dialog(tab: Tab) -> Any:
    tab.control("mastodon").click()
    dialog = tab.page.get_by_role("dialog", name="分享到Mastodon")
    dialog.wait_for()
    return dialog


def test_mastodon_asks_for_the_server_and_remembers_it_only_when_asked(live: Live, tab: Tab) -> None:
    url = live.add_page("/fedi", '<div data-sharebar data-services="mastodon"></div>')
    page = tab.goto(url)
    stored = "() => localStorage.getItem('sharebar.fediverse')"

    dialog = mastodon_dialog(tab)
    server = dialog.get_by_role("textbox")
    assert page.evaluate("document.activeElement.type") == "text"  # focus is on the server box
    server.fill("not a server")
    dialog.get_by_role("button", name="分享").click()
    assert dialog.is_visible() and server.evaluate("el => !el.validity.valid")  # told, not sent
    server.fill("@reader@mastodon.example")
    with tab.context.expect_page() as opened:
        dialog.get_by_role("button", name="分享").click()
    wait_for(lambda: opened.value.url != "about:blank", 5.0, "the Mastodon page")
    assert base_of(opened.value.url) == "https://mastodon.example/share"
    assert query_of(opened.value.url) == {"text": f"测试页面 {url}"}
    assert page.evaluate(stored) is None  # not asked to remember

    dialog = mastodon_dialog(tab)
    assert dialog.get_by_role("textbox").input_value() == ""
    dialog.get_by_role("textbox").fill("https://social.example/about")
    dialog.get_by_role("checkbox", name="记住服务器").check()
    with tab.context.expect_page() as opened:
        dialog.get_by_role("button", name="分享").click()
    wait_for(lambda: opened.value.url != "about:blank", 5.0, "the Mastodon page")
    assert base_of(opened.value.url) == "https://social.example/share"
    assert page.evaluate(stored) == "social.example"

    dialog = mastodon_dialog(tab)
    assert dialog.get_by_role("textbox").input_value() == "social.example"
    assert dialog.get_by_role("checkbox").is_checked()
    page.keyboard.press("Escape")
    poll(page, "() => !document.querySelector('dialog')")
    assert live.wait_for_shares(2) == [("mastodon", url), ("mastodon", url)]  # sent twice, closed once


def test_copy_copies_the_page_link_and_says_so(live: Live, tabs: Any) -> None:
    tab = tabs()
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    url = live.add_page("/copy", '<div data-sharebar data-services="weibo,copy"></div>')
    page = tab.goto(url + "?id=3&utm_source=newsletter&from=timeline")
    tab.control("copy").click()
    status = page.locator("[data-sharebar] [role=status]")
    status.get_by_text("已复制链接").wait_for()
    assert status.is_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert without_share_code(copied) == url + "?id=3"  # tracking parameters dropped
    assert live.wait_for_shares(1) == [("copy", url + "?id=3")]


def test_native_is_hidden_without_the_web_share_api(live: Live, tab: Tab) -> None:
    tab.page.add_init_script("delete Navigator.prototype.share; delete navigator.share;")
    page = tab.goto(live.add_page("/no-native", '<div data-sharebar data-services="weibo,native,copy"></div>'))
    assert page.evaluate("typeof navigator.share") == "undefined"
    assert page.eval_on_selector_all("[data-service]", "els => els.map(e => e.dataset.service)") == ["weibo", "copy"]


NATIVE_STUB = """Object.defineProperty(Navigator.prototype, 'share', {configurable: true,
  value(data) { (window.__shared = window.__shared || []).push(data); return Promise.resolve(); }});"""


def test_native_calls_the_web_share_api_with_the_page(live: Live, tab: Tab) -> None:
    tab.page.add_init_script(NATIVE_STUB)
    url = live.add_page("/native", '<div data-sharebar data-services="native" data-summary="总结"></div>')
    page = tab.goto(url)
    control = tab.control("native")
    assert control.is_visible() and control.get_attribute("title") == "更多"
    control.click()
    shared = poll(page, "() => window.__shared")
    assert len(shared) == 1
    assert without_share_code(shared[0]["url"]) == url and shared[0]["title"] == "测试页面"
    assert live.wait_for_shares(1) == [("native", url)]


def test_print_prints_the_page(live: Live, tab: Tab) -> None:
    tab.page.add_init_script("window.print = () => { window.__printed = (window.__printed || 0) + 1; };")
    url = live.add_page("/print", '<div data-sharebar data-services="print"></div>')
    page = tab.goto(url)
    tab.control("print").click()
    assert poll(page, "() => window.__printed") == 1
    assert live.wait_for_shares(1) == [("print", url)]


def test_a_bar_shares_the_page_shown_in_a_single_page_app(live: Live, tab: Tab) -> None:
    page = tab.goto(live.add_page("/app/1", '<div data-sharebar data-services="telegram"></div>'))
    page.evaluate("() => { history.pushState({}, '', '/app/2?utm_medium=x&tab=b'); document.title = '第二页'; }")
    popup = tab.popup_from("telegram")
    second = f"http://localhost:{live.host.port}/app/2?tab=b"
    assert query_of(popup.url) == {"url": second, "text": "第二页"}
    assert live.wait_for_shares(1) == [("telegram", second)]
