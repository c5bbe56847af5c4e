"""The database connection's life cycle: one engine per app, one ORM session per request.

Sites, owners and tokens go through the typed ORM models; the hot ingest path and the
stats queries use SQLAlchemy Core on ``engine()`` directly.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import vault

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The migrations' revisions, oldest first; the last one is the schema this code expects. Written
# out here so that `/readyz` and the command line's checks compare a database with them without
# loading Alembic, which is a tenth of a web worker's memory and only migrations need (imported
# in ``upgrade`` and ``downgrade``). tests/test_migrations.py fails when this and the scripts of
# migrations/versions differ.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010")
HEAD = REVISIONS[-1]


def normalise_url(url: str) -> str:
    """Let ``postgres://`` and ``postgresql://`` URLs use psycopg 3 (the ``postgres`` extra)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "do_connect", _owner_only)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping (a round trip per checkout): a connection that fails is invalidated with the
    # pool's older ones, the request answers 503, and the next one connects afresh.
    return create_engine(url, pool_size=5, max_overflow=10, pool_timeout=2, pool_recycle=3600,
                         connect_args={"connect_timeout": 2})


def _owner_only(_dialect: Any, _record: Any, cargs: tuple[Any, ...], _cparams: Any) -> None:
    """Make the database file mode 0600 before SQLite opens it: SQLite creates its ``-wal``
    and ``-shm`` files with the database file's mode, so they are 0600 too."""
    path = str(cargs[0]) if cargs else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.chmod(path + suffix, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and the single writer overlap; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that knows ON CONFLICT on both SQLite and PostgreSQL."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def init_app(app: Flask) -> None:
    app.extensions["widget_engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    engine: Engine = current_app.extensions["widget_engine"]
    return engine


def session() -> Session:
    """The request's ORM session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    result: Session = g.db_session
    return result


def _close_session(_exc: BaseException | None) -> None:
    opened = g.pop("db_session", None)
    if opened is not None:
        opened.close()


def schema_revisions(conn: Connection) -> set[str]:
    """The revisions the database's schema is at (Alembic's ``alembic_version`` table, read as
    Alembic reads it); none when the database has no schema yet."""
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return set(conn.scalars(text("SELECT version_num FROM alembic_version")))


def alembic_config(bind: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = bind
    cfg.attributes["secret_keys"] = list(current_app.config["SECRET_KEYS"])  # migration 0005 seals with them
    return cfg


def upgrade(revision: str = "head") -> None:
    """Create or migrate the schema of the app's database to ``revision``; at the head, also
    reseal every site secret under the first of ``WIDGET_SECRET_KEYS`` (key rotation)."""
    from alembic import command

    command.upgrade(alembic_config(engine()), revision)
    if revision == "head":
        with engine().begin() as conn:
            vault.reseal_all(conn)


def downgrade(revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine()), revision)
