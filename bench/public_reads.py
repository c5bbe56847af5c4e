"""What the public reads cost a server when a client adds a cache-busting parameter.

Issue 10 found that QR codes of long URLs and the public leaderboard with ``period=12mo``,
each asked with a fresh ``&_=N``, were cheap to make expensive. Both are now cached per
parsed query. This loads EVENTS synthetic events over a year (bench/stats.py's loader) into
SQLite, then asks, through the app's real request handling and each time with a new
cache-busting parameter, for a 1,000-byte page's QR code and for the 12-month leaderboard.
The baseline, in the same run, is the same requests with the caches emptied before each one
(what every request cost before).

Run: ``python bench/public_reads.py [--events 300000] [--requests 60]``; the last line is
``qr_p50_ms=… leaderboard_p50_ms=… qr_uncached_p50_ms=… leaderboard_uncached_p50_ms=…``.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from stats import load, make  # bench/stats.py
from widget_server import db, embed, signing, sites

LONG_PAGE = "https://example.com/post/" + "a" * 975  # 1,000 bytes


def timed(client: FlaskClient, path: str, params: dict[str, str], runs: int,
          before: Callable[[], None]) -> list[float]:
    samples = []
    for n in range(runs):
        before()
        started = time.perf_counter()
        response = client.get(path, query_string={**params, "_": str(n)})
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return samples


def empty_caches(app: Flask) -> Callable[[], None]:
    def empty() -> None:
        embed.qr_svg.cache_clear()
        app.extensions.get("widget_caches", {}).clear()
    return empty


def run(events: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        app, site_id, _ = make(Path(folder))
        app.config.update(RATE_LIMIT_QR="1000000/minute", RATE_LIMIT_PUBLIC="1000000/minute")
        load(Path(folder) / "stats.db", site_id, events)
        with app.app_context():
            sites.update_settings(site_id, {"public_leaderboard": True})
            key = signing.site_key(site_id)
        client = app.test_client()
        qr = ("/v1/qr.svg", {"site": key, "url": LONG_PAGE})
        board = ("/v1/leaderboard", {"site": key, "period": "12mo", "limit": "50"})
        figures = {}
        for name, (path, params) in {"qr": qr, "leaderboard": board}.items():
            figures[f"{name}_uncached_p50_ms"] = statistics.median(timed(client, path, params, runs, empty_caches(app)))
            figures[f"{name}_p50_ms"] = statistics.median(timed(client, path, params, runs, lambda: None))
        with app.app_context():
            db.engine().dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    figures = run(args.events, args.requests)
    for name in ("qr", "leaderboard"):
        print(f"{name}: cache-busted p50 {figures[f'{name}_p50_ms']:.2f} ms, caches emptied each time "
              f"{figures[f'{name}_uncached_p50_ms']:.1f} ms, ratio "
              f"{figures[f'{name}_p50_ms'] / figures[f'{name}_uncached_p50_ms']:.3f}")
    print(" ".join(f"{name}={value:.2f}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
