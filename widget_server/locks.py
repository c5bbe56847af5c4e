"""The aggregator's election: one lock per database, held while counting.

PostgreSQL: a session advisory lock on a connection of its own, released by the server
when that connection ends (a killed process loses it at once). Advisory locks belong to the
whole database, so the lock is keyed by the schema too: installations sharing a database,
each in a schema of its own (``search_path``), each elect their own aggregator. SQLite:
``flock`` on a file beside the database, released by the kernel when the process ends.
"""
from __future__ import annotations

import fcntl
import os
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

ADVISORY_CLASS = 0x53484152  # "SHAR"; the lock's second key is the schema's (one per installation)


class Lock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; True when this process now holds it."""

    def held(self) -> bool:
        """Still held (checked against the database for PostgreSQL)."""

    def release(self) -> None:
        ...


class AdvisoryLock:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Connection | None = None

    def acquire(self) -> bool:
        self.conn = self.engine.connect()
        got = bool(self.conn.scalar(text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"),
                                    {"key": ADVISORY_CLASS}))
        self.conn.commit()
        if not got:
            self.release()
        return got

    def held(self) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.scalar(text("SELECT 1"))
            self.conn.commit()
            return True
        except DBAPIError:
            self.release()
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.invalidate()  # ending the session releases the lock
                self.conn.close()
            except DBAPIError:
                pass
            self.conn = None


class FileLock:
    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file releases the flock
            self.fd = None


def for_engine(engine: Engine, config: dict[str, Any]) -> Lock:
    """The election lock of ``engine``'s database."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLock(database + ".aggregator.lock")
    return FileLock(os.path.join(str(config.get("INSTANCE_PATH") or "."), "aggregator.lock"))
