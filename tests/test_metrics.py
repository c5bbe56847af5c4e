"""Prometheus metrics: what each request and beacon adds, who may scrape, and the sums over
gunicorn workers in multiprocess mode."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from conftest import SECRET_KEYS, BeaconSender, make_app, register
from own_servers import free_port, wait_for_port
from widget_server import create_app, db, metrics
from widget_server.models import event_log
from widget_server.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]


def value(name: str, **labels: str) -> float:
    """The in-process value of a sample (0 before it exists)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels: str) -> float:
    """The value of a sample in an exposition text (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_requests_are_counted_by_endpoint_method_and_status(client: FlaskClient) -> None:
    ok = dict(endpoint="ops.alive", method="GET", status="200")
    missing = dict(endpoint="unmatched", method="GET", status="404")
    before = value("sharebar_http_requests_total", **ok), value("sharebar_http_requests_total", **missing)
    timed = value("sharebar_http_request_duration_seconds_count", endpoint="ops.alive")
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/path")
    assert value("sharebar_http_requests_total", **ok) == before[0] + 2
    assert value("sharebar_http_requests_total", **missing) == before[1] + 1
    assert value("sharebar_http_request_duration_seconds_count", endpoint="ops.alive") == timed + 2


def test_odd_methods_share_one_label(client: FlaskClient) -> None:
    before = value("sharebar_http_requests_total", endpoint="unmatched", method="other", status="405")
    client.open("/healthz", method="BREW")
    assert value("sharebar_http_requests_total", endpoint="unmatched", method="other", status="405") == before + 1


@pytest.mark.parametrize(("send", "reason"), [
    (lambda b: b.send(url="javascript:alert(1)"), "invalid-url"),
    (lambda b: b.send(url="https://elsewhere.example/"), "foreign-domain"),
    (lambda b: b.post(b"{broken"), "invalid-json"),
    (lambda b: b.post(b"x" * 9000), "too-large"),
    (lambda b: b.send(service="googleplus"), "unknown-service"),
])
def test_refused_beacons_are_counted_by_problem_type(beacon: BeaconSender, send: Any, reason: str) -> None:
    before = value("sharebar_beacons_total", outcome="refused", reason=reason)
    accepted = value("sharebar_beacons_total", outcome="accepted", reason="")
    assert send(beacon).status_code >= 400
    assert value("sharebar_beacons_total", outcome="refused", reason=reason) == before + 1
    assert value("sharebar_beacons_total", outcome="accepted", reason="") == accepted


def test_accepted_and_rate_limited_beacons(database_url: str, tmp_path: Path) -> None:
    app = make_app(database_url, tmp_path, RATE_LIMIT_VISITOR="2/minute")
    sender = BeaconSender(app.test_client(), register(app))
    accepted = value("sharebar_beacons_total", outcome="accepted", reason="")
    limited = value("sharebar_beacons_total", outcome="refused", reason="rate-limited")
    assert [sender.send().status_code for _ in range(3)] == [204, 204, 429]
    assert value("sharebar_beacons_total", outcome="accepted", reason="") == accepted + 2
    assert value("sharebar_beacons_total", outcome="refused", reason="rate-limited") == limited + 1
    app.extensions["widget_engine"].dispose()


def test_other_endpoints_count_no_beacons(client: FlaskClient) -> None:
    before = value("sharebar_beacons_total", outcome="refused", reason="missing-site")
    client.get("/v1/counts")
    assert value("sharebar_beacons_total", outcome="refused", reason="missing-site") == before


def test_aggregator_lag_is_read_from_the_event_log(app: Flask, client: FlaskClient, beacon: BeaconSender) -> None:
    """The aggregator may be another process: /metrics reads how old the oldest uncounted event is."""
    assert beacon.send().status_code == 204
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(update(event_log).values(created_at=datetime.now(timezone.utc) - timedelta(seconds=42.5)))
    text = FlaskClient(app, app.response_class).get("/metrics").get_data(as_text=True)  # no counting first
    assert 42 <= scraped(text, "sharebar_aggregator_lag_seconds") < 60
    assert abs(scraped(text, "sharebar_aggregator_watermark_timestamp_seconds") - (time.time() - 42.5)) < 5
    assert scraped(client.get("/metrics").get_data(as_text=True), "sharebar_aggregator_lag_seconds") == 0
    metrics.set_aggregator_lag(-3)  # a clock step never shows a negative lag
    assert value("sharebar_aggregator_lag_seconds") == 0


def test_exposition_is_prometheus_text(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    assert scraped(response.get_data(as_text=True), "sharebar_http_requests_total", endpoint="ops.alive") >= 1


def test_openmetrics_when_asked(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.parametrize(("address", "networks", "allowed"), [
    ("127.0.0.1", "127.0.0.0/8", True),
    ("10.1.2.3", "127.0.0.0/8,10.0.0.0/8", True),
    ("203.0.113.9", "127.0.0.0/8,10.0.0.0/8", False),
    ("::1", "::1", True),
    ("203.0.113.9", "0.0.0.0/0", True),
    ("203.0.113.9", "", False),
])
def test_metrics_only_for_trusted_networks(tmp_path: Path, address: str, networks: str, allowed: bool) -> None:
    app = create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                      "METRICS_NETWORKS": networks})
    response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert response.content_type == "application/problem+json"


def test_a_bad_network_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^WIDGET_METRICS_NETWORKS=10.0.0.0/8,intranet: 'intranet' is not an IP address or network"):
        create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                    "METRICS_NETWORKS": "10.0.0.0/8,intranet"})


# -- multiprocess mode -----------------------------------------------------------------------


def test_lag_of_live_workers_only(tmp_path: Path) -> None:
    """Two workers report; the most recent value is shown, and none once its worker is gone."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    report = "import sys, time; from widget_server import metrics; metrics.set_aggregator_lag(float(sys.argv[1]))"
    pids = []
    for lag in ("7", "3"):
        worker = subprocess.run([sys.executable, "-c", report + "; print(__import__('os').getpid())", lag],
                                env=env, capture_output=True, text=True, check=True, timeout=60)
        pids.append(int(worker.stdout))
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    assert registry.get_sample_value("sharebar_aggregator_lag_seconds") == 3
    mark_process_dead(pids[1], str(tmp_path))  # type: ignore[no-untyped-call]
    assert registry.get_sample_value("sharebar_aggregator_lag_seconds") == 7


class Gunicorn:
    """gunicorn with the project's gunicorn.conf.py and ``workers`` workers, on a free port;
    its stderr goes to ``stderr.log``."""

    def __init__(self, tmp_path: Path, workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WIDGET_DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "WIDGET_SECRET_KEYS": SECRET_KEYS,
               "WIDGET_INSTANCE_PATH": str(tmp_path / "instance"), "WIDGET_LOG_FORMAT": "json",
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / "counter_1.db").write_bytes(b"stale values of an earlier run")
        self.log = tmp_path / "stderr.log"
        with self.log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--workers", str(workers),
                 "--bind", f"127.0.0.1:{self.port}", "widget_server:create_app()"],
                env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
        wait_for_port(self.port, timeout=30)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return str(response.read().decode())

    def workers(self) -> set[int]:
        """The pids of the master's children, from /proc."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.add(int(stat.parent.name))
        return children

    def stop(self) -> str:
        """Stop gunicorn; its stderr."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    server = Gunicorn(tmp_path, workers=2)
    yield server
    server.stop()


def wait_for_workers(server: Gunicorn, count: int, avoid: set[int]) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = server.workers()
        if len(found) == count and not found & avoid:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"gunicorn did not replace workers {avoid}")


def test_gunicorn_workers_are_summed_also_after_they_die(gunicorn: Gunicorn, tmp_path: Path) -> None:
    """Requests served by workers that were then killed still count, beside the new workers'."""
    first = wait_for_workers(gunicorn, 2, set())
    for _ in range(10):
        gunicorn.get("/healthz")
    for pid in first:  # every request so far was served by a worker that is now gone
        os.kill(pid, signal.SIGTERM)
    wait_for_workers(gunicorn, 2, first)
    wait_for_port(gunicorn.port)
    for _ in range(5):
        gunicorn.get("/healthz")
    text = gunicorn.get("/metrics")
    assert scraped(text, "sharebar_http_requests_total", endpoint="ops.alive", method="GET", status="200") == 15
    assert not (tmp_path / "metrics" / "counter_1.db").exists()  # the earlier run's values were cleared
    served = {int(path.stem.split("_")[1]) for path in (tmp_path / "metrics").glob("counter_*.db")}
    assert served & first and served - first  # counted by dead workers and by their successors
    stderr = gunicorn.stop()
    lines = [line for line in stderr.splitlines() if '"widget_server.requests"' in line]
    assert len(lines) >= 16 and all(line.startswith("{") and '"request_id": "' in line for line in lines)
