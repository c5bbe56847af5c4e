"""The installation check's records: why beacons were refused, and where the bar was seen.

When a beacon is refused for a reason that concerns the site, a count per site, reason and
day goes up, and a sample (reason, the page's address without its query, the time; never an
IP or a user agent) joins a rolling set of the latest ``SAMPLES`` per site. An accepted
beacon marks its host as seen: first and last time with their pages, written at most once a
minute per host by each process, so the hot path rarely pays for it.

``repeat`` beacons (accepted, not counted) are counted per day the same way.

Reasons: ``foreign-domain`` (a page outside the site's domains), ``bad-key`` (a key that is
not a valid key of any site, from a page on the site's domains), ``rate-limited``,
``malformed`` (a beacon naming the site that could not be read).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Connection, delete, func, select, update

from . import db, signing, sites
from .models import Site, refusal_samples, refusals, sightings, utcnow
from .problems import Problem

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
    site_id = signing.site_id_from_key(key) if isinstance(key, str) and key else None
    if site_id is not None:
        return [site_id] if db.session().get(Site, site_id) is not None else []
    host = urlsplit(page).hostname if page else None
    if not host:
        return []
    rows = db.session().execute(select(Site.id, Site.domains))
    return [row.id for row in rows if sites.host_allowed(host, row.domains or [])]


def note(problem: Problem, body: bytes, origin: str | None) -> None:
    """Record a refused beacon against the sites it concerns (if any)."""
    reason = reason_of(problem)
    if reason is None:
        return
    fields = beacon_fields(body)
    if not all(is_text(fields.get(name)) for name in ("site", "url")):
        return  # refused for what it holds (a lone surrogate, say): nothing of it is kept
    if reason != "bad-key" and not fields.get("site"):
        return  # only a key, or a page on the domains with a bad one, ties a refusal to a site
    page = page_of(fields.get("url")) or page_of(origin)
    site_ids = sites_refused(fields.get("site"), page)
    with db.engine().begin() as conn:
        for site_id in site_ids:
            record(conn, site_id, reason, problem.code, page, utcnow())


def record(conn: Connection, site_id: int, reason: str, code: str, page: str | None, now: datetime) -> None:
    """Count one refusal and keep it in the site's rolling sample."""
    count(conn, site_id, now.date(), reason)
    conn.execute(refusal_samples.insert().values(site_id=site_id, reason=reason, code=code[:40], page=page,
                                                 created_at=now))
    keep = (select(refusal_samples.c.id).where(refusal_samples.c.site_id == site_id)
            .order_by(refusal_samples.c.id.desc()).limit(SAMPLES).scalar_subquery())
    conn.execute(delete(refusal_samples).where(refusal_samples.c.site_id == site_id,
                                               refusal_samples.c.id.not_in(keep)))


def count(conn: Connection, site_id: int, day: date, reason: str) -> None:
    """One more beacon kept out of the counts for ``reason`` on ``day`` (no sample)."""
    insert = db.dialect_insert(conn, refusals)
    conn.execute(insert.values(site_id=site_id, day=day, reason=reason, count=1)
                 .on_conflict_do_update(index_elements=["site_id", "day", "reason"],
                                        set_={"count": refusals.c.count + 1}))


def seen(site_id: int, url: str, now: datetime | None = None) -> None:
    """Mark the page's host as seen by an accepted beacon (at most once a minute per host)."""
    page = page_of(url)
    host = urlsplit(page).hostname if page else None
    if not page or not host:
        return
    written: dict[tuple[int, str], float] = current_app.extensions.setdefault("widget_sightings", {})
    key = (site_id, host)
    if time.monotonic() - written.get(key, -SEEN_EVERY) < SEEN_EVERY:
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
    """The site's installation check: sightings per domain, refusals of the last ``days``."""
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
