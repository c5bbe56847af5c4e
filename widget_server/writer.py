"""The beacon path's one durable write: a per-process group commit into ``event_log``.

Every request hands its row to ``store`` and waits; the rows of concurrent requests are
inserted with one statement on this process's one connection and committed once (see
``groups``), and ``store`` returns only after the row's transaction has committed, and
raises otherwise.

The same run first checks the rate limits of the beacons that come with theirs, all at once
(``limits.Limiter.check_many``: one Redis round trip), and inserts only the rows admitted.
The insert of every row is prepared while that round trip is out, and used when none is
refused (nearly always): the worker does not sleep through the round trip with that work
still ahead of it.
Checked in a group of their own, then written in another, each beacon waited twice, and the
two groups split the worker's beacons between them: with PostgreSQL and Redis, one run for
both made the groups twice as large (3.5 beacons to 6.5) and a beacon's CPU a tenth less, in
the web workers and in the two servers.

SQLite calls do not yield to other greenlets, and SQLite's own wait for another process's
write lock (its busy timeout) would stall every greenlet of a gevent worker: there the
writer's SQLite connection does not wait in SQLite but retries a locked database after a
cooperative pause, until the beacon's timeout.

The insert ignores a row whose ``(site_id, event_id, month)`` is stored already, so a
retried beacon is stored once, and says which rows it stored: a beacon whose row was stored
before gets its site's charge back (``Limiter.refund``), so a retry or a replay costs the
site nothing. Skipped, the row would still take an id from the table's sequence, which on
PostgreSQL the aggregator then watches as a gap for half a minute (``aggregate.py``): so the
keys of the events this process committed lately are remembered, and the same beacon again
(the widget's retry of an answer it lost, or a replay) is answered at once, with nothing
sent to the database, and counted against its reader's limit alone.

No ORM session and no pre-ping: the connection is held and replaced when it fails (one retry
on a fresh connection, for a database that restarted).
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .bulk import Statement, insert_statement
from .groups import Group, Late, greened
from .limits import Beacon, Limiter
from .models import event_log

MAX_BATCH = 500
REMEMBERED = 20_000  # event keys a process remembers as committed (a few MB at most)
WRITER_CHECKPOINT_PAGES = 10_000
LOCKED_PAUSE = 0.002  # seconds between two tries of a SQLite database another process is writing


class Unavailable(Exception):
    """The row could not be committed in time: the database is down or too slow."""


# SQLite's errors of a busy or unreachable file, as opposed to a broken schema.
SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "disk i/o error", "unable to open")


def unavailable(exc: DBAPIError) -> bool:
    """True for a failure of the database's availability (down, restarting, busy), which a
    retry can cure; False for a failure of the statement or schema (a bug)."""
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)) and \
            exc.orig is not None and type(exc.orig).__module__.startswith("psycopg"):
        return True
    return str(exc.orig).lower().startswith(SQLITE_UNAVAILABLE)


def event_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What the event log's unique key says of a row: stored once per site, event id and month."""
    return row["site_id"], row["event_id"], row["month"]


def driver(conn: Connection) -> Any:
    """The DBAPI connection under a SQLAlchemy one."""
    return conn.connection.dbapi_connection


class Writer:
    """Group commits of ``event_log`` rows for one process and one engine."""

    def __init__(self, engine: Engine, limiter: Limiter, timeout: float = 2.0):
        self.engine, self.limiter, self.timeout = engine, limiter, timeout
        self._cooperative = greened()  # made in the worker, after gevent patched it
        self._sqlite = engine.dialect.name == "sqlite"
        self._group: Group[tuple[dict[str, Any], Beacon | None, bool], Exception | None] = Group(self._run, MAX_BATCH)
        self._conn: Connection | None = None
        self._pid = os.getpid()
        self._stored: OrderedDict[tuple[Any, ...], None] = OrderedDict()  # keys committed lately, oldest first

    def store(self, row: dict[str, Any], limited: Beacon | None = None, checked: bool = False) -> None:
        """Return once ``row`` is committed (or was stored before); with ``limited``, only
        if the beacon is within its rate limits, counted against them then (or before, when
        ``checked``), and its site's charge given back if the row was stored before.

        :raise RateLimited: a limit is used up (nothing stored).
        :raise Unavailable: not committed within the timeout, or the database failed.
        """
        key = event_key(row)
        if key in self._stored:
            if limited is not None and checked:
                self.limiter.refund([limited[0]])
            elif limited is not None:
                self.limiter.check_reader(*limited)  # a replay costs its reader all the same
            return
        try:
            failed = self._group.call((row, limited, checked), self.timeout)
            if failed is not None:
                raise failed
        except Late as exc:
            raise Unavailable("the event log did not commit in time") from exc
        except DBAPIError as exc:
            if not unavailable(exc):
                raise
            raise Unavailable(str(exc)) from exc
        self._stored[key] = None
        if len(self._stored) > REMEMBERED:
            self._stored.popitem(last=False)  # one call, so threads of a gthread worker cannot interleave

    def _run(self, items: list[tuple[dict[str, Any], Beacon | None, bool]]) -> list[Exception | None]:
        """A group's run: the limits of the beacons that have them, at once, then the rows
        admitted in one insert, then the site charges of those found stored already given
        back. For each item, None when its row is stored, else its refusal or the insert's
        error."""
        outcomes: list[Exception | None] = [None] * len(items)
        unchecked = [(n, beacon) for n, (_, beacon, checked) in enumerate(items) if beacon is not None and not checked]
        prepared: list[Statement] = []  # the insert of every row, made while the limits' answer comes
        if unchecked:
            refusals = self.limiter.check_many([beacon for _, beacon in unchecked], lambda: prepared.append(
                self._statement([row for row, _, _ in items])))
            for (n, _), refused in zip(unchecked, refusals, strict=True):
                outcomes[n] = refused
        admitted = [items[n] for n, outcome in enumerate(outcomes) if outcome is None]
        if admitted:
            try:
                rows = [row for row, _, _ in admitted]
                fresh = self._insert(rows, prepared[0] if prepared and len(rows) == len(items) else None)
            except DBAPIError as exc:
                return [exc if outcome is None else outcome for outcome in outcomes]
            stored_before = []
            for row, beacon, _ in admitted:
                key = event_key(row)
                if key in fresh:
                    fresh.discard(key)  # the first of its copies in the run is the one stored
                elif beacon is not None:
                    stored_before.append(beacon[0])
            self.limiter.refund(stored_before)
        return outcomes

    def _statement(self, rows: list[dict[str, Any]]) -> Statement:
        """The insert of ``rows`` (``bulk.insert_statement``), returning the keys it stored on
        PostgreSQL."""
        statement = insert_statement(self.engine.dialect, event_log, rows)
        assert statement is not None  # a group has a row at least
        if self._sqlite:
            return statement
        return Statement(statement.sql + " RETURNING site_id, event_id, month", statement.params)

    def _insert(self, rows: list[dict[str, Any]], statement: Statement | None = None) -> set[tuple[Any, ...]]:
        """The keys ``(site_id, event_id, month)`` of the rows stored now, not before: one
        statement (``bulk.insert_statement``: on PostgreSQL the rows as one array per column,
        a text prepared once, returning the keys of the rows it stored; in autocommit it is
        also the commit, one round trip) and one commit, on the DBAPI connection itself
        (SQLAlchemy's execution layer was a third of the writer's time), its errors wrapped as
        SQLAlchemy's would be. On SQLite, in-process, an insert a row, each saying whether it
        stored its row."""
        dialect = self.engine.dialect
        sql, params = statement or self._statement(rows)
        keys = [event_key(row) for row in rows]
        deadline = time.monotonic() + self.timeout
        reconnected = False
        while True:
            raw = driver(self._connection())
            try:
                cursor = raw.cursor()
                try:
                    if self._sqlite:
                        fresh = {key for key, values in zip(keys, params, strict=True)
                                 if cursor.execute(sql, values).rowcount == 1}
                        raw.commit()
                    else:  # in autocommit: the statement is its own transaction
                        cursor.execute(sql, params)
                        fresh = {tuple(stored) for stored in cursor.fetchall()}
                finally:
                    cursor.close()
                return fresh
            except dialect.loaded_dbapi.Error as exc:
                if self._cooperative and self._sqlite and "locked" in str(exc) and time.monotonic() < deadline:
                    raw.rollback()
                    time.sleep(LOCKED_PAUSE)  # gevent's: the worker's other greenlets run meanwhile
                    continue
                lost = dialect.is_disconnect(exc, raw, None)
                self._drop_connection()
                wrapped = DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error,
                                              connection_invalidated=lost, dialect=dialect)
                if reconnected or not lost:
                    raise wrapped from exc
                reconnected = True

    def _connection(self) -> Connection:
        if self._pid != os.getpid():  # forked: the parent's connection is not ours
            self._conn, self._pid = None, os.getpid()
        if self._conn is None:
            self._conn = self.engine.connect()
            if not self._sqlite:
                driver(self._conn).autocommit = True
                return self._conn
            # The aggregator checkpoints the WAL after its batches (aggregate.checkpoint): a
            # beacon's commit that crossed SQLite's default 1,000 pages ran the checkpoint, two
            # fsyncs, and was the slowest beacon. This one does only past 10,000 (40 MB), should
            # nothing else checkpoint.
            driver(self._conn).execute(f"PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}")
            if self._cooperative:  # a locked database is retried in _insert
                driver(self._conn).execute("PRAGMA busy_timeout = 0")
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
