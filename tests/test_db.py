"""The database connection: SQLite files readable by their owner only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from conftest import BeaconSender, make_app, register


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_are_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "widget.db"
    app = make_app(f"sqlite:///{path}", tmp_path)
    assert BeaconSender(app.test_client(), register(app)).send().status_code == 204
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert all(p.exists() for p in files)
    assert [oct(mode(p)) for p in files] == ["0o600"] * 3
    app.extensions["widget_engine"].dispose()


def test_an_existing_world_readable_database_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "widget.db"
    old_umask = os.umask(0)
    try:
        make_app(f"sqlite:///{path}", tmp_path).extensions["widget_engine"].dispose()
        for part in tmp_path.glob("widget.db*"):
            part.chmod(0o644)
    finally:
        os.umask(old_umask)
    app = make_app(f"sqlite:///{path}", tmp_path)
    assert BeaconSender(app.test_client(), register(app)).send().status_code == 204
    assert [oct(mode(p)) for p in sorted(tmp_path.glob("widget.db*"))] == ["0o600"] * len(list(tmp_path.glob("widget.db*")))
    app.extensions["widget_engine"].dispose()
