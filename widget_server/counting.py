"""Counting a batch of the event log: the decisions and the derived rows, in bulk.

``count_batch`` takes event-log rows in id order and, on the aggregator's connection and
inside its transaction, writes what the beacons mean:

- the page of each share or action (created on first sight), the share code of a share,
  and the event or action row with its status: ``counted``, ``repeat`` (the same visitor,
  the same page and service, or the same share clicked back, the same day), ``bot`` or
  ``self`` (a click on one's own share);
- the day's marks that make those repeat decisions, the ``daily_rollups``, the
  ``daily_uniques`` (with distinct sharers and visitors) and the ``page_totals``;
- the title votes: a page's public title is one more than one distinct reader reported; a
  later title that reaches that replaces the earlier one.

Each kind of row is read once per batch (one ``IN`` query) and written once per batch (one
executemany), so a batch of 500 events costs about fifteen statements. An event id
already counted (a retry that came in another month's partition) is skipped.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Date, Integer, Row, String, Table, and_, column, select, tuple_, update, values

from . import refusals
from .db import dialect_insert
from .ingest import ADDRESS, ADDRESS_CODE
from .models import (actions, daily_marks, daily_rollups, daily_uniques, events, page_totals, pages, share_codes,
                     sites, title_votes)
from .urls import url_hash

ROLLUP_COUNTERS = ("shares", "clickbacks", "bot_shares", "bot_clickbacks", "actions", "action_shares")
UNIQUE_COUNTERS = ROLLUP_COUNTERS + ("sharers", "visitors")
ROLLUP_KEY = ("site_id", "day", "page_id", "service", "referrer", "action")
UNIQUE_KEY = ("site_id", "day", "dim", "value")


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@lru_cache(maxsize=65_536)  # a batch looks each mark up twice: when prefetching, when deciding
def mark_of(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()


@dataclass(frozen=True)
class Share:
    """The share a code names: what was shared where, when and by whom (hashed)."""

    page_id: int
    service: str
    visitor: str | None
    created_at: datetime


@dataclass
class Batch:
    """What one batch reads up front and accumulates before writing."""

    conn: Connection
    now: datetime
    sites: set[int] = field(default_factory=set)
    pages: dict[tuple[int, str], int] = field(default_factory=dict)
    codes: dict[tuple[int, str], Share] = field(default_factory=dict)
    done: set[tuple[int, str]] = field(default_factory=set)
    marks: set[tuple[int, date, str]] = field(default_factory=set)  # marks known to exist
    looked_up: set[tuple[int, date, str]] = field(default_factory=set)  # marks whose existence is known
    new_marks: list[dict[str, Any]] = field(default_factory=list)
    new_codes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    rollups: dict[tuple[Any, ...], Counter[str]] = field(default_factory=dict)
    uniques: dict[tuple[Any, ...], Counter[str]] = field(default_factory=dict)
    totals: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    votes: dict[tuple[int, str], tuple[str, int, date]] = field(default_factory=dict)

    def first_time(self, site_id: int, day: date, *parts: object) -> bool:
        """True the first time this day that this combination is seen for the site."""
        key = (site_id, day, mark_of(*parts))
        if key not in self.looked_up:  # not foreseen by the prefetch (a share of this same batch)
            self.looked_up.add(key)
            query = select(daily_marks.c.mark).where(daily_marks.c.site_id == site_id, daily_marks.c.day == day,
                                                     daily_marks.c.mark == key[2])
            if self.conn.execute(query).first() is not None:
                self.marks.add(key)
        if key in self.marks:
            return False
        self.marks.add(key)
        self.new_marks.append({"site_id": site_id, "day": day, "mark": key[2]})
        return True

    def bump(self, site_id: int, day: date, page: int, service: str, referrer: str, action: str,
             dims: Iterable[tuple[str, str]], counters: Sequence[str], role: str | None = None,
             visitor: str = "") -> None:
        """Add one to ``counters`` in the rollup row and in each dim's row of the day, and to
        ``role`` (sharers, visitors) where this visitor is new today for that dim value."""
        self.rollups.setdefault((site_id, day, page, service, referrer, action), Counter()).update(counters)
        for dim, value in dims:
            added = list(counters)
            if role and self.first_time(site_id, day, role, dim, value, visitor):
                added.append(role)
            self.uniques.setdefault((site_id, day, dim, value), Counter()).update(added)


def count_batch(conn: Connection, rows: Sequence[Row[Any]], now: datetime) -> None:
    """Count ``rows`` (event-log rows, in id order) into the derived tables."""
    batch = Batch(conn, now)
    prefetch(batch, rows)
    for row in rows:
        if row.site_id not in batch.sites or (row.site_id, row.event_id) in batch.done:
            continue
        batch.done.add((row.site_id, row.event_id))
        if row.type == "share":
            count_share(batch, row)
        elif row.type == "clickback":
            count_clickback(batch, row)
        else:
            count_action(batch, row)
    write(batch)


# -- reading what a batch needs ----------------------------------------------------------


def prefetch(batch: Batch, rows: Sequence[Row[Any]]) -> None:
    conn = batch.conn
    site_ids = {row.site_id for row in rows}
    batch.sites = set(conn.scalars(select(sites.c.id).where(sites.c.id.in_(site_ids))))
    if not batch.sites:
        return
    ids = {row.event_id for row in rows}
    for table in (events, actions):
        found = select(table.c.site_id, table.c.event_id).where(table.c.site_id.in_(batch.sites),
                                                                table.c.event_id.in_(ids))
        batch.done.update((int(r.site_id), str(r.event_id)) for r in conn.execute(found))
    codes = {row.code for row in rows if row.code}
    if codes:
        query = select(share_codes).where(share_codes.c.site_id.in_(batch.sites), share_codes.c.code.in_(codes))
        for r in conn.execute(query):
            batch.codes[(r.site_id, r.code)] = Share(int(r.page_id), str(r.service), r.visitor, utc(r.created_at))
    load_pages(batch, {(row.site_id, row.url) for row in rows if row.site_id in batch.sites})
    load_marks(batch, rows)


def load_pages(batch: Batch, wanted: set[tuple[int, str]]) -> None:
    """Page ids by (site, url hash), creating the pages not seen before (without a title:
    titles come from the votes)."""
    keys = {(site_id, url_hash(url)): url for site_id, url in wanted}
    if not keys:
        return
    query = select(pages.c.id, pages.c.site_id, pages.c.url_hash).where(
        pages.c.site_id.in_({k[0] for k in keys}), pages.c.url_hash.in_({k[1] for k in keys}))
    batch.pages = {(r.site_id, r.url_hash): int(r.id) for r in batch.conn.execute(query)}
    missing = [{"site_id": s, "url": keys[(s, h)], "url_hash": h, "title": None, "created_at": batch.now}
               for s, h in keys if (s, h) not in batch.pages]
    if missing:
        batch.conn.execute(dialect_insert(batch.conn, pages).on_conflict_do_nothing(), missing)
        batch.pages = {(r.site_id, r.url_hash): int(r.id) for r in batch.conn.execute(query)}


def load_marks(batch: Batch, rows: Sequence[Row[Any]]) -> None:
    """Which of the marks this batch may look up exist already: one query."""
    wanted: set[tuple[int, date, str]] = set()
    for row in rows:
        if row.site_id in batch.sites:
            day = utc(row.created_at).date()
            wanted.update((row.site_id, day, mark) for mark in candidate_marks(batch, row))
    if not wanted:
        return
    found: set[tuple[int, date, str]] = set()
    listed = list(wanted)
    for start in range(0, len(listed), MARKS_PER_QUERY):
        found.update(existing_marks(batch.conn, listed[start:start + MARKS_PER_QUERY]))
    batch.marks = found & wanted
    batch.looked_up = wanted


MARKS_PER_QUERY = 5000


def existing_marks(conn: Connection, wanted: list[tuple[int, date, str]]) -> set[tuple[int, date, str]]:
    """Which of ``wanted`` are in ``daily_marks``. On PostgreSQL a join with the list as VALUES:
    a long ``IN`` list becomes a filter run against every mark of the day (all of a batch's
    marks share the site and day), minutes for a busy day; the join probes the index."""
    M = daily_marks.c
    if conn.dialect.name == "postgresql":
        listed = values(column("site_id", Integer), column("day", Date), column("mark", String),
                        name="wanted").data(wanted)
        query = select(M.site_id, M.day, M.mark).join(
            listed, and_(M.site_id == listed.c.site_id, M.day == listed.c.day, M.mark == listed.c.mark))
    else:
        query = select(M.site_id, M.day, M.mark).where(
            M.site_id.in_({w[0] for w in wanted}), M.day.in_({w[1] for w in wanted}), M.mark.in_({w[2] for w in wanted}))
    return {(int(r.site_id), r.day, str(r.mark)) for r in conn.execute(query)}


def candidate_marks(batch: Batch, row: Row[Any]) -> list[str]:
    """Every mark counting ``row`` may look up (a superset is fine: only existence matters)."""
    page = batch.pages.get((row.site_id, url_hash(row.url)))
    share = batch.codes.get((row.site_id, row.code)) if row.code else None
    pages_of_row = {str(p) for p in (page, share.page_id if share else None) if p is not None}
    parts: list[tuple[object, ...]] = [("share", page, row.service, row.visitor),
                                       ("clickback", row.code, row.visitor), ("action", page, row.verb, row.visitor)]
    if row.title:
        parts.append(("title", page, mark_of(row.title), row.visitor))
    dims = [("", "")] + [("page", p) for p in pages_of_row] + [("platform", row.service or ""),
                                                              ("platform", share.service if share else ""),
                                                              ("action", row.verb or ""), ("action", ""),
                                                              ("referrer", row.referrer or "")]
    for role in ("sharers", "visitors"):
        parts.extend((role, dim, value, row.visitor) for dim, value in dims)
    return [mark_of(*p) for p in parts]


# -- decisions ------------------------------------------------------------------------------


def event_row(row: Row[Any], page: int, service: str, status: str, now: datetime, **extra: Any) -> dict[str, Any]:
    created = utc(row.created_at)
    return {"site_id": row.site_id, "event_id": row.event_id, "type": row.type, "service": service,
            "page_id": page, "day": created.date(), "created_at": created, "status": status,
            "visitor": row.visitor, "code": row.code, "referrer": None, "age_seconds": None, "counted_at": now,
            **extra}


def count_share(batch: Batch, row: Row[Any]) -> None:
    page = batch.pages[(row.site_id, url_hash(row.url))]
    day, site, verb = utc(row.created_at).date(), row.site_id, row.verb or ""
    if row.code and (site, row.code) not in batch.codes:
        share = Share(page, row.service, row.visitor, utc(row.created_at))
        batch.codes[(site, row.code)] = share
        batch.new_codes.append({"site_id": site, "code": row.code, "page_id": page, "service": row.service,
                                "visitor": row.visitor, "created_at": share.created_at})
    dims = [("", ""), ("page", str(page)), ("platform", row.service), ("action", verb)]
    if row.bot:
        status = "bot"
        batch.bump(site, day, page, row.service, "", verb, dims, ["bot_shares"])
    elif not batch.first_time(site, day, "share", page, row.service, row.visitor):
        status = "repeat"
        refusals.count(batch.conn, site, day, refusals.REPEAT)
    else:
        status = "counted"
        counters = ["shares", "action_shares"] if row.verb else ["shares"]
        batch.bump(site, day, page, row.service, "", verb, dims, counters, "sharers", row.visitor)
        batch.totals[(site, url_hash(row.url), row.service)] += 1
    vote_title(batch, row, page, day)
    batch.events.append(event_row(row, page, row.service, status, batch.now))


AGE_BUCKETS = ((0, "0"), (1, "1"), (7, "2-7"), (30, "8-30"))  # (up to days, bucket); then "31+"


def age_bucket(seconds: int) -> str:
    """The long-tail bucket of a click-back: whole days from its share to it."""
    days = seconds // 86400
    return next((bucket for limit, bucket in AGE_BUCKETS if days <= limit), "31+")


def count_clickback(batch: Batch, row: Row[Any]) -> None:
    site, created = row.site_id, utc(row.created_at)
    share = batch.codes.get((site, row.code))
    if share is None and row.address_bar:
        share = address_share(batch, row)
    if share is None:
        return  # the request refused unknown codes; a share deleted since is not counted
    day, referrer = created.date(), row.referrer or ""
    age = max(0, int((created - share.created_at).total_seconds()))
    dims = [("", ""), ("page", str(share.page_id)), ("platform", share.service), ("referrer", referrer),
            ("action", ""), ("age", age_bucket(age))]
    if row.bot:
        status = "bot"
        batch.bump(site, day, share.page_id, share.service, referrer, "", dims, ["bot_clickbacks"])
    elif row.visitor == share.visitor:
        status = "self"
    elif not batch.first_time(site, day, "clickback", row.code, row.visitor):
        status = "repeat"
        refusals.count(batch.conn, site, day, refusals.REPEAT)
    else:
        status = "counted"
        batch.bump(site, day, share.page_id, share.service, referrer, "", dims, ["clickbacks"], "visitors",
                   row.visitor)
    batch.events.append(event_row(row, share.page_id, share.service, status, batch.now,
                                  referrer=row.referrer, age_seconds=age))


def address_share(batch: Batch, row: Row[Any]) -> Share | None:
    """Register, on its first click-back, a link the widget tagged in the address bar.

    The code carries the time of tagging (base 36 seconds) so the click-back's age is known.
    """
    match = ADDRESS_CODE.match(row.code)
    if match is None:
        return None
    now = utc(row.created_at)
    tagged = datetime.fromtimestamp(int(match.group(1), 36), timezone.utc)
    if not now - timedelta(days=400) <= tagged <= now + timedelta(minutes=5):
        tagged = now
    page = batch.pages[(row.site_id, url_hash(row.url))]
    share = Share(page, ADDRESS, None, min(tagged, now))
    batch.codes[(row.site_id, row.code)] = share
    batch.new_codes.append({"site_id": row.site_id, "code": row.code, "page_id": page, "service": ADDRESS,
                            "visitor": None, "created_at": share.created_at})
    return share


def count_action(batch: Batch, row: Row[Any]) -> None:
    """A like-and-share action: counted (and in the feed) once per visitor, page, verb and
    day, never for bots."""
    page = batch.pages[(row.site_id, url_hash(row.url))]
    created = utc(row.created_at)
    day, site = created.date(), row.site_id
    if row.bot:
        status = "bot"
    elif not batch.first_time(site, day, "action", page, row.verb, row.visitor):
        status = "repeat"
    else:
        status = "counted"
        dims = [("", ""), ("page", str(page)), ("action", row.verb)]
        batch.bump(site, day, page, "", "", row.verb, dims, ["actions"])
    vote_title(batch, row, page, day)
    batch.actions.append({"site_id": site, "event_id": row.event_id, "verb": row.verb, "page_id": page,
                          "actor_uid": row.actor_uid, "actor_name": row.actor_name,
                          "actor_avatar": row.actor_avatar, "visitor": row.visitor, "status": status,
                          "day": day, "created_at": created})


def vote_title(batch: Batch, row: Row[Any], page: int, day: date) -> None:
    """One vote per reader (visitor hash) and day for the title their browser reported."""
    if not row.title or row.bot:
        return
    digest = mark_of(row.title)
    if batch.first_time(row.site_id, day, "title", page, digest, row.visitor):
        _, readers, _ = batch.votes.get((page, digest), (row.title, 0, day))
        batch.votes[(page, digest)] = (row.title, readers + 1, day)


# -- writing --------------------------------------------------------------------------------


def write(batch: Batch) -> None:
    conn = batch.conn
    for table, rows in ((daily_marks, batch.new_marks), (share_codes, batch.new_codes), (events, batch.events),
                        (actions, batch.actions)):
        if rows:
            conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)
    add_up(conn, daily_rollups, ROLLUP_KEY, ROLLUP_COUNTERS, batch.rollups)
    add_up(conn, daily_uniques, UNIQUE_KEY, UNIQUE_COUNTERS, batch.uniques)
    totals = {key: Counter({"shares": n}) for key, n in batch.totals.items()}
    add_up(conn, page_totals, ("site_id", "url_hash", "service"), ("shares",), totals)
    write_votes(batch)


def add_up(conn: Connection, table: Table, key: Sequence[str], counters: Sequence[str],
           rows: dict[tuple[Any, ...], Counter[str]]) -> None:
    """Add each row's counters to ``table`` (rows created at zero), in one executemany."""
    if not rows:
        return
    insert = dialect_insert(conn, table)
    upsert = insert.on_conflict_do_update(index_elements=list(key),
                                          set_={c: table.c[c] + insert.excluded[c] for c in counters})
    params = [{**dict(zip(key, k)), **{c: added[c] for c in counters}} for k, added in rows.items()]
    conn.execute(upsert, params)


def write_votes(batch: Batch) -> None:
    """Add the batch's votes; a title that reaches two readers now becomes its page's title."""
    if not batch.votes:
        return
    conn, insert = batch.conn, dialect_insert(batch.conn, title_votes)
    upsert = insert.on_conflict_do_update(
        index_elements=["page_id", "title_hash"],
        set_={"readers": title_votes.c.readers + insert.excluded.readers, "last_day": insert.excluded.last_day})
    conn.execute(upsert, [{"page_id": page, "title_hash": digest, "title": title, "readers": n, "last_day": day}
                          for (page, digest), (title, n, day) in batch.votes.items()])
    query = select(title_votes.c.page_id, title_votes.c.title_hash, title_votes.c.readers).where(
        tuple_(title_votes.c.page_id, title_votes.c.title_hash).in_(list(batch.votes)))
    for r in conn.execute(query):
        title, added, _ = batch.votes[(int(r.page_id), str(r.title_hash))]
        if r.readers >= 2 > r.readers - added:
            conn.execute(update(pages).where(pages.c.id == r.page_id).values(title=title))
