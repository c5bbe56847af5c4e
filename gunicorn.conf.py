"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py`` (the Procfile's ``web``).

Every number can be changed without editing this file: ``WEB_CONCURRENCY`` (workers),
``GUNICORN_WORKER_CONNECTIONS`` (connections per worker), ``GUNICORN_KEEPALIVE`` (seconds),
``PORT``, or any gunicorn flag on the command line or in ``GUNICORN_CMD_ARGS``.
"""
import os

wsgi_app = "widget_server:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Worker class: gevent, through widget_server.serving.Worker (gunicorn's gevent worker whose
# 414/431 answers are problem+json with CORS). A sync worker, or a gthread thread, is held
# whole by one client that sends its request slowly: four such clients stopped a 4-worker
# service. A gevent worker serves each connection in a greenlet, so a slow client holds only
# its own greenlet, and reading a request's head is bounded by `keepalive` seconds as well
# (gunicorn's async workers time the head of every request, the first one included), after
# which the connection is closed. PostgreSQL (psycopg >= 3.1.14) and Redis calls yield to
# other greenlets; SQLite queries do not, which is one more reason to move busy sites to
# PostgreSQL. gthread was the alternative; it bounds only the wait for a connection's first
# byte and for the next request on a kept-alive connection, not a head that trickles in.
worker_class = "widget_server.serving.Worker"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers)
    except AttributeError:
        return os.cpu_count() or 1


# Processes: one per CPU, and two at least, so that a worker busy with CPU work or a SQLite
# query leaves another to answer. gunicorn's rule of thumb, two per CPU plus one, is for sync
# workers, which serve one request each: a gevent worker serves all its connections at once.
# More processes than CPUs only take turns on them, and spread the same requests thinner, so
# fewer of them share a commit or a Redis round trip (``groups.py``). On 2 CPUs, 2 workers
# answered 20-50% more requests a second than 5, for Sharebar's beacons on SQLite and on
# PostgreSQL and for a bare Flask app alike (``bench/ingest.py --workers``, bench/README.md).
# Connections per worker: greenlets.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, _cpus())))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))

# Seconds. keepalive bounds idle kept-alive connections and the reading of a request head;
# raise it above a load balancer's idle timeout when one keeps connections open longer.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
timeout = 30  # a worker silent this long is restarted
graceful_timeout = 20  # on SIGTERM, in-flight requests get this long (hosts kill at 30 s)

# The longest request line the API promises to serve, in bytes: a GET of the embed surface
# with a `url` of 2,048 characters (widget_server/urls.py MAX_URL, the OpenAPI maxLength),
# percent-encoded as a query parameter: at worst 3 bytes a character (the URL's own "%XX"
# become "%25XX"), plus the method, the longest path (/v1/activity), a site key of a 64-bit
# id, a share code of 40 characters, `limit` and the HTTP version:
#   "GET " + "/v1/activity" + "?site=" + 54 + "&url=" + 6,144 + "&code=" + 40 + "&limit=20" + " HTTP/1.1"
#   = 6,289 bytes. gunicorn's largest limit, 8,190, admits it with room to spare; longer lines
# answer 414 as problem+json. URLs travel as ASCII (RFC 3986; browsers serialise addresses
# so): a raw non-ASCII IRI takes up to 12 bytes a character and may meet the 414 first.
limit_request_line = 8190

# Access log on stdout without the client's address, the query string (feed URLs carry
# their token in it), the referrer or the user agent.
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# gunicorn's control socket (for `gunicornc`) is one path per user, $HOME/.gunicorn/gunicorn.ctl:
# two servers on one host would take it from each other. Sharebar does not use it.
control_socket_disable = True


# -- Prometheus multiprocess metrics (widget_server.metrics) --------------------------------
# Every worker writes its metric values to files in PROMETHEUS_MULTIPROC_DIR and a scrape of
# any worker sums them. The variable must be set before a worker imports prometheus_client,
# hence here, at the top level of the config, which the master reads before anything else.
# Each master start begins with no values (an earlier run's would be summed in): a directory
# of its own, removed when the master exits, or the operator's PROMETHEUS_MULTIPROC_DIR with
# its metric files (*.db) deleted. A reload (SIGHUP) keeps them: the workers still count.
import atexit as _atexit
import glob as _glob
import os as _os
import shutil as _shutil
import tempfile as _tempfile


def _metrics_directory() -> str:
    given = _os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given and _os.environ.get("SHAREBAR_METRICS_MASTER") == str(_os.getpid()):
        return given
    _os.environ["SHAREBAR_METRICS_MASTER"] = str(_os.getpid())
    if given:
        _os.makedirs(given, mode=0o700, exist_ok=True)
        for stale in _glob.glob(_os.path.join(given, "*.db")):
            _os.remove(stale)
        return given
    made = _tempfile.mkdtemp(prefix="sharebar-metrics-")
    master = _os.getpid()
    _atexit.register(lambda: _os.getpid() == master and _shutil.rmtree(made, ignore_errors=True))
    return made


_os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_directory()


def child_exit(server, worker):
    """Forget a dead worker's live gauges; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
