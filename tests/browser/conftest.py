"""Real-browser fixtures: the real app on a real port, a separate origin for the host pages,
and Debian's Chromium driven headless by Playwright.

The widget server listens on 127.0.0.1 and the host pages on ``localhost`` (another origin,
as on a real site); the site is registered for ``localhost``. Every test gets a fresh
browser context (no storage carried over) whose requests are all recorded; ``tabs`` opens
more, with other options (a user agent, permissions, a colour scheme).

Helpers that wait poll with ``page.evaluate``: ``page.wait_for_function`` compiles its
predicate with ``eval``, which the strict-CSP page forbids.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask, Response
from werkzeug.serving import BaseWSGIServer, make_server

from sqlalchemy import text

from conftest import Registered, make_app, register, table_rows
from widget_server import aggregate, db, sites
from widget_server.models import Site

CHROMIUM = os.environ.get("WIDGET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "out"

playwright_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser`` (a conftest's own pytestmark marks nothing)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


def serve(app: Any) -> tuple[BaseWSGIServer, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the loop to look, 0.5 s by default.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, str(server.server_port)


@dataclass
class HostPages:
    """Pages of the partner site, served from another origin with the headers a test sets."""

    port: str = ""
    pages: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def add(self, path: str, html: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = (html, headers or {})
        return f"http://localhost:{self.port}{path}"

    def wsgi(self) -> Flask:
        app = Flask("host_pages")

        @app.get("/<path:path>")
        def page(path: str) -> Response:
            html, headers = self.pages.get("/" + path, ("not found", {}))
            return Response(html, mimetype="text/html", headers=headers)

        return app


@dataclass
class Live:
    app: Flask
    server: str  # the widget server's origin
    site: Registered
    host: HostPages

    def page_html(self, bars: str, head: str = "", lang: str = "zh-CN", script_attrs: str = "",
                  body_attrs: str = "") -> str:
        """A host page carrying ``bars`` and the snippet as a site owner pastes it."""
        return (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>测试页面</title>{head}</head>'
            f"<body {body_attrs}><main>{bars}</main>"
            f'<script async src="{self.server}/static/sharebar.js" data-site="{self.site.key}" {script_attrs}></script>'
            "</body></html>"
        )

    def add_page(self, path: str, bars: str, headers: dict[str, str] | None = None, **html: str) -> str:
        """Serve a host page with ``bars`` at ``path``; its URL."""
        return self.host.add(path, self.page_html(bars, **html), headers)

    def set_site_settings(self, **settings: Any) -> None:
        """Change the site's settings the one validated way (``sites.update_settings``, as the
        CLI and the dashboard do): a bad name or value fails the test here."""
        with self.app.app_context():
            sites.update_settings(self.site.id, settings)

    def shares(self) -> list[tuple[str, str]]:
        """(service, page URL) of every stored share event, sorted: beacons sent one after
        another may arrive in any order. One query, so that a beacon stored meanwhile is
        either wholly in the answer or wholly out of it."""
        query = text("SELECT e.service, p.url FROM events e JOIN pages p ON p.id = e.page_id WHERE e.type = 'share'")
        with self.app.app_context(), db.engine().connect() as conn:
            return sorted((row.service, row.url) for row in conn.execute(query))

    def wait_for_shares(self, count: int, timeout: float = 15.0, settle: float = 0.15) -> list[tuple[str, str]]:
        """The share events once there are ``count``; a little longer to catch any extra."""
        stored = wait_for(lambda: (found if len(found := self.shares()) >= count else None), timeout,
                          f"{count} share events")
        time.sleep(settle)
        return self.shares() if settle else stored


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Registered]:
    """A database with the schema and the site, made once: each test gets a copy."""
    folder = tmp_path_factory.mktemp("template")
    app = make_app(f"sqlite:///{folder}/widget.db", folder)
    site = register(app, "Browser test site", ("localhost",))
    app.extensions["widget_engine"].dispose()
    return folder / "widget.db", site


@pytest.fixture
def live(tmp_path: Path, migrated: tuple[Path, Registered]) -> Iterator[Live]:
    template, site = migrated
    shutil.copyfile(template, tmp_path / "widget.db")
    app = make_app(f"sqlite:///{tmp_path}/widget.db", tmp_path)  # the upgrade finds nothing to do
    server, port = serve(app)
    host = HostPages()
    host_server, host.port = serve(host.wsgi())
    stop = threading.Event()  # the server's own aggregator, as when no `widget-server aggregate` runs
    counting = threading.Thread(target=aggregate.run_elected, args=(app.extensions["widget_engine"],
                                                                    dict(app.config), stop, 0.1), daemon=True)
    counting.start()
    yield Live(app, f"http://127.0.0.1:{port}", site, host)
    stop.set()
    counting.join(10)
    server.shutdown()
    host_server.shutdown()
    app.extensions["widget_engine"].dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# A desktop Chrome user agent: HeadlessChrome is (rightly) treated as a bot by the server.
DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/156.0.0.0 Safari/537.36")
THIRD_PARTY = re.compile(r"^(?!http://(?:127\.0\.0\.1|localhost)[:/])")  # every URL but ours
THIRD_PARTY_PAGE = "<!doctype html><title>third party</title><p>platform stand-in</p>"
SHOWN = "[data-sharebar] > .sb:not([hidden])"  # a drawn bar, once its stylesheet is in


def wait_for(probe: Callable[[], Any], timeout: float = 5.0, what: str = "a condition") -> Any:
    """Call ``probe`` until it returns something truthy; that value. Fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def pumped(page: Any, probe: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """``wait_for`` that lets Playwright run meanwhile: a routed request (the tab's stand-ins,
    a test's own route on the beacon URL) is served only while the test is inside a
    Playwright call."""
    def probe_and_pump() -> Any:
        value = probe()
        if not value:
            page.wait_for_timeout(50)
        return value
    return wait_for(probe_and_pump, timeout, what)


# Records CSP violations, for pages served with strict_csp().
VIOLATIONS = """window.__violations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""


def strict_csp(server: str) -> dict[str, str]:
    """Headers of a page that allows nothing but the widget server, and no inline anything."""
    return {"Content-Security-Policy": f"default-src 'none'; script-src {server}; style-src {server}; "
                                       f"img-src {server}; connect-src {server}"}


def poll(page: Any, expression: str, arg: Any = None, timeout: float = 5.0) -> Any:
    """Evaluate ``expression`` in ``page`` until it is truthy (CSP-proof wait_for_function)."""
    return wait_for(lambda: page.evaluate(expression, arg), timeout, expression)


def without_share_code(value: str) -> str:
    """``value`` with any ``_sb=CODE`` query parameter taken out of the URLs in it."""
    return re.sub(r"([?&])_sb=[^&#\s]*(&?)", lambda m: m.group(1) if m.group(2) else "", value)


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url``, decoded, share codes taken out of every value."""
    params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return {key: without_share_code(value) for key, value in params if key != "_sb"}


def base_of(url: str) -> str:
    """``url`` without its query and fragment."""
    return url.split("?")[0].split("#")[0]


@dataclass
class Tab:
    """A page in a fresh context, with every request it made and every console error."""

    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # console.warn, e.g. the widget's one warning
    opened: list[Any] = field(default_factory=list)  # pages opened by the page (popups, tabs)
    cookies_set: list[str] = field(default_factory=list)  # Set-Cookie headers of any response

    def goto(self, url: str, bars: int = 1) -> Any:
        """Open ``url`` and wait until ``bars`` bars are drawn and shown; the page."""
        self.page.goto(url)
        poll(self.page, f"n => document.querySelectorAll('{SHOWN}').length >= n", bars)
        return self.page

    def control(self, service: str, bar: str = "[data-sharebar]") -> Any:
        return self.page.locator(f"{bar} [data-service='{service}']")

    def popup_from(self, service: str, bar: str = "[data-sharebar]", **click: Any) -> Any:
        """Click ``service``'s control; the page it opens, once it has its address."""
        with self.context.expect_page() as opened:
            self.control(service, bar).click(**click)
        page = opened.value
        wait_for(lambda: page.url != "about:blank", 5.0, "the popup's address")
        return page


def new_tab(browser: Any, **options: Any) -> Tab:
    options = {"user_agent": DESKTOP_UA, "locale": "zh-CN", **options}
    context = browser.new_context(**options)
    page = context.new_page()
    tab = Tab(context, page)

    def stand_in(request_route: Any) -> None:
        request_route.fulfill(status=200, content_type="text/html", body=THIRD_PARTY_PAGE)

    def response(answer: Any) -> None:
        cookie = answer.headers.get("set-cookie")
        if cookie:
            tab.cookies_set.append(f"{answer.url}: {cookie}")

    # No request may leave the machine: the platforms' pages are stood in for. Local requests
    # are not routed at all, so a beacon never waits for the test thread to serve its route (a
    # test sleeping while it polls the database would otherwise hold it back). A pattern, not
    # a Python predicate: Playwright matches a pattern in the browser's driver, but must pause
    # every request until this thread has run a predicate, which it does only while inside a
    # Playwright call.
    context.route(THIRD_PARTY, stand_in)
    context.on("request", lambda request: tab.requests.append(request.url))
    context.on("response", response)
    context.on("page", lambda opened: tab.opened.append(opened))
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else
            tab.warnings.append(message.text) if message.type == "warning" else None)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    tab = new_tab(browser)
    yield tab
    tab.context.close()


@pytest.fixture
def tabs(browser: Any) -> Iterator[Callable[..., Tab]]:
    """Opens more tabs, each in its own context with the given options (closed afterwards)."""
    made: list[Tab] = []

    def make(**options: Any) -> Tab:
        made.append(new_tab(browser, **options))
        return made[-1]

    yield make
    for tab in made:
        tab.context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
