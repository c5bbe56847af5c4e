"""A real server for tests that need one: gunicorn (or ``widget-server demo``) in its own process
on a free port, stopped when the test is done, and a plain HTTP client for it.

Used by test_install (the wheel in a fresh virtualenv) and test_gunicorn (the checkout).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
SECRET = "live-server-test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(bin_dir: Path, instance: Path, **extra: str) -> dict[str, str]:
    """A clean environment: ``bin_dir`` first on PATH, and only the settings given here, so
    nothing of the checkout (PYTHONPATH, WIDGET_* of the test run) leaks into the server."""
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", str(instance)),
        "LANG": "C.UTF-8",
        "WIDGET_INSTANCE_PATH": str(instance),
        "WIDGET_SECRET_KEYS": SECRET,
    }
    if "GUNICORN_CMD_ARGS" in os.environ:  # lets a run try other gunicorn flags (README)
        env["GUNICORN_CMD_ARGS"] = os.environ["GUNICORN_CMD_ARGS"]
    return {**env, **extra}


def run(args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, data: bytes | None = None, headers: Mapping[str, str] | None = None,
          timeout: float = 10) -> Answer:
    """One request on its own connection; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


@dataclass
class Server:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if fetch(url + "/healthz", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not up after {within} s:\n{log.read_text(errors='replace')}")


@contextmanager
def serving(args: Sequence[str], env: Mapping[str, str], cwd: Path, port: int) -> Iterator[Server]:
    """Start ``args`` (a server listening on ``port``) and stop it, whatever the test did."""
    log = cwd / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(list(args), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield Server(url, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def gunicorn(bin_dir: Path, env: Mapping[str, str], cwd: Path, *flags: str, port: int | None = None) -> Any:
    """gunicorn of ``bin_dir`` with the production settings (gunicorn.conf.py) on ``port``
    (default: a free one)."""
    port = port or free_port()
    args = [str(bin_dir / "gunicorn"), "-c", str(GUNICORN_CONF), *flags]
    return serving(args, {**env, "PORT": str(port)}, cwd, port)
