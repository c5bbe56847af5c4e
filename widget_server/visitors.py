"""Who a reader is, as far as counting needs: a hash that changes every day, and a bot flag.

The hash is SHA-256 of a random salt of the day, the site, the IP and the user agent, as
privacy-first analytics compute it: it tells two requests of one day apart, and nothing
else. The IP and user agent are used here and never stored or logged; salts are stored so
that every worker and host agrees on the day's salt, and deleted after two days (by the
aggregator's upkeep), which makes every hash of those days meaningless.

A salt is created in a transaction of its own, committed before anyone uses it, and
re-read after the insert: whichever worker inserts first, every worker uses that row, and a
request that fails afterwards cannot roll it back. The aggregator creates today's and
tomorrow's ahead, so requests normally only read their cached copy.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from sqlalchemy import Connection, Engine, delete, select

from .db import dialect_insert
from .models import daily_marks, salts, sites, visitor_marks

KEEP_DAYS = 2
_salts: dict[tuple[int, date], str] = {}  # (id of the engine, day) -> salt; this process's copy


def daily_salt(engine: Engine, day: date) -> str:
    """The salt of ``day``: this process's copy, else the stored one, else a new one stored
    (and committed) first."""
    key = (id(engine), day)
    cached = _salts.get(key)
    if cached is not None:
        return cached
    query = select(salts.c.salt).where(salts.c.day == day)
    with engine.connect() as conn:
        salt = conn.scalar(query)
        conn.rollback()
        if salt is None:
            with conn.begin():
                new = {"day": day, "salt": secrets.token_hex(32)}
                conn.execute(dialect_insert(conn, salts).values(new).on_conflict_do_nothing())
            salt = conn.scalar(query)
            conn.rollback()
    for old in [k for k in _salts if k[1] < day - timedelta(days=1)]:
        del _salts[old]
    _salts[key] = str(salt)
    return str(salt)


def forget_before(conn: Connection, day: date) -> None:
    """Delete the salts and the day marks (both tables) older than ``day``.

    The marks go site by site: their key begins with the site, so each site's old days are
    found through it, where ``day < ?`` alone read every mark of the two days kept, every
    minute, holding SQLite's write lock meanwhile (a site's marks go with it: cascade)."""
    conn.execute(delete(salts).where(salts.c.day < day))
    for table in (daily_marks, visitor_marks):
        conn.execute(delete(table).where(table.c.site_id.in_(select(sites.c.id)), table.c.day < day))


def visitor_hash(salt: str, site_id: int, ip: str, user_agent: str) -> str:
    material = "\x1f".join((salt, str(site_id), ip, user_agent)).encode("utf-8", "replace")
    return hashlib.sha256(material).hexdigest()[:32]


_detector = CrawlerDetect()


def warm() -> None:
    """Compile CrawlerDetect's patterns now (they compile on first use, which takes from tens
    of milliseconds to seconds on a busy host)."""
    _detector.isCrawler("Mozilla/5.0 (compatible; warm-up)")


@lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """Crawlers, link-preview fetchers and headless browsers, by the CrawlerDetect list.

    An empty user agent is a bot: every browser sends one.
    """
    return not user_agent.strip() or bool(_detector.isCrawler(user_agent))
