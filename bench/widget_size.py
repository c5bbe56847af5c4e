"""What a page pays for a default share bar before anyone clicks.

Serves the real app (SQLite, a site registered for ``localhost``) and a host page on
another origin carrying the snippet and one default bar (the site's 8 services), then loads
it RUNS times in headless Chromium, each time in a fresh context (cold cache), and reports:

* the gzip bytes of everything fetched from the Sharebar server before a click (script,
  stylesheet, config/counts, icons): the encoded body sizes the browser received;
* how many requests that took besides the script and the stylesheet;
* the time from the script having arrived (its resource timing ``responseEnd``) to the bar's
  controls being in the document, median over the runs;
* the baseline in the same run: the bytes of the readable source files in ``static/`` (what a
  server without minification and compression would send), and the issue's budgets
  (10 KB, 1 request, 50 ms), each as a ratio.

Run: ``python bench/widget_size.py [--runs 15]`` (needs Chromium at /usr/bin/chromium).
"""
from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from widget_server import assets, create_app, db, signing, sites

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Records when the first share control appears; the bench page has no CSP, unlike the tests'.
OBSERVER = """<script>
new MutationObserver(function (records, observer) {
  if (document.querySelector('[data-sharebar] [data-service]')) {
    window.__rendered = performance.now(); observer.disconnect();
  }
}).observe(document.documentElement, {childList: true, subtree: true});
</script>"""


def serve(app: Any) -> str:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return str(server.server_port)


def start(folder: Path) -> tuple[str, str]:
    """Start the widget server and the host page; return the server origin and page URL."""
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.db", "INSTANCE_PATH": str(folder),
                      "SECRET_KEYS": secrets.token_urlsafe(48)})
    with app.app_context():
        db.upgrade()
        key = signing.site_key(sites.create_site("Bench", ["localhost"]).id)
    server = f"http://127.0.0.1:{serve(app)}"
    html = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Bench</title>{OBSERVER}'
            f'</head><body><div data-sharebar></div><script async src="{server}/static/sharebar.js" '
            f'data-site="{key}"></script></body></html>')
    host = Flask("host")
    host.add_url_rule("/", "page", lambda: Response(html, mimetype="text/html"))
    return server, f"http://localhost:{serve(host)}/"


def measure(browser: Any, page_url: str, server: str) -> dict[str, float]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_function("window.__rendered !== undefined")
    page.wait_for_load_state("networkidle")
    entries = page.evaluate("""() => performance.getEntriesByType('resource').map(e => ({
        name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize, end: e.responseEnd}))""")
    rendered = page.evaluate("window.__rendered")
    context.close()
    ours = [e for e in entries if e["name"].startswith(server)]
    script = next(e for e in ours if e["name"].endswith("/static/sharebar.js"))
    others = [e for e in ours if not e["name"].endswith(("/sharebar.js", "/sharebar.css"))]
    return {
        "gzip_bytes": sum(e["encoded"] for e in ours),
        "plain_bytes": sum(e["decoded"] for e in ours),
        "requests": len(ours),
        "requests_besides_script_css": len(others),
        "render_ms": rendered - script["end"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server, page_url = start(Path(folder))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        results = [measure(browser, page_url, server) for _ in range(runs)]
        browser.close()
    first = results[0]
    render = statistics.median(r["render_ms"] for r in results)
    p90 = sorted(r["render_ms"] for r in results)[int(0.9 * (len(results) - 1))]
    print(f"runs={runs} requests_to_server={first['requests']:.0f}")
    print(f"gzip bytes before click: {first['gzip_bytes']:.0f} (uncompressed {first['plain_bytes']:.0f})")
    source = sum((assets.static_dir() / name).stat().st_size for name in ("sharebar.js", "sharebar.css"))
    print(f"baseline, readable source files: {source} bytes; served/source = {first['gzip_bytes'] / source:.2f}")
    print(f"render ms after script arrival: median {render:.1f}, p90 {p90:.1f}")
    print(f"against the budgets: bytes {first['gzip_bytes'] / 10240:.2f} of 10 KB, "
          f"requests {first['requests_besides_script_css']:.0f} of 1, render {render / 50:.2f} of 50 ms")
    print(f"prefetch_gzip_bytes={first['gzip_bytes']:.0f} "
          f"requests_before_click={first['requests_besides_script_css']:.0f} render_ms={render:.1f}")


if __name__ == "__main__":
    sys.exit(main())
