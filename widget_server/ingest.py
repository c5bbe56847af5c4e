"""The beacon path: parse and check a beacon, then store it once and count it.

Parsing is plain functions over bytes and dicts so tests can call them without a request.
Storing is one transaction of SQLAlchemy Core statements: the page row (created on first
sight), the event (skipped when its client id was seen before, so retries and duplicate
deliveries count once), and the day's rollup row, incremented only when the event was new.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from . import platforms
from .models import daily_rollups, events, pages, utcnow
from .problems import Problem
from .urls import BadURL, clean_url, url_hash

CONTENT_TYPES = ("text/plain", "application/json")
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
EVENT_TYPES = ("share",)
MAX_TITLE = 300


@dataclass(frozen=True)
class Beacon:
    type: str
    site_key: str
    url: str
    service: str
    event_id: str
    title: str | None


def decode_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The beacon's JSON object; ``text/plain`` is accepted so ``sendBeacon`` needs no preflight."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype not in CONTENT_TYPES:
        raise Problem(415, "unsupported-content-type", "Send the beacon as text/plain or application/json.")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Problem(400, "invalid-utf8", "The body is not valid UTF-8.") from None
    except ValueError:
        raise Problem(400, "invalid-json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "invalid-beacon", "The beacon must be a JSON object.")
    return data


def parse_beacon(data: dict[str, Any]) -> Beacon:
    """Check every field a share beacon needs; fields not listed here are ignored."""
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        raise Problem(400, "unknown-type", f"type must be one of {', '.join(EVENT_TYPES)}.", "type")
    key = data.get("site")
    if not isinstance(key, str) or not key:
        raise Problem(400, "missing-site", "site (the site key) is missing.", "site")
    service = data.get("service")
    if service not in platforms.SERVICE_IDS:
        raise Problem(400, "unknown-service", "service is not a known service id.", "service")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise Problem(400, "invalid-id", "id must be 8 to 64 letters, digits, '-' or '_'.", "id")
    try:
        url = clean_url(data.get("url"))
    except BadURL as exc:
        raise Problem(400, "invalid-url", str(exc), "url") from None
    return Beacon(kind, key, url, service, event_id, clean_title(data.get("title")))


def clean_title(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Problem(400, "invalid-title", "title must be a string.", "title")
    return " ".join(raw.split())[:MAX_TITLE] or None


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that knows ON CONFLICT on both SQLite and PostgreSQL."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def page_id(conn: Connection, site_id: int, url: str, title: str | None) -> int:
    """The id of the site's page for ``url``, creating the row on first sight."""
    key = url_hash(url)
    query = select(pages.c.id).where(pages.c.site_id == site_id, pages.c.url_hash == key)
    found = conn.scalar(query)
    if found is None:
        row = {"site_id": site_id, "url": url, "url_hash": key, "title": title, "created_at": utcnow()}
        conn.execute(dialect_insert(conn, pages).values(row).on_conflict_do_nothing())
        found = conn.scalar(query)
    assert found is not None, "the page row exists after the insert"
    return int(found)


def record(conn: Connection, site_id: int, beacon: Beacon) -> bool:
    """Store the beacon; False when its event id was already stored (nothing counted twice)."""
    now = utcnow()
    page = page_id(conn, site_id, beacon.url, beacon.title)
    row = {
        "site_id": site_id, "event_id": beacon.event_id, "type": beacon.type,
        "service": beacon.service, "page_id": page, "day": now.date(), "created_at": now,
    }
    insert = dialect_insert(conn, events).values(row).on_conflict_do_nothing().returning(events.c.id)
    if conn.scalar(insert) is None:
        return False
    bump = dialect_insert(conn, daily_rollups).values(
        site_id=site_id, day=row["day"], page_id=page, service=beacon.service, shares=1
    )
    conn.execute(bump.on_conflict_do_update(
        index_elements=["site_id", "day", "page_id", "service"],
        set_={"shares": daily_rollups.c.shares + 1},
    ))
    return True
