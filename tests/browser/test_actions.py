"""Like-and-share in a real browser: declarative buttons and Sharebar.action record the action
and offer the share worded for the verb and language; shares from the offer carry the verb;
recent-activity lists show escaped text, names only where the site allows; the action code
loads only where it is used, and everything works under a strict CSP."""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import BeaconSender, Partner, aggregate, issue_token, table_rows
from test_actors import plain_token
from sqlalchemy import update

from widget_server import db
from widget_server.models import actions, utcnow

from .conftest import VIOLATIONS, Live, Tab, poll, pumped, query_of, strict_csp, wait_for

XSS = "<img src=x onerror=alert(1)>"
PROMPT = ".sb-ask[role=dialog]"
QUEUE_STUB = ("<script>window.Sharebar = window.Sharebar || function () "
              "{ (Sharebar.q = Sharebar.q || []).push(arguments) };</script>")


def actor_token(live: Live, **fields: Any) -> str:
    """What the site's backend would put in data-actor: plain HMAC over the claims."""
    claims = {"site": live.site.id, "uid": "u-7", "name": "李雷", "exp": int(time.time()) + 600, **fields}
    return plain_token(claims, secret=live.site.secret)


def wait_for_actions(live: Live, page: Any, count: int, settle: int = 150) -> list[Any]:
    """The stored actions once there are ``count``; a little longer to catch any extra."""
    pumped(page, lambda: len(table_rows(live.app, "actions")) >= count, f"{count} actions")
    page.wait_for_timeout(settle)
    return table_rows(live.app, "actions")


def prompt(page: Any) -> Any:
    """The share prompt, once it is shown."""
    box = page.locator(PROMPT)
    box.wait_for()
    return box


def focus_in(page: Any, selector: str) -> bool:
    return bool(page.evaluate("s => !!document.activeElement.closest(s)", selector))


def share_rollup(live: Live, verb: str) -> Any:
    """The daily rollup of shares that followed ``verb`` (None until there is one)."""
    rows = [row for row in table_rows(live.app, "daily_rollups") if row.action == verb and row.service]
    return rows[0] if rows else None


def test_like_button_records_a_signed_action_and_shares_with_the_verb(live: Live, tab: Tab) -> None:
    token = actor_token(live)
    url = live.add_page("/post", '<div data-sharebar></div>'
                                 f'<button id="like" data-sharebar-action="like" data-actor="{token}" '
                                 'data-title="春天的诗">赞</button>')
    page = tab.goto(url)
    page.click("#like")

    [row] = wait_for_actions(live, page, 1)
    assert (row.verb, row.actor_uid, row.actor_name, row.status) == ("like", "u-7", "李雷", "counted")
    box = prompt(page)
    assert page.get_by_role("dialog", name="赞了《春天的诗》").is_visible()
    button, anchored = page.locator("#like").bounding_box(), box.bounding_box()
    assert 0 <= anchored["y"] - (button["y"] + button["height"]) <= 12  # just below the button
    assert abs(anchored["x"] - button["x"]) <= 8
    assert focus_in(page, PROMPT)
    # The site's default services, small.
    services = box.locator("[data-service]").evaluate_all("els => els.map(e => e.dataset.service)")
    assert services == ["weibo", "wechat", "qq", "qzone", "douban", "x", "facebook", "copy"]

    with tab.context.expect_page() as opened:
        box.locator("[data-service=weibo]").click()
    popup = opened.value
    wait_for(lambda: popup.url != "about:blank", 5.0, "the popup's address")
    assert query_of(popup.url)["title"] == "赞了《春天的诗》"  # the sentence is the shared text
    assert live.wait_for_shares(1) == [("weibo", url)]
    rollup = pumped(page, lambda: share_rollup(live, "like"), "the share counted for the verb")
    assert (rollup.service, rollup.shares, rollup.action_shares) == ("weibo", 1, 1)
    # The page's title, not the sentence, is what the browser reported (public once a second reader agrees).
    assert {row.title for row in table_rows(live.app, "event_log")} == {"春天的诗"}

    partner = Partner(live.app.test_client(), live.site.id, issue_token(live.app, [live.site.id])[1])
    answer = partner.get("/api/v1/stats/breakdown", property="action", period="day",
                         metrics="actions,action_shares,share_rate").get_json()
    assert {"action": "like", "actions": 1, "action_shares": 1, "share_rate": 1.0} in answer["results"]
    assert tab.errors == []


@pytest.mark.parametrize(("lang", "title", "said"), [
    ("zh-CN", "春天的诗", "赞了《春天的诗》"),
    ("zh-TW", "春天的詩", "讚了《春天的詩》"),
    ("en", "Spring $& poem", "liked “Spring $& poem”"),
])
def test_prompt_speaks_the_language_and_escape_returns_focus(live: Live, tab: Tab, lang: str, title: str,
                                                            said: str) -> None:
    url = live.add_page("/lang", f'<p><button id="like" data-sharebar-action="like" data-title="{title}">+1</button></p>',
                        lang=lang)
    page = tab.page
    page.goto(url)
    page.click("#like")
    box = prompt(page)
    assert page.get_by_role("dialog", name=said).is_visible()
    assert box.get_attribute("lang") == lang
    assert box.locator(".sb-say").inner_text() == said
    assert focus_in(page, PROMPT)

    page.keyboard.press("Escape")
    poll(page, "s => !document.querySelector(s)", PROMPT)
    assert page.evaluate("document.activeElement.id") == "like"
    [row] = wait_for_actions(live, page, 1)
    assert (row.verb, row.actor_uid) == ("like", None)  # anonymous: the site allows it


def test_close_button_and_a_later_element(live: Live, tab: Tab) -> None:
    url = live.add_page("/later", '<div id="comments"></div>', lang="en")
    page = tab.page
    page.goto(url)
    page.evaluate("""() => {
        const b = document.createElement('button');
        b.id = 'upvote'; b.textContent = 'Upvote';
        b.dataset.sharebarAction = 'upvote'; b.dataset.title = 'A comment'; b.dataset.services = 'x,copy';
        document.getElementById('comments').append(b);
    }""")
    page.click("#upvote")
    box = prompt(page)
    assert box.locator(".sb-say").inner_text() == "upvoted “A comment”"
    assert box.locator("[data-service]").evaluate_all("els => els.map(e => e.dataset.service)") == ["x", "copy"]
    page.keyboard.press("Tab")
    box.get_by_role("button", name="Close").click()
    poll(page, "s => !document.querySelector(s)", PROMPT)
    assert page.evaluate("document.activeElement.id") == "upvote"
    assert [row.verb for row in wait_for_actions(live, page, 1)] == ["upvote"]


def test_data_share_false_records_without_a_prompt(live: Live, tab: Tab) -> None:
    url = live.add_page("/fav", '<button id="fav" data-sharebar-action="favorite" data-share="false">收藏</button>')
    page = tab.page
    page.goto(url)
    page.click("#fav")
    assert [row.verb for row in wait_for_actions(live, page, 1, settle=500)] == ["favorite"]
    assert page.locator(PROMPT).count() == 0
    assert page.evaluate("document.activeElement.id") == "fav"


def test_action_queued_before_load_is_sent_after_load(live: Live, tab: Tab) -> None:
    head = QUEUE_STUB + "<script>Sharebar('action', 'read', {title: '一篇长文', url: '/long'});</script>"
    url = live.add_page("/queued", "<p>正文</p>", head=head)
    page = tab.page
    page.goto(url)
    [row] = wait_for_actions(live, page, 1)
    assert row.verb == "read"
    assert [row.url for row in table_rows(live.app, "pages")] == [url.replace("/queued", "/long")]
    box = prompt(page)
    assert "sb-ask-fixed" in box.get_attribute("class")  # no element to sit next to
    assert box.locator(".sb-say").inner_text() == "读完了《一篇长文》"
    page.keyboard.press("Escape")
    poll(page, "s => !document.querySelector(s)", PROMPT)


def test_action_code_loads_only_when_used(live: Live, tab: Tab) -> None:
    url = live.add_page("/plain", "<div data-sharebar></div>")
    page = tab.goto(url)
    page.wait_for_load_state("networkidle")
    assert not any("sharebar-actions" in request for request in tab.requests)

    # Never throws into the page, whatever it is given.
    assert page.evaluate("""() => [Sharebar.action(), Sharebar.action(null, 5), Sharebar.action('like', 'x'),
        Sharebar.action('upvote', {share: false, title: 'Scripted'})]""") == [None] * 4
    rows = wait_for_actions(live, page, 2)
    assert sorted(row.verb for row in rows) == ["like", "upvote"]
    assert any(request.endswith("/static/sharebar-actions.js") for request in tab.requests)
    assert any(request.endswith("/static/sharebar-actions.css") for request in tab.requests)
    assert tab.errors == []


def send_actions(live: Live, page_url: str) -> None:
    """Two actions whose every text field carries HTML, one named and one anonymous, counted
    before the page that lists them asks for them (the widget asks once)."""
    sender = BeaconSender(live.app.test_client(), live.site)
    named = sender.action("like", url=page_url, title=XSS, actor=actor_token(live, name=XSS))
    anonymous = sender.action("comment", url=page_url, title=XSS, ip="192.0.2.50")
    assert (named.status_code, anonymous.status_code) == (204, 204)
    aggregate(live.app)


def activity_texts(page: Any, host: str) -> list[str]:
    poll(page, "s => document.querySelector(s + ' li')", host)
    return page.locator(f"{host} li").evaluate_all("els => els.map(e => e.textContent)")


def test_recent_activity_is_escaped_and_named_only_when_public(live: Live, tab: Tab, tabs: Any) -> None:
    page_url = f"http://localhost:{live.host.port}/article"
    send_actions(live, page_url)
    url = live.add_page("/activity", '<div id="feed" data-sharebar-activity></div>'
                                     '<div id="here" data-sharebar-activity data-url="/article" data-limit="1"></div>')
    tab.page.goto(url)
    tab.page.wait_for_load_state("networkidle")
    assert tab.page.locator("#feed").inner_html() == ""  # not opted in: nothing asked for, nothing drawn
    assert not [request for request in tab.requests if "/v1/activity" in request]
    assert tab.errors == []

    live.set_site_settings(public_activity=True)
    other: Tab = tabs()
    other.page.goto(url)
    texts = activity_texts(other.page, "#feed")
    assert texts[0].startswith(f"有人评论了《{XSS}》 ")
    assert texts[1].startswith(f"有人赞了《{XSS}》 ")  # no name: the site keeps them private
    assert activity_texts(other.page, "#here") == [texts[0]]
    assert other.page.locator("#feed a").evaluate_all("els => els.map(e => e.href)") == [page_url, page_url]
    assert other.page.locator("#feed time").first.get_attribute("datetime")
    assert other.page.locator("img").count() == 0

    live.set_site_settings(public_names=True)
    named: Tab = tabs(locale="en-US")
    named.page.goto(live.add_page("/activity-en", '<div id="feed" data-sharebar-activity></div>', lang="en"))
    texts = activity_texts(named.page, "#feed")
    assert texts[0].startswith(f"Someone commented on “{XSS}” ")
    assert texts[1].startswith(f"{XSS} liked “{XSS}” ")
    assert named.page.locator("img").count() == 0
    assert named.page.locator("#feed ul").get_attribute("aria-label") == "Recent activity"
    assert other.errors == [] and named.errors == []


def test_everything_works_under_a_strict_csp(live: Live, tab: Tab) -> None:
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://localhost:{live.host.port}")
    tab.page.add_init_script(VIOLATIONS)
    live.set_site_settings(public_activity=True, public_names=True)
    send_actions(live, f"http://localhost:{live.host.port}/csp")
    url = live.add_page("/csp", '<div data-sharebar data-services="weibo,wechat,copy"></div>'
                                f'<button id="like" data-sharebar-action="like" data-actor="{actor_token(live)}">赞</button>'
                                '<div id="feed" data-sharebar-activity data-url=""></div>',
                        headers=strict_csp(live.server))
    page = tab.goto(url)
    assert len(activity_texts(page, "#feed")) == 2
    page.click("#like")
    box = prompt(page)
    assert box.evaluate("b => getComputedStyle(b).borderRadius") == "10px"  # its stylesheet is in
    box.locator("[data-service=copy]").click()
    box.get_by_text("已复制链接").wait_for()
    assert live.wait_for_shares(1) == [("copy", url)]
    assert pumped(page, lambda: share_rollup(live, "like"), "the share counted").action_shares == 1
    assert page.evaluate("window.__violations") == []
    assert tab.errors == []


def seed_activity(live: Live) -> None:
    """Four actions on four pages, by name and anonymous, minutes to weeks old."""
    sender = BeaconSender(live.app.test_client(), live.site)
    base = f"http://localhost:{live.host.port}"
    seeded = [("upload", "Lucy", "/photos", "Autumn leaves in Beijing", timedelta(days=20)),
              ("favorite", "韩梅梅", "/long", "一篇很长很长的文章标题，看看在窄的地方会不会好好地换行显示", timedelta(days=1, hours=2)),
              ("comment", None, "/summer", "夏夜的星空", timedelta(hours=3)),
              ("like", "李雷", "/spring", "春天的诗", timedelta(minutes=5))]
    for i, (verb, name, path, title, age) in enumerate(seeded):
        actor = actor_token(live, uid=f"u-{i}", name=name) if name else None
        assert sender.action(verb, url=base + path, title=title, actor=actor, ip=f"192.0.2.{i}").status_code == 204
        assert sender.send(url=base + path, title=title, ip=f"198.18.0.{i}").status_code == 204  # titles agreed
        aggregate(live.app)
        with live.app.app_context(), db.engine().begin() as conn:
            conn.execute(update(actions).where(actions.c.verb == verb).values(created_at=utcnow() - age))


def test_screenshot_prompt_and_activity(live: Live, tabs: Any, screenshots: Path) -> None:
    live.set_site_settings(public_activity=True, public_names=True)
    seed_activity(live)
    body = ('<h2>最新动态</h2><div id="light" data-sharebar-activity data-theme="light"></div>'
            '<div class="night"><h2>Recent activity (dark, en)</h2>'
            '<div id="dark" data-sharebar-activity data-theme="dark" data-lang="en" data-limit="3"></div></div>'
            '<p>文章正文……</p><div><button id="like" data-sharebar-action="like" data-title="春天的诗">赞</button></div>'
            '<p>下一段。</p>')
    style = ("<style>body{font:15px system-ui,sans-serif;margin:24px;max-width:420px}"
             ".night{background:#1b1b1f;color:#eee;padding:12px;border-radius:8px}h2{font-size:16px}</style>")
    tab: Tab = tabs(viewport={"width": 480, "height": 700}, device_scale_factor=2)
    page = tab.page
    page.goto(live.add_page("/shot", body, head=style))
    assert len(activity_texts(page, "#light")) == 4
    assert activity_texts(page, "#dark")[0].startswith("李雷 liked “春天的诗” 5 minutes ago")
    page.click("#like")
    prompt(page)
    poll(page, "() => [...document.querySelectorAll('.sb-ask svg')].every(s => s.getBoundingClientRect().width == 24)")
    page.screenshot(path=screenshots / "actions.png", full_page=True)
