"""Settings from WIDGET_* variables, and the development secret."""
from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from widget_server import create_app


def test_development_secret_is_generated_once_with_a_warning(tmp_path: Path, monkeypatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("WIDGET_SECRET_KEYS", raising=False)
    with caplog.at_level(logging.WARNING):
        first = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert "WIDGET_SECRET_KEYS is not set" in caplog.text
    secret_file = tmp_path / "dev-secret-key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert first.config["SECRET_KEYS"] == second.config["SECRET_KEYS"] == [secret_file.read_text()]
    assert len(first.config["SECRET_KEYS"][0]) >= 40


def test_settings_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WIDGET_SECRET_KEYS", "newest, older ,")
    monkeypatch.setenv("WIDGET_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    monkeypatch.setenv("WIDGET_PUBLIC_URL", "https://share.example.com/")
    monkeypatch.setenv("WIDGET_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app()
    assert app.config["SECRET_KEYS"] == ["newest", "older"]
    assert app.config["SECRET_KEY"] == "newest"
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/other.db"
    assert app.config["PUBLIC_URL"] == "https://share.example.com"
    assert not (tmp_path / "inst" / "dev-secret-key").exists()


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WIDGET_DATABASE_URL", raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEYS": "k"})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/widget.db"
