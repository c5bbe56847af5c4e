"""The installation check's records: why beacons were refused, and where the bar was seen.

When a beacon is refused for a reason that concerns the site, a count per site, reason and
day goes up, and a sample (reason, the page's address without its query, the time; never an
IP or a user agent) joins a rolling set of the latest ``SAMPLES`` per site. Both are kept in
this process's memory first and written together every ``REFUSALS_FLUSH_SECONDS`` (one
transaction a second, however many beacons a flood brings; the installation check writes
its own process's at once), so a refused beacon costs no write of its own. An accepted
beacon marks its host as seen: first and last time with their pages, written at most once a
minute per host by each process, so the hot path rarely pays for it.

``repeat`` beacons (accepted, not counted) are counted per day the same way.

Reasons: ``foreign-domain`` (a page outside the site's domains), ``bad-key`` (a key that is
not a valid key of any site, from a page on the site's domains), ``rate-limited``,
``malformed`` (a beacon naming the site that could not be read).
"""
from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from . import db, sitecache, sites
from .models import Site, refusal_samples, refusals, sightings, utcnow
from .problems import Problem
from .urls import url_host

REASONS = ("foreign-domain", "bad-key", "rate-limited", "malformed")
# Accepted but kept out of the counts, counted in the same table: the same reader sharing the
# same page to the same platform, or coming back through the same share, again that day.
REPEAT = "repeat"
SAMPLES = 20
SEEN_EVERY = 60.0  # seconds between two writes of one host's last sighting, per process


def reason_of(problem: Problem) -> str | None:
    """The refusal reason a problem stands for; None for one that says nothing about a site
    (an unknown site, a beacon too large to read)."""
    if problem.code in ("foreign-domain", "foreign-origin"):
        return "foreign-domain"
    if problem.code == "invalid-site-key":
        return "bad-key"
    if problem.code == "rate-limited":
        return "rate-limited"
    if problem.status in (400, 401, 403, 404) and problem.code not in ("missing-site", "unknown-site"):
        return "malformed"
    return None


def page_of(raw: Any) -> str | None:
    """Scheme, host and path of a page address, at most 300 characters; None if it is none."""
    if not isinstance(raw, str):
        return None
    try:
        parts = urlsplit(raw.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname}{parts.path}"[:300]


def beacon_fields(body: bytes) -> dict[str, Any]:
    """The fields of a refused beacon's body, as far as they can be read."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return {}
    return value if isinstance(value, dict) else {}


def is_text(value: Any) -> bool:
    """None, or a string that can be stored and shown (no lone surrogate, no NUL)."""
    if value is None:
        return True
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sites_refused(key: Any, page: str | None) -> list[int]:
    """The sites a refusal concerns: the one the key names, or for a bad key the sites whose
    domains the page is on."""
    parts = sitecache.key_parts(key) if isinstance(key, str) and key else None  # remembered: no second signature check
    if parts is not None:
        return [parts[0]] if current_app.extensions["widget_sites"].get(parts[0]) is not None else []
    host = urlsplit(page).hostname if page else None
    if not host:
        return []
    cache: sitecache.SiteCache = current_app.extensions["widget_sites"]
    return cache.sites_on(host)


def note(problem: Problem, body: bytes, origin: str | None) -> None:
    """Record a refused beacon against the sites it concerns (if any), in memory until the
    next flush."""
    reason = reason_of(problem)
    if reason is None:
        return
    fields = beacon_fields(body)
    if not all(is_text(fields.get(name)) for name in ("site", "url")):
        return  # refused for what it holds (a lone surrogate, say): nothing of it is kept
    if reason != "bad-key" and not fields.get("site"):
        return  # only a key, or a page on the domains with a bad one, ties a refusal to a site
    page = page_of(fields.get("url")) or page_of(origin)
    pending: Pending = current_app.extensions["widget_refusals"]
    now = utcnow()
    for site_id in sites_refused(fields.get("site"), page):
        pending.add(site_id, reason, problem.code, page, now)


Sample = tuple[str, str, str | None, datetime]  # reason, problem code, page, time


class Pending:
    """This process's refusals not written yet: counts per site, day and reason, and each
    site's latest samples. A thread of the process writes them every ``every`` seconds (at
    once when ``every`` is 0); a database that does not answer keeps them for the next try."""

    def __init__(self, engine: Engine, every: float):
        self.engine, self.every = engine, every
        self._counts: Counter[tuple[int, date, str]] = Counter()
        self._samples: dict[int, deque[Sample]] = {}
        self._lock = threading.Lock()
        self._flusher_pid: int | None = None

    def add(self, site_id: int, reason: str, code: str, page: str | None, now: datetime) -> None:
        with self._lock:
            self._counts[(site_id, now.date(), reason)] += 1
            self._samples.setdefault(site_id, deque(maxlen=SAMPLES)).append((reason, code[:40], page, now))
        if self.every <= 0:
            self.flush()
        elif self._flusher_pid != os.getpid():
            self._start_flusher()

    def flush(self) -> None:
        """Write what is pending, in one transaction."""
        with self._lock:
            counts, samples = self._counts, self._samples
            self._counts, self._samples = Counter(), {}
        if not counts:
            return
        try:
            with self.engine.begin() as conn:
                for (site_id, day, reason), number in counts.items():
                    count(conn, site_id, day, reason, number)
                for site_id, latest in samples.items():
                    keep_samples(conn, site_id, list(latest))
        except SQLAlchemyError:
            with self._lock:  # kept for the next flush, newer ones after them
                self._counts.update(counts)
                for site_id, latest in samples.items():
                    merged = deque(latest, maxlen=SAMPLES)
                    merged.extend(self._samples.get(site_id, ()))
                    self._samples[site_id] = merged

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_every, name="sharebar-refusals", daemon=True).start()
        atexit.register(self.flush)

    def _flush_every(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.flush()
            except Exception:  # never let the flusher die: the next round retries
                continue


def init_app(app: Flask) -> None:
    app.extensions["widget_refusals"] = Pending(app.extensions["widget_engine"],
                                                float(app.config["REFUSALS_FLUSH_SECONDS"]))


def keep_samples(conn: Connection, site_id: int, latest: list[Sample]) -> None:
    """Add ``latest`` to the site's rolling sample, which keeps its newest ``SAMPLES``."""
    conn.execute(refusal_samples.insert(), [{"site_id": site_id, "reason": reason, "code": code, "page": page,
                                              "created_at": moment} for reason, code, page, moment in latest])
    keep = (select(refusal_samples.c.id).where(refusal_samples.c.site_id == site_id)
            .order_by(refusal_samples.c.id.desc()).limit(SAMPLES).scalar_subquery())
    conn.execute(delete(refusal_samples).where(refusal_samples.c.site_id == site_id,
                                               refusal_samples.c.id.not_in(keep)))


def count(conn: Connection, site_id: int, day: date, reason: str, number: int = 1) -> None:
    """``number`` more beacons kept out of the counts for ``reason`` on ``day`` (no sample)."""
    insert = db.dialect_insert(conn, refusals)
    conn.execute(insert.values(site_id=site_id, day=day, reason=reason, count=number)
                 .on_conflict_do_update(index_elements=["site_id", "day", "reason"],
                                        set_={"count": refusals.c.count + number}))


def seen(site_id: int, url: str, now: datetime | None = None) -> None:
    """Mark the page's host as seen by an accepted beacon (at most once a minute per host)."""
    written: dict[tuple[int, str], float] = current_app.extensions.setdefault("widget_sightings", {})
    host = url_host(url)  # a cleaned beacon URL: http(s) with a host
    key = (site_id, host)
    if time.monotonic() - written.get(key, -SEEN_EVERY) < SEEN_EVERY:
        return
    page = page_of(url)
    if not page or not host:
        return
    if len(written) > 10_000:
        written.clear()
    written[key] = time.monotonic()
    moment = now or utcnow()
    with db.engine().begin() as conn:
        changed = conn.execute(update(sightings).where(sightings.c.site_id == site_id, sightings.c.host == host)
                               .values(last_at=moment, last_page=page)).rowcount
        if not changed:
            conn.execute(db.dialect_insert(conn, sightings).values(
                site_id=site_id, host=host, first_at=moment, first_page=page, last_at=moment, last_page=page)
                .on_conflict_do_nothing())


def counts(conn: Connection, site_id: int, start: date, end: date) -> dict[str, int]:
    """Refused beacons per reason from ``start`` to ``end`` (both included), every reason listed."""
    rows = conn.execute(
        select(refusals.c.reason, func.sum(refusals.c.count)).where(
            refusals.c.site_id == site_id, refusals.c.day >= start, refusals.c.day <= end)
        .group_by(refusals.c.reason))
    return {reason: 0 for reason in (*REASONS, REPEAT)} | {reason: int(total) for reason, total in rows}


@dataclass(frozen=True)
class Check:
    """What the installation check shows for one site."""

    domains: list[tuple[str, list[dict[str, Any]]]]  # each domain with the hosts seen on it
    counts: dict[str, int]  # refusals per reason over the last ``days``
    samples: list[dict[str, Any]]  # the latest refusals, newest first


def check(site: Site, today: date, days: int = 7) -> Check:
    """The site's installation check: sightings per domain, refusals of the last ``days``
    (this process's pending ones written first)."""
    current_app.extensions["widget_refusals"].flush()
    with db.engine().connect() as conn:
        seen_rows = [dict(row._mapping) for row in conn.execute(
            select(sightings).where(sightings.c.site_id == site.id).order_by(sightings.c.host))]
        refused = counts(conn, site.id, today - timedelta(days=days - 1), today)
        samples = [dict(row._mapping) for row in conn.execute(
            select(refusal_samples).where(refusal_samples.c.site_id == site.id)
            .order_by(refusal_samples.c.id.desc()).limit(SAMPLES))]
    per_domain = [(domain, [row for row in seen_rows if sites.host_allowed(row["host"], [domain])])
                  for domain in site.domains]
    return Check(per_domain, refused, samples)
