"""The dashboard as an owner uses it, in headless Chromium under its strict CSP: sign in,
register a site, reorder services with the keyboard, copy the snippet, watch the preview
change, save; the charts with seeded data; screenshots of every page in both languages and
axe-core (from npm, injected at test time) on each of them.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Seeder, make_app, upsert
from widget_server import accounts, db, sites
from widget_server.models import Site, daily_uniques, refusals

from .conftest import DESKTOP_UA, HostPages, poll, serve, wait_for

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "a long sign-in phrase 7"
EMAIL = "owner@example.com"


class Dashboard:
    """The app on a real port, an owner account, and a browser context per visit."""

    def __init__(self, app: Any, origin: str, browser: Any):
        self.app, self.origin, self.browser = app, origin, browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def visit(self, lang: str = "en", **options: Any) -> Any:
        context = self.browser.new_context(user_agent=DESKTOP_UA, locale=lang, **options)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def sign_in(self, page: Any) -> None:
        page.goto(f"{self.origin}/dashboard/")
        page.locator("#email").fill(EMAIL)
        page.locator("#password").fill(PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url("**/dashboard/")

    def site_id(self) -> int:
        with self.app.app_context():
            return max(site.id for site, _role in accounts.sites_of(accounts.user_by_email(EMAIL).id))  # type: ignore[union-attr]


@pytest.fixture
def dash(tmp_path: Path, browser: Any) -> Iterator[Dashboard]:
    app = make_app(f"sqlite:///{tmp_path}/widget.db", tmp_path)
    with app.app_context():
        accounts.create_user(EMAIL, PASSWORD)
    server, port = serve(app)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # as a self-hoster sets WIDGET_PUBLIC_URL
    board = Dashboard(app, f"http://127.0.0.1:{port}", browser)
    yield board
    for context in board.contexts:
        context.close()
    server.shutdown()
    app.extensions["widget_engine"].dispose()


def preview_services(page: Any) -> list[str]:
    return list(page.evaluate("[...document.querySelectorAll('#preview .sb [data-service]')]"
                              ".map(b => b.dataset.service)"))


def test_set_up_a_site_with_keyboard_reordering_copy_and_live_preview(dash: Dashboard) -> None:
    page = dash.visit(permissions=["clipboard-read", "clipboard-write"])
    dash.sign_in(page)
    page.get_by_role("link", name="Register a site").click()
    page.get_by_label("Name").fill("My blog")
    page.get_by_label("Domains").fill("localhost")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/sites/*/")
    first = poll(page, "document.querySelectorAll('#preview .sb [data-service]').length") and preview_services(page)
    assert first[:2] == ["weibo", "wechat"]

    # Keyboard: focus "Move WeChat up", press Enter; the focus stays, the preview follows.
    page.get_by_role("button", name="Move WeChat up").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.value") in ("wechat:up", "wechat:down")
    poll(page, "document.querySelector('#preview .sb [data-service]')?.dataset.service === 'wechat'")
    assert preview_services(page)[:2] == ["wechat", "weibo"]

    # Unsaved settings show in the preview at once.
    page.get_by_label("Theme").select_option("dark")
    poll(page, "document.getElementById('preview').dataset.theme === 'dark'")
    poll(page, "!!document.querySelector('#preview .sb')")

    page.get_by_role("button", name="Copy the snippet").click()
    wait_for(lambda: page.get_by_text("Copied.").count(), 5, "the copied message")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("<div data-sharebar></div>") and f"{dash.origin}/static/sharebar.js" in copied

    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/sites/*/?saved=1")
    with dash.app.app_context():
        site = db.session().get(Site, dash.site_id())
        assert site is not None
        bar = sites.bar_settings(site)
    assert bar["services"][:2] == ["wechat", "weibo"] and bar["theme"] == "dark"
    assert not dash.errors, dash.errors  # no CSP refusal, no missing file (the icon), no exception


def test_reorder_without_javascript(dash: Dashboard) -> None:
    page = dash.visit(java_script_enabled=False)
    dash.sign_in(page)
    page.goto(f"{dash.origin}/dashboard/sites/new")
    page.get_by_label("Name").fill("No JS")
    page.get_by_label("Domains").fill("localhost")
    page.get_by_role("button", name="Register").click()
    page.get_by_role("button", name="Move WeChat up").click()
    assert "Not saved yet" in page.content()
    order = [item.get_attribute("value") for item in page.locator("input[name=order]").all()]
    assert order[:2] == ["wechat", "weibo"]


def seed_charts(dash: Dashboard, site_id: int) -> None:
    seed = Seeder(dash.app, site_id)
    today = date.today()
    for offset in range(30):
        day = (today - timedelta(days=offset)).isoformat()
        seed.rollup(day, "http://localhost/post/1", "weibo", shares=10 + offset % 7, clickbacks=25 + offset % 5)
        seed.rollup(day, "http://localhost/post/2", "wechat", shares=3, clickbacks=offset % 4, bot_shares=2)
        seed.rollup(day, "http://localhost/post/2", "wechat", referrer="weixin.qq.com", clickbacks=2)
        seed.rollup(day, "http://localhost/post/3", "", action="like", actions=5, action_shares=2)
    post = seed.page("http://localhost/post/1")
    with dash.app.app_context(), db.engine().begin() as conn:  # a long tail, site-wide and of one page
        for age, count in (("0", 300), ("1", 120), ("2-7", 90), ("8-30", 40), ("31+", 12)):
            for dim in ("age", f"age:{post}"):
                upsert(conn, daily_uniques, {"site_id": site_id, "day": today, "dim": dim, "value": age},
                       {"clickbacks": count // (1 if dim == "age" else 3)})
        for reason, count in (("repeat", 64), ("rate-limited", 9), ("foreign-domain", 4), ("bad-key", 2)):
            upsert(conn, refusals, {"site_id": site_id, "day": today, "reason": reason}, {"count": count})


def test_charts_numbers_on_focus(dash: Dashboard) -> None:
    with dash.app.app_context():
        site = sites.create_site("Charted", ["localhost"])
        accounts.set_member(site.id, EMAIL, "owner")
    seed_charts(dash, site.id)
    page = dash.visit()
    dash.sign_in(page)
    page.goto(f"{dash.origin}/dashboard/sites/{site.id}/charts?period=30")
    point = page.locator("figure .pt").first
    point.focus()
    assert page.evaluate("getComputedStyle(document.activeElement.querySelector('.tip')).visibility") == "visible"
    assert "Shares" in point.get_attribute("aria-label")
    page.locator("summary").first.click()
    assert page.locator("details[open] table tbody tr").count() == 30


PAGES = ["/", "/sites/{id}/", "/sites/{id}/check", "/sites/{id}/charts", "/sites/{id}/members", "/sites/{id}/tokens",
         "/sites/{id}/feed", "/sites/{id}/secret", "/sites/{id}/delete", "/sites/new"]
# The same pages in the states an owner also meets: one page's charts, a refused period, a
# form with its errors beside the fields, the page after re-signing the key, an error page.
STATES = {"charts-one-page": "/sites/{id}/charts?period=30&page=http://localhost/post/1",
          "charts-bad-period": "/sites/{id}/charts?period=custom&start=2026-13-01&end=x",
          "missing": "/sites/999999/"}


@pytest.mark.skipif(not AXE.exists(), reason="axe-core comes from npm ci (package.json); node_modules is not committed")
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_passes_axe_and_is_screenshot(dash: Dashboard, screenshots: Path, lang: str) -> None:
    """Every page the dashboard serves by GET, in both languages (the dashboard has one
    theme); the screenshots, in bench/out/, are for a person to look at."""
    dash.app.config["SIGNUP"] = True
    with dash.app.app_context():
        site = sites.create_site("Screenshot site", ["localhost"])
        accounts.set_member(site.id, EMAIL, "owner")
        user = accounts.user_by_email(EMAIL)
        assert user is not None
        user.lang = lang
        db.session().commit()
    seed_charts(dash, site.id)
    page = dash.visit(lang, bypass_csp=True)  # axe is injected as a script of the test's own
    visited = {"/signin", "/signup"}
    check_page(page, f"{dash.origin}/dashboard/signin", screenshots / f"dashboard-{lang}-signin.png")
    check_page(page, f"{dash.origin}/dashboard/signup", screenshots / f"dashboard-{lang}-signup.png")
    dash.sign_in(page)
    for path in PAGES:
        name = path.strip("/").replace("/", "-").replace("{id}", "site") or "sites"
        check_page(page, dash.origin + "/dashboard" + path.format(id=site.id),
                   screenshots / f"dashboard-{lang}-{name}.png")
        visited.add(path.replace("{id}", "<int:site_id>").rstrip("/") or "/")
    for name, path in STATES.items():
        check_page(page, dash.origin + "/dashboard" + path.format(id=site.id),
                   screenshots / f"dashboard-{lang}-{name}.png")
    page.goto(f"{dash.origin}/dashboard/sites/new")
    page.locator("form button.primary").click()  # nothing filled in
    check_page(page, None, screenshots / f"dashboard-{lang}-new-site-errors.png")
    page.goto(f"{dash.origin}/dashboard/sites/{site.id}/secret")
    page.locator(f"form[action$='/sites/{site.id}/key'] button").click()
    check_page(page, None, screenshots / f"dashboard-{lang}-key-re-signed.png")
    assert page.locator("#snippet").is_visible()
    served = {rule.rule.removeprefix("/dashboard").rstrip("/") or "/" for rule in dash.app.url_map.iter_rules()
              if rule.endpoint.startswith("dashboard.") and "GET" in (rule.methods or ())
              and rule.endpoint != "dashboard.static"}
    assert served <= visited, f"pages without an axe run: {sorted(served - visited)}"


def check_page(page: Any, url: str | None, shot: Path) -> None:
    """No serious or critical axe-core violation on ``url`` (None: the page shown now); its
    screenshot in ``shot``."""
    if url:
        page.goto(url)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{page.url}: {json.dumps(bad, ensure_ascii=False)}"
    page.screenshot(path=str(shot), full_page=True)


def test_installation_check_turns_green_then_names_a_foreign_page(dash: Dashboard) -> None:
    with dash.app.app_context():
        site = sites.create_site("Checked", ["localhost"])
        accounts.set_member(site.id, EMAIL, "owner")
        key = sites.site_key(site)
    host = HostPages()
    host_server, host.port = serve(host.wsgi())
    try:
        snippet = (f'<!doctype html><html lang="en"><head><title>A post</title></head><body>'
                   f'<div data-sharebar data-services="copy"></div>'
                   f'<script async src="{dash.origin}/static/sharebar.js" data-site="{key}"></script></body></html>')
        host.add("/post/1", snippet)
        owner = dash.visit()
        dash.sign_in(owner)
        check = f"{dash.origin}/dashboard/sites/{site.id}/check"
        owner.goto(check)
        assert "no beacon seen yet" in owner.content()

        reader = dash.visit(permissions=["clipboard-read", "clipboard-write"])
        for origin in (f"http://localhost:{host.port}", f"http://127.0.0.1:{host.port}"):  # the second is foreign
            reader.goto(f"{origin}/post/1")
            poll(reader, "!!document.querySelector('[data-sharebar] [data-service=copy]')", timeout=10)
            reader.locator("[data-service=copy]").click()
            if origin.startswith("http://localhost"):
                wait_for(lambda: (owner.goto(check), "working: beacons arrive" in owner.content())[1], 15,
                         "the check to turn green")
                assert f"http://localhost/post/1" in owner.content()
        wait_for(lambda: (owner.goto(check), "(foreign-domain)" in owner.content())[1], 15, "the refusal")
        assert "http://127.0.0.1/post/1" in owner.content() and "no beacon seen yet" not in owner.content()
    finally:
        host_server.shutdown()
