"""PostgreSQL and Redis drivers are extras: which settings need them, and what a missing one says."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SECRET_KEYS
from widget_server import create_app, extras


@pytest.mark.parametrize(("config", "needed"), [
    ({"DATABASE_URL": "sqlite:///widget.db", "REDIS_URL": None}, []),
    ({"DATABASE_URL": "postgres://u@db/sharebar", "REDIS_URL": ""}, ["psycopg"]),
    ({"DATABASE_URL": "postgresql://u@db/sharebar"}, ["psycopg"]),
    ({"DATABASE_URL": "postgresql+psycopg://u@db/sharebar", "REDIS_URL": "redis://cache:6379/0"},
     ["psycopg", "redis"]),
    ({"DATABASE_URL": "sqlite://", "REDIS_URL": "rediss://cache:6380/0"}, ["redis"]),
])
def test_settings_name_the_drivers_they_need(config: dict[str, str | None], needed: list[str]) -> None:
    assert [module for _setting, module, _extra in extras.needed(config)] == needed


def test_a_missing_driver_stops_the_app_with_the_install_command(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(extras, "installed", lambda module: module != "redis")
    with pytest.raises(extras.MissingExtra) as caught:
        create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                    "DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert caught.value.format_message() == (
        "WIDGET_REDIS_URL names a Redis server, but redis is not installed: "
        "pip install 'sharebar-widget-server[redis]'")


def test_installed_drivers_pass(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/0"
