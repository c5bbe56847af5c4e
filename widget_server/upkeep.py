"""What the aggregator does besides counting, every minute: never inside a request.

- the salts of today and tomorrow exist before any request needs them (a request only
  creates one if the aggregator is behind), and older salts and day marks are deleted;
- each site's ``retention_days`` is applied to its actions;
- the event log keeps ``EVENT_LOG_MONTHS`` months: on PostgreSQL its monthly partitions are
  created three months ahead and old ones dropped whole; on SQLite old rows are deleted.
  Only months the aggregator has counted entirely go. The counting decisions (``events``, a
  row a counted beacon) go with their months: their counts stay in the rollups and totals.
- title votes that never reached two readers are forgotten after 30 days.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Engine, and_, delete, select, text

from . import feeds, visitors
from .models import aggregator_state, event_log, events, title_votes

MONTHS_AHEAD = 3
VOTE_DAYS = 30


def run(engine: Engine, config: dict[str, Any], today: date) -> None:
    for day in (today, today + timedelta(days=1)):
        visitors.daily_salt(engine, day)
    with engine.begin() as conn:
        visitors.forget_before(conn, today - timedelta(days=visitors.KEEP_DAYS - 1))
        feeds.prune_all(conn, today)
        conn.execute(delete(title_votes).where(title_votes.c.readers < 2,
                                               title_votes.c.last_day < today - timedelta(days=VOTE_DAYS)))
    keep = int(config.get("EVENT_LOG_MONTHS") or 0)
    before = add_months(today.replace(day=1), -keep)  # the first month kept
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ensure_partitions(conn, today)
            if keep:
                drop_partitions(conn, before)
        elif keep:
            delete_months(conn, before)
    if keep:  # a transaction of its own: dropping a partition locks the whole log until its commit
        with engine.begin() as conn:
            forget_decisions(conn, before)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"event_log_p{month:%Y%m}"


def ensure_partitions(conn: Connection, today: date) -> None:
    """This month's partition and the next ``MONTHS_AHEAD`` ones."""
    for n in range(MONTHS_AHEAD + 1):
        start = add_months(today.replace(day=1), n)
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF event_log "
                          f"FOR VALUES FROM ('{start}') TO ('{add_months(start, 1)}')"))


def partitions(conn: Connection) -> list[str]:
    """The names of ``event_log``'s partitions, oldest first."""
    query = text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'event_log' "
                 "AND pg_catalog.pg_table_is_visible(p.oid) ORDER BY c.relname")
    return [str(name) for name in conn.scalars(query)]


def counted_up_to(conn: Connection) -> int:
    """The highest id below which every event is counted (the watermark, less any gap)."""
    row = conn.execute(select(aggregator_state.c.watermark, aggregator_state.c.gaps)).first()
    if row is None:
        return 0
    gaps = [int(i) for i, _ in row.gaps]
    return min([int(row.watermark), *(i - 1 for i in gaps)])


def oldest_before(conn: Connection, column: Column[date], before: date) -> bool:
    """Whether the oldest row of ``column``'s table (the lowest id, read through the key) has
    ``column`` before ``before``.

    The tables deleted by date below have no index on it, so their deletes read every row; run
    only when this holds, they run about once a month instead of every minute."""
    oldest = conn.scalar(select(column).order_by(column.table.c.id).limit(1))
    return oldest is not None and oldest < before


def delete_months(conn: Connection, before: date) -> None:
    """SQLite: delete the counted events of months before ``before`` (holding the database's
    write lock while the delete reads every counted event: see ``oldest_before``)."""
    if oldest_before(conn, event_log.c.month, before):
        conn.execute(delete(event_log).where(and_(event_log.c.month < before, event_log.c.id <= counted_up_to(conn))))


def forget_decisions(conn: Connection, before: date) -> None:
    """Delete the counting decisions (``events``) of days before ``before`` (see
    ``oldest_before``). Ids follow the order of counting, which is the order of arrival but
    for events counted late, within seconds of it: a row left by that goes with the next
    month's."""
    if oldest_before(conn, events.c.day, before):
        conn.execute(delete(events).where(events.c.day < before))


def drop_partitions(conn: Connection, before: date) -> list[str]:
    """Drop whole partitions of months before ``before`` whose events are all counted."""
    counted, dropped = counted_up_to(conn), []
    for name in partitions(conn):
        if name >= partition_name(before):
            break
        highest = conn.scalar(text(f"SELECT max(id) FROM {name}"))
        if highest is None or int(highest) <= counted:
            conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped
