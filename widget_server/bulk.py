"""Reading and writing many rows by key in one statement, whatever their number.

The aggregator's batches go through these: a statement per table and batch, never one per
row, with a text that does not change with the number of rows (so PostgreSQL prepares it
once). On PostgreSQL the keys and rows go as one array literal per column, joined or
inserted through ``unnest``; on SQLite, in-process, as ``IN`` lists read from JSON and an
executemany.

A write is prepared (``insert_statement``: its text and its parameters, converted for the
driver) apart from being sent (``execute``), so that a batch converts everything before
its first write: on SQLite that first write takes the database's one write lock, which the
beacons' commits wait for, until the batch commits.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Date, DateTime, Dialect, Row, Table, text
from sqlalchemy.sql.selectable import TextualSelect



def writing(conn: Connection) -> bool:
    """Whether writing on ``conn`` now is part of the caller's transaction: always on
    PostgreSQL; on SQLite only once it has written (the driver begins the transaction at
    the first write: reads before it take no lock), or for an in-memory database."""
    if conn.dialect.name != "sqlite" or conn.engine.url.database in (None, "", ":memory:"):
        return True
    return bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]


def lookup(conn: Connection, table: Table, key: Sequence[str], keys: Iterable[tuple[Any, ...]],
           columns: Sequence[str]) -> list[Row[Any]]:
    """The ``columns`` of the rows of ``table`` whose ``key`` is one of ``keys``: one query,
    each key probed through the table's index on it, whatever the history.

    On PostgreSQL a join with the keys as one array per key column (``unnest``): the text
    stays the same whatever the batch (prepared once), and the planner probes the index for
    each key. Long ``IN`` lists let it read every row of the site instead (every event of
    it, on a table it had no statistics for yet), and a VALUES list of 10,000 keys took
    seconds to render. On SQLite, in-process, ``IN`` lists of each key column's values read
    as JSON, and the rows not asked for are dropped."""
    keys = set(keys)
    if not keys:
        return []
    if conn.dialect.name == "postgresql":
        sql = postgresql_lookup(conn.dialect, table, tuple(key), tuple(columns))
        return list(conn.exec_driver_sql(sql, tuple(array_literal(k[n] for k in keys) for n in range(len(key)))))
    params = {f"k{n}": json.dumps([v.isoformat() if isinstance(v, date) else v for v in {k[n] for k in keys}])
              for n in range(len(key))}
    asked = itemgetter(*(list(columns).index(c) for c in key))  # the key of a row, as a tuple (two columns or more)
    return [r for r in conn.execute(sqlite_lookup(table, tuple(key), tuple(columns)), params) if asked(r) in keys]


@lru_cache(maxsize=256)  # per dialect (an engine's), table and columns
def postgresql_lookup(dialect: Dialect, table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """``lookup``'s statement on PostgreSQL, written once."""
    quote = dialect.identifier_preparer.quote
    return (f"SELECT {', '.join(f't.{quote(c)}' for c in columns)} FROM unnest({arrays(dialect, table, key)}) "
            f"AS w({', '.join(map(quote, key))}) JOIN {quote(table.name)} t ON "
            + " AND ".join(f"t.{quote(c)} = w.{quote(c)}" for c in key))


@lru_cache(maxsize=None)
def sqlite_lookup(table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> TextualSelect:
    """``lookup``'s query on SQLite, built once: one JSON list parameter per key column
    (``k0``, ``k1``...), and ``columns`` typed as the table's (dates read back as dates).
    Building and compiling it as an expression for every batch cost a tenth of a small
    batch's time."""
    where = " AND ".join(f'"{name}" IN (SELECT value FROM json_each(:k{n}))' for n, name in enumerate(key))
    selected = ", ".join(f'"{name}"' for name in columns)
    sql = f'SELECT {selected} FROM "{table.name}" WHERE {where}'
    return text(sql).columns(*(table.c[c] for c in columns))


def arrays(dialect: Dialect, table: Table, names: Sequence[str]) -> str:
    """The statement's parameters for ``names``: one array per column, cast to its type."""
    return ", ".join(f"%s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names)


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of ``values``, all of one type, for the statement to cast
    (``%s::date[]``). Written here because psycopg adapts a list element by element in
    Python, with a regular expression each, which cost more than the rest of a batch's
    lookups together; here numbers and ISO dates go as they are, and text is quoted.

    Text without a quote or a backslash (nearly all of it) is quoted whole, and each distinct
    date is written once: element by element, building the literals was a tenth of the
    aggregator's CPU."""
    listed = list(values)
    if not listed:
        return "{}"
    sample = next((v for v in listed if v is not None), 0)
    if isinstance(sample, str):
        try:
            joined: str | None = '","'.join(listed)
        except TypeError:  # a NULL (or a value not text) among them: each quoted below
            joined = None
        if joined is not None and "\\" not in joined and joined.count('"') == 2 * (len(listed) - 1):
            return '{"' + joined + '"}'  # the separators' quotes were the only ones
        items = ["NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                 for v in listed]
    elif isinstance(sample, date):  # and date-times: ISO 8601 with the offset; a batch's days repeat
        texts = {v: "NULL" if v is None else v.isoformat() for v in set(listed)}
        items = [texts[v] for v in listed]
    else:
        items = ["NULL" if v is None else str(v) for v in listed]
    return "{" + ",".join(items) + "}"


class Statement(NamedTuple):
    """One write as the driver takes it: its text and its parameters (a list of rows for
    an executemany)."""

    sql: str
    params: Any


def insert_statement(dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str] = (),
                     added: Sequence[str] = (), replaced: Sequence[str] = ()) -> Statement | None:
    """The insert of ``rows`` (dicts with the same keys) in one statement, or None for no
    rows; on a conflict on ``key``, it adds the ``added`` columns to the stored row and
    overwrites the ``replaced`` ones, or else (no ``key``) keeps the stored row.

    On PostgreSQL the rows go as one array per column (``INSERT ... SELECT FROM unnest``):
    one round trip, and a statement text that does not change with the number of rows, so
    the server prepares it once. On SQLite, in-process, an executemany of the values as
    SQLAlchemy stores them (``sqlite_rows``), without its per-row processing (a third of
    the batch's time in a profile)."""
    if not rows:
        return None
    names = tuple(rows[0])
    sql = insert_sql(dialect, table, names, tuple(key), tuple(added), tuple(replaced))
    if dialect.name == "postgresql":
        return Statement(sql, tuple(array_literal(row[name] for row in rows) for name in names))
    return Statement(sql, sqlite_rows(table, names, rows))


@lru_cache(maxsize=256)
def insert_sql(dialect: Dialect, table: Table, names: tuple[str, ...], key: tuple[str, ...], added: tuple[str, ...],
               replaced: tuple[str, ...]) -> str:
    """``insert_statement``'s text, written once for each table and columns."""
    quote = dialect.identifier_preparer.quote
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "
    if dialect.name == "postgresql":
        sql += f"SELECT * FROM unnest({arrays(dialect, table, names)})"
    else:
        sql += f"VALUES ({', '.join('?' for _ in names)})"
    if key:
        sets = [f"{quote(c)} = {quote(table.name)}.{quote(c)} + excluded.{quote(c)}" for c in added] + \
               [f"{quote(c)} = excluded.{quote(c)}" for c in replaced]
        return sql + f" ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET {', '.join(sets)}"
    return sql + " ON CONFLICT DO NOTHING"


@lru_cache(maxsize=None)
def dated(table: Table, names: tuple[str, ...]) -> tuple[int, ...]:
    """The positions in ``names`` of ``table``'s date and date-time columns: the values
    SQLite takes as text (booleans it takes as they are, as integers)."""
    return tuple(n for n, name in enumerate(names) if isinstance(table.c[name].type, (Date, DateTime)))


def sqlite_rows(table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``rows`` as parameters of a SQLite executemany, dates as SQLAlchemy stores them.

    Built column by column: only the date columns are converted, each distinct value once
    (a batch's rows share their day and their counting time)."""
    columns = [[row[name] for row in rows] for name in names]
    for n in dated(table, tuple(names)):
        texts = {value: sqlite_value(value) for value in set(columns[n])}
        columns[n] = [texts[value] for value in columns[n]]
    return list(zip(*columns))


def execute(conn: Connection, statements: Iterable[Statement | None]) -> None:
    """Send prepared writes, in order, on ``conn``."""
    for statement in statements:
        if statement is not None:
            conn.exec_driver_sql(statement.sql, statement.params)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str] = (),
                added: Sequence[str] = (), replaced: Sequence[str] = ()) -> None:
    """Insert ``rows`` at once (``insert_statement``)."""
    execute(conn, [insert_statement(conn.dialect, table, rows, key, added, replaced)])


def sqlite_value(value: Any) -> Any:
    """``value`` as SQLAlchemy stores it on SQLite: UTC date-times and dates as ISO text,
    booleans as 0/1."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value
