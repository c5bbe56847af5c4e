"""Production serving: gunicorn with gunicorn.conf.py, as the Procfile's ``web`` runs it.

The longest URL the API promises passes gunicorn's request-line limit, a longer line is a
problem+json 414 the widget can read, the access log keeps no address or query, and slow
clients cannot hold the service: four connections trickling their headers leave health checks
and beacons answering within a second.

    GUNICORN_CMD_ARGS="--worker-class sync --workers 4" python -m pytest tests/test_gunicorn.py -k slow

runs the slow-client test against the sync workers the service had before (it fails).
"""
from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from live_server import GUNICORN_CONF, Server, base_env, fetch, gunicorn
from widget_server import create_app, db, openapi, signing, sites
from widget_server.urls import MAX_URL

BIN = Path(sys.executable).parent  # the checkout's virtualenv
DOMAIN = "blog.example.com"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
LONGEST_KEY = "OTIyMzM3MjAzNjg1NDc3NTgwNw.-Zn1R6peUV5P2y7GR4yix2r2gzU"  # the key of site id 2**63 - 1
URL_GETS = ("/v1/config", "/v1/counts", "/v1/qr.svg", "/v1/activity")  # the GETs with a `url` parameter


def settings(**env: str) -> dict[str, Any]:
    """gunicorn.conf.py evaluated as gunicorn does, under ``env``."""
    saved = dict(os.environ)
    try:
        for name in ("WEB_CONCURRENCY", "GUNICORN_WORKER_CONNECTIONS", "GUNICORN_KEEPALIVE", "PORT"):
            os.environ.pop(name, None)
        os.environ.update(env)
        return runpy.run_path(str(GUNICORN_CONF))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def request_line(path: str, params: dict[str, str]) -> bytes:
    return f"GET {path}?{urlencode(params, quote_via=quote)} HTTP/1.1".encode("ascii")


def longest_promised_lines() -> list[bytes]:
    """Each URL-taking GET with every parameter at its longest: a ``url`` of MAX_URL characters that
    all percent-encode to 3 bytes, the key of the largest site id, a 40-character share code."""
    worst = {"site": LONGEST_KEY, "url": "%" * MAX_URL, "code": "c" * 40, "limit": "20"}
    return [request_line(path, worst) for path in URL_GETS]


def test_the_api_promises_urls_of_2048_characters() -> None:
    assert MAX_URL == 2048 == openapi.PAGE_URL["schema"]["maxLength"]


def test_limit_request_line_admits_the_longest_promised_request() -> None:
    limit = settings()["limit_request_line"]
    longest = max(len(line) for line in longest_promised_lines())
    assert longest == 6289  # the sum worked out in gunicorn.conf.py
    assert longest <= limit <= 8190  # 8190: the largest limit gunicorn takes (0 would mean none at all)


def test_workers_follow_the_cpus_unless_the_host_says() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert settings()["workers"] == max(2, cpus)
    assert settings(WEB_CONCURRENCY="3", GUNICORN_WORKER_CONNECTIONS="50")["workers"] == 3
    assert settings(GUNICORN_WORKER_CONNECTIONS="50")["worker_connections"] == 50
    assert settings(PORT="5123")["bind"] == "0.0.0.0:5123"
    assert settings()["bind"] == "0.0.0.0:8000"


@dataclass
class Live:
    server: Server
    key: str

    def beacon(self) -> bytes:
        return json.dumps({"type": "share", "site": self.key, "url": f"https://{DOMAIN}/post", "service": "weibo",
                           "id": os.urandom(8).hex()}).encode()

    def send_beacon(self, timeout: float = 10) -> int:
        headers = {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": BROWSER_UA}
        return fetch(f"{self.server.url}/v1/events", self.beacon(), headers, timeout=timeout).status

    def raw(self, head: bytes) -> tuple[str, dict[str, str], bytes]:
        """Send ``head`` as it is; the status line, headers and body of the answer."""
        host, port = self.server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        top, _, body = received.partition(b"\r\n\r\n")
        status, *lines = top.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        return status, headers, body


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("gunicorn")
    env = base_env(BIN, home / "instance", WIDGET_RATE_LIMIT_VISITOR="10000/minute", WEB_CONCURRENCY="2")
    app = create_app({"INSTANCE_PATH": env["WIDGET_INSTANCE_PATH"], "SECRET_KEYS": env["WIDGET_SECRET_KEYS"]})
    with app.app_context():  # in this process: the server's database and keys, without two CLI starts
        db.upgrade()
        key = signing.site_key(sites.create_site("Blog", [DOMAIN]).id)
    app.extensions["widget_engine"].dispose()
    with gunicorn(BIN, env, home) as server:
        yield Live(server, key)


def test_a_page_url_of_2048_characters_is_served(live: Live) -> None:
    prefix = f"https://{DOMAIN}/"
    url = prefix + "/" * (MAX_URL - len(prefix))  # every "/" percent-encodes to 3 bytes
    params = urlencode({"site": live.key, "url": url}, quote_via=quote)
    assert len(params) > 6000
    counts = fetch(f"{live.server.url}/v1/counts?{params}")
    assert counts.status == 200, counts.body[:300]
    assert counts.json()["total"] == 0
    qr = fetch(f"{live.server.url}/v1/qr.svg?{params}")
    assert qr.status != 414  # gunicorn lets it through; what a QR code can hold is the app's to say
    assert qr.headers["Access-Control-Allow-Origin"] == "*"


def test_a_longer_request_line_is_a_414_problem_with_cors(live: Live) -> None:
    limit = settings()["limit_request_line"]
    line = request_line("/v1/counts", {"site": live.key, "url": f"https://{DOMAIN}/"})
    line = line.replace(b" HTTP/1.1", b"&pad=" + b"x" * (limit + 1 - len(line) - 5) + b" HTTP/1.1")
    assert len(line) == limit + 1
    status, headers, body = live.raw(line + b"\r\nHost: 127.0.0.1\r\nOrigin: https://blog.example.com\r\n\r\n")
    assert status == "HTTP/1.1 414 URI Too Long"
    assert headers["content-type"] == "application/problem+json"
    assert headers["access-control-allow-origin"] == "*"
    problem = json.loads(body)
    assert problem["status"] == 414 and problem["type"].endswith("/uri-too-long")


def test_too_many_header_fields_are_a_431_problem(live: Live) -> None:
    fields = b"".join(b"X-Field-%d: x\r\n" % n for n in range(101))  # gunicorn's limit_request_fields: 100
    status, headers, body = live.raw(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n")
    assert status.startswith("HTTP/1.1 431")
    assert headers["content-type"] == "application/problem+json" and headers["access-control-allow-origin"] == "*"
    assert json.loads(body)["status"] == 431


@dataclass
class SlowClients:
    """Connections that send a request head one header line at a time, every ``pause`` seconds,
    reconnecting whenever the server drops them, until ``until``."""

    address: tuple[str, int]
    until: float
    pause: float = 2.0
    connections: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, count: int) -> None:
        self.threads = [threading.Thread(target=self.trickle, daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def trickle(self) -> None:
        while time.monotonic() < self.until:
            try:
                with socket.create_connection(self.address, timeout=5) as sock:
                    self.connections += 1
                    sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    line = 0
                    while time.monotonic() + self.pause < self.until:
                        time.sleep(self.pause)
                        sock.sendall(b"X-Slow-%d: %d\r\n" % (line, line))
                        line += 1
            except OSError:
                time.sleep(0.1)  # dropped by the server: come back, as an attacker would
            if time.monotonic() + self.pause >= self.until:
                return

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=self.pause + 10)


def probe(action: Any) -> float:
    """Seconds ``action`` took; a failure or a wrong answer counts as forever."""
    started = time.monotonic()
    try:
        ok = action()
    except OSError:
        ok = False
    return time.monotonic() - started if ok else float("inf")


def test_slow_clients_leave_health_checks_and_beacons_answering(live: Live) -> None:
    host, port = live.server.url.removeprefix("http://").split(":")
    hold = 30.0
    clients = SlowClients((host, int(port)), until=time.monotonic() + hold + 1)
    clients.start(4)
    time.sleep(1)  # let them connect and start trickling
    health: list[float] = []
    beacons: list[float] = []
    stop = time.monotonic() + hold
    while time.monotonic() < stop:
        tick = time.monotonic()
        health.append(probe(lambda: fetch(f"{live.server.url}/healthz", timeout=3).status == 200))
        beacons.append(probe(lambda: live.send_beacon(timeout=3) == 204))
        time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    clients.join()
    print(f"\nslow clients: {clients.connections} connections; {len(health)} probes; "
          f"worst /healthz {max(health):.3f} s, worst beacon {max(beacons):.3f} s")
    assert len(health) >= 30
    assert clients.connections >= 8  # each trickling head was dropped after `keepalive` seconds
    assert max(health) < 1.0, sorted(health)[-5:]
    assert max(beacons) < 1.0, sorted(beacons)[-5:]


def test_access_log_has_no_address_and_no_query(live: Live) -> None:
    feed = fetch(f"{live.server.url}/api/v1/feed.atom?token=secret-in-the-query")
    assert feed.status in (401, 403, 404)
    time.sleep(0.5)  # the log is written after the answer
    log = live.server.log_text()
    assert '"GET /api/v1/feed.atom HTTP/1.1"' in log
    assert "127.0.0.1" not in log and "secret-in-the-query" not in log and "site=" not in log
