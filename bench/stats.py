"""What a 30-day breakdown by page costs as history grows: 1M and then 10M events.

For each size, a fresh SQLite database is filled by a bulk loader (not the HTTP path) with
synthetic events spread over DAYS days up to today — shares over 1,000 pages with a long
tail, click-backs (30%) with referrers, a few bots — together with the rollups the ingest
path would have kept for them. Then the partner API is asked, through the app's real request
handling, for ``/api/v1/stats/breakdown?property=page&period=30d`` QUERIES times, and p50/p95
are printed. The baseline, measured in the same run on the same data, is the same breakdown
computed by scanning the raw events (what the rollups avoid).

Run: ``python bench/stats.py [--sizes 1000000,10000000] [--queries 60]``; the last line is
``p95_1m_ms=X p95_10m_ms=Y``.
"""
from __future__ import annotations

import argparse
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from widget_server import create_app, db, sites, tokens
from widget_server.urls import url_hash

DAYS = 365
PAGES = 1000
SERVICES = ["weibo", "wechat", "qq", "qzone", "douban", "tieba", "x", "facebook", "copy", "email", "address"]
SERVICE_WEIGHTS = [30, 25, 10, 5, 4, 3, 8, 6, 5, 2, 2]
REFERRERS = ["weibo.com", "t.co", "qq.com", "facebook.com", "", "douban.com", "baidu.com"]
PAGE_WEIGHTS = [1 / (rank + 1) for rank in range(PAGES)]  # a long tail: Zipf-like


def make(folder: Path) -> tuple[Flask, int, str]:
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/stats.db", "INSTANCE_PATH": str(folder),
                      "SECRET_KEYS": secrets.token_urlsafe(48), "RATE_LIMIT_VISITOR": "1000000/minute"})
    with app.app_context():
        db.upgrade()
        site = sites.create_site("Bench", ["example.com"])
        _, token = tokens.issue([site.id], ["stats:read"], timedelta(days=1), "bench")
    return app, site.id, token


def load(path: Path, site_id: int, total: int, seed: int = 7) -> float:
    """Bulk-load ``total`` synthetic events and their rollups; return the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.executemany(
        "INSERT INTO pages (id, site_id, url, url_hash, title, created_at) VALUES (?, ?, ?, ?, ?, '2025-01-01')",
        [(n + 1, site_id, f"https://example.com/post/{n}", url_hash(f"https://example.com/post/{n}"), f"Post {n}")
         for n in range(PAGES)],
    )
    per_day = total // DAYS
    first = date.today() - timedelta(days=DAYS - 1)
    serial = 0
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        count = per_day + (total - per_day * DAYS if offset == DAYS - 1 else 0)
        serial = load_day(conn, rng, site_id, day, count, serial)
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def load_day(conn: sqlite3.Connection, rng: random.Random, site_id: int, day: date, count: int, serial: int) -> int:
    pages = rng.choices(range(1, PAGES + 1), PAGE_WEIGHTS, k=count)
    services = rng.choices(SERVICES, SERVICE_WEIGHTS, k=count)
    visitors = [f"v{rng.randrange(count // 3 + 1)}" for _ in range(count)]
    events, fine = [], Counter()
    dims: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    stamp = f"{day.isoformat()} 12:00:00"
    for page, service, visitor in zip(pages, services, visitors):
        serial += 1
        kind = "clickback" if serial % 10 < 3 else "share"
        bot = serial % 50 == 0
        referrer = REFERRERS[serial % len(REFERRERS)] if kind == "clickback" else ""
        status = "bot" if bot else "counted"
        events.append((site_id, f"e{serial}", kind, service, page, day.isoformat(), stamp, status, visitor,
                       referrer or None))
        counter = ("bot_" if bot else "") + ("shares" if kind == "share" else "clickbacks")
        fine[(page, service, referrer, counter)] += 1
        role = "sharers" if kind == "share" else "visitors"
        for dim, value in (("", ""), ("page", str(page)), ("platform", service), ("referrer", referrer)):
            if dim == "referrer" and kind == "share":
                continue
            dims[(dim, value)][counter] += 1
            if not bot and visitor not in seen[(role, dim, value)]:
                seen[(role, dim, value)].add(visitor)
                dims[(dim, value)][role] += 1
    conn.executemany(
        "INSERT INTO events (site_id, event_id, type, service, page_id, day, created_at, status, visitor, referrer) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
    rollups: dict[tuple[int, str, str], Counter[str]] = defaultdict(Counter)
    for (page, service, referrer, counter), value in fine.items():
        rollups[(page, service, referrer)][counter] += value
    conn.executemany(
        "INSERT INTO daily_rollups (site_id, day, page_id, service, referrer, action, shares, clickbacks, "
        "bot_shares, bot_clickbacks) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?)",
        [(site_id, day.isoformat(), page, service, referrer, c["shares"], c["clickbacks"], c["bot_shares"],
          c["bot_clickbacks"]) for (page, service, referrer), c in rollups.items()])
    conn.executemany(
        "INSERT INTO daily_uniques (site_id, day, dim, value, shares, clickbacks, bot_shares, bot_clickbacks, "
        "sharers, visitors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(site_id, day.isoformat(), dim, value, c["shares"], c["clickbacks"], c["bot_shares"], c["bot_clickbacks"],
          c["sharers"], c["visitors"]) for (dim, value), c in dims.items()])
    return serial


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def time_api(app: Flask, site_id: int, token: str, queries: int) -> list[float]:
    client = app.test_client()
    query = {"site_id": site_id, "period": "30d", "property": "page",
             "metrics": "shares,clickbacks,sharers,visitors,lift", "limit": 100}
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/stats/breakdown", query_string=query, headers=headers).status_code == 200
    samples = []
    for _ in range(queries):
        started = time.perf_counter()
        response = client.get("/api/v1/stats/breakdown", query_string=query, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return samples


SCAN = """SELECT page_id, SUM(type = 'share'), SUM(type = 'clickback') FROM events
          WHERE site_id = ? AND day >= ? AND status = 'counted'
          GROUP BY page_id ORDER BY 2 DESC LIMIT 100"""


def time_scan(path: Path, site_id: int, runs: int) -> list[float]:
    conn = sqlite3.connect(path)
    since = (date.today() - timedelta(days=29)).isoformat()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(SCAN, (site_id, since)).fetchall()
        samples.append((time.perf_counter() - started) * 1000)
    conn.close()
    return samples


def run(total: int, queries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        app, site_id, token = make(Path(folder))
        loaded = load(Path(folder) / "stats.db", site_id, total)
        api = percentiles(time_api(app, site_id, token, queries))
        scan = percentiles(time_scan(Path(folder) / "stats.db", site_id, max(5, queries // 10)))
        app.extensions["widget_engine"].dispose()
    label = f"{total // 1_000_000}m" if total >= 1_000_000 else str(total)
    print(f"{label}: loaded {total} events in {loaded:.0f} s; breakdown p50 {api[0]:.1f} ms p95 {api[1]:.1f} ms; "
          f"baseline raw-event scan p50 {scan[0]:.0f} ms p95 {scan[1]:.0f} ms; "
          f"rollups/scan p95 = {api[1] / scan[1]:.3f}", flush=True)
    return {"label": label, "p95": api[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    results = [run(int(size), args.queries) for size in args.sizes.split(",")]
    if len(results) == 2:
        print(f"p95 ratio {results[1]['label']}/{results[0]['label']} = {results[1]['p95'] / results[0]['p95']:.2f}")
    print(" ".join(f"p95_{r['label']}_ms={r['p95']:.1f}" for r in results))


if __name__ == "__main__":
    main()
