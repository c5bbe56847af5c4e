"""Counting a batch of the event log: the decisions and the derived rows, in bulk.

``count_batch`` takes event-log rows in id order and, on the aggregator's connection and
inside its transaction, writes what the beacons mean:

- the page of each share or action (created on first sight), the share code of a share,
  and the event or action row with its status: ``counted``, ``repeat`` (the same visitor,
  the same page and service, or the same share clicked back, the same day), ``bot`` or
  ``self`` (a click on one's own share);
- the day's marks that make those repeat decisions (a visitor's as tokens in one row of
  ``visitor_marks``, see ``Batch.first_time``), the ``daily_rollups``, the
  ``daily_uniques`` (with distinct sharers and visitors) and the ``page_totals``;
- the title votes: a page's public title is one more than one distinct reader reported; a
  later title that reaches that replaces the earlier one.

Each kind of row is read once per batch (``lookup``) and written once per batch
(``insert_statement``), so a batch costs the same twenty-odd statements whatever its
events: the marks any decision may ask about are foreseen and read up front, repeats are
counted together, nothing goes to the database one event at a time. Everything is read,
decided and converted for the driver before the first write, the writes go out back to
back, so on SQLite the database's one write lock, which beacons wait for, is held only
while the batch's rows are written. An event id already counted (a retry that came in
another month's partition) is skipped.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, select

from . import refusals
from .bulk import Statement, execute, insert_rows, insert_statement, lookup, writing
from .groups import pause
from .ingest import ADDRESS, ADDRESS_CODE
from .models import (actions, daily_marks, daily_rollups, daily_uniques, events, page_totals, pages, share_codes,
                     sites, title_votes, visitor_marks)
from .models import refusals as refusals_table
from .urls import url_hash

# Events decided between two pauses (``groups.pause``), about 3 ms of CPU: the aggregator
# elected in a gevent worker of the server is a greenlet of that worker, which serves no
# request while a batch is decided unless it is given the worker back.
PAUSE_EVERY = 50
ROLLUP_COUNTERS = ("shares", "clickbacks", "bot_shares", "bot_clickbacks", "actions", "action_shares")
UNIQUE_COUNTERS = ROLLUP_COUNTERS + ("sharers", "visitors")
ROLLUP_KEY = ("site_id", "day", "page_id", "service", "referrer", "action")
UNIQUE_KEY = ("site_id", "day", "dim", "value")


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def digest(*parts: object) -> str:
    """40 hex digits naming ``parts``: a title's hash, and a mark's, whose token and ``daily_marks``
    rows are cut from it (``Batch.first_time``)."""
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()


# A mark is a token of 12 digits (48 bits: two of one visitor's day never meet) in the visitor's
# row of the day, for the first MAX_TOKENS of them: an event's six or so marks are one row read
# and written per visitor of a batch, where they were six index entries of ``daily_marks``
# (two thirds of the aggregator's CPU under load). A visitor past that (a whole office behind
# one address, a script) goes on in ``daily_marks``, a row a mark, so that no row grows
# without bound and none is rewritten at length in every batch.
TOKEN_LENGTH = 12
MAX_TOKENS = 256  # 3 KB a row at most
# ``daily_marks`` rows: ``w``, the visitor hash's first 11 digits, then 28 of the digest (the
# visitor first, so one visitor's marks sit side by side in the index). Releases before 0009
# wrote every mark there, ``v`` and the same (before visitor keys: the 40 digits alone, all
# below "g"); each day keeps its marks two days (``visitors.forget_before``), so on the days of
# an upgrade the marks are looked up in every form.
SPILL_PREFIX = "w"
EARLIER_BELOW = "w"  # marks below this one an earlier release wrote


def spill_mark(digested: str, visitor: str) -> str:
    """The ``daily_marks`` row of a mark past the visitor's tokens."""
    return f"{SPILL_PREFIX}{visitor[:11]}{digested[:28]}"


def earlier_marks(digested: str, visitor: str) -> list[str]:
    """The ``daily_marks`` rows releases before 0009 wrote for the same mark."""
    return [f"v{visitor[:11]}{digested[:28]}", digested]


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
    hashes: dict[str, str] = field(default_factory=dict)  # url -> url_hash, each computed once
    pages: dict[tuple[int, str], int] = field(default_factory=dict)
    codes: dict[tuple[int, str], Share] = field(default_factory=dict)
    done: set[tuple[int, str]] = field(default_factory=set)
    tokens: dict[tuple[int, date, str], set[str]] = field(default_factory=dict)  # (site, day, visitor) -> tokens
    changed: set[tuple[int, date, str]] = field(default_factory=set)  # whose tokens the batch added to
    marks: set[tuple[int, date, str]] = field(default_factory=set)  # daily_marks rows known to exist
    looked_up: set[tuple[int, date, str]] = field(default_factory=set)  # daily_marks rows whose existence is known
    earlier: set[tuple[int, date]] = field(default_factory=set)  # (site, day) holding an earlier release's marks
    new_marks: list[dict[str, Any]] = field(default_factory=list)
    new_codes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    rollups: dict[tuple[Any, ...], dict[str, int]] = field(default_factory=dict)
    uniques: dict[tuple[Any, ...], dict[str, int]] = field(default_factory=dict)
    totals: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    repeats: Counter[tuple[int, date, str]] = field(default_factory=Counter)  # (site, day, reason)
    votes: dict[tuple[int, str], tuple[str, int, date]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # title -> its digest, each computed once

    def page(self, row: Row[Any]) -> int:
        """The page id of ``row``'s URL (read or created by ``load_pages``)."""
        return self.pages[(row.site_id, self.hashes[row.url])]

    def title_digest(self, title: str) -> str:
        """``digest(title)``: readers of one page report its title again and again."""
        found = self.titles.get(title)
        if found is None:
            found = self.titles[title] = digest(title)
        return found

    def first_time(self, site_id: int, day: date, *parts: object) -> bool:
        """True the first time this day that this combination is seen for the site: its token
        is not in the visitor's row, nor (past the visitor's tokens, or on the day of an
        upgrade) its row in ``daily_marks``. The mark's digest is cut from ``parts``, whose
        last is always the visitor."""
        visitor = str(parts[-1])
        who = (site_id, day, visitor)
        tokens = self.tokens.get(who)
        if tokens is None:  # not foreseen by the prefetch (never expected: a safety net)
            tokens = self.tokens[who] = visitors_tokens(self.conn, {who})[who]
        digested = digest(*parts)
        token = digested[:TOKEN_LENGTH]
        if token in tokens:
            return False
        full, earlier = len(tokens) >= MAX_TOKENS, (site_id, day) in self.earlier
        if full or earlier:
            keys = [(site_id, day, mark) for mark in marks_of(digested, visitor, earlier)]
            unknown = [key for key in keys if key not in self.looked_up]
            if unknown:  # a visitor who filled their row in this batch
                self.looked_up.update(unknown)
                self.marks.update(existing_marks(self.conn, set(unknown)))
            if any(key in self.marks for key in keys):
                return False
        if full:
            mark = spill_mark(digested, visitor)
            self.marks.add((site_id, day, mark))
            self.new_marks.append({"site_id": site_id, "day": day, "mark": mark})
        else:
            tokens.add(token)
            self.changed.add(who)
        return True

    def bump(self, site_id: int, day: date, page: int, service: str, referrer: str, action: str,
             dims: Iterable[tuple[str, str]], counters: Sequence[str], role: str | None = None,
             visitor: str = "") -> None:
        """Add one to ``counters`` in the rollup row and in each dim's row of the day, and to
        ``role`` (sharers, visitors) where this visitor is new today for that dim value."""
        add(self.rollups, (site_id, day, page, service, referrer, action), counters)
        for dim, value in dims:
            row = add(self.uniques, (site_id, day, dim, value), counters)
            if role and self.first_time(site_id, day, role, dim, value, visitor):
                row[role] = row.get(role, 0) + 1


def add(rows: dict[tuple[Any, ...], dict[str, int]], key: tuple[Any, ...], counters: Sequence[str]) -> dict[str, int]:
    """One more in each of ``counters`` of the row ``key`` (made at zero); returns the row.
    Plain dicts: a Counter's missing key goes through a Python method."""
    row = rows.get(key)
    if row is None:
        row = rows[key] = {}
    for name in counters:
        row[name] = row.get(name, 0) + 1
    return row


def count_batch(conn: Connection, rows: Sequence[Row[Any]], now: datetime,
                plain: set[tuple[int, date]] | None = None) -> None:
    """Count ``rows`` (event-log rows, in id order) into the derived tables. ``plain``: the
    (site, day) known to hold no marks of an earlier release, which this adds to (see ``earlier_days``)."""
    batch = Batch(conn, now)
    prefetch(batch, rows, set() if plain is None else plain)
    for n, row in enumerate(rows):
        if n % PAUSE_EVERY == 0:
            pause()
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


SITES = select(sites.c.id).where(sites.c.id.in_(bindparam("ids", expanding=True)))  # built once
HELD_SITES = SITES.with_for_update(key_share=True)  # SQLite has no row locks: a plain read there


class Raced(Exception):
    """Another counter moved the watermark while this one decided its batch, or a site of
    the batch was deleted meanwhile; the batch's transaction is rolled back and the step is
    taken again from the new watermark (without the deleted site's events)."""


def prefetch(batch: Batch, rows: Sequence[Row[Any]], plain: set[tuple[int, date]]) -> None:
    conn = batch.conn
    site_ids = {row.site_id for row in rows}
    batch.sites = set(conn.scalars(SITES, {"ids": list(site_ids)}))
    if not batch.sites:
        return
    ids = {(row.site_id, row.event_id) for row in rows if row.site_id in batch.sites}
    for table in (events, actions):
        batch.done.update((int(r.site_id), str(r.event_id))
                          for r in lookup(conn, table, ("site_id", "event_id"), ids, ("site_id", "event_id")))
    codes = {(row.site_id, row.code) for row in rows if row.code and row.site_id in batch.sites}
    for r in lookup(conn, share_codes, ("site_id", "code"), codes,
                    ("site_id", "code", "page_id", "service", "visitor", "created_at")):
        batch.codes[(r.site_id, r.code)] = Share(int(r.page_id), str(r.service), r.visitor, utc(r.created_at))
    urls = {(row.site_id, row.url) for row in rows if row.site_id in batch.sites}
    batch.hashes = {url: url_hash(url) for url in {url for _, url in urls}}
    load_pages(batch, urls)
    load_marks(batch, rows, plain)


def load_pages(batch: Batch, wanted: set[tuple[int, str]]) -> None:
    """Page ids by (site, url hash), creating the pages not seen before (without a title:
    titles come from the votes).

    On SQLite the new pages are committed on their own, before the batch writes anything:
    the first write of a transaction takes the database's one write lock until its commit,
    and a beacon's commit waits for it meanwhile; taken here, the lock would be held while
    the whole batch is decided. A page committed without its first count is harmless (the
    next step counts it)."""
    keys = {(site_id, batch.hashes[url]): url for site_id, url in wanted}
    columns = ("id", "site_id", "url_hash")
    found = lookup(batch.conn, pages, ("site_id", "url_hash"), keys, columns)
    batch.pages = {(r.site_id, r.url_hash): int(r.id) for r in found}
    missing = [k for k in keys if k not in batch.pages]
    if missing:
        created = [{"site_id": s, "url": keys[(s, h)], "url_hash": h, "title": None, "created_at": batch.now}
                   for s, h in missing]
        if writing(batch.conn):
            insert_rows(batch.conn, pages, created)
        else:  # SQLite, nothing written yet: commit the pages alone, without taking the write lock for the batch
            with batch.conn.engine.begin() as other:
                insert_rows(other, pages, created)
        found = lookup(batch.conn, pages, ("site_id", "url_hash"), missing, columns)
        batch.pages.update({(r.site_id, r.url_hash): int(r.id) for r in found})


def load_marks(batch: Batch, rows: Sequence[Row[Any]], plain: set[tuple[int, date]]) -> None:
    """The tokens of the batch's visitors (one query), and the ``daily_marks`` rows the batch
    may look up (one more, for visitors past their tokens and on the days of an upgrade).
    Bots decide nothing by marks."""
    counted = [(row, utc(row.created_at).date()) for row in rows if row.site_id in batch.sites and not row.bot]
    batch.tokens = visitors_tokens(batch.conn, {(row.site_id, day, row.visitor) for row, day in counted})
    days = {(row.site_id, day) for row, day in counted} - plain
    batch.earlier = earlier_days(batch.conn, days)
    plain.update(days - batch.earlier)
    slow = [(row, day) for row, day in counted
            if (row.site_id, day) in batch.earlier or len(batch.tokens[(row.site_id, day, row.visitor)]) >= MAX_TOKENS]
    wanted: set[tuple[int, date, str]] = set()
    if slow:
        predicted = predicted_shares(batch, rows)
        for row, day in slow:
            earlier = (row.site_id, day) in batch.earlier
            wanted.update((row.site_id, day, mark) for parts in candidate_marks(batch, row, predicted)
                          for mark in marks_of(digest(*parts), row.visitor, earlier))
    if wanted:
        batch.marks = existing_marks(batch.conn, wanted)
    batch.looked_up = wanted


def visitors_tokens(conn: Connection, wanted: set[tuple[int, date, str]]) -> dict[tuple[int, date, str], set[str]]:
    """The tokens of each (site, day, visitor) of ``wanted`` (an empty set for a visitor new today)."""
    found: dict[tuple[int, date, str], set[str]] = {key: set() for key in wanted}
    for r in lookup(conn, visitor_marks, ("site_id", "day", "visitor"), wanted, ("site_id", "day", "visitor", "tokens")):
        text = str(r.tokens)
        found[(int(r.site_id), r.day, str(r.visitor))] = {text[i:i + TOKEN_LENGTH]
                                                         for i in range(0, len(text), TOKEN_LENGTH)}
    return found


def marks_of(digested: str, visitor: str, earlier: bool) -> list[str]:
    """The ``daily_marks`` rows of a mark: past the visitor's tokens, and on a day of an
    upgrade the forms of the releases before."""
    return [spill_mark(digested, visitor), *(earlier_marks(digested, visitor) if earlier else [])]


def earlier_days(conn: Connection, days: set[tuple[int, date]]) -> set[tuple[int, date]]:
    """Which of these (site, day) hold marks an earlier release wrote: one probe each, at the
    start of the site's and day's marks in their index. The aggregator remembers the answers
    that are no (``aggregate.step``) for as long as no other counter counted in between: only
    a counter of an earlier release, during a rolling upgrade, writes such marks."""
    found = set()
    for site_id, day in days:
        query = select(daily_marks.c.mark).where(daily_marks.c.site_id == site_id, daily_marks.c.day == day,
                                                 daily_marks.c.mark < EARLIER_BELOW).limit(1)
        if conn.execute(query).first() is not None:
            found.add((site_id, day))
    return found


def existing_marks(conn: Connection, wanted: set[tuple[int, date, str]]) -> set[tuple[int, date, str]]:
    """Which of ``wanted`` are in ``daily_marks``."""
    found = lookup(conn, daily_marks, ("site_id", "day", "mark"), wanted, ("site_id", "day", "mark"))
    return {(int(r.site_id), r.day, str(r.mark)) for r in found}


def predicted_shares(batch: Batch, rows: Sequence[Row[Any]]) -> dict[tuple[int, str], Share]:
    """The shares a click-back of this batch may name: stored ones, those of the batch's own
    share rows, and address-bar codes (registered on their first click-back)."""
    predicted = dict(batch.codes)
    for row in rows:
        if row.site_id not in batch.sites or not row.code or (row.site_id, row.code) in predicted:
            continue
        if row.type == "share":
            page = batch.page(row)
            predicted[(row.site_id, row.code)] = Share(page, row.service, row.visitor, utc(row.created_at))
        elif row.type == "clickback" and row.address_bar:
            share = tagged_share(batch, row)
            if share is not None:
                predicted[(row.site_id, row.code)] = share
    return predicted


def candidate_marks(batch: Batch, row: Row[Any], predicted: dict[tuple[int, str], Share]) -> list[tuple[object, ...]]:
    """The parts of every mark counting ``row`` may look up (a superset is fine: only
    existence matters), so that deciding the batch asks the database nothing more."""
    parts: list[tuple[object, ...]] = []
    if row.type == "clickback":
        share = predicted.get((row.site_id, row.code))
        if share is None:
            return []
        parts.append(("clickback", row.code, row.visitor))
        age = max(0, int((utc(row.created_at) - share.created_at).total_seconds()))
        dims = [("", ""), ("page", str(share.page_id)), ("platform", share.service),
                ("referrer", row.referrer or ""), ("action", ""), ("age", age_bucket(age)),
                (f"age:{share.page_id}", age_bucket(age))]
        parts.extend(("visitors", dim, value, row.visitor) for dim, value in dims)
        return parts
    page = batch.page(row)
    if row.title:
        parts.append(("title", page, batch.title_digest(row.title), row.visitor))
    if row.type == "share":
        parts.append(("share", page, row.service, row.visitor))
        dims = [("", ""), ("page", str(page)), ("platform", row.service), ("action", row.verb or "")]
        parts.extend(("sharers", dim, value, row.visitor) for dim, value in dims)
    else:
        parts.append(("action", page, row.verb, row.visitor))
    return parts


# -- decisions ------------------------------------------------------------------------------


def event_row(row: Row[Any], page: int, service: str, status: str, now: datetime, **extra: Any) -> dict[str, Any]:
    created = utc(row.created_at)
    return {"site_id": row.site_id, "event_id": row.event_id, "type": row.type, "service": service,
            "page_id": page, "day": created.date(), "created_at": created, "status": status,
            "visitor": row.visitor, "code": row.code, "referrer": None, "age_seconds": None, "counted_at": now,
            **extra}


def count_share(batch: Batch, row: Row[Any]) -> None:
    page = batch.page(row)
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
        batch.repeats[(site, day, refusals.REPEAT)] += 1
    else:
        status = "counted"
        counters = ["shares", "action_shares"] if row.verb else ["shares"]
        batch.bump(site, day, page, row.service, "", verb, dims, counters, "sharers", row.visitor)
        batch.totals[(site, batch.hashes[row.url], row.service)] += 1
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
            ("action", ""), ("age", age_bucket(age)), (f"age:{share.page_id}", age_bucket(age))]
    if row.bot:
        status = "bot"
        batch.bump(site, day, share.page_id, share.service, referrer, "", dims, ["bot_clickbacks"])
    elif row.visitor == share.visitor:
        status = "self"
    elif not batch.first_time(site, day, "clickback", row.code, row.visitor):
        status = "repeat"
        batch.repeats[(site, day, refusals.REPEAT)] += 1
    else:
        status = "counted"
        batch.bump(site, day, share.page_id, share.service, referrer, "", dims, ["clickbacks"], "visitors",
                   row.visitor)
    batch.events.append(event_row(row, share.page_id, share.service, status, batch.now,
                                  referrer=row.referrer, age_seconds=age))


def address_share(batch: Batch, row: Row[Any]) -> Share | None:
    """Register, on its first click-back, a link the widget tagged in the address bar."""
    share = tagged_share(batch, row)
    if share is not None:
        batch.codes[(row.site_id, row.code)] = share
        batch.new_codes.append({"site_id": row.site_id, "code": row.code, "page_id": share.page_id,
                                "service": ADDRESS, "visitor": None, "created_at": share.created_at})
    return share


def tagged_share(batch: Batch, row: Row[Any]) -> Share | None:
    """The share an address-bar code stands for, or None for a code that is not one.

    The code carries the time of tagging (base 36 seconds) so the click-back's age is known.
    """
    match = ADDRESS_CODE.match(row.code)
    if match is None:
        return None
    now = utc(row.created_at)
    tagged = datetime.fromtimestamp(int(match.group(1), 36), timezone.utc)
    if not now - timedelta(days=400) <= tagged <= now + timedelta(minutes=5):
        tagged = now
    return Share(batch.page(row), ADDRESS, None, min(tagged, now))


def count_action(batch: Batch, row: Row[Any]) -> None:
    """A like-and-share action: counted (and in the feed) once per visitor, page, verb and
    day, never for bots."""
    page = batch.page(row)
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
    title_hash = batch.title_digest(row.title)
    if batch.first_time(row.site_id, day, "title", page, title_hash, row.visitor):
        _, readers, _ = batch.votes.get((page, title_hash), (row.title, 0, day))
        batch.votes[(page, title_hash)] = (row.title, readers + 1, day)


# -- writing --------------------------------------------------------------------------------


def write(batch: Batch) -> None:
    """Every row the batch decided, a statement per table: the only writes of the batch
    besides new pages, all at its end and prepared before the first of them (the title
    votes' read included), so SQLite's write lock is held for these alone."""
    conn = batch.conn
    titled = titles_reached(batch)
    unlinked = [insert_statement(conn.dialect, table, rows) for table, rows in (
        (daily_marks, batch.new_marks), (share_codes, batch.new_codes), (events, batch.events),
        (actions, batch.actions))]
    unlinked.append(insert_statement(conn.dialect, visitor_marks, [
        {"site_id": site_id, "day": day, "visitor": visitor, "tokens": "".join(batch.tokens[(site_id, day, visitor)])}
        for site_id, day, visitor in sorted(batch.changed)], ("site_id", "day", "visitor"), replaced=("tokens",)))
    totals = {key: {"shares": n} for key, n in batch.totals.items()}
    unlinked.append(add_up(conn, page_totals, ("site_id", "url_hash", "service"), ("shares",), totals))
    statements = [add_up(conn, daily_rollups, ROLLUP_KEY, ROLLUP_COUNTERS, batch.rollups)]
    statements.append(add_up(conn, daily_uniques, UNIQUE_KEY, UNIQUE_COUNTERS, batch.uniques))
    repeats = {key: {"count": n} for key, n in batch.repeats.items()}
    statements.append(add_up(conn, refusals_table, ("site_id", "day", "reason"), ("count",), repeats))
    statements.append(insert_statement(conn.dialect, title_votes, [
        {"page_id": page, "title_hash": digest, "title": title, "readers": n, "last_day": day}
        for (page, digest), (title, n, day) in batch.votes.items()], ("page_id", "title_hash"), ("readers",),
        ("last_day",)))
    if titled:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        statements.append(Statement(f"UPDATE pages SET title = {mark} WHERE id = {mark}", titled))
    pause()  # before the first write: on SQLite, before the write lock is taken
    execute(conn, unlinked)
    hold_sites(batch)
    execute(conn, statements)


def hold_sites(batch: Batch) -> None:
    """Keep the batch's sites from a deletion until the batch commits, once it has written its
    rows without foreign keys (``models.UNLINKED``), or raise ``Raced`` for a site deleted
    since the batch read its sites: those rows would be left behind. On PostgreSQL a key-share
    lock on the sites' rows, which a deletion waits for (``sites.delete_site`` then deletes the
    rows this batch wrote); on SQLite the database's write lock, which the batch holds from its
    first write (a deletion committed before is seen, none can come after). On SQLite a batch
    that wrote no such row has nothing to keep: the tables with keys check their own rows."""
    if not batch.sites or not writing(batch.conn):
        return
    if set(batch.conn.scalars(HELD_SITES, {"ids": sorted(batch.sites)})) != batch.sites:
        raise Raced()


def add_up(conn: Connection, table: Table, key: Sequence[str], counters: Sequence[str],
           rows: dict[tuple[Any, ...], dict[str, int]]) -> Statement | None:
    """The statement adding each row's counters to ``table`` (rows created at zero)."""
    return insert_statement(conn.dialect, table, [{**dict(zip(key, k)), **{c: added.get(c, 0) for c in counters}}
                                          for k, added in rows.items()], key, counters)


def titles_reached(batch: Batch) -> list[tuple[str, int]]:
    """The (title, page id) of each title the batch's votes bring to two readers now, which
    becomes its page's title; read before the batch writes (one counter writes votes at a
    time: another one's commit in between would have moved the watermark, and this batch
    would roll back)."""
    if not batch.votes:
        return []
    stored = {(int(r.page_id), str(r.title_hash)): int(r.readers) for r in lookup(
        batch.conn, title_votes, ("page_id", "title_hash"), batch.votes, ("page_id", "title_hash", "readers"))}
    titled = []
    for key, (title, added, _) in batch.votes.items():
        before = stored.get(key, 0)
        if before + added >= 2 > before:
            titled.append((title, key[0]))
    return titled
