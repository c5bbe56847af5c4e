"""What the dashboard's charts page costs for a site with 10M events.

The data is bench/stats.py's: synthetic events over 365 days (1,000 pages with a long tail,
11 services, 30% click-backs with referrers, 2% bots) bulk-loaded into SQLite with the
rollups the ingest path keeps. An owner signs in, and the charts page (every chart and its
table: over time, by platform with lift, top pages, referrers, actions, filtered traffic) is
asked for through the app's real request handling, for 30 and 90 days, QUERIES times each;
p50/p95 are printed. The baseline in the same run is one raw-event scan of the same 30 days
(what a page without rollups would pay per chart).

Run: ``python bench/dashboard.py [--size 10000000] [--queries 40]``; the last line is
``p95_10m_ms=X`` (the 30-day page).
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Flask

from widget_server import accounts

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("bench_stats", HERE / "stats.py")
assert spec and spec.loader
bench_stats: Any = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_stats)

PASSWORD = "a bench sign-in phrase 42"


def signed_in(app: Flask, site_id: int) -> Any:
    with app.app_context():
        accounts.create_user("owner@example.com", PASSWORD)
        accounts.set_member(site_id, "owner@example.com", "owner")
    client = app.test_client()
    page = client.get("/dashboard/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    response = client.post("/dashboard/signin", data={"csrf_token": token.group(1), "email": "owner@example.com",
                                                      "password": PASSWORD})
    assert response.status_code == 302
    return client


def time_page(client: Any, site_id: int, period: str, queries: int) -> list[float]:
    path = f"/dashboard/sites/{site_id}/charts?period={period}"
    first = client.get(path)
    assert first.status_code == 200 and "Weibo" in first.get_data(as_text=True)
    samples = []
    for _ in range(queries):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app, site_id, _token = bench_stats.make(Path(folder))
        loaded = bench_stats.load(Path(folder) / "stats.db", site_id, args.size)
        client = signed_in(app, site_id)
        results = {}
        for period in ("30", "90"):
            p50, p95 = bench_stats.percentiles(time_page(client, site_id, period, args.queries))
            results[period] = p95
            print(f"charts page, {period} days: p50 {p50:.1f} ms p95 {p95:.1f} ms", flush=True)
        scan = bench_stats.percentiles(bench_stats.time_scan(Path(folder) / "stats.db", site_id, 5))
        app.extensions["widget_engine"].dispose()
    label = f"{args.size // 1_000_000}m" if args.size >= 1_000_000 else str(args.size)
    print(f"{label}: loaded {args.size} events in {loaded:.0f} s; baseline: one raw-event scan of 30 days "
          f"p50 {scan[0]:.0f} ms p95 {scan[1]:.0f} ms (the page draws six charts)")
    print(f"p95_{label}_ms={results['30']:.1f}")


if __name__ == "__main__":
    main()
