"""Real processes for the fault and scale-out tests: a PostgreSQL and a Redis of their own on
spare ports (never the shared ones), gunicorn servers and HTTP beacons from many readers."""
from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SECRET = "fault-test-secret-9Kq2Lm7Wx4Zr8Tb1Vn5Yc3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throwaway cluster in a temporary folder, trusted on 127.0.0.1, stopped with ``stop``."""

    def __init__(self) -> None:
        self.root, self.port = Path(tempfile.mkdtemp(prefix="sharebar-pg-")), free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "pgdata"
        subprocess.run(as_postgres([str(pg_bin("initdb")), "-D", str(self.data), "-U", "postgres", "-A", "trust"]),
                       check=True, capture_output=True, timeout=120)
        self.start()
        subprocess.run(as_postgres([str(pg_bin("createdb")), "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                    "postgres", "sharebar"]), check=True, capture_output=True, timeout=30)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/sharebar"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(as_postgres([str(pg_bin("pg_ctl")), "-D", str(self.data), "-o", options, "-l",
                                    str(self.root / "pg.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True, timeout=90)

    def stop(self) -> None:
        subprocess.run(as_postgres([str(pg_bin("pg_ctl")), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                                         "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def python_json(script: str, *args: str, timeout: float = 120) -> Any:
    """Run ``script`` in a Python process of its own (one gevent patches, say) and return what
    the last line it printed says, as JSON."""
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          check=True)
    return json.loads(done.stdout.splitlines()[-1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def environment(database_url: str, instance: Path, redis_url: str | None = None, **settings: Any) -> dict[str, str]:
    env = {**os.environ, "WIDGET_DATABASE_URL": database_url, "WIDGET_SECRET_KEYS": SECRET,
           "WIDGET_INSTANCE_PATH": str(instance), "WIDGET_PUBLIC_URL": "https://share.test",
           "WIDGET_TRUSTED_PROXIES": "1"}
    if redis_url:
        env["WIDGET_REDIS_URL"] = redis_url
    env.update({f"WIDGET_{name}": str(value) for name, value in settings.items()})
    return env


class Server:
    """``gunicorn`` with gthread workers serving the app, as the Procfile does."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4, log: Path | None = None):
        self.port = free_port()
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", str(threads), "-w", str(workers),
             "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "5", "widget_server:create_app()"],
            env=env, stdout=out, stderr=out)
        wait_for_port(self.port)

    def workers(self) -> list[int]:
        found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in found.stdout.split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def beacon_body(site_key: str, **fields: Any) -> dict[str, Any]:
    return {"type": "share", "site": site_key, "url": "https://example.com/post/1", "service": "weibo",
            "id": uuid.uuid4().hex, "title": "A post", **fields}


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None,
            timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One request to a server on this machine: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def post(port: int, body: dict[str, Any], reader: str = "203.0.113.7", timeout: float = 10) -> tuple[int, dict[str, str]]:
    """POST a beacon as reader ``reader`` (through the trusted proxy header); (status, headers),
    status 0 when the connection failed."""
    headers = {"Content-Type": "text/plain;charset=UTF-8", "X-Forwarded-For": reader,
               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"}
    try:
        status, answer_headers, _ = request(port, "POST", "/v1/events", headers, json.dumps(body), timeout)
    except OSError:
        return 0, {}
    return status, answer_headers
