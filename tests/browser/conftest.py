"""Real-browser fixtures: the real app on a real port, a separate origin for the host pages,
and Debian's Chromium driven headless by Playwright.

The widget server listens on 127.0.0.1 and the host pages on ``localhost`` (another origin,
as on a real site); the site is registered for ``localhost``. Every test gets a fresh
browser context (no storage carried over) whose requests are all recorded.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from werkzeug.serving import BaseWSGIServer, make_server

from conftest import Registered, make_app, register

CHROMIUM = os.environ.get("WIDGET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "out"

playwright_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.browser


def serve(app: Any) -> tuple[BaseWSGIServer, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
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

    def page_html(self, bars: str, head: str = "", lang: str = "zh-CN", script_attrs: str = "") -> str:
        """A host page carrying ``bars`` and the snippet as a site owner pastes it."""
        return (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>测试页面</title>{head}</head>'
            f"<body><main>{bars}</main>"
            f'<script async src="{self.server}/static/sharebar.js" data-site="{self.site.key}" {script_attrs}></script>'
            "</body></html>"
        )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    app = make_app(f"sqlite:///{tmp_path}/widget.db", tmp_path)
    site = register(app, "Browser test site", ("localhost",))
    server, port = serve(app)
    host = HostPages()
    host_server, host.port = serve(host.wsgi())
    yield Live(app, f"http://127.0.0.1:{port}", site, host)
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


@dataclass
class Tab:
    """A page in a fresh context, with every request it made and every console error."""

    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)


THIRD_PARTY_PAGE = "<!doctype html><title>third party</title><p>platform stand-in</p>"


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(user_agent=DESKTOP_UA, locale="zh-CN")
    page = context.new_page()
    tab = Tab(context, page)

    def route(request_route: Any) -> None:
        # No request may leave the machine: the platforms' pages are stood in for.
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1:", "http://localhost:")):
            request_route.continue_()
        else:
            request_route.fulfill(status=200, content_type="text/html", body=THIRD_PARTY_PAGE)

    context.route("**/*", route)
    context.on("request", lambda request: tab.requests.append(request.url))
    context.on("page", lambda opened: tab.opened.append(opened.url))
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()
