"""The aggregator: turns the event log into counts, behind the requests.

It reads ``event_log`` by id above a watermark, in batches, and counts each batch
(``counting.count_batch``) in the same transaction that moves the watermark, so after a
crash or a restart it goes on exactly where the last committed batch ended: nothing is
counted twice or missed.

Ids are handed out before their transactions commit, so on PostgreSQL a row with a lower
id can become visible after a higher one (two web workers committing at once). An id
missing below the highest one read is kept in ``gaps`` with the time it was first missed,
re-read on every step, and given up after ``GAP_SECONDS``, far longer than a beacon's
transaction may last (the writer gives up after two seconds). Some gaps never fill: the
insert of a beacon stored already (a retry, a replay) skips its row but has taken an id, and
so has a rolled-back batch; watching each costs one array element a step. On SQLite, one
writer at a time commits ids in order, so there are no such gaps.

One aggregator runs at a time, elected by a lock (``locks.py``): ``widget-server
aggregate`` in production, or else one web worker's background thread, so ``widget-server
demo`` and a bare gunicorn count too. Upkeep (the salts of today and tomorrow, day marks,
retention, event-log partitions) runs here, never inside a request.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import BigInteger, Connection, Engine, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from . import counting, db, locks, upkeep
from .counting import Raced  # raised here when another counter moved the watermark
from .db import dialect_insert
from .models import aggregator_state, event_log, utcnow

log = logging.getLogger(__name__)

STATE = "main"
# The most events a step reads. On SQLite its batch holds the write lock that beacons wait
# for while it writes (see POLL_SECONDS), so a batch stays small. On PostgreSQL no beacon
# waits for a batch, and a larger one merges more of its events into the same rows (a page's
# rollup and total of the day, a dimension's uniques) and spreads its twenty-odd statements
# over more events: a backlog counted 5,000 at a time rather than 500 (``bench/aggregate.py
# --batches 500,5000``) cost the server a third less CPU an event, and the aggregator a tenth
# less. Caught up, a batch is what came in since the last look (POLL_SECONDS), counted in one
# transaction rather than in steps of 500: the lag p99 under ``bench/ingest.py`` went from
# 0.57 s to 0.76-0.79 s.
BATCH = {"sqlite": 500, "postgresql": 5000}
GAP_SECONDS = 30.0
MAX_GAP_RUN = 5000  # a longer run of missing ids is history (deleted, or burnt by conflicts), not in flight
# Caught up, it looks again this often. On SQLite a batch holds the write lock that beacons
# wait for while it writes, for about 7 ms per 125 events (``bench/aggregate.py``): polled
# every 0.2 s at 1,200 beacons a second, a batch's 240 events held it 18 ms, the p99 of a
# beacon at that rate; polled every 0.1 s, 120 events and 7 ms. On PostgreSQL no beacon waits
# for a batch, and each batch costs its twenty-odd statements (round trips, server wake-ups)
# whatever its size: polled every 0.5 s rather than 0.1 s under ``bench/ingest.py``, the
# aggregator and the server spent a tenth less CPU an event, and counting still lagged the
# acknowledgement well under a second.
POLL_SECONDS = {"sqlite": 0.1, "postgresql": 0.5}
UPKEEP_SECONDS = 60.0


@dataclass
class State:
    watermark: int
    gaps: dict[int, float]  # id -> unix time first missed


# The step's statements, built once (building them was a tenth of a small batch's time).
STATE_ROW = select(aggregator_state.c.watermark, aggregator_state.c.gaps).where(aggregator_state.c.name == STATE)
STATE_ROW_LOCKED = STATE_ROW.with_for_update()
COUNTED_COLUMNS = [column for column in event_log.c if column.name != "month"]  # what counting reads
UNCOUNTED = select(*COUNTED_COLUMNS).where(event_log.c.id > bindparam("watermark")).order_by(event_log.c.id)
# Gaps exist on PostgreSQL only: the ids as one array, so the text is the same whatever their
# number and the server prepares it once (an IN list of a few thousand burnt ids, rendered and
# parsed again every step, was a quarter of the aggregator's time).
LATE = select(*COUNTED_COLUMNS).where(event_log.c.id == any_(bindparam("gaps", type_=ARRAY(BigInteger))))
MOVE = update(aggregator_state).where(aggregator_state.c.name == STATE, aggregator_state.c.watermark == bindparam(
    "read")).values(watermark=bindparam("moved"), gaps=bindparam("new_gaps"), updated_at=bindparam("now"))


def load_state(conn: Connection) -> State:
    row = conn.execute(STATE_ROW_LOCKED if conn.dialect.name == "postgresql" else STATE_ROW).first()
    if row is None:
        conn.execute(dialect_insert(conn, aggregator_state).values(
            name=STATE, watermark=0, gaps=[], updated_at=utcnow()).on_conflict_do_nothing())
        return State(0, {})
    return State(int(row.watermark), {int(i): float(t) for i, t in row.gaps})


def save_state(conn: Connection, state: State, read: int) -> None:
    """Move the watermark from ``read``, the one this step started from, or raise ``Raced``.

    On PostgreSQL the state row is locked from the step's start, so this always holds. On
    SQLite the step's reads take no lock (the transaction begins at its first write), so two
    counters (the elected one and `aggregate --once`, say) may read the same watermark; the
    one that writes second finds it moved here, while it holds the write lock, and its
    counts roll back instead of being added twice."""
    gaps = [[i, t] for i, t in sorted(state.gaps.items())]
    moved = conn.execute(MOVE, {"read": read, "moved": state.watermark, "new_gaps": gaps, "now": utcnow()})
    if moved.rowcount != 1:
        raise Raced()


def step(conn: Connection, batch: int | None = None, clock: Callable[[], float] = time.time) -> int:
    """Count the next batch (of ``batch`` events at most, by default the database's
    ``BATCH``) inside the caller's transaction; returns how many rows it read."""
    batch = batch or BATCH[conn.dialect.name]
    state = load_state(conn)
    read = state.watermark
    rows = list(conn.execute(UNCOUNTED.limit(batch), {"watermark": state.watermark}))
    late = []
    if state.gaps:
        late = list(conn.execute(LATE, {"gaps": list(state.gaps)}))
    now = clock()
    for row in late:
        del state.gaps[int(row.id)]
    expected = state.watermark + 1
    for row in rows:
        if conn.dialect.name == "postgresql" and int(row.id) - expected <= MAX_GAP_RUN:
            state.gaps.update({missing: now for missing in range(expected, int(row.id))})
        expected = int(row.id) + 1
    state.gaps = {i: t for i, t in state.gaps.items() if now - t < GAP_SECONDS}
    if rows:
        state.watermark = int(rows[-1].id)
    found = sorted(late + rows, key=lambda r: int(r.id))
    known = _plain.get(conn.engine)
    plain = known[1] if known is not None and known[0] == read else set()
    if found:
        counting.count_batch(conn, found, utcnow(), plain)
    if found or late or rows:
        save_state(conn, state, read)
        _plain[conn.engine] = (state.watermark, plain)
    return len(found)


# Per engine, the (site, day) this process found to hold no marks of an earlier release
# (``counting.earlier_days``), with the watermark its last step wrote: a step that reads another
# watermark follows another counter's commit (or its own rolled back) and starts afresh.
_plain: WeakKeyDictionary[Engine, tuple[int, set[tuple[int, date]]]] = WeakKeyDictionary()


def catch_up(engine: Engine, batch: int | None = None) -> int:
    """Count everything committed so far (tests, ``aggregate --once``); returns how many."""
    total = 0
    while True:
        try:
            with engine.begin() as conn:
                counted = step(conn, batch)
        except Raced:
            continue
        total += counted
        if counted == 0:
            return total


def lag_seconds(engine: Engine) -> float:
    """How far counting is behind: the age of the oldest stored event not yet counted (0 when
    caught up). For the ``aggregator lag`` metric; any process may ask."""
    with engine.connect() as conn:
        watermark = conn.scalar(select(aggregator_state.c.watermark).where(aggregator_state.c.name == STATE)) or 0
        oldest = conn.scalar(select(func.min(event_log.c.created_at)).where(event_log.c.id > watermark))
    if oldest is None:
        return 0.0
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, float((utcnow() - oldest).total_seconds()))


class Aggregator:
    """The loop: count while there is something to count, upkeep every minute, stop on request."""

    def __init__(self, engine: Engine, config: dict[str, Any]):
        self.engine, self.config = engine, config
        self.poll, self.batch = POLL_SECONDS[engine.dialect.name], BATCH[engine.dialect.name]
        self.stopping = threading.Event()
        self._last_upkeep = 0.0
        self._failing: str | None = None

    def run(self, lock: locks.Lock) -> None:
        """Count until ``stop()`` or until the lock is lost (then return, to be re-elected)."""
        while not self.stopping.is_set() and lock.held():
            try:
                self.maybe_upkeep()
                with self.engine.begin() as conn:
                    counted = step(conn, self.batch)
                if counted:
                    checkpoint(self.engine)
                self._recovered()
            except Raced:
                counted = self.batch  # at once again, from where the other counter stopped
            except DBAPIError as exc:
                self._failed(exc)
                counted = 0
                self.stopping.wait(1.0)
            if counted < self.batch:
                self.stopping.wait(self.poll)

    def maybe_upkeep(self) -> None:
        if time.monotonic() - self._last_upkeep >= UPKEEP_SECONDS:
            upkeep.run(self.engine, self.config, utcnow().date())
            self._last_upkeep = time.monotonic()

    def stop(self) -> None:
        self.stopping.set()

    def _failed(self, exc: DBAPIError) -> None:
        kind = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        if kind != self._failing:
            log.warning("aggregator: the database failed (%s); retrying every second", kind)
            self._failing = kind

    def _recovered(self) -> None:
        if self._failing is not None:
            log.warning("aggregator: the database answers again")
            self._failing = None


def checkpoint(engine: Engine) -> None:
    """On SQLite, copy the write-ahead log into the database file here, behind the requests,
    rather than in the commit of whichever beacon crosses SQLite's threshold (the web
    workers' writers checkpoint only far past it: see ``writer``). Passive: it waits for no
    reader or writer, and what it could not copy is copied next time."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def run_elected(engine: Engine, config: dict[str, Any], stop: threading.Event, wait: float = 5.0) -> None:
    """Try for the aggregator lock every ``wait`` seconds; count while holding it."""
    while not stop.is_set():
        lock = locks.for_engine(engine, config)
        try:
            if lock.acquire():
                log.info("aggregator: elected in this process")
                aggregator = Aggregator(engine, config)
                aggregator.stopping = stop
                aggregator.run(lock)
        except DBAPIError:
            pass
        finally:
            lock.release()
        stop.wait(wait)


_started: dict[int, threading.Thread] = {}  # pid -> this process's candidate thread


def init_app(app: Flask) -> None:
    """Run a candidate aggregator thread in every server process (one wins the lock), unless
    ``AGGREGATE_IN_SERVER`` is off or the app is under test."""
    if not app.config["AGGREGATE_IN_SERVER"] or app.config["TESTING"]:
        return
    engine, config = app.extensions["widget_engine"], dict(app.config)

    def ensure_candidate() -> None:
        pid = os.getpid()
        if pid not in _started:
            thread = threading.Thread(target=run_elected, args=(engine, config, threading.Event()),
                                      name="sharebar-aggregator", daemon=True)
            _started[pid] = thread
            thread.start()

    app.before_request(ensure_candidate)



@click.command("aggregate")
@click.option("--once", is_flag=True, help="Count what is stored so far, run the upkeep, and exit.")
@with_appcontext
def aggregate_command(once: bool) -> None:
    """The aggregator that turns the event log into counts (the Procfile's worker).

    Waits for the aggregator lock (a server process may hold it until this one takes over),
    then counts until SIGTERM or SIGINT, finishing the batch at hand.
    """
    engine, config = db.engine(), dict(current_app.config)
    if once:
        counted = catch_up(engine)
        upkeep.run(engine, config, utcnow().date())
        click.echo(f"{counted} events counted")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("aggregator: starting (waits for the lock while another process counts)")
    run_elected(engine, config, stop, wait=1.0)
