"""Liveness and readiness, including against real servers that are stopped, frozen or killed."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import SECRET_KEYS
from own_servers import OwnPostgres, OwnRedis
from widget_server import create_app, db, ops


def app_on(database_url: str, tmp_path: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path / "instance"),
                       "DATABASE_URL": database_url, **config})


def timed_readyz(app: Flask) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json(), time.monotonic() - started


def test_liveness_needs_nothing(tmp_path: Path) -> None:
    app = app_on("postgresql://nobody@127.0.0.1:1/none", tmp_path)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_ready_when_the_schema_is_at_head(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "schema": "ok", "redis": "off", "detail": []}


def test_not_ready_before_db_upgrade(tmp_path: Path) -> None:
    status, body, _ = timed_readyz(app_on(f"sqlite:///{tmp_path}/empty.db", tmp_path))
    assert status == 503
    assert body["status"] == "unavailable" and body["database"] == "ok" and body["schema"] == "empty"
    assert body["detail"] == ["The database has no schema: run `widget-server db upgrade`."]


def test_not_ready_one_migration_behind(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.downgrade("-1")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["schema"] == "outdated"
    assert "run `widget-server db upgrade`" in response.get_json()["detail"][0]


@pytest.mark.parametrize(("current", "state"), [
    ({"0004"}, "ok"), (set(), "empty"), ({"0003"}, "outdated"), ({"0099"}, "newer"),
])
def test_schema_state(current: set[str], state: str) -> None:
    assert ops.schema_state(current, {"0004"}, {"0001", "0002", "0003", "0004"})[0] == state


@pytest.mark.parametrize(("found", "expected"), [
    ({"database": "ok", "schema": "ok", "redis": "off"}, ("ok", 200)),
    ({"database": "ok", "schema": "ok", "redis": "ok"}, ("ok", 200)),
    ({"database": "ok", "schema": "ok", "redis": "unreachable"}, ("degraded", 200)),
    ({"database": "ok", "schema": "ok", "redis": "timeout"}, ("degraded", 200)),
    ({"database": "ok", "schema": "newer", "redis": "off"}, ("degraded", 200)),
    ({"database": "ok", "schema": "outdated", "redis": "ok"}, ("unavailable", 503)),
    ({"database": "unreachable", "schema": "unknown", "redis": "ok"}, ("unavailable", 503)),
    ({"database": "timeout", "schema": "unknown", "redis": "off"}, ("unavailable", 503)),
])
def test_verdict(found: dict[str, str], expected: tuple[str, int]) -> None:
    assert ops.verdict(found) == expected


def test_a_database_with_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    status, body, _ = timed_readyz(app_on("postgresql://nobody@127.0.0.1:1/none", tmp_path))
    assert status == 503 and body["database"] == "unreachable"


# -- faults of real servers ------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    yield server
    server.kill()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    yield server
    server.remove()


def migrated_app(database_url: str, tmp_path: Path, **config: Any) -> Flask:
    app = app_on(database_url, tmp_path, **config)
    with app.app_context():
        db.upgrade()
    return app


def test_redis_killed_or_frozen_is_degraded_not_unready(tmp_path: Path, own_redis: OwnRedis) -> None:
    app = migrated_app(f"sqlite:///{tmp_path}/w.db", tmp_path, REDIS_URL=own_redis.url)
    assert timed_readyz(app)[:2] == (200, {"status": "ok", "database": "ok", "schema": "ok", "redis": "ok",
                                           "detail": []})
    own_redis.freeze()
    status, body, took = timed_readyz(app)
    assert (status, body["status"], body["redis"]) == (200, "degraded", "unreachable") and took < 2
    own_redis.kill()
    status, body, took = timed_readyz(app)
    assert (status, body["status"], body["redis"]) == (200, "degraded", "unreachable") and took < 2
    assert body["detail"] == ["Redis does not answer (ConnectionError)."]


def test_postgres_frozen_or_stopped_is_unready_within_two_seconds(tmp_path: Path, own_postgres: OwnPostgres) -> None:
    app = migrated_app(own_postgres.url, tmp_path)
    assert timed_readyz(app)[:2] == (200, {"status": "ok", "database": "ok", "schema": "ok", "redis": "off",
                                           "detail": []})
    own_postgres.freeze()
    try:
        status, body, took = timed_readyz(app)
        assert (status, body["database"], body["status"]) == (503, "timeout", "unavailable") and took < 2
        assert body["detail"] == ["Database did not answer within 1.5 s."]
        for _probe in range(3):  # later probes share the hanging check until libpq gives up
            status, body, took = timed_readyz(app)
            assert (status, body["database"]) in {(503, "timeout"), (503, "unreachable")} and took < 2
    finally:
        own_postgres.thaw()
    own_postgres.stop()
    status, body, took = timed_readyz(app)
    assert (status, body["database"]) == (503, "unreachable") and took < 2
    assert body["detail"] == ["The database does not answer (OperationalError)."]
    app.extensions["widget_engine"].dispose()
