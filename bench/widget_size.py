"""What a page pays for a default share bar before anyone clicks, beside shareon 2.8.1.

Serves the real app (SQLite, a site registered for ``localhost``) and host pages on another
origin, all in a child process of their own (so that the browser's driver in this one never
keeps them from answering): one carrying the snippet and one default bar (the site's 8 services), one the same
with counts on, and, when ``npm pack shareon@2.8.1`` works, one with shareon's 8 buttons
(its stylesheet in <head>, its script ``defer init``, as its README says), its files served
gzipped from a third origin as a CDN would. shareon is fetched into a temporary directory
for the run only; none of its code is kept. Each page is loaded RUNS times in headless
Chromium, alternating, each time in a fresh context (cold cache) whose language is the pages'
(zh-CN: a reader of a Chinese page, whose browser asks for Chinese first; the script then
comes with the site's config in it, as it does for such readers), and the script reports:

* the gzip bytes of everything fetched from the widget's server before a click (the encoded
  body sizes the browser received) and how many requests that took;
* render ms: from the script having arrived (its resource timing ``responseEnd``) to the
  bar's controls being in the document (shareon: its links having their share URLs);
* visible-at ms: from navigation start to the first animation frame in which the bar is
  drawn and styled (ours: shown, its tiles 32 px; shareon: its buttons on their brand colour);
* where the time goes (resource timing): when the script arrived, the config was asked for
  and arrived (when it did not come with the script), the stylesheets arrived (when they did
  not either), the controls were in the page, the bar visible;
* the baseline in the same run, shareon's figures, and the ratio of the visible-at medians.

Run: ``python bench/widget_size.py [--runs 15]`` (needs Chromium at /usr/bin/chromium and,
for the comparison, npm and the npm registry; without them the comparison is skipped and
says why).
"""
from __future__ import annotations

import argparse
import gzip
import logging
import multiprocessing
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from widget_server import create_app, db, signing, sites

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHAREON = "shareon@2.8.1"
SHAREON_BUTTONS = ("facebook", "twitter", "linkedin", "reddit", "telegram", "whatsapp", "pinterest", "copy-url")

# Records when the controls appear (__rendered) and when they are first painted styled
# (__visible), and says so in the console once both are known (PROBED): the driver waits for
# that message instead of polling the page, since Playwright's polling first injects its own
# script into the page (about 6 ms of the main thread), which would land inside the
# measurement of whichever bar is still at work after the load event. The bench pages have no
# CSP, unlike the tests'.
PROBED = "sharebar-bench: probed"
PROBE = """<script>
window.__probe = function (rendered, visible) {
  function done() {
    if (window.__rendered !== undefined && window.__visible !== undefined) console.log('%s');
  }
  new MutationObserver(function (records, observer) {
    if (rendered()) { window.__rendered = performance.now(); observer.disconnect(); done(); }
  }).observe(document.documentElement, {childList: true, subtree: true, attributes: true});
  (function frame() {
    if (visible()) { window.__visible = performance.now(); done(); } else requestAnimationFrame(frame);
  })();
};
</script>""" % PROBED
OURS_PROBE = """<script>__probe(
  function () { return document.querySelector('[data-sharebar] [data-service]'); },
  function () { var s = document.querySelector('[data-sharebar] .sb:not([hidden]) svg');
                return s && getComputedStyle(s).width === '32px'; });</script>"""
SHAREON_PROBE = """<script>__probe(
  function () { return document.querySelector('.shareon > a[href]'); },
  function () { var a = document.querySelector('.shareon > a[href]');
                return a && getComputedStyle(a).backgroundColor !== 'rgba(0, 0, 0, 0)'; });</script>"""


def serve(app: Any) -> str:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return str(server.server_port)


def page(head: str, body: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Bench</title>{PROBE}{head}'
            f"</head><body>{body}</body></html>")


def start(folder: Path, shareon: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """Start the widget server, shareon's stand-in CDN and the host pages; by page name,
    the origin whose requests count and the page's URL. The aggregator does not run: no page
    here shares anything, and its thread would only compete with the answers measured."""
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.db", "INSTANCE_PATH": str(folder),
                      "SECRET_KEYS": secrets.token_urlsafe(48), "AGGREGATE_IN_SERVER": False})
    with app.app_context():
        db.upgrade()
        key = signing.site_key(sites.create_site("Bench", ["localhost"]).id)
    server = f"http://127.0.0.1:{serve(app)}"
    snippet = f'<script async src="{server}/static/sharebar.js" data-site="{key}"></script>'
    pages = {
        "default": page("", f"<div data-sharebar></div>{OURS_PROBE}{snippet}"),
        "counts": page("", f'<div data-sharebar data-counts="true"></div>{OURS_PROBE}{snippet}'),
    }
    origins = {"default": server, "counts": server}
    if shareon is not None:
        cdn = origins["shareon"] = f"http://127.0.0.1:{serve(cdn_app(shareon))}"
        buttons = "".join(f'<a class="{b}"></a>' for b in SHAREON_BUTTONS)
        pages["shareon"] = page(f'<link rel="stylesheet" href="{cdn}/shareon.min.css">',
                                f'<div class="shareon">{buttons}</div>{SHAREON_PROBE}'
                                f'<script src="{cdn}/shareon.iife.js" defer init></script>')
    host = Flask("host")
    host.add_url_rule("/<name>", "page", lambda name: Response(pages.get(name, ""), mimetype="text/html",
                                                               status=200 if name in pages else 404))
    origin = f"http://localhost:{serve(host)}"
    return origins, {name: f"{origin}/{name}" for name in pages}


def serve_all(folder: Path, shareon: Path | None, started: Any) -> None:
    """The child process: starts everything, hands back what :func:`start` returns, serves
    until the parent ends it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    pages = start(folder, shareon)
    logging.getLogger("widget_server.requests").setLevel(logging.WARNING)  # no line per request
    started.put(pages)
    threading.Event().wait()


def cdn_app(folder: Path) -> Flask:
    """shareon's two files, gzipped and cacheable, as a CDN serves them."""
    files = {name: gzip.compress((folder / name).read_bytes(), 9) for name in ("shareon.min.css", "shareon.iife.js")}
    cdn = Flask("cdn")

    @cdn.get("/<name>")
    def file(name: str) -> Response:
        mimetype = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(files[name], mimetype=mimetype, headers={
            "Content-Encoding": "gzip", "Cache-Control": "public, max-age=31536000",
            "Access-Control-Allow-Origin": "*", "Timing-Allow-Origin": "*"})

    return cdn


def fetch_shareon(folder: Path) -> tuple[Path | None, str]:
    """shareon's dist/ unpacked from ``npm pack`` into ``folder``; or None and why not."""
    try:
        done = subprocess.run(["npm", "pack", SHAREON, "--silent"], cwd=folder, capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"npm pack {SHAREON} failed: {exc}"
    tarball = folder / done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else None
    if tarball is None or not tarball.exists():
        return None, f"npm pack {SHAREON} failed: {done.stderr.strip()[:200]}"
    with tarfile.open(tarball) as archive:
        archive.extractall(folder, filter="data")
    return folder / "package" / "dist", ""


def measure(browser: Any, url: str, origin: str, script: str) -> dict[str, float]:
    context = browser.new_context(locale="zh-CN")  # a reader of the pages, in Chinese
    tab = context.new_page()
    with tab.expect_console_message(lambda message: message.text == PROBED):
        tab.goto(url)
    tab.wait_for_load_state("networkidle")
    entries = tab.evaluate("""() => performance.getEntriesByType('resource').map(e => ({
        name: e.name, encoded: e.encodedBodySize, start: e.startTime, end: e.responseEnd}))""")
    rendered, visible = tab.evaluate("[window.__rendered, window.__visible]")
    context.close()
    ours = [e for e in entries if e["name"].startswith(origin)]
    loaded = next(e for e in ours if e["name"].split("?")[0].endswith(script))
    found = {"gzip_bytes": sum(e["encoded"] for e in ours), "requests": len(ours),
             "render_ms": rendered - loaded["end"], "visible_ms": visible,
             # where the time goes, from navigation start
             "script_in": loaded["end"], "controls_at": rendered}
    for e in ours:
        if "/v1/config" in e["name"]:
            found["config_asked"], found["config_in"] = e["start"], e["end"]
        elif e["name"].endswith(".css"):
            found["css_in"] = max(e["end"], found.get("css_in", 0))
    return found


def summary(name: str, results: list[dict[str, float]]) -> dict[str, float]:
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(f"{name}: {median['gzip_bytes']:.0f} gzip bytes in {median['requests']:.0f} requests; "
          f"render median {median['render_ms']:.1f} ms; visible-at median {median['visible_ms']:.1f} ms")
    steps = [("script in", "script_in"), ("config asked", "config_asked"), ("stylesheet in", "css_in"),
             ("config in", "config_in"), ("controls in the page", "controls_at"), ("visible", "visible_ms")]
    print("  medians, ms from navigation start: " +
          ", ".join(f"{label} {median[key]:.0f}" for label, key in steps if key in median))
    return median


def run(urls: dict[str, str], origins: dict[str, str], runs: int) -> dict[str, list[dict[str, float]]]:
    """Each page loaded ``runs`` times, interleaved, so that a busy moment hits every page alike."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(runs):
            for name, url in urls.items():
                script = "shareon.iife.js" if name == "shareon" else "sharebar.js"
                results[name].append(measure(browser, url, origins[name], script))
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        shareon, why = fetch_shareon(Path(folder))
        context = multiprocessing.get_context("spawn")
        started = context.Queue()
        servers = context.Process(target=serve_all, args=(Path(folder), shareon, started), daemon=True)
        servers.start()
        try:
            origins, urls = started.get(timeout=60)
            results = run(urls, origins, runs)
        finally:
            servers.terminate()
            servers.join()
    print(f"runs={runs}")
    ours = summary("sharebar, default bar, counts off", results["default"])
    counted = summary("sharebar, default bar, counts on", results["counts"])
    print(f"budgets: counts off {ours['gzip_bytes'] / 6144:.2f} of 6 KB in {ours['requests']:.0f} of 3 requests; "
          f"counts on {counted['gzip_bytes'] / 6656:.2f} of 6.5 KB in {counted['requests']:.0f} of 4")
    ratio = "nan"
    if "shareon" in results:
        theirs = summary(f"{SHAREON} (baseline), 8 buttons", results["shareon"])
        ratio = f"{ours['visible_ms'] / theirs['visible_ms']:.2f}"
        print(f"against shareon: bytes {ours['gzip_bytes'] / theirs['gzip_bytes']:.2f}, "
              f"render {ours['render_ms'] / theirs['render_ms']:.2f}, visible-at {ratio}")
    else:
        print(f"shareon skipped: {why}")
    print(f"prefetch_gzip_bytes={ours['gzip_bytes']:.0f} requests_before_click={ours['requests']:.0f} "
          f"render_ms={ours['render_ms']:.1f} visible_vs_shareon={ratio}")


if __name__ == "__main__":
    sys.exit(main())
