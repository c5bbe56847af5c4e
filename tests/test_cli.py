"""The widget-server command line, run as users run it."""
from __future__ import annotations

import json
import re
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskCliRunner

from conftest import SECRET_KEYS, Registered, make_app, table_rows
from widget_server import checks, cli, create_app, db, signing, vault
from widget_server.settings import SettingsError

KEY = "k7Qx2N9vR4mT8pW1sY6uZ3aB5cD0eF_gH"
OLD_KEY = "Lr8Mt2Nq6Pw0Xz4Yb9Vc3Ud7Se1Fa5Gh-j"
WIDGET_SERVER = str(Path(sys.executable).parent / "widget-server")


def test_sites_create_prints_key_secret_and_snippet(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["sites", "create", "--name", "Blog", "--domain", "blog.example.com",
                                 "--domain", "https://Example.org/"])
    assert result.exit_code == 0, result.output
    row = table_rows(app, "sites")[0]
    with app.app_context():
        key, secret = signing.site_key(row.id), vault.open_secret(row.secret)  # sealed at rest
    assert key in result.output
    assert secret in result.output and row.secret not in result.output
    assert f'<script async src="https://share.test/static/sharebar.js" data-site="{key}"></script>' in result.output
    assert "<div data-sharebar></div>" in result.output


def test_sites_create_json(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["sites", "create", "--name", "新闻", "--domain", "news.example.cn", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["name"] == "新闻"
    assert info["domains"] == ["news.example.cn"]
    with app.app_context():
        assert signing.site_id_from_key(info["key"]) == info["id"]
    assert info["key"] in info["snippet"]


def test_sites_create_refuses_a_bad_domain(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["sites", "create", "--name", "Bad", "--domain", "not a domain"])
    assert result.exit_code != 0
    assert "not a domain" in result.output
    assert table_rows(app, "sites") == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_starts_a_working_server(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "WIDGET_INSTANCE_PATH": str(tmp_path)}
    env.pop("WIDGET_DATABASE_URL", None)
    env.pop("WIDGET_SECRET_KEYS", None)
    command = [sys.executable, "-m", "widget_server.cli", "demo", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/demo")
        assert "data-sharebar" in page and "data-site=" in page
        assert (tmp_path / "widget.db").exists()
        assert (tmp_path / "dev-secret-key").exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/demo" in output
    assert "WIDGET_SECRET_KEYS is not set" in output


def wait_for(url: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- the public URL in what the CLI prints ------------------------------------------------


@pytest.fixture
def unset_public_url(database_url: str, tmp_path: Path) -> Flask:
    """An app whose WIDGET_PUBLIC_URL is not set."""
    return make_app(database_url, tmp_path, PUBLIC_URL=None)


def test_without_a_public_url_the_snippet_says_so_instead_of_guessing(unset_public_url: Flask) -> None:
    result = unset_public_url.test_cli_runner().invoke(args=["sites", "create", "--name", "Blog",
                                                             "--domain", "blog.example.com"])
    assert result.exit_code == 0, result.output
    assert '<script async src="https://YOUR-SERVER/static/sharebar.js"' in result.stdout
    assert "127.0.0.1" not in result.output
    assert result.stderr.count("\n") == 1 and "WIDGET_PUBLIC_URL is not set" in result.stderr


def test_feed_url_without_a_public_url_says_so(unset_public_url: Flask) -> None:
    runner = unset_public_url.test_cli_runner()
    runner.invoke(args=["sites", "create", "--name", "Blog", "--domain", "blog.example.com"])
    result = runner.invoke(args=["feeds", "url", "--site", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://YOUR-SERVER/api/v1/feed.atom?token=")
    assert "WIDGET_PUBLIC_URL is not set" in result.stderr


# -- sites list and show --------------------------------------------------------------------


def test_sites_list(app: Flask, runner: FlaskCliRunner) -> None:
    empty = runner.invoke(args=["sites", "list"])
    assert empty.exit_code == 0 and empty.stdout == "" and "No sites yet" in empty.stderr
    runner.invoke(args=["sites", "create", "--name", "Blog", "--domain", "blog.example.com", "--domain", "example.org"])
    runner.invoke(args=["sites", "create", "--name", "新闻", "--domain", "news.example.cn"])
    result = runner.invoke(args=["sites", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["    1  Blog  blog.example.com, example.org", "    2  新闻    news.example.cn"]
    listed = json.loads(runner.invoke(args=["sites", "list", "--json"]).stdout)
    assert listed == [{"id": 1, "name": "Blog", "domains": ["blog.example.com", "example.org"]},
                      {"id": 2, "name": "新闻", "domains": ["news.example.cn"]}]


def test_sites_show_reprints_key_domains_settings_and_snippet_but_not_the_secret(app: Flask,
                                                                                 runner: FlaskCliRunner) -> None:
    runner.invoke(args=["sites", "create", "--name", "Blog", "--domain", "blog.example.com"])
    runner.invoke(args=["sites", "set", "1", "theme=dark"])
    row = table_rows(app, "sites")[0]
    with app.app_context():
        key, secret = signing.site_key(row.id), vault.open_secret(row.secret)  # stored sealed, shown plain
    result = runner.invoke(args=["sites", "show", "1"])
    assert result.exit_code == 0, result.output
    assert f"site key: {key}" in result.stdout
    assert "domains:  blog.example.com" in result.stdout
    assert 'theme = "dark"' in result.stdout
    assert f'<script async src="https://share.test/static/sharebar.js" data-site="{key}"></script>' in result.stdout
    assert secret not in result.output
    info = json.loads(runner.invoke(args=["sites", "show", "1", "--json"]).stdout)
    assert (info["id"], info["key"], info["domains"], info["settings"]["theme"]) == (1, key, ["blog.example.com"], "dark")
    assert "secret" not in info and key in info["snippet"]
    assert json.loads(runner.invoke(args=["sites", "show", "1", "--json", "--secret"]).stdout)["secret"] == secret
    assert f"secret:   {secret}" in runner.invoke(args=["sites", "show", "1", "--secret"]).stdout


def test_sites_show_of_an_unknown_site_is_one_line(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["sites", "show", "9"])
    assert result.exit_code == 1
    assert result.output == "Error: no site with id 9 (`widget-server sites list` lists them)\n"


# -- widget-server sites title ------------------------------------------------------------

PAGE = "https://example.com/post/1"


def test_sites_title_sets_and_clears_the_owners_title(app: Flask, runner: FlaskCliRunner, site: Registered) -> None:
    result = runner.invoke(args=["sites", "title", str(site.id), "https://Example.com/post/1?utm_source=x#top",
                                 " Ein\tTitel \x00 "])
    assert result.exit_code == 0, result.output
    assert result.output == f'{PAGE} is titled "Ein Titel"\n'  # cleaned as beacon titles and URLs are
    assert [(row.url, row.owner_title, row.title) for row in table_rows(app, "pages")] == [(PAGE, "Ein Titel", None)]
    result = runner.invoke(args=["sites", "title", str(site.id), PAGE, "--clear"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{PAGE} has no title until two readers report the same one\n"
    assert [row.owner_title for row in table_rows(app, "pages")] == [None]


@pytest.mark.parametrize(("args", "error"), [
    (["9", PAGE, "T"], "no site with id 9"),
    (["1", "https://example.net/post/1", "T"], "is not on the domains of site 1 (example.com)"),
    (["1", "https://example.com.evil.net/", "T"], "is not on the domains of site 1"),
    (["1", "javascript:alert(1)", "T"], "url must be http or https"),
    (["1", PAGE, " \t\x01 "], "the title is empty"),
    (["1", PAGE, "x" * 301], "the title is longer than 300 characters"),
    (["1", PAGE], "give either TITLE or --clear"),
    (["1", PAGE, "T", "--clear"], "give either TITLE or --clear"),
])
def test_sites_title_refuses_bad_input_in_one_line_and_changes_nothing(app: Flask, runner: FlaskCliRunner,
                                                                        site: Registered, args: list[str],
                                                                        error: str) -> None:
    assert runner.invoke(args=["sites", "title", str(site.id), PAGE, "Kept"]).exit_code == 0
    before = table_rows(app, "pages")
    result = invoke("sites", "title", *args, WIDGET_DATABASE_URL=app.config["DATABASE_URL"],
                    WIDGET_SECRET_KEYS=SECRET_KEYS, WIDGET_INSTANCE_PATH=app.instance_path)
    assert result.exit_code != 0
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert error in result.stderr
    assert table_rows(app, "pages") == before


# -- widget-server check ------------------------------------------------------------------


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A self-hoster's environment: SQLite at head, two keys, a public URL; applied to os.environ."""
    for name in list(os.environ):
        if name.startswith("WIDGET_") and not name.startswith("WIDGET_TEST_"):
            monkeypatch.delenv(name)
    values = {"WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/widget.db", "WIDGET_SECRET_KEYS": f"{KEY},{OLD_KEY}",
              "WIDGET_PUBLIC_URL": "https://share.example.com", "WIDGET_INSTANCE_PATH": str(tmp_path / "instance")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    migrate("head")
    return values


def migrate(revision: str) -> None:
    app = create_app()
    with app.app_context():
        db.upgrade(revision)
    app.extensions["widget_engine"].dispose()


def head() -> str:
    app = create_app()
    with app.app_context():
        return checks.revisions()[1]


def check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["check", *args])
    return result.exit_code, result.stdout


def test_check_passes_and_masks_secrets(server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    redis_url = os.environ.get("WIDGET_TEST_REDIS_URL")
    if redis_url:
        monkeypatch.setenv("WIDGET_REDIS_URL", redis_url)
    code, output = check()
    assert code == 0, output
    assert re.search(r"^  WIDGET_SECRET_KEYS +\*\*\*\* \(2 keys\)$", output, re.M), output
    assert KEY not in output and OLD_KEY not in output
    assert f"  ok    database    sqlite:///{server_env['WIDGET_DATABASE_URL'][10:]}: at head {head()}" in output
    assert "  ok    public url  https://share.example.com" in output
    assert ("  ok    redis       " in output) == bool(redis_url)
    assert output.endswith("All good.\n")
    code, output = check("--json")
    report = json.loads(output)
    assert code == 0 and report["ok"] is True and report["problems"] == []
    assert report["checks"]["database"]["revision"] == report["checks"]["database"]["head"] == head()
    assert report["settings"]["WIDGET_SECRET_KEYS"] == "**** (2 keys)"


def test_check_fails_on_a_database_behind_head(server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("WIDGET_DATABASE_URL", f"sqlite:///{tmp_path}/older.db")
    migrate("0003")
    code, output = check()
    assert code == 1
    assert f"  FAIL  database    sqlite:///{tmp_path}/older.db: behind: 0003, head {head()}: " \
           "run `widget-server db upgrade`" in output
    assert output.endswith("1 problem\n")


def test_check_fails_when_redis_does_not_answer(server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGET_REDIS_URL", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    code, output = check("--json")
    report = json.loads(output)
    assert code == 1 and report["ok"] is False
    assert report["checks"]["redis"]["ok"] is False
    assert report["problems"][0].startswith("redis://:****@127.0.0.1:")
    assert "no answer" in report["problems"][0] and "hunter2" not in output


def test_check_fails_without_a_public_url_or_secret_keys(server_env: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIDGET_PUBLIC_URL")
    monkeypatch.delenv("WIDGET_SECRET_KEYS")
    code, output = check()
    assert code == 1
    assert "  FAIL  public url  not set: snippets and feed URLs would say https://YOUR-SERVER" in output
    assert "  FAIL  secret keys not set: a development secret from " in output
    assert output.endswith("2 problems\n")


def test_check_lists_every_bad_setting(server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGET_MAX_BEACON_BYTES", "8k")
    monkeypatch.setenv("WIDGET_DATABSE_URL", "postgresql://db/sharebar")
    code, output = check()
    assert code == 1
    assert "  FAIL  settings    WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)" in output
    assert "  FAIL  settings    WIDGET_DATABSE_URL is not a setting: did you mean WIDGET_DATABASE_URL?" in output
    assert re.search(r"^  WIDGET_MAX_BEACON_BYTES +8k$", output, re.M), output
    report = json.loads(check("--json")[1])
    assert report["checks"]["settings"]["problems"] == report["problems"] == [
        "WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)",
        "WIDGET_DATABSE_URL is not a setting: did you mean WIDGET_DATABASE_URL?"]


# -- every error one line, as users run the command ----------------------------------------


def widget_server(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WIDGET_", "FLASK_")) or k.startswith("WIDGET_TEST_")}
    return subprocess.run([WIDGET_SERVER, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60)


def invoke(*args: str, **env: str) -> Any:
    """``widget-server ARGS`` in this process, with ``env`` added to the environment."""
    return CliRunner().invoke(cli.main, list(args), env=env, prog_name="widget-server")


def test_commands_before_db_upgrade_say_so_in_one_line(tmp_path: Path) -> None:
    env = {"WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/widget.db", "WIDGET_SECRET_KEYS": KEY,
           "WIDGET_INSTANCE_PATH": str(tmp_path)}
    line = "Error: the database has no schema: run `widget-server db upgrade`\n"
    result = widget_server("sites", "list", **env)
    assert (result.returncode, result.stderr, result.stdout) == (1, line, "")
    for command in (["sites", "create", "--name", "B", "--domain", "b.example"], ["sites", "show", "1"],
                    ["tokens", "list"], ["feeds", "url", "--site", "1"], ["feeds", "prune"]):
        assert (invoke(*command, **env).exit_code, invoke(*command, **env).stderr) == (1, line)
    assert invoke("db", "upgrade", **env).exit_code == 0
    assert invoke("sites", "list", **env).exit_code == 0


def test_a_database_that_does_not_connect_is_named_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    env = {"WIDGET_DATABASE_URL": f"postgresql://sharebar:hunter2@127.0.0.1:{port}/sharebar",
           "WIDGET_SECRET_KEYS": KEY, "WIDGET_INSTANCE_PATH": str(tmp_path)}
    for exit_code, stderr in [(r.returncode, r.stderr) for r in [widget_server("db", "upgrade", **env)]] + \
            [(r.exit_code, r.stderr) for r in [invoke("sites", "show", "1", **env)]]:
        assert exit_code == 1
        assert stderr.startswith(f"Error: cannot connect to the database postgresql://sharebar:****@127.0.0.1:{port}"
                                 "/sharebar (WIDGET_DATABASE_URL): ")
        assert stderr.count("\n") == 1 and "hunter2" not in stderr


def test_a_bad_setting_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {"WIDGET_INSTANCE_PATH": str(tmp_path), "WIDGET_SECRET_KEYS": KEY, "WIDGET_MAX_BEACON_BYTES": "8k"}
    line = "Error: WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)\n"
    result = widget_server("sites", "list", **env)
    assert (result.returncode, result.stderr, result.stdout) == (1, line, "")
    debugged = widget_server("--debug", "sites", "list", **env)
    assert debugged.returncode == 1 and "Traceback (most recent call last)" in debugged.stderr
    assert "SettingsError: WIDGET_MAX_BEACON_BYTES=8k" in debugged.stderr
    assert isinstance(invoke("sites", "list", **env, WIDGET_DEBUG="1").exception, SettingsError)  # not caught
    helped = invoke("--help", **env)
    assert helped.exit_code == 0 and helped.stderr == line and "check" in helped.stdout


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    env = {"WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/widget.db", "WIDGET_SECRET_KEYS": KEY,
           "WIDGET_INSTANCE_PATH": str(tmp_path)}
    result = widget_server("sites", "create", "--name", "Blog", **env)
    assert (result.returncode, result.stderr) == (
        2, "Error: Missing option '--domain'. (see `widget-server sites create --help`)\n")
    assert invoke("sites", "show", "one", **env).stderr == (
        "Error: Invalid value for 'SITE_ID': 'one' is not a valid integer. (see `widget-server sites show --help`)\n")
    assert invoke("nonsense", **env).stderr == "Error: No such command 'nonsense'. (see `widget-server --help`)\n"
