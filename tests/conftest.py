"""Fixtures, as in Flask's tutorial: ``app`` on a fresh database, ``client``, ``runner``,
plus ``site`` (a registered site) and ``beacon`` (sends share beacons the widget's way),
``partner`` (a token for the site and GETs that carry it) and ``seed`` (daily stats rows).

Counting runs behind the beacons, in the aggregator. Tests read as if it had caught up:
``aggregate(app)`` counts everything stored so far, and the test client and ``table_rows``
call it before every read, so a GET sees the beacons sent before it.

Every test that uses ``app`` runs on SQLite, and again on PostgreSQL when
``WIDGET_TEST_DATABASE_URL`` is set (CI sets it).
"""
from __future__ import annotations

import json
import os
import time
import uuid
import weakref
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.test import TestResponse

from widget_server import aggregate as aggregator, create_app, db, signing, sites, tokens
from widget_server.models import Site, daily_rollups, daily_uniques, page_totals, pages
from widget_server.urls import url_hash

SECRET_KEYS = "test-secret-new-0123456789abcdefghijkl,test-secret-old-0123456789abcdefghijkl"
PG_URL = os.environ.get("WIDGET_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# Concurrent runs on one machine (several checkouts) each take their own schema.
PG_SCHEMA = os.environ.get("WIDGET_TEST_PG_SCHEMA", "sharebar_test")


def fresh_postgres() -> str:
    """A URL whose search path is an emptied schema of the test database."""
    assert PG_URL
    engine = create_engine(db.normalise_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The test's own database; the apps the test made on it give their connections back when
    it ends (PostgreSQL's connection limit is the whole run's: each app's writer holds one
    connection, which disposing of its pool does not close)."""
    made = len(MADE)
    yield fresh_postgres() if request.param == "postgresql" else f"sqlite:///{tmp_path}/widget.db"
    for made_app in MADE[made:]:
        app = made_app()
        if app is not None:
            release(app)
    del MADE[made:]


MADE: list[weakref.ref[Flask]] = []  # the apps make_app made, in order (not kept alive here)


def release(app: Flask) -> None:
    """Close what ``app`` holds of its database: its writer's connection, then its pool."""
    app.extensions["widget_writer"]._drop_connection()
    app.extensions["widget_engine"].dispose()


def aggregate(app: Flask) -> int:
    """Run the aggregator until it has counted every stored event; returns how many.

    Another aggregator may be counting at the same time (the live server of the browser
    tests): a step that loses the race to it is refused by the database, and retried."""
    for attempt in range(50):
        try:
            return aggregator.catch_up(app.extensions["widget_engine"])
        except OperationalError:
            time.sleep(0.05)
    return aggregator.catch_up(app.extensions["widget_engine"])


def counting(app: Flask) -> bool:
    """Whether the schema has the aggregator's state: not while a test holds it migrated down."""
    return inspect(app.extensions["widget_engine"]).has_table("aggregator_state")


class CaughtUpClient(FlaskClient):
    """The test client, reading after the aggregator caught up (GET and HEAD only)."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        method = kwargs.get("method") or (getattr(args[0], "method", None) if args else None) or "GET"
        if str(method).upper() in ("GET", "HEAD") and counting(self.application):
            aggregate(self.application)
        return super().open(*args, **kwargs)


def within_one_window(margin: float = 5.0, seconds: int = 60) -> None:
    """Wait for the next window of ``seconds`` when this one ends within ``margin`` seconds. The
    limits count in fixed windows (the tests' beacon limits a minute, sign-ins 15 minutes): the
    beacons of a test that crossed a window's end were counted in two, and a limit that should
    have refused one did not."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.01)


def app_settings(database_url: str, tmp_path: Any) -> dict[str, Any]:
    """The tests' app settings (plain values: a child process can take them as JSON)."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEYS": SECRET_KEYS,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PUBLIC_URL": "https://share.test",
        "COUNTS_CACHE_SECONDS": 0,  # reads see the counts of the beacons sent just before
        "REFUSALS_FLUSH_SECONDS": 0,  # refusals are written as they come (test_refusals tests the buffering)
    }


def make_app(database_url: str, tmp_path: Any, **config: Any) -> Flask:
    if any(name.startswith("RATE_LIMIT_") for name in config):
        within_one_window()
    app = create_app({**app_settings(database_url, tmp_path), **config})
    app.test_client_class = CaughtUpClient
    with app.app_context():
        db.upgrade()
    MADE.append(weakref.ref(app))
    return app


@pytest.fixture
def app(database_url: str, tmp_path: Any) -> Iterator[Flask]:
    app = make_app(database_url, tmp_path)
    yield app
    app.extensions["widget_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class Registered:
    """A registered site as a test sees it: its row id, public key and domains."""

    def __init__(self, site: Site):
        self.id = site.id
        self.key = signing.site_key(site.id)
        self.secret = site.secret
        self.domains = site.domains


def register(app: Flask, name: str = "Example", domains: tuple[str, ...] = ("example.com",)) -> Registered:
    with app.app_context():
        return Registered(sites.create_site(name, list(domains)))


@pytest.fixture
def site(app: Flask) -> Registered:
    return register(app)


BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/156.0.0.0 Safari/537.36")


class BeaconSender:
    """Posts beacons as ``navigator.sendBeacon`` does: a text/plain JSON string, from a
    reader at ``ip`` with a desktop browser's user agent unless told otherwise.
    """

    ip = "203.0.113.7"
    user_agent = BROWSER_UA

    def __init__(self, client: FlaskClient, site: Registered):
        self.client, self.site = client, site

    def body(self, **fields: Any) -> dict[str, Any]:
        base = {
            "type": "share", "site": self.site.key, "url": "https://example.com/post/1",
            "service": "weibo", "id": uuid.uuid4().hex, "title": "A post",
        }
        return {**base, **fields}

    def send(self, headers: dict[str, str] | None = None, ip: str | None = None, **fields: Any) -> TestResponse:
        return self.post(json.dumps(self.body(**fields)), headers=headers, ip=ip)

    def post(self, data: str | bytes, content_type: str = "text/plain;charset=UTF-8",
             headers: dict[str, str] | None = None, ip: str | None = None) -> TestResponse:
        headers = {"User-Agent": self.user_agent, **(headers or {})}
        environ = {"REMOTE_ADDR": ip or self.ip}
        return self.client.post("/v1/events", data=data, content_type=content_type, headers=headers,
                                environ_base=environ)

    def share(self, ip: str | None = None, headers: dict[str, str] | None = None, **fields: Any) -> str:
        """Send a share with a fresh share code; return the code."""
        code = fields.pop("code", uuid.uuid4().hex[:12])
        response = self.post(json.dumps(self.body(code=code, **fields)), headers=headers, ip=ip)
        assert response.status_code == 204, response.get_data(as_text=True)
        return str(code)

    def action(self, verb: str = "like", ip: str | None = None, headers: dict[str, str] | None = None,
               **fields: Any) -> TestResponse:
        """A like-and-share action beacon (``actor=TOKEN`` names the actor)."""
        body = {"type": "action", "site": self.site.key, "url": "https://example.com/post/1", "verb": verb,
                "id": uuid.uuid4().hex, "title": "A post", **fields}
        return self.post(json.dumps(body), headers=headers, ip=ip)

    def clickback(self, code: str | None, ip: str = "198.51.100.20", headers: dict[str, str] | None = None,
                  **fields: Any) -> TestResponse:
        body = {"type": "clickback", "site": self.site.key, "url": f"https://example.com/post/1?_sb={code}",
                "code": code, "id": uuid.uuid4().hex, "referrer": "https://weibo.com/u/123", **fields}
        return self.post(json.dumps(body), headers=headers, ip=ip)


@pytest.fixture
def beacon(client: FlaskClient, site: Registered) -> BeaconSender:
    return BeaconSender(client, site)


def table_rows(app: Flask, table: str) -> list[Any]:
    """Every row of ``table``, read back from the real database once the aggregator caught up."""
    if counting(app):
        aggregate(app)
    with app.app_context(), db.engine().connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM {table}")))


# -- partners and stats ---------------------------------------------------------------------


def issue_token(app: Flask, site_ids: list[int], scopes: tuple[str, ...] = ("stats:read",),
                expires: timedelta = timedelta(days=90), now: datetime | None = None) -> tuple[int, str]:
    """A partner token for ``site_ids``: its row id and the token."""
    with app.app_context():
        row, token = tokens.issue(site_ids, scopes, expires, name="test", now=now)
        return row.id, token


class Partner:
    """A partner as a test sees one: a token for a site, and GETs that carry it."""

    def __init__(self, client: FlaskClient, site_id: int, token: str):
        self.client, self.site_id, self.token = client, site_id, token

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> TestResponse:
        """GET ``path`` with ``site_id`` (unless given) and the token as a Bearer header."""
        params.setdefault("site_id", self.site_id)
        query = {key: value for key, value in params.items() if value is not None}
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.client.get(path, query_string=query, headers=headers)


@pytest.fixture
def partner(app: Flask, client: FlaskClient, site: Registered) -> Partner:
    return Partner(client, site.id, issue_token(app, [site.id])[1])


class Seeder:
    """Writes the daily rows the stats read, as the ingest path keeps them, straight into
    the tables (Core upserts): so stats tests do not depend on how events get there.

    ``rollup`` adds counters to ``daily_rollups`` and to ``daily_uniques`` for the whole
    site, the page, the platform (not for actions, which have none), the action verb ('' for
    plain shares and click-backs) and, for click-backs only, the referrer host;
    ``uniques`` sets a day's distinct sharers and visitors of one dim value. Shares also go
    into ``page_totals``, as the aggregator keeps them.
    """

    def __init__(self, app: Flask, site_id: int):
        self.app, self.site_id = app, site_id
        self.pages: dict[str, int] = {}

    def page(self, url: str, title: str | None = None) -> int:
        if url not in self.pages:
            row = {"site_id": self.site_id, "url": url, "url_hash": url_hash(url), "title": title,
                   "created_at": datetime.now(timezone.utc)}
            with self.app.app_context(), db.engine().begin() as conn:
                self.pages[url] = int(conn.execute(insert(pages).values(row).returning(pages.c.id)).scalar_one())
        return self.pages[url]

    def rollup(self, day: str, url: str, service: str = "weibo", referrer: str = "", action: str = "",
               **counts: int) -> None:
        page = self.page(url)
        on_day = date.fromisoformat(day)
        key = {"site_id": self.site_id, "day": on_day, "page_id": page, "service": service,
               "referrer": referrer, "action": action}
        clicked = {k: v for k, v in counts.items() if k in ("clickbacks", "bot_clickbacks")}
        with self.app.app_context(), db.engine().begin() as conn:
            upsert(conn, daily_rollups, key, counts)
            if counts.get("shares") and service:  # the all-time per-page totals /v1/counts reads
                upsert(conn, page_totals, {"site_id": self.site_id, "url_hash": url_hash(url), "service": service},
                       {"shares": counts["shares"]})
            dims = [("", ""), ("page", str(page)), ("platform", service), ("referrer", referrer), ("action", action)]
            for dim, value in dims:
                added = clicked if dim == "referrer" else counts
                if added and not (dim == "platform" and service == ""):
                    dim_key = {"site_id": self.site_id, "day": on_day, "dim": dim, "value": value}
                    upsert(conn, daily_uniques, dim_key, added)

    def uniques(self, day: str, dim: str, value: str, sharers: int = 0, visitors: int = 0) -> None:
        key = {"site_id": self.site_id, "day": date.fromisoformat(day), "dim": dim, "value": value}
        with self.app.app_context(), db.engine().begin() as conn:
            upsert(conn, daily_uniques, key, {"sharers": sharers, "visitors": visitors})


def upsert(conn: Any, table: Any, key: dict[str, Any], add: dict[str, int]) -> None:
    """Add ``add`` to the counters of the row with primary key ``key`` (created at zero)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**key, **add)
    conn.execute(statement.on_conflict_do_update(
        index_elements=list(key), set_={name: table.c[name] + value for name, value in add.items()}))


@pytest.fixture
def seed(app: Flask, site: Registered) -> Seeder:
    return Seeder(app, site.id)
