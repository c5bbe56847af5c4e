"""Beacons and page views against a bare Flask app, with wrk, in the same run and settings.

For each database (SQLite; PostgreSQL with Redis when ``--postgres URL`` is given), it starts
Sharebar and the bare app of ``bench/bare.py`` under the production settings,
``gunicorn -c gunicorn.conf.py`` (its gevent worker class, its worker count of one per CPU,
keepalive and access log; ``--workers`` sets ``WEB_CONCURRENCY`` for both), Sharebar with one
trusted proxy, a site limit that does not bind and the in-server aggregator off, plus
``widget-server aggregate`` beside it. Each server is warmed until two runs agree. Then:

- ``counts`` and ``config``: wrk GETs one page's counts / the site config from Sharebar on the
  empty database, from a second Sharebar on a database holding ``--history`` events (log,
  counted events, rollups and totals bulk-loaded below the watermark) and from the bare app,
  rounds interleaved across the three: ``ratio`` is empty / bare, ``history_ratio`` full /
  empty, medians of the same minutes.
- ``events``: wrk POSTs share beacons (``bench/ingest.lua``: readers varied through
  X-Forwarded-For, real browser user agents, 2% crawlers) to both, full speed, rounds
  interleaved; then Sharebar at half its median rate for the p99. After the aggregator caught
  up, every id is checked: each beacon answered 204 is stored, and each stored one counted;
  the lag is ``counted_at - created_at`` of those events. The CPU time the web workers and
  the aggregator used, per event stored from the warm-up on, is printed too: the load of
  a shared machine moves it much less than the rates. Each round also reads both sides' CPU
  (``cpu_ratio``: the bare app's workers' CPU per request over Sharebar's per beacon, its
  workers, the aggregator and, on PostgreSQL, the database and Redis servers; wrk left out),
  and the next round starts once the aggregator has counted this one. The events are measured
  at each of ``--connections`` (16, then 64), wrk's connections shared by its threads.

Why twice: wrk is a closed loop (each connection sends its next beacon once the last is
answered), so its connections cap the beacons a server holds at once, and with them a
worker's runs (its writer checks and commits the beacons waiting together, ``groups``),
which the bare app has no use for: at 16 connections both workers' runs together hold 16 at
most. The line at 64 shows what larger runs save; it is not a rate readers' browsers could
keep up: the same load from 256 connections each pausing between beacons, nearer
independent arrivals, was answered at about the rate at 16, with a far longer tail
(``bench/README.md``).

Run: ``python bench/ingest.py [--postgres postgresql://... --redis redis://...] [--rounds 3]
[--seconds 6] [--history 1000000] [--endpoints events,counts,config] [--connections 16,64]``.
The PostgreSQL schemas (``--schema`` and ``--schema``_history) are emptied first and dropped
at the end.
Ends with one line per database and endpoint, e.g.
``db=sqlite endpoint=events per_s=N bare_per_s=M ratio=R p99_ms=P acknowledged=A stored=S lag_p99_ms=L cpu_ratio=C connections=K``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, func, insert, select, text

from widget_server import aggregate, bulk, counting, create_app, db, signing, sites
from widget_server.models import daily_rollups, event_log, events, page_totals, pages
from widget_server.urls import url_hash

HERE = Path(__file__).resolve().parent
CONF = HERE.parent / "gunicorn.conf.py"  # what the Procfile's web runs
SECRET = secrets.token_urlsafe(48)  # the settings check wants a real key
PAGE = "https://example.com/post/1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


def gunicorn(app: str, env: dict[str, str], args: argparse.Namespace, chdir: Path | None = None) -> tuple[Any, int]:
    """``app`` under the production settings (``gunicorn.conf.py``: its worker class, worker
    count, keepalive, access log), bound to a free local port; ``--workers`` sets
    ``WEB_CONCURRENCY`` as an operator would (the same for Sharebar and the bare app)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    if chdir:
        command += ["--chdir", str(chdir)]
    if args.workers:
        env = {**env, "WEB_CONCURRENCY": str(args.workers)}
    process = subprocess.Popen([*command, app], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def wrk(port: int, seconds: float, args: argparse.Namespace, **env: str) -> dict[str, float]:
    environ = {**os.environ, **{f"BENCH_{k.upper()}": v for k, v in env.items()}}
    out = subprocess.run(["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections), "-d", f"{max(1, round(seconds))}s",
                          "-s", str(HERE / "ingest.lua"), f"http://127.0.0.1:{port}"],
                         env=environ, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    result: dict[str, float] = json.loads(line[6:])
    result["per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def stop(process: Any) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def workers(master: Any) -> list[int]:
    pids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in pids.split()]


def rss_mb(master: Any) -> float:
    sizes = []
    for pid in workers(master):
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024)
    return max(sizes) if sizes else 0.0


def cpu_seconds(*pids: int) -> float:
    """CPU time (user + system) used so far by these processes."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def logged(app: Any) -> int:
    with app.extensions["widget_engine"].connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(event_log)) or 0)


def prepare(url: str, instance: Path) -> tuple[Any, str]:
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEYS": SECRET, "INSTANCE_PATH": str(instance)})
    with app.app_context():
        db.upgrade()
        site = sites.create_site("Bench", ["example.com"])
        sites.update_settings(site.id, {"counts": True})
        return app, signing.site_key(site.id)


def history(app: Any, site_id: int, size: int) -> None:
    """``size`` events of a year's history on the benchmarked page and 999 others: the log,
    the counted events, the daily rollups and the per-page totals, bulk-loaded."""
    engine = app.extensions["widget_engine"]
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        ids = {}
        for n in range(1000):
            url = PAGE if n == 0 else f"https://example.com/old/{n}"
            ids[n] = conn.scalar(select(pages.c.id).where(pages.c.url_hash == url_hash(url))) or conn.execute(
                insert(pages).values(site_id=site_id, url=url, url_hash=url_hash(url), title=None, created_at=now)
                .returning(pages.c.id)).scalar_one()
    services = ["weibo", "wechat", "qq", "x", "facebook", "douban", "copy"]
    rollups: dict[tuple[Any, ...], int] = {}
    chunk = 20_000
    for start in range(0, size, chunk):
        log, counted = [], []
        for n in range(start, min(size, start + chunk)):
            page = 0 if n % 10 == 0 else n % 1000
            moment = now - timedelta(days=n % 365, seconds=n % 86400)
            service = services[n % 7]
            event = f"hist{n}"
            log.append({"month": moment.date().replace(day=1), "site_id": site_id, "event_id": event, "type": "share",
                        "service": service, "url": PAGE, "title": None, "code": None, "referrer": None, "verb": None,
                        "actor_uid": None, "actor_name": None, "actor_avatar": None, "visitor": f"{n:032d}",
                        "bot": False, "address_bar": False, "created_at": moment})
            counted.append({"site_id": site_id, "event_id": event, "type": "share", "service": service,
                            "page_id": ids[page], "day": moment.date(), "created_at": moment, "status": "counted",
                            "visitor": f"{n:032d}", "counted_at": moment})
            key = (moment.date(), ids[page], service)
            rollups[key] = rollups.get(key, 0) + 1
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                for month in {row["month"] for row in log}:
                    end = date(month.year + month.month // 12, month.month % 12 + 1, 1)
                    conn.execute(text(f"CREATE TABLE IF NOT EXISTS event_log_p{month:%Y%m} PARTITION OF event_log "
                                      f"FOR VALUES FROM ('{month}') TO ('{end}')"))
            # History older than the watermark: written with ids the aggregator has passed.
            conn.execute(insert(event_log), log)
            conn.execute(insert(events), counted)
    with engine.begin() as conn:
        bulk.execute(conn, [counting.add_up(conn, daily_rollups, counting.ROLLUP_KEY, ("shares",), {
            (site_id, d, p, s, "", ""): {"shares": n} for (d, p, s), n in rollups.items()})])
        urls = {page_id: PAGE if n == 0 else f"https://example.com/old/{n}" for n, page_id in ids.items()}
        totals: dict[tuple[Any, ...], dict[str, int]] = {}
        for (_, page, service), n in rollups.items():
            total = totals.setdefault((site_id, url_hash(urls[page]), service), {"shares": 0})
            total["shares"] += n
        bulk.execute(conn, [counting.add_up(conn, page_totals, ("site_id", "url_hash", "service"), ("shares",),
                                            totals)])
        top = conn.scalar(select(func.max(event_log.c.id)))
        conn.execute(text("UPDATE aggregator_state SET watermark = :top"), {"top": top})


def check(app: Any, prefix: str, acknowledged: int, timeout: float = 120) -> tuple[int, int, float]:
    """Wait for the aggregator; (stored, counted, lag p99 ms) of this run's ids."""
    engine = app.extensions["widget_engine"]
    wait_counted(engine, timeout)
    with engine.connect() as conn:
        stored = set(conn.scalars(select(event_log.c.event_id).where(event_log.c.event_id.like(f"{prefix}%"))))
        rows = conn.execute(select(events.c.event_id, events.c.created_at, events.c.counted_at)
                            .where(events.c.event_id.like(f"{prefix}%"))).all()
    counted = {row.event_id for row in rows}
    lags = sorted((as_utc(r.counted_at) - as_utc(r.created_at)).total_seconds() * 1000 for r in rows)
    assert len(stored) >= acknowledged, f"{acknowledged} acknowledged but {len(stored)} stored"
    assert stored <= counted, f"{len(stored - counted)} stored events not counted"
    return len(stored), len(counted), lags[int(len(lags) * 0.99)] if lags else 0.0


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def server_env(url: str, folder: Path, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "WIDGET_DATABASE_URL": url, "WIDGET_SECRET_KEYS": SECRET, "WIDGET_INSTANCE_PATH":
           str(folder / "instance"), "WIDGET_TRUSTED_PROXIES": "1", "WIDGET_RATE_LIMIT_SITE": "100000000/minute",
           "WIDGET_AGGREGATE_IN_SERVER": "false", "WIDGET_PUBLIC_URL": "https://share.test"}
    if redis_url:
        env.update(WIDGET_REDIS_URL=redis_url, WIDGET_REDIS_PREFIX=f"bench-{uuid.uuid4().hex}")
    return env


def warm(port: int, args: argparse.Namespace, **env: str) -> None:
    """Until every worker has booted and answered: two warm-up runs within 15% of each other.
    Each run's beacons have ids of their own (``prefix`` and the run's number): the same ids
    again would be replays, each taking a sequence number on PostgreSQL that the aggregator
    then watches as a gap."""
    last = 0.0
    for n in range(6):
        run = {**env, "prefix": f"{env['prefix']}{n}"} if "prefix" in env else env
        rate = wrk(port, 2, args, **run)["per_s"]
        if last and abs(rate - last) <= 0.15 * max(rate, last):
            return
        last = rate


def bench(name: str, urls: tuple[str, str], redis_url: str | None, args: argparse.Namespace) -> list[str]:
    """The figures of one database: ``urls`` are an empty one and one given ``--history``."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    app, key = prepare(urls[0], folder / "instance")
    env = server_env(urls[0], folder, redis_url)
    bare, bare_port = gunicorn("bare:app", env, args, chdir=HERE)
    server, port = gunicorn("widget_server:create_app()", env, args)
    worker = subprocess.Popen([sys.executable, "-m", "widget_server.cli", "aggregate"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = []
    try:
        if {"counts", "config"} & set(args.endpoints):
            lines += history_reads(name, urls[1], redis_url, key, port, bare_port, args)
        if "events" in args.endpoints:
            web, counter, events_before = cpu_seconds(*workers(server)), cpu_seconds(worker.pid), logged(app)
            cpu = (lambda: (cpu_seconds(*workers(server)), cpu_seconds(worker.pid), servers_cpu(name)),
                   lambda: cpu_seconds(*workers(bare)))
            lines[:0] = [ingest_line(name, app, key, (port, bare_port), cpu, argparse.Namespace(**{
                **vars(args), "connections": connections})) for connections in args.sweep]
            stored = logged(app) - events_before
            print(f"# {name}: CPU per stored event (warm-up included, {stored}): web workers "
                  f"{(cpu_seconds(*workers(server)) - web) * 1000 / stored:.2f} ms, aggregator "
                  f"{(cpu_seconds(worker.pid) - counter) * 1000 / stored:.3f} ms", flush=True)
        print(f"# {name}: RSS per worker {rss_mb(server):.0f} MB (largest)", flush=True)
    finally:
        worker.terminate()
        worker.wait(20)
        stop(server)
        stop(bare)
        app.extensions["widget_engine"].dispose()
    for line in lines:
        print("#", line, flush=True)
    return lines


def ingest_line(name: str, app: Any, key: str, ports: tuple[int, int],
                cpu: tuple[Callable[[], tuple[float, float, dict[int, float]]], Callable[[], float]],
                args: argparse.Namespace) -> str:
    """Beacons at full speed, rounds interleaved with the bare app; then at half that rate for
    the p99; then every acknowledged id looked up, stored and counted.

    Each round also reads the CPU time the servers used: the bare app's workers per request,
    and Sharebar's per acknowledged beacon (its workers, the aggregator until it caught up
    with the round, and the PostgreSQL and Redis servers when they are in use), wrk's own
    left out of both. ``cpu_ratio``, the bare app's CPU per request over Sharebar's per
    beacon, is what the throughput ratio would be with both given the same CPU: the load of
    other processes moves it much less than the rates."""
    port, bare_port = ports
    mine_cpu, bare_cpu = cpu
    warm(bare_port, args, site=key, prefix="warm")
    warm(port, args, site=key, prefix="warm")
    mine, theirs, cpu_ratios, acknowledged = [], [], [], 0
    prefix = f"r{uuid.uuid4().hex[:8]}"
    engine = app.extensions["widget_engine"]
    for n in range(args.rounds):
        before = bare_cpu()
        run = wrk(bare_port, args.seconds, args, site=key, prefix=f"{prefix}bare{n}")
        theirs.append(run["per_s"])
        bare_per_request = (bare_cpu() - before) / run["requests"]
        before = mine_cpu()
        run = wrk(port, args.seconds, args, site=key, prefix=f"{prefix}x{n}")
        wait_counted(engine)
        mine.append(run["per_s"])
        answered = int(run["requests"] - run["non2xx"])
        acknowledged += answered
        (web, counter, servers), (web_then, counter_then, servers_then) = mine_cpu(), before
        web, counter = (web - web_then) * 1000 / answered, (counter - counter_then) * 1000 / answered
        servers = sum(used - servers_then.get(pid, 0.0) for pid, used in servers.items()) * 1000 / answered
        cpu_ratios.append(bare_per_request * 1000 / (web + counter + servers))
        print(f"# {name} events, {args.connections} connections, round {n}: {mine[-1]:.0f}/s, bare "
              f"{theirs[-1]:.0f}/s; CPU ms a beacon: web {web:.3f}, aggregator {counter:.3f}, database servers "
              f"{servers:.3f} (bare: {bare_per_request * 1000:.3f} a request)", flush=True)
    rate = statistics.median(mine)
    delay = max(1, int(args.connections * 1000 / (rate / 2)))
    half = wrk(port, args.seconds, args, site=key, prefix=f"{prefix}h", delay_ms=str(delay))
    print(f"# {name}, {args.connections} connections: half rate {half['per_s']:.0f}/s (delay {delay} ms), "
          f"p50 {half['p50_us'] / 1000:.1f} ms, p99 {half['p99_us'] / 1000:.1f} ms", flush=True)
    stored, counted, lag = check(app, prefix + "x", acknowledged)
    bare_rate = statistics.median(theirs)
    return (f"db={name} endpoint=events per_s={rate:.0f} bare_per_s={bare_rate:.0f} ratio={rate / bare_rate:.2f} "
            f"p99_ms={half['p99_us'] / 1000:.1f} acknowledged={acknowledged} stored={stored} lag_p99_ms={lag:.0f} "
            f"cpu_ratio={statistics.median(cpu_ratios):.2f} connections={args.connections}")


def wait_counted(engine: Any, timeout: float = 60) -> None:
    """Until the aggregator has counted everything stored so far (or ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and aggregate.lag_seconds(engine) > 0:
        time.sleep(0.05)


def servers_cpu(name: str) -> dict[int, float]:
    """The CPU time used so far by each PostgreSQL and Redis server process on this machine, in
    a PostgreSQL run (their CPU is the beacons' as much as the web workers' is); a backend
    started since the last reading counts from zero."""
    if name != "postgresql":
        return {}
    found = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("postgres", "redis-server"):
                found[int(comm.parent.name)] = cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return found


def history_reads(name: str, url: str, redis_url: str | None, key: str, port: int, bare_port: int,
                  args: argparse.Namespace) -> list[str]:
    """Counts and config from the empty database's server, from a second server on a database
    with ``--history`` events, and from the bare app, in interleaved rounds: the history ratio
    compares two servers measured in the same minutes, not before and after a bulk load."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-history-"))
    started = time.monotonic()
    old, _ = prepare(url, folder / "instance")
    history(old, int(signing.site_id_from_key(key, [SECRET]) or 0), args.history)
    old.extensions["widget_engine"].dispose()
    print(f"# {name}: {args.history} events of history loaded in {time.monotonic() - started:.0f} s", flush=True)
    full, full_port = gunicorn("widget_server:create_app()", server_env(url, folder, redis_url), args)
    lines = []
    try:
        for endpoint in ("counts", "config"):
            path = f"/v1/{endpoint}?site={quote(key)}&url={quote(PAGE, safe='')}"
            for target in (bare_port, port, full_port):
                warm(target, args, path=path)
            bare_get, empty, loaded = [], [], []
            for _ in range(args.rounds):
                bare_get.append(wrk(bare_port, args.seconds / 2, args, path=path)["per_s"])
                empty.append(wrk(port, args.seconds / 2, args, path=path)["per_s"])
                loaded.append(wrk(full_port, args.seconds / 2, args, path=path)["per_s"])
            rate, bare_rate, rate_full = (statistics.median(x) for x in (empty, bare_get, loaded))
            lines.append(f"db={name} endpoint={endpoint} per_s={rate:.0f} bare_per_s={bare_rate:.0f} "
                         f"ratio={rate / bare_rate:.2f} history_ratio={rate_full / rate:.2f}")
    finally:
        stop(full)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (schemas SCHEMA and SCHEMA_history are made in it)")
    parser.add_argument("--redis", help="Redis URL used with PostgreSQL")
    parser.add_argument("--schema", default="bench_ingest", help="the PostgreSQL schema (emptied first, dropped after)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for both apps (default: gunicorn.conf.py's)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=lambda v: [int(n) for n in v.split(",")], default=[16, 64],
                        help="wrk connections: the events at each (the first for the page views too)")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=lambda v: v.split(","), default=["events", "counts", "config"],
                        help="comma list of events, counts, config")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    args.sweep, args.connections = args.connections, args.connections[0]
    scratch = tempfile.mkdtemp(prefix="bench-ingest-")
    tempfile.tempdir = scratch  # every folder and database of the run goes here, removed at the end
    try:
        print("\n".join(run(args)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace) -> list[str]:
    lines = []
    if args.only in (None, "sqlite"):
        folder = tempfile.mkdtemp(prefix="bench-db-")
        lines += bench("sqlite", (f"sqlite:///{folder}/widget.db", f"sqlite:///{folder}/history.db"), None, args)
    if args.postgres and args.only in (None, "postgresql"):
        schemas = (args.schema, f"{args.schema}_history")
        try:
            urls = (fresh_schema(args.postgres, schemas[0]), fresh_schema(args.postgres, schemas[1]))
            lines += bench("postgresql", urls, args.redis, args)
        finally:
            drop_schemas(args.postgres, schemas)
    return lines


def drop_schemas(url: str, schemas: tuple[str, ...]) -> None:
    engine = create_engine(db.normalise_url(url))
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def fresh_schema(url: str, schema: str = "bench_ingest") -> str:
    engine = create_engine(db.normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    random.seed(1)
    main()
