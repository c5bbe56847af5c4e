"""The widget-server command line, run as users run it."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner

from conftest import table_rows
from widget_server import signing, vault


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
