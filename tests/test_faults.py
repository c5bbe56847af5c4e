"""Faults, with real processes and bounded in time: a web worker or the aggregator killed
with SIGKILL, PostgreSQL or Redis stopped. Each test starts its own PostgreSQL (initdb +
pg_ctl) and Redis on spare ports, never the shared ones. Every beacon answered 204 must be
stored and counted; nothing may answer 500."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from processes import SECRET, Postgres, RedisServer, Server, beacon_body, environment, pg_bin, post, request
from widget_server import aggregate, create_app, db, ingest, signing, sites
from widget_server.models import aggregator_state, daily_rollups, event_log, events, page_totals

pytestmark = pytest.mark.skipif(pg_bin("initdb") is None, reason="PostgreSQL's initdb is not installed")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.remove()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def fresh(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """The app (for the test's own reads) on an emptied database, and a registered site's key."""
    app = create_app({"TESTING": True, "DATABASE_URL": postgres.url, "SECRET_KEYS": SECRET,
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        db.downgrade("base")
        db.upgrade()
        key = signing.site_key(sites.create_site("Faults", ["example.com"]).id)
    yield app, key
    app.extensions["widget_engine"].dispose()


class Load:
    """Readers sending share beacons from threads until stopped; remembers what was answered."""

    def __init__(self, ports: list[int], key: str, threads: int = 4):
        self.ports, self.key = ports, key
        self.acknowledged: list[str] = []
        self.answers: list[tuple[int, dict[str, str], float]] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self, n: int) -> None:
        sent = 0
        while not self.stopping.is_set():
            body = beacon_body(self.key, service=("weibo", "qq", "x")[sent % 3])
            started = time.monotonic()
            status, headers = post(self.ports[sent % len(self.ports)], body, reader=f"10.{n}.{sent // 250}.{sent % 250}")
            self.answers.append((status, headers, time.monotonic() - started))
            if status == 204:
                self.acknowledged.append(body["id"])
            sent += 1

    def wait_for(self, acknowledged: int, timeout: float = 30) -> None:
        """Until ``acknowledged`` more beacons were answered 204 (workers warm up first)."""
        target, deadline = len(self.acknowledged) + acknowledged, time.monotonic() + timeout
        while len(self.acknowledged) < target and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)


def stored_ids(app: Flask) -> set[str]:
    with app.app_context(), db.engine().connect() as conn:
        return set(conn.scalars(select(event_log.c.event_id)))


def counted_ids(app: Flask) -> set[str]:
    with app.app_context():
        aggregate.catch_up(db.engine())
        with db.engine().connect() as conn:
            return set(conn.scalars(select(events.c.event_id)))


def test_kill_a_web_worker_under_load(fresh: tuple[Flask, str], tmp_path: Path, postgres: Postgres) -> None:
    app, key = fresh
    server = Server(environment(postgres.url, tmp_path / "instance", AGGREGATE_IN_SERVER="false"), workers=2)
    try:
        load = Load([server.port], key)
        load.wait_for(200)
        os.kill(server.workers()[0], 9)
        load.wait_for(200)
        load.stop()
    finally:
        server.stop()
    assert len(load.acknowledged) >= 400
    assert not [a for a in load.answers if a[0] >= 500 and a[0] != 503]
    assert set(load.acknowledged) <= stored_ids(app)
    assert set(load.acknowledged) <= counted_ids(app)


def test_kill_the_aggregator_mid_batch(fresh: tuple[Flask, str], tmp_path: Path, postgres: Postgres) -> None:
    app, key = fresh
    site_id = signing.site_id_from_key(key, [SECRET])
    assert site_id is not None
    rows = []
    for n in range(20_000):
        beacon = ingest.parse_beacon(beacon_body(key, url=f"https://example.com/p/{n % 10}",
                                                 service=("weibo", "qq", "x")[n % 3]))
        rows.append(ingest.log_row(site_id, beacon, ingest.Reader(f"{n % 1500:032d}", n % 50 == 0)))
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log), rows)
    env = environment(postgres.url, tmp_path / "instance")
    worker = subprocess.Popen([sys.executable, "-m", "widget_server.cli", "aggregate"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        watermark = 0
        while time.monotonic() < deadline and watermark < 2000:
            with app.app_context(), db.engine().connect() as conn:
                watermark = conn.scalar(select(aggregator_state.c.watermark)) or 0
            time.sleep(0.02)
        worker.kill()  # SIGKILL, most likely in the middle of a batch
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert 0 < watermark < 20_000
    expected = len({(n % 1500, n % 10, n % 3) for n in range(20_000) if n % 50})  # one per reader, page, service
    with app.app_context():
        aggregate.catch_up(db.engine())
        with db.engine().connect() as conn:
            assert conn.scalar(select(func.count()).select_from(events)) == 20_000
            counted = conn.scalar(select(func.count()).where(events.c.status == "counted"))
            assert counted == expected
            assert conn.scalar(select(func.sum(daily_rollups.c.shares))) == expected
            assert conn.scalar(select(func.sum(page_totals.c.shares))) == expected
            assert conn.scalar(select(func.sum(daily_rollups.c.bot_shares))) == 400


def test_postgres_stopped_answers_503_then_recovers(fresh: tuple[Flask, str], tmp_path: Path,
                                                     postgres: Postgres) -> None:
    app, key = fresh
    log = tmp_path / "server.log"
    server = Server(environment(postgres.url, tmp_path / "instance"), workers=2, log=log)
    try:
        load = Load([server.port], key, threads=3)
        load.wait_for(100)
        script = ("GET", "/static/sharebar.js", {"Referer": "https://example.com/post"})
        assert b'"k":' in request(server.port, *script)[2]  # the site's config in it
        postgres.stop()
        time.sleep(2.0)  # the site rows' check (every second) meets the stopped database
        status, _, body = request(server.port, *script)
        assert status == 200 and b'"k":' not in body  # the plain script: the widget asks for the config
        time.sleep(1.0)
        postgres.start()
        time.sleep(4.0)
        load.stop()
    finally:
        server.stop()
    statuses = [status for status, _, _ in load.answers]
    assert 500 not in statuses and 0 not in statuses
    refused = [(headers, took) for status, headers, took in load.answers if status == 503]
    assert refused, "PostgreSQL was down: some beacons must have been refused"
    assert all(h.get("retry-after") and h.get("access-control-allow-origin") == "*" for h, _ in refused)
    assert max(took for _, took in refused) < 2.5
    assert statuses[-1] == 204 and statuses[-20:].count(204) >= 15  # recovered by itself
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("database unavailable") <= 2 * 3  # per worker, one line per kind a minute
    app.extensions["widget_engine"].dispose()  # the test's own connections died with the server
    assert set(load.acknowledged) <= stored_ids(app)


def test_redis_stopped_never_refuses(fresh: tuple[Flask, str], tmp_path: Path, postgres: Postgres,
                                     redis_server: RedisServer) -> None:
    app, key = fresh
    log = tmp_path / "server.log"
    server = Server(environment(postgres.url, tmp_path / "instance", redis_server.url), workers=2, log=log)
    try:
        load = Load([server.port], key, threads=3)
        load.wait_for(100)
        redis_server.stop()
        time.sleep(2.0)
        redis_server.start()
        time.sleep(5.0)
        load.stop()
    finally:
        server.stop()
    statuses = {status for status, _, _ in load.answers}
    assert statuses == {204}
    text = log.read_text()
    went = text.count("Redis is unreachable")
    assert 1 <= went <= 2 and text.count("Redis answers again") == went  # once each way per worker
    assert set(load.acknowledged) <= counted_ids(app)


def test_two_servers_count_and_limit_as_one(fresh: tuple[Flask, str], tmp_path: Path, postgres: Postgres,
                                            redis_server: RedisServer) -> None:
    app, key = fresh
    with app.app_context():
        other = signing.site_key(sites.create_site("Alone", ["example.org"]).id)
    env = environment(postgres.url, tmp_path / "instance", redis_server.url, AGGREGATE_IN_SERVER="false",
                      RATE_LIMIT_VISITOR="5/minute")
    first, second = Server(env, workers=2), Server(env, workers=2)
    worker = subprocess.Popen([sys.executable, "-m", "widget_server.cli", "aggregate"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        both = [post((first.port, second.port)[n % 2], beacon_body(key), reader="198.51.100.1")[0] for n in range(8)]
        one = [post(first.port, beacon_body(other, url="https://example.org/post/1"), reader="198.51.100.1")[0]
               for _ in range(8)]
        assert both == one == [204] * 5 + [429] * 3  # the same reader limit across servers as on one
        for n in range(60):
            reader, service = f"192.0.2.{n % 20}", ("weibo", "qq")[n % 3 % 2]
            post((first.port, second.port)[n % 2], beacon_body(key, service=service), reader=reader)
            post(first.port, beacon_body(other, service=service, url="https://example.org/post/1"), reader=reader)
        counts = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with app.app_context(), db.engine().connect() as conn:
                counts = dict(conn.execute(select(page_totals.c.site_id, func.sum(page_totals.c.shares))
                                           .group_by(page_totals.c.site_id)).all())
            if len(counts) == 2 and len(set(counts.values())) == 1 and min(counts.values()) >= 30:
                break
            time.sleep(0.2)
        assert len(counts) == 2 and len(set(counts.values())) == 1, counts
    finally:
        worker.terminate()
        worker.wait(10)
        first.stop()
        second.stop()
