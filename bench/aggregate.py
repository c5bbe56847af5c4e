"""How fast the aggregator counts a backlog of the event log, and how long it stalls beacons.

For each database (SQLite; PostgreSQL too when ``--postgres URL`` is given) and each batch
size of ``--batches``, a fresh database gets a backlog of ``--events`` realistic events
bulk-loaded into ``event_log`` (not through HTTP): shares of 1,000 pages with a long tail
(the page and service mix of ``bench/stats.py``) with titles and share codes, click-backs
on recent codes (often of the same batch) with referrers, likes, 2% bots, readers who
share or click again the same day (repeats) and a few address-bar codes. Then the
aggregator catches up (``aggregate.catch_up``, as ``widget-server aggregate --once`` does)
and the script prints:

- events counted per second (wall time of the catch-up);
- CPU per 1,000 events: the aggregator's process, and on PostgreSQL the server backends it
  used (read from ``/proc``: the server is local), since both share the machine's cores;
- on SQLite, the write-lock stall: a separate process inserts one event-log row at a time
  (as ``writer.py`` commits a beacon) every few milliseconds, before and during the catch-up,
  and the median and max time one insert and commit took are printed for both phases; and
  how long the aggregator's write transactions held the lock, from the first write
  statement to the end of the commit (each batch's: median and max; all of them: the share
  of the catch-up's time).

With ``--rate N`` (events per second, for ``--seconds``) it measures the aggregator live
instead: ``widget-server aggregate`` runs as its own process, as in production, while this
one stores the same mix of events at that rate, every 10 ms a commit of what came in, the
way the web tier's writer does (on SQLite a locked database is retried every 2 ms); then
it waits for the counts to catch up and prints the aggregator's CPU per 1,000 events (read
from ``/proc``), the lag (``counted_at - created_at``, median and p99) and how long the
writer's commits took (median, p99, max), which is where the aggregator's write lock shows.

Run: ``python bench/aggregate.py [--events 30000] [--batches 500]
[--postgres postgresql://...] [--schema bench_agg] [--rate 800 --seconds 20]``. Ends with one line per database, e.g.
``db=sqlite batch=500 counted_per_s=N cpu_ms_per_1k=C stall_median_ms=M stall_max_ms=X
lock_median_ms=L lock_max_ms=Y lock_share=F`` (and ``server_cpu_ms_per_1k=S`` in place of the
stalls and locks on PostgreSQL).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, select, func

from ingest import SECRET, cpu_seconds, fresh_schema, prepare, server_env  # bench/ingest.py
from stats import PAGE_WEIGHTS, PAGES, REFERRERS, SERVICE_WEIGHTS, SERVICES  # bench/stats.py's mix
from widget_server import aggregate, bulk, signing, upkeep, writer
from widget_server.models import aggregator_state, event_log, events
from widget_server.ingest import ADDRESS

STALL_PAUSE = 0.005  # seconds between two stall probes' inserts
NO_SITE = -1  # the stall probe's rows name no site: read and skipped by the aggregator


def backlog(site_id: int, total: int, seed: int = 11) -> list[dict[str, Any]]:
    """``total`` event-log rows of one busy minute, in the order the web tier would store them."""
    rng = random.Random(seed)
    services = [s for s in SERVICES if s != ADDRESS]
    weights = [w for s, w in zip(SERVICES, SERVICE_WEIGHTS) if s != ADDRESS]
    readers = [f"{rng.getrandbits(128):032x}" for _ in range(max(1, total // 3))]
    start = datetime.now(timezone.utc) - timedelta(seconds=90)
    codes: list[tuple[str, str]] = []  # (code, sharer) of recent shares
    shared: list[dict[str, Any]] = []
    rows = []
    for n in range(total):
        moment = start + timedelta(seconds=60 * n / total)
        reader = rng.choice(readers)
        page = rng.choices(range(PAGES), PAGE_WEIGHTS)[0]
        url = f"https://example.com/post/{page}"
        row = {"month": moment.date().replace(day=1), "site_id": site_id, "event_id": f"agg{n:08d}",
               "type": "share", "service": None, "url": url, "title": None, "code": None, "referrer": None,
               "verb": None, "actor_uid": None, "actor_name": None, "actor_avatar": None, "visitor": reader,
               "bot": rng.random() < 0.02, "address_bar": False, "created_at": moment}
        kind = rng.random()
        if kind < 0.05 and shared:  # the same reader shares the same page to the same place again
            again = rng.choice(shared[-200:])
            row.update(service=again["service"], url=again["url"], title=again["title"], visitor=again["visitor"])
        elif kind < 0.65:
            code = f"{rng.getrandbits(40):010x}" if rng.random() < 0.8 else None
            row.update(service=rng.choices(services, weights)[0], title=f"Post {page}", code=code)
            shared.append(row)
            if code:
                codes.append((code, reader))
        elif kind < 0.92 and codes:
            code, sharer = rng.choice(codes[-300:])  # recent shares: often of the same batch
            if rng.random() < 0.02:
                row.update(visitor=sharer)  # a click on one's own share
            row.update(type="clickback", code=code, referrer=rng.choice(REFERRERS) or None)
        elif kind < 0.94:
            stamp = int(moment.timestamp()) - rng.randrange(86400 * 30)
            row.update(type="clickback", code=f"a-{base36(stamp)}-{rng.getrandbits(30):08x}", address_bar=True,
                       referrer=rng.choice(REFERRERS) or None)
        else:
            row.update(type="action", verb="like", title=f"Post {page}")
        rows.append(row)
    return rows


def base36(number: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits or "0"


def load(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            upkeep.ensure_partitions(conn, rows[0]["created_at"].date())
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(event_log), rows[start:start + 10_000])


def backend_cpu(pids: set[int]) -> float:
    """CPU seconds used so far by these PostgreSQL backends (user + system)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def probe(path: str, stop: str) -> None:
    """The stall probe (run as its own process): insert and commit one event-log row at a time
    until the file ``stop`` exists; print each insert's seconds, as JSON."""
    conn = sqlite3.connect(path, timeout=30)
    taken, n = [], 0
    print("ready", flush=True)
    while not os.path.exists(stop):
        n += 1
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        conn.execute("INSERT INTO event_log (month, site_id, event_id, type, service, url, visitor, bot, address_bar,"
                     " created_at) VALUES (?, ?, ?, 'share', 'weibo', 'https://example.com/', ?, 0, 0, ?)",
                     (now.date().replace(day=1).isoformat(), NO_SITE, f"probe{os.getpid()}-{n}", "0" * 32,
                      now.strftime("%Y-%m-%d %H:%M:%S.%f")))
        conn.commit()
        taken.append(time.perf_counter() - started)
        time.sleep(STALL_PAUSE)
    print(json.dumps(taken))


class WriteLock:
    """How long each SQLite write transaction of ``engine`` holds the database's write lock:
    from its first write statement (the driver begins the transaction there) to the end of
    its commit or rollback. A batch's transaction (the one moving the watermark) is told
    apart from the others (new pages, committed on their own)."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")

    def __init__(self, engine: Engine):
        self.started: dict[int, float] = {}  # id of the DBAPI connection -> first write
        self.held: list[float] = []
        self.batches: list[float] = []
        self.moving: set[int] = set()  # connections whose transaction moves the watermark
        event.listen(engine, "before_cursor_execute", self.before)
        for name in ("do_commit", "do_rollback"):
            setattr(engine.dialect, name, self.ending(getattr(engine.dialect, name)))

    def before(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        raw = conn.connection.dbapi_connection
        if not raw.in_transaction and statement.lstrip()[:6].upper() in self.WRITES:
            self.started.setdefault(id(raw), time.perf_counter())
        if statement.startswith("UPDATE aggregator_state"):
            self.moving.add(id(raw))

    def ending(self, real: Any) -> Any:
        def end(proxied: Any) -> None:
            real(proxied)
            started = self.started.pop(id(proxied.dbapi_connection), None)
            if started is not None:
                self.held.append((time.perf_counter() - started) * 1000)
                if id(proxied.dbapi_connection) in self.moving:
                    self.batches.append(self.held[-1])
            self.moving.discard(id(proxied.dbapi_connection))
        return end


class Probe:
    """The stall probe of one phase: started, then stopped with its timings."""

    def __init__(self, path: str):
        self.stop = tempfile.mktemp(prefix="bench-agg-stop-")
        self.process = subprocess.Popen([sys.executable, __file__, "--probe", path, self.stop],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline() == "ready\n"

    def finish(self) -> list[float]:
        Path(self.stop).touch()
        out, _ = self.process.communicate(timeout=60)
        os.unlink(self.stop)
        return [t * 1000 for t in json.loads(out)]


def bench(name: str, url: str, total: int, batch: int) -> str:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-agg-{name}-"))
    app, key = prepare(url, folder / "instance")
    site_id = int(signing.site_id_from_key(key, [SECRET]) or 0)
    engine: Engine = app.extensions["widget_engine"]
    backends: set[int] = set()
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", lambda dbapi, _record: backends.add(dbapi.info.backend_pid))
    engine.dispose()
    rows = backlog(site_id, total)
    started = time.perf_counter()
    load(engine, rows)
    loaded = time.perf_counter() - started
    idle: list[float] = []
    stalls: list[float] = []
    if name == "sqlite":
        before = Probe(engine.url.database or "")
        time.sleep(2.0)
        idle = before.finish()
        during = Probe(engine.url.database or "")
        locks = WriteLock(engine)
    cpu, server_cpu, started = own_cpu(), backend_cpu(backends), time.perf_counter()
    aggregate.catch_up(engine, batch)
    seconds = time.perf_counter() - started
    cpu, server_cpu = own_cpu() - cpu, backend_cpu(backends) - server_cpu
    if name == "sqlite":
        stalls = during.finish()
    with engine.connect() as conn:
        done = conn.scalar(select(func.count()).select_from(events).where(events.c.event_id.like("agg%")))
    engine.dispose()
    rate = total / seconds
    print(f"# {name} batch={batch}: loaded {total} events in {loaded:.1f} s; counted in {seconds:.2f} s "
          f"({rate:.0f}/s, {done} event rows); aggregator CPU {cpu:.2f} s"
          + (f", server backends CPU {server_cpu:.2f} s" if backends else ""), flush=True)
    line = (f"db={name} batch={batch} counted_per_s={rate:.0f} cpu_ms_per_1k={cpu * 1e6 / total:.0f}")
    if backends:
        line += f" server_cpu_ms_per_1k={server_cpu * 1e6 / total:.0f}"
    if stalls:
        print(f"# {name} batch={batch}: one event-log insert and commit, idle: median "
              f"{statistics.median(idle):.2f} ms, max {max(idle):.1f} ms ({len(idle)}); while counting: median "
              f"{statistics.median(stalls):.2f} ms, max {max(stalls):.1f} ms ({len(stalls)})", flush=True)
        line += f" stall_median_ms={statistics.median(stalls):.2f} stall_max_ms={max(stalls):.1f}"
        held, batches = locks.held, locks.batches
        print(f"# {name} batch={batch}: the aggregator held the write lock {len(held)} times, "
              f"{sum(held) / 10 / seconds:.0f}% of the catch-up; {len(batches)} batches: median "
              f"{statistics.median(batches):.1f} ms, max {max(batches):.1f} ms", flush=True)
        line += (f" lock_median_ms={statistics.median(batches):.1f} lock_max_ms={max(batches):.1f}"
                 f" lock_share={sum(held) / 1000 / seconds:.2f}")
    return line


def live(name: str, url: str, rate: int, seconds: float) -> str:
    """The aggregator as its own process while events are stored at ``rate`` a second."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-agg-live-{name}-"))
    app, key = prepare(url, folder / "instance")
    engine: Engine = app.extensions["widget_engine"]
    rows = backlog(int(signing.site_id_from_key(key, [SECRET]) or 0), int(rate * seconds))
    counter = subprocess.Popen([sys.executable, "-m", "widget_server.cli", "aggregate"],
                               env=server_env(url, folder, None), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    raw = engine.raw_connection()
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        raw.cursor().execute("PRAGMA busy_timeout = 0")  # as the writer under gevent: retried here
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not counting_started(engine):  # elected, its first step taken
            time.sleep(0.1)
        time.sleep(1.0)
        cpu, commits, sent, started = cpu_seconds(counter.pid), [], 0, time.monotonic()
        while sent < len(rows):
            due = min(len(rows), int((time.monotonic() - started) * rate))
            if due > sent:
                now = datetime.now(timezone.utc)
                sql, params = bulk.insert_statement(engine.dialect, event_log, [
                    {**row, "created_at": now, "month": now.date().replace(day=1)} for row in rows[sent:due]])
                params = params if sqlite else [params]  # PostgreSQL: one row of arrays
                began = time.perf_counter()
                while True:
                    try:
                        raw.cursor().executemany(sql, params)
                        raw.commit()
                        break
                    except sqlite3.OperationalError as exc:
                        if not sqlite or "locked" not in str(exc):
                            raise
                        raw.rollback()
                        time.sleep(writer.LOCKED_PAUSE)
                commits.append((time.perf_counter() - began) * 1000)
                sent = due
            time.sleep(0.01)
        fed = time.monotonic() - started
        while aggregate.lag_seconds(engine) > 0 and time.monotonic() - started < seconds + 120:
            time.sleep(0.05)
        cpu = cpu_seconds(counter.pid) - cpu
    finally:
        raw.close()
        counter.terminate()
        counter.wait(20)
    with engine.connect() as conn:
        found = conn.execute(select(events.c.created_at, events.c.counted_at)
                             .where(events.c.event_id.like("agg%"))).all()
    engine.dispose()
    lags = sorted((utc(r.counted_at) - utc(r.created_at)).total_seconds() * 1000 for r in found)
    commits.sort()
    print(f"# {name} live: {len(rows)} events in {fed:.1f} s ({len(rows) / fed:.0f}/s), {len(found)} event rows; "
          f"aggregator CPU {cpu:.2f} s; lag median {statistics.median(lags):.0f} ms, p99 "
          f"{lags[int(len(lags) * 0.99)]:.0f} ms; the writer's {len(commits)} commits: median "
          f"{statistics.median(commits):.2f} ms, p99 {commits[int(len(commits) * 0.99)]:.1f} ms, max "
          f"{commits[-1]:.1f} ms", flush=True)
    return (f"db={name} rate={rate} cpu_ms_per_1k={cpu * 1e6 / len(rows):.0f} "
            f"lag_p99_ms={lags[int(len(lags) * 0.99)]:.0f} commit_p99_ms={commits[int(len(commits) * 0.99)]:.1f} "
            f"commit_max_ms={commits[-1]:.1f}")


def counting_started(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(aggregator_state)) == 1


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--probe":
        probe(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batches", default="", help="batch sizes to compare, e.g. 250,500,1000 (default: each "
                        "database's aggregate.BATCH)")
    parser.add_argument("--postgres", help="a PostgreSQL URL (the schema is made in it, emptied first)")
    parser.add_argument("--schema", default="bench_agg")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--rate", type=int, help="measure live: store this many events a second meanwhile")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to store them (with --rate)")
    args = parser.parse_args()
    print(f"# load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    lines = []
    if args.rate:
        if args.only in (None, "sqlite"):
            lines.append(live("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='bench-agg-db-')}/widget.db",
                              args.rate, args.seconds))
        if args.postgres and args.only in (None, "postgresql"):
            lines.append(live("postgresql", fresh_schema(args.postgres, args.schema), args.rate, args.seconds))
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [0]  # 0: each database's own
    for batch in [] if args.rate else batches:
        if args.only in (None, "sqlite"):
            lines.append(bench("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='bench-agg-db-')}/widget.db",
                               args.events, batch or aggregate.BATCH["sqlite"]))
        if args.postgres and args.only in (None, "postgresql"):
            lines.append(bench("postgresql", fresh_schema(args.postgres, args.schema), args.events,
                               batch or aggregate.BATCH["postgresql"]))
    print(f"# load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
