"""Fixtures, as in Flask's tutorial: ``app`` on a fresh database, ``client``, ``runner``,
plus ``site`` (a registered site) and ``beacon`` (sends share beacons the widget's way).

Every test that uses ``app`` runs on SQLite, and again on PostgreSQL when
``WIDGET_TEST_DATABASE_URL`` is set (CI sets it).
"""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

from widget_server import create_app, db, signing, sites
from widget_server.models import Site

SECRET_KEYS = "test-secret-new,test-secret-old"
PG_URL = os.environ.get("WIDGET_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PG_SCHEMA = "sharebar_test"


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
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgresql":
        return fresh_postgres()
    return f"sqlite:///{tmp_path}/widget.db"


def make_app(database_url: str, tmp_path: Any, **config: Any) -> Flask:
    settings = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEYS": SECRET_KEYS,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PUBLIC_URL": "https://share.test",
    }
    app = create_app({**settings, **config})
    with app.app_context():
        db.upgrade()
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

    def clickback(self, code: str | None, ip: str = "198.51.100.20", headers: dict[str, str] | None = None,
                  **fields: Any) -> TestResponse:
        body = {"type": "clickback", "site": self.site.key, "url": f"https://example.com/post/1?_sb={code}",
                "code": code, "id": uuid.uuid4().hex, "referrer": "https://weibo.com/u/123", **fields}
        return self.post(json.dumps(body), headers=headers, ip=ip)


@pytest.fixture
def beacon(client: FlaskClient, site: Registered) -> BeaconSender:
    return BeaconSender(client, site)


def table_rows(app: Flask, table: str) -> list[Any]:
    """Every row of ``table``, read back from the real database."""
    with app.app_context(), db.engine().connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM {table}")))
