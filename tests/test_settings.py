"""Settings from WIDGET_* variables: parsed and checked when the app is created, one line when bad."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from widget_server import create_app, settings
from widget_server.settings import SettingsError

KEY = "k7Qx2N9vR4mT8pW1sY6uZ3aB5cD0eF_gH"  # 34 random-looking characters
OLD_KEY = "Lr8Mt2Nq6Pw0Xz4Yb9Vc3Ud7Se1Fa5Gh-j"
BIN = Path(sys.executable).parent


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with no WIDGET_* setting but a good key and a temporary instance folder."""
    for name in list(os.environ):
        if name.startswith("WIDGET_") and not name.startswith("WIDGET_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WIDGET_SECRET_KEYS", KEY)
    monkeypatch.setenv("WIDGET_INSTANCE_PATH", str(tmp_path / "instance"))
    return monkeypatch


def test_development_secret_is_generated_once_with_a_warning(env: pytest.MonkeyPatch, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    env.delenv("WIDGET_SECRET_KEYS")
    with caplog.at_level(logging.WARNING):
        first = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert "WIDGET_SECRET_KEYS is not set" in caplog.text
    secret_file = tmp_path / "dev-secret-key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert first.config["SECRET_KEYS"] == second.config["SECRET_KEYS"] == [secret_file.read_text()]
    assert len(first.config["SECRET_KEYS"][0]) >= 40


def test_settings_come_from_the_environment(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("WIDGET_SECRET_KEYS", f"{KEY}, {OLD_KEY} ,")
    env.setenv("WIDGET_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    env.setenv("WIDGET_PUBLIC_URL", "https://share.example.com/")
    env.setenv("WIDGET_INSTANCE_PATH", str(tmp_path / "inst"))
    app = create_app()
    assert app.config["SECRET_KEYS"] == [KEY, OLD_KEY]
    assert app.config["SECRET_KEY"] == KEY
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/other.db"
    assert app.config["PUBLIC_URL"] == "https://share.example.com"
    assert not (tmp_path / "inst" / "dev-secret-key").exists()


def test_values_are_parsed_whether_flask_decoded_them_as_json_or_not(env: pytest.MonkeyPatch) -> None:
    env.setenv("WIDGET_MAX_BEACON_BYTES", "4096")  # JSON: an int
    env.setenv("WIDGET_TRUSTED_PROXIES", " 2 ")  # not JSON: a string
    env.setenv("WIDGET_DEMO", "yes")
    env.setenv("WIDGET_SECRET_KEYS", f'["{KEY}", "{OLD_KEY}"]')
    env.setenv("WIDGET_PUBLIC_URL", "https://example.com/share/")
    app = create_app()
    assert app.config["MAX_BEACON_BYTES"] == 4096
    assert app.config["TRUSTED_PROXIES"] == 2
    assert app.config["DEMO"] is True
    assert app.config["SECRET_KEYS"] == [KEY, OLD_KEY]
    assert app.config["PUBLIC_URL"] == "https://example.com/share"


def test_default_database_is_sqlite_in_the_instance_folder(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path}/widget.db"


EXPECT_KEYS = f"expected {settings.KEYS_EXPECTED}"
EXPECT_URL = "expected http(s)://host[:port][/base-path], no query"

BAD = [
    ("MAX_BEACON_BYTES", "8k", "WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)"),
    ("MAX_BEACON_BYTES", "100", "WIDGET_MAX_BEACON_BYTES=100: expected a whole number of bytes (512..65536)"),
    ("MAX_BEACON_BYTES", "true", "WIDGET_MAX_BEACON_BYTES=true: expected a whole number of bytes (512..65536)"),
    ("MAX_BEACON_BYTES", "8192.5", "WIDGET_MAX_BEACON_BYTES=8192.5: expected a whole number of bytes (512..65536)"),
    ("TRUSTED_PROXIES", "-1", "WIDGET_TRUSTED_PROXIES=-1: expected the number of proxies in front (0..10)"),
    ("RATE_LIMIT_VISITOR", "60/fortnight", "WIDGET_RATE_LIMIT_VISITOR=60/fortnight: expected one rate such as 60/minute"),
    ("RATE_LIMIT_VISITOR", "60", "WIDGET_RATE_LIMIT_VISITOR=60: expected one rate such as 60/minute"),
    ("RATE_LIMIT_SITE", "0/minute", "WIDGET_RATE_LIMIT_SITE=0/minute: expected one rate such as 60000/minute"),
    ("RATE_LIMIT_SITE", "1/second;9/minute",
     "WIDGET_RATE_LIMIT_SITE=1/second;9/minute: expected one rate such as 60000/minute"),
    ("PUBLIC_URL", "share.example.com", f"WIDGET_PUBLIC_URL=share.example.com: no http:// or https:// scheme; {EXPECT_URL}"),
    ("PUBLIC_URL", "localhost:8000", f"WIDGET_PUBLIC_URL=localhost:8000: no http:// or https:// scheme; {EXPECT_URL}"),
    ("PUBLIC_URL", "ftp://share.example.com", f"WIDGET_PUBLIC_URL=ftp://share.example.com: no http:// or https:// scheme; {EXPECT_URL}"),
    ("PUBLIC_URL", "https://share.example.com/?utm=1", f"WIDGET_PUBLIC_URL=https://share.example.com/?utm=1: {EXPECT_URL}"),
    ("PUBLIC_URL", "https://", f"WIDGET_PUBLIC_URL=https://: {EXPECT_URL}"),
    ("PUBLIC_URL", "https://share.example.com:80x", f"WIDGET_PUBLIC_URL=https://share.example.com:80x: bad port; {EXPECT_URL}"),
    ("PUBLIC_URL", "https://a b.example.com", f"WIDGET_PUBLIC_URL=https://a b.example.com: {EXPECT_URL}"),
    ("DATABASE_URL", "mysql://app:hunter2@db/sharebar",
     "WIDGET_DATABASE_URL=mysql://app:****@db/sharebar: mysql is not supported; expected a sqlite:/// or postgresql:// URL"),
    ("DATABASE_URL", "db.example.com/sharebar",
     "WIDGET_DATABASE_URL=db.example.com/sharebar: not a URL; expected a sqlite:/// or postgresql:// URL"),
    ("REDIS_URL", "http://:hunter2@127.0.0.1:6379",
     "WIDGET_REDIS_URL=http://:****@127.0.0.1:6379: expected a redis://, rediss:// or unix:// URL"),
    ("REDIS_URL", "redis://", "WIDGET_REDIS_URL=redis://: expected a redis://, rediss:// or unix:// URL"),
    ("REDIS_PREFIX", "share bar", "WIDGET_REDIS_PREFIX=share bar: expected 1 to 64 letters, digits or _:.-"),
    ("SECRET_KEYS", "hunter2", f"WIDGET_SECRET_KEYS=**** (1 key): key 1 has 7 characters; {EXPECT_KEYS}"),
    ("SECRET_KEYS", f"{KEY},{'ab' * 20}", f"WIDGET_SECRET_KEYS=**** (2 keys): key 2 repeats too few characters; {EXPECT_KEYS}"),
    ("SECRET_KEYS", "changeme-please-to-something-long-1234",
     f"WIDGET_SECRET_KEYS=**** (1 key): key 1 looks like a placeholder; {EXPECT_KEYS}"),
    ("SECRET_KEYS", "12", f"WIDGET_SECRET_KEYS=**** (1 key): key 1 has 2 characters; {EXPECT_KEYS}"),
    ("DEMO", "maybe", "WIDGET_DEMO=maybe: expected true or false"),
    ("DATABSE_URL", "sqlite:///x.db", "WIDGET_DATABSE_URL is not a setting: did you mean WIDGET_DATABASE_URL?"),
    ("SECRET_KEY", KEY, "WIDGET_SECRET_KEY is not a setting: did you mean WIDGET_SECRET_KEYS?"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_setting_stops_the_start_with_one_line(env: pytest.MonkeyPatch, name: str, value: str,
                                                     message: str) -> None:
    env.setenv(f"WIDGET_{name}", value)
    with pytest.raises(SettingsError) as raised:
        create_app()
    assert str(raised.value) == message
    assert "hunter2" not in message and KEY not in message


def test_settings_from_test_config_are_checked_too(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"^WIDGET_MAX_BEACON_BYTES=8k: expected"):
        create_app({"MAX_BEACON_BYTES": "8k"})
    with pytest.raises(SettingsError, match=r"^WIDGET_SECRET_KEYS=\*\*\*\* \(2 keys\): key 1 has 15 characters"):
        create_app({"SECRET_KEYS": "test-secret-new,test-secret-old"})


def test_several_problems_are_one_line_that_counts_the_others(env: pytest.MonkeyPatch) -> None:
    env.setenv("WIDGET_MAX_BEACON_BYTES", "8k")
    env.setenv("WIDGET_PUBLIC_URL", "share.example.com")
    env.setenv("WIDGET_DEBGU", "1")
    with pytest.raises(SettingsError) as raised:
        create_app()
    assert str(raised.value) == ("WIDGET_PUBLIC_URL=share.example.com: no http:// or https:// scheme; "
                                 f"{EXPECT_URL} (and 2 more: `widget-server check` lists them)")
    assert raised.value.problems[2] == "WIDGET_DEBGU is not a setting: did you mean WIDGET_DEBUG?"


def test_control_characters_in_a_value_stay_on_one_line(env: pytest.MonkeyPatch) -> None:
    env.setenv("WIDGET_PUBLIC_URL", "https://share.example.com\n")
    assert create_app().config["PUBLIC_URL"] == "https://share.example.com"
    env.setenv("WIDGET_REDIS_PREFIX", "share\nbar")
    with pytest.raises(SettingsError) as raised:
        create_app()
    assert str(raised.value) == 'WIDGET_REDIS_PREFIX="share\\nbar": expected 1 to 64 letters, digits or _:.-'


def test_a_new_setting_is_one_row(env: pytest.MonkeyPatch) -> None:
    row = settings.Setting("GREETING", "hello", settings.choice("hello", "hi"), "hello or hi")
    env.setattr(settings, "SETTINGS", (*settings.SETTINGS, row))
    env.setattr(settings, "BY_NAME", {**settings.BY_NAME, "GREETING": row})
    env.setenv("WIDGET_GREETING", "HI")
    assert create_app().config["GREETING"] == "hi"
    env.setenv("WIDGET_GREETING", "yaml")
    with pytest.raises(SettingsError, match=r"^WIDGET_GREETING=yaml: expected hello or hi$"):
        create_app()


def test_every_setting_has_a_default_that_passes_its_own_check() -> None:
    for setting in settings.SETTINGS:
        setting.parse(setting.default)
    assert set(settings.DEFAULTS) | set(settings.FLASK_OWN) == set(settings.BY_NAME)


def run(command: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def bad_environment(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WIDGET_") or k.startswith("WIDGET_TEST_")}
    return {**clean, "WIDGET_INSTANCE_PATH": str(tmp_path), "WIDGET_SECRET_KEYS": KEY, "WIDGET_MAX_BEACON_BYTES": "8k"}


LINE = "WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)"


def test_gunicorn_stops_with_the_line_and_no_traceback(tmp_path: Path) -> None:
    result = run([str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "1", "widget_server:create_app()"],
                 bad_environment(tmp_path))
    assert result.returncode != 0
    assert LINE in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


def test_a_gunicorn_config_that_checks_first_prints_only_the_line(tmp_path: Path) -> None:
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("from widget_server.settings import exit_on_bad_settings\nexit_on_bad_settings()\n")
    result = run([str(BIN / "gunicorn"), "--config", str(config), "--bind", "127.0.0.1:0", "--workers", "4",
                  "--preload", "widget_server:create_app()"], bad_environment(tmp_path))
    assert (result.returncode, result.stderr, result.stdout) == (2, LINE + "\n", "")
