"""Prometheus metrics: requests and latencies by endpoint, beacons by outcome, aggregator lag.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports ``prometheus_client``, so every worker writes its values to files there and a scrape
of any worker sums them all (``multiprocess`` mode). Without that variable (the development
server, tests, the CLI) the ordinary in-process registry is used.

Label values come from closed sets only — endpoint names, standard methods, status codes and
problem types — so a client cannot create new series by sending odd paths or methods.
"""
from __future__ import annotations

import ipaddress
import os
import time
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

from .problems import Problem

BEACON_ENDPOINT = "embed.record_event"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REQUESTS = Counter("sharebar_http_requests", "HTTP requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"])
DURATION = Histogram("sharebar_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                     ["endpoint"])
BEACONS = Counter("sharebar_beacons", "Beacons accepted, or refused with the problem type as reason.",
                  ["outcome", "reason"])
# The most recently reported value among live workers: whichever worker aggregates last wins.
AGGREGATOR_LAG = Gauge("sharebar_aggregator_lag_seconds",
                       "How far the aggregated counts trail the newest events, as last reported.",
                       multiprocess_mode="livemostrecent")
WATERMARK = Gauge("sharebar_aggregator_watermark_timestamp_seconds",
                  "Unix time up to which events are aggregated; time() minus it keeps growing when "
                  "the aggregator stops reporting.", multiprocess_mode="livemostrecent")


def set_aggregator_lag(seconds: float) -> None:
    """Report that the aggregated counts trail the newest events by ``seconds`` (>= 0)."""
    lag = max(0.0, float(seconds))
    AGGREGATOR_LAG.set(lag)
    WATERMARK.set(time.time() - lag)


def endpoint_label() -> str:
    """The request's endpoint name; ``unmatched`` for a path no route has."""
    return request.endpoint or "unmatched"


def method_label() -> str:
    return request.method if request.method in METHODS else "other"


def beacon_outcome(status: int, problem: str | None) -> tuple[str, str]:
    """``(outcome, reason)`` of a beacon answered with ``status``: reason is '' when accepted."""
    if status < 400:
        return "accepted", ""
    return "refused", problem or str(status)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    count(endpoint_label(), method_label(), response.status_code, g.get("metrics_started"), g.get("problem_code"))
    return response


def count(endpoint: str, method: str, status: int, started: float | None, problem: str | None = None) -> None:
    """Count one answered request (``started``: its ``perf_counter``; ``problem``: the
    refusal's code), whether Flask or the hot paths' lane answered it."""
    requests, duration = series(endpoint, method, status)
    requests.inc()
    if started is not None:
        duration.observe(time.perf_counter() - started)
    if endpoint == BEACON_ENDPOINT:
        beacons(*beacon_outcome(status, problem)).inc()


# A labelled series looked up once: ``labels()`` cost four times the increment it leads to.
# Label values come from closed sets (see above), so these caches stay small.
@lru_cache(maxsize=None)
def series(endpoint: str, method: str, status: int) -> tuple[Any, Any]:
    return REQUESTS.labels(endpoint, method, str(status)), DURATION.labels(endpoint)


@lru_cache(maxsize=None)
def beacons(outcome: str, reason: str) -> Any:
    return BEACONS.labels(outcome, reason)


def parse_networks(value: object) -> list[Network]:
    """The ``METRICS_NETWORKS`` setting (checked by ``settings``) as networks."""
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return [ipaddress.ip_network(item, strict=False) for item in (str(entry).strip() for entry in items) if item]


def client_allowed(address: str | None, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


def measure_aggregator_lag() -> None:
    """Read the lag from the database at scrape time: the aggregator is often another process
    (``widget-server aggregate``) whose own gauges no web worker could serve. A database that
    does not answer leaves the last value; /readyz says why."""
    from sqlalchemy.exc import SQLAlchemyError

    from . import aggregate, db

    try:
        set_aggregator_lag(aggregate.lag_seconds(db.engine()))
    except SQLAlchemyError:
        pass


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Every metric, summed over workers in multiprocess mode, in the format ``accept`` asks
    for (Prometheus text, or OpenMetrics): ``(body, content type)``."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type


def serve() -> Response:
    """``GET /metrics``: the exposition, for clients in ``METRICS_NETWORKS`` only (403 else)."""
    if not client_allowed(request.remote_addr, current_app.extensions["widget_metrics_networks"]):
        raise Problem(403, "forbidden", "Metrics are served to the networks in WIDGET_METRICS_NETWORKS only.")
    measure_aggregator_lag()
    body, content_type = exposition(request.headers.get("Accept"))
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.extensions["widget_metrics_networks"] = parse_networks(app.config["METRICS_NETWORKS"])
    app.before_request(_start_timer)
    app.after_request(_count)
