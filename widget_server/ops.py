"""Operator endpoints.

    GET /healthz   alive               the process answers; nothing else is checked
    GET /readyz    ready               the database answers at the migration head; Redis when set
    GET /metrics   prometheus_metrics  Prometheus metrics (``METRICS_NETWORKS`` only)

Every check of ``/readyz`` runs under one deadline (``READY_DEADLINE`` seconds), so a
database that is stopped, frozen or behind a firewall that drops packets gives a quick 503
rather than a probe that hangs until the load balancer's own timeout.
"""
from __future__ import annotations

from collections.abc import Callable
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from . import db, metrics

bp = Blueprint("ops", __name__)

READY_DEADLINE = 1.5  # seconds for all checks together
CONNECT_TIMEOUT = 1  # seconds; libpq waits at least 2 whatever is asked, the deadline cuts it
Check = Callable[[], dict[str, str]]


@bp.get("/healthz")
def alive() -> Response:
    """Liveness: 200 as long as the process can answer, whatever its dependencies do."""
    return no_store(jsonify(status="ok"))


@bp.get("/readyz")
def ready() -> tuple[Response, int]:
    """Readiness: whether this instance should get traffic.

    Answers ``{"status": ..., "database": ..., "schema": ..., "redis": ..., "detail": [...]}``:

    - 503 ``unavailable`` when the database does not answer in time (``database``:
      ``unreachable`` or ``timeout``) or its schema is not at the migration head this code
      expects (``schema``: ``empty`` or ``outdated``: run ``widget-server db upgrade``);
    - 200 ``degraded`` when ``WIDGET_REDIS_URL`` is set and Redis does not answer
      (``redis``: ``unreachable`` or ``timeout``). Beacons are still accepted then, with each
      worker's own in-memory rate limits and counters, and every instance shares the same
      Redis: taking this one out of the load balancer would move its traffic to instances
      that are no better off, or leave none at all;
    - 200 ``degraded`` too when the schema is newer than this code (``schema``: ``newer``):
      during a rolling deploy the release step migrates first, and the old instances must
      keep serving until the new ones are up;
    - 200 ``ok`` otherwise (``redis``: ``off`` when no Redis is configured).
    """
    found: dict[str, str] = {"database": "timeout", "schema": "unknown"}
    found["redis"] = "timeout" if current_app.config["REDIS_URL"] else "off"
    details: list[str] = []
    checks = {"database": database_check(probe_engine(current_app))}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = redis_check(current_app.config["REDIS_URL"])
    runner: CheckRunner = current_app.extensions["widget_ready_checks"]
    futures = {name: runner.start(name, check) for name, check in checks.items()}
    done, _late = wait(futures.values(), timeout=READY_DEADLINE)
    for name, future in futures.items():
        if future not in done:
            details.append(f"{name.capitalize()} did not answer within {READY_DEADLINE} s.")
            continue
        result = dict(future.result())  # shared with concurrent probes: not to be changed
        details += [result.pop("detail")] if "detail" in result else []
        found.update(result)
    status, code = verdict(found)
    return no_store(jsonify(status=status, **found, detail=details)), code


def verdict(found: dict[str, str]) -> tuple[str, int]:
    """``(status, HTTP code)`` from the checks' results."""
    if found["database"] != "ok" or found["schema"] not in ("ok", "newer"):
        return "unavailable", 503
    if found["redis"] not in ("ok", "off") or found["schema"] == "newer":
        return "degraded", 200
    return "ok", 200


def schema_state(current: set[str], heads: set[str], known: set[str]) -> tuple[str, str | None]:
    """Compare the database's Alembic revisions with the code's heads: ``(state, detail)``."""
    if current == heads:
        return "ok", None
    if not current:
        return "empty", "The database has no schema: run `widget-server db upgrade`."
    if current <= known:
        return "outdated", (f"The database is at revision {', '.join(sorted(current))}, this code expects "
                            f"{', '.join(sorted(heads))}: run `widget-server db upgrade`.")
    return "newer", f"The database is at revision {', '.join(sorted(current))}, newer than this code."


def database_check(engine: Engine) -> Check:
    def check() -> dict[str, str]:
        try:
            with engine.connect() as conn:
                current = db.schema_revisions(conn)
        except Exception as exc:  # any driver error means the same to a probe: not answering
            return {"database": "unreachable", "detail": f"The database does not answer ({type(exc).__name__})."}
        state, detail = schema_state(current, {db.HEAD}, set(db.REVISIONS))
        return {"database": "ok", "schema": state, **({"detail": detail} if detail else {})}

    return check


def redis_check(url: str) -> Check:
    def check() -> dict[str, str]:
        from redis import Redis
        from redis.exceptions import RedisError

        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
        try:
            client.ping()
        except RedisError as exc:
            return {"redis": "unreachable", "detail": f"Redis does not answer ({type(exc).__name__})."}
        finally:
            client.close()
        return {"redis": "ok"}

    return check


def probe_engine(app: Flask) -> Engine:
    """An engine of the app's database URL without a pool and with short timeouts, so a
    probe never waits on a pooled connection to a host that has gone silent."""
    engine: Engine | None = app.extensions.get("widget_probe_engine")
    if engine is None:
        url = make_url(db.normalise_url(app.config["DATABASE_URL"]))
        if url.get_backend_name() == "postgresql":
            args = {"connect_timeout": CONNECT_TIMEOUT, "tcp_user_timeout": CONNECT_TIMEOUT * 1000}
        else:
            args = {"timeout": CONNECT_TIMEOUT}
        engine = app.extensions["widget_probe_engine"] = create_engine(url, poolclass=NullPool, connect_args=args)
    return engine


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    return metrics.serve()


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


class CheckRunner:
    """Runs checks in background threads, at most one of each name at a time.

    A check that outlives a probe's deadline finishes in the background; probes arriving
    meanwhile wait on that same run instead of starting another, so a silent database
    cannot pile up threads or connections however often the load balancer asks.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, Future[dict[str, str]]] = {}
        self.pool: ThreadPoolExecutor | None = None  # made on first use: after a fork, in the worker

    def start(self, name: str, check: Check) -> Future[dict[str, str]]:
        with self.lock:
            future = self.running.get(name)
            if future is None or future.done():
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")
                future = self.running[name] = self.pool.submit(check)
            return future


def init_app(app: Flask) -> None:
    app.extensions["widget_ready_checks"] = CheckRunner()
    app.register_blueprint(bp)
