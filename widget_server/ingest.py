"""The beacon path: parse and check a beacon, then store it once and count it honestly.

Parsing is plain functions over bytes and dicts so tests call them without a request.
Storing is one transaction of SQLAlchemy Core statements: the page row (created on first
sight), the event (skipped when its client id was seen before, so a retried beacon counts
once), then the rollups. An event from a bot is kept, flagged, and counted apart; a repeat
(the same visitor sharing the same page to the same service, or clicking back on the same
share, the same day) is kept and not counted.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Table, select, update

from . import platforms, refusals, verbs
from .db import dialect_insert
from .actors import Actor
from .models import actions, daily_marks, daily_rollups, daily_uniques, events, pages, share_codes, utcnow
from .problems import Problem
from .urls import BadURL, clean_url, url_hash, url_host

CONTENT_TYPES = ("text/plain", "application/json")
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SHARE_CODE = re.compile(r"^[A-Za-z0-9_-]{6,40}$")
ADDRESS_CODE = re.compile(r"^a-([0-9a-z]{1,10})-[A-Za-z0-9]{4,12}$")
ADDRESS = "address"  # the pseudo-service of links copied from the address bar
EVENT_TYPES = ("share", "clickback", "action")
MAX_TITLE = 300


@dataclass(frozen=True)
class Beacon:
    type: str
    site_key: str
    url: str
    event_id: str
    service: str | None  # click-backs take the service of their share
    code: str | None
    title: str | None = None
    referrer: str = ""
    verb: str | None = None  # an action's verb, or the action a share follows
    actor: str | None = None  # an action's actor token, verified once the site is known


@dataclass(frozen=True)
class Reader:
    """What the server knows of whoever sent a beacon: a daily hash and a bot flag."""

    visitor: str
    bot: bool


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
    """Check every field a beacon needs; fields not listed here are ignored."""
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        raise Problem(400, "unknown-type", f"type must be one of {', '.join(EVENT_TYPES)}.", "type")
    key = data.get("site")
    if not isinstance(key, str) or not key:
        raise Problem(400, "missing-site", "site (the site key) is missing.", "site")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise Problem(400, "invalid-id", "id must be 8 to 64 letters, digits, '-' or '_'.", "id")
    try:
        url = clean_url(data.get("url"))
    except BadURL as exc:
        raise Problem(400, "invalid-url", str(exc), "url") from None
    code = clean_code(data.get("code"), required=kind == "clickback")
    if kind == "action":
        actor = data.get("actor")
        if actor is not None and not isinstance(actor, str):
            raise Problem(400, "invalid-actor", "actor must be the actor token string.", "actor")
        return Beacon(kind, key, url, event_id, None, None, clean_title(data.get("title")),
                      verb=clean_verb(data.get("verb"), "verb"), actor=actor or None)
    if kind == "clickback":
        return Beacon(kind, key, url, event_id, None, code, referrer=referrer_host(data.get("referrer")))
    service = data.get("service")
    if service not in platforms.SERVICE_IDS:
        raise Problem(400, "unknown-service", "service is not a known service id.", "service")
    follows = clean_verb(data["action"], "action") if data.get("action") is not None else None
    return Beacon(kind, key, url, event_id, service, code, clean_title(data.get("title")), verb=follows)


def clean_verb(raw: object, param: str) -> str:
    """A verb's spelling; whether the site knows it is checked once the site is known."""
    if not isinstance(raw, str) or not (raw in verbs.VERBS or verbs.SITE_VERB.match(raw)):
        raise Problem(400, "unknown-verb", f"{param} is not a verb.", param)
    return raw


def check_verb(beacon: Beacon, site_settings: dict[str, Any]) -> None:
    """Refuse a verb the site did not define (built-in verbs are always known)."""
    if beacon.verb is not None and beacon.verb not in verbs.site_verbs(site_settings):
        param = "verb" if beacon.type == "action" else "action"
        raise Problem(400, "unknown-verb", f"{beacon.verb!r} is not a verb of this site.", param)


def clean_code(raw: object, required: bool) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not SHARE_CODE.match(raw):
        raise Problem(400, "invalid-code", "code must be 6 to 40 letters, digits, '-' or '_'.", "code")
    return raw


def clean_title(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Problem(400, "invalid-title", "title must be a string.", "title")
    return " ".join(raw.split())[:MAX_TITLE] or None


def referrer_host(raw: object) -> str:
    """Only the host of where a reader came from is kept; anything unusable is ''."""
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        return url_host(clean_url(raw))[:255]
    except BadURL:
        return ""


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


@dataclass(frozen=True)
class Share:
    """The share a code names: what was shared where, when and by whom (hashed)."""

    page_id: int
    service: str
    visitor: str | None
    created_at: datetime


def find_share(conn: Connection, site_id: int, code: str) -> Share | None:
    query = select(share_codes.c.page_id, share_codes.c.service, share_codes.c.visitor,
                   share_codes.c.created_at).where(share_codes.c.site_id == site_id, share_codes.c.code == code)
    row = conn.execute(query).first()
    if row is None:
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return Share(int(row.page_id), str(row.service), row.visitor, created)


def address_share(conn: Connection, site_id: int, code: str, url: str, now: datetime) -> Share | None:
    """Register, on its first click-back, a link the widget tagged in the address bar.

    The code carries the time of tagging (base 36 seconds) so the click-back's age is known.
    """
    match = ADDRESS_CODE.match(code)
    if match is None:
        return None
    tagged = datetime.fromtimestamp(int(match.group(1), 36), timezone.utc)
    if not now - timedelta(days=400) <= tagged <= now + timedelta(minutes=5):
        tagged = now
    share = Share(page_id(conn, site_id, url, None), ADDRESS, None, min(tagged, now))
    register_code(conn, site_id, code, share)
    return find_share(conn, site_id, code)


def register_code(conn: Connection, site_id: int, code: str, share: Share) -> None:
    row = {"site_id": site_id, "code": code, "page_id": share.page_id, "service": share.service,
           "visitor": share.visitor, "created_at": share.created_at}
    conn.execute(dialect_insert(conn, share_codes).values(row).on_conflict_do_nothing())


def first_time(conn: Connection, site_id: int, day: Any, *parts: object) -> bool:
    """True the first time today that this combination is seen for the site."""
    mark = hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()
    insert = dialect_insert(conn, daily_marks).values(site_id=site_id, day=day, mark=mark)
    return conn.scalar(insert.on_conflict_do_nothing().returning(daily_marks.c.mark)) is not None


def bump(conn: Connection, table: Table, key: dict[str, Any], *columns: str) -> None:
    """Add one to each of ``columns`` in the row of ``table`` with primary key ``key``."""
    insert = dialect_insert(conn, table).values(**key, **{column: 1 for column in columns})
    conn.execute(insert.on_conflict_do_update(
        index_elements=list(key), set_={column: table.c[column] + 1 for column in columns},
    ))


def count_dims(conn: Connection, site_id: int, day: Any, dims: list[tuple[str, str]],
               counters: str | tuple[str, ...], role: str | None = None, visitor: str = "") -> None:
    """Add one to ``counters`` of each (dim, value) of the day, and to ``role`` (sharers,
    visitors) where this visitor is new today for that value."""
    for dim, value in dims:
        columns = [counters] if isinstance(counters, str) else list(counters)
        if role and first_time(conn, site_id, day, role, dim, value, visitor):
            columns.append(role)
        bump(conn, daily_uniques, {"site_id": site_id, "day": day, "dim": dim, "value": value}, *columns)


def store_event(conn: Connection, site_id: int, beacon: Beacon, row: dict[str, Any]) -> int | None:
    """Insert the event; None when its id was stored before."""
    values = {"site_id": site_id, "event_id": beacon.event_id, "type": beacon.type, "code": beacon.code, **row}
    insert = dialect_insert(conn, events).values(values).on_conflict_do_nothing().returning(events.c.id)
    found = conn.scalar(insert)
    return None if found is None else int(found)


def set_status(conn: Connection, event: int, status: str) -> None:
    conn.execute(update(events).where(events.c.id == event).values(status=status))


def record(conn: Connection, site_id: int, beacon: Beacon, reader: Reader,
           address_bar: bool = False, now: datetime | None = None, actor: Actor | None = None) -> bool:
    """Store and count the beacon; False when its event id was already stored.

    :raise Problem 404: for a click-back whose code names no share of the site.
    """
    now = now or utcnow()
    if beacon.type == "share":
        return record_share(conn, site_id, beacon, reader, now)
    if beacon.type == "action":
        return record_action(conn, site_id, beacon, reader, actor, now)
    return record_clickback(conn, site_id, beacon, reader, address_bar, now)


def record_share(conn: Connection, site_id: int, beacon: Beacon, reader: Reader, now: datetime) -> bool:
    assert beacon.service is not None
    page = page_id(conn, site_id, beacon.url, beacon.title)
    day = now.date()
    row = {"service": beacon.service, "page_id": page, "day": day, "created_at": now, "visitor": reader.visitor}
    event = store_event(conn, site_id, beacon, row)
    if event is None:
        return False
    if beacon.code:
        register_code(conn, site_id, beacon.code, Share(page, beacon.service, reader.visitor, now))
    key = {"site_id": site_id, "day": day, "page_id": page, "service": beacon.service, "referrer": "",
           "action": beacon.verb or ""}
    dims = [("", ""), ("page", str(page)), ("platform", beacon.service), ("action", beacon.verb or "")]
    if reader.bot:
        set_status(conn, event, "bot")
        bump(conn, daily_rollups, key, "bot_shares")
        count_dims(conn, site_id, day, dims, "bot_shares")
    elif not first_time(conn, site_id, day, "share", page, beacon.service, reader.visitor):
        set_status(conn, event, "repeat")
        refusals.count(conn, site_id, day, refusals.REPEAT)
    else:
        counters = ("shares", "action_shares") if beacon.verb else ("shares",)
        bump(conn, daily_rollups, key, *counters)
        count_dims(conn, site_id, day, dims, counters, "sharers", reader.visitor)
    return True


AGE_BUCKETS = ((0, "0"), (1, "1"), (7, "2-7"), (30, "8-30"))  # (up to days, bucket); then "31+"


def age_bucket(seconds: int) -> str:
    """The long-tail bucket of a click-back: whole days from its share to it."""
    days = seconds // 86400
    return next((bucket for limit, bucket in AGE_BUCKETS if days <= limit), "31+")


def record_clickback(conn: Connection, site_id: int, beacon: Beacon, reader: Reader,
                     address_bar: bool, now: datetime) -> bool:
    assert beacon.code is not None
    share = find_share(conn, site_id, beacon.code)
    if share is None and address_bar:
        share = address_share(conn, site_id, beacon.code, beacon.url, now)
    if share is None:
        raise Problem(404, "unknown-share", "No share of this site has this code.", "code")
    day = now.date()
    age = max(0, int((now - share.created_at).total_seconds()))
    row = {"service": share.service, "page_id": share.page_id, "day": day, "created_at": now,
           "visitor": reader.visitor, "referrer": beacon.referrer or None, "age_seconds": age}
    event = store_event(conn, site_id, beacon, row)
    if event is None:
        return False
    key = {"site_id": site_id, "day": day, "page_id": share.page_id, "service": share.service,
           "referrer": beacon.referrer, "action": ""}
    dims = [("", ""), ("page", str(share.page_id)), ("platform", share.service), ("referrer", beacon.referrer),
            ("action", ""), ("age", age_bucket(age))]
    if reader.bot:
        set_status(conn, event, "bot")
        bump(conn, daily_rollups, key, "bot_clickbacks")
        count_dims(conn, site_id, day, dims, "bot_clickbacks")
    elif reader.visitor == share.visitor:
        set_status(conn, event, "self")
    elif not first_time(conn, site_id, day, "clickback", beacon.code, reader.visitor):
        set_status(conn, event, "repeat")
        refusals.count(conn, site_id, day, refusals.REPEAT)
    else:
        bump(conn, daily_rollups, key, "clickbacks")
        count_dims(conn, site_id, day, dims, "clickbacks", "visitors", reader.visitor)
    return True


def record_action(conn: Connection, site_id: int, beacon: Beacon, reader: Reader, actor: Actor | None,
                  now: datetime) -> bool:
    """Store a like-and-share action; counted (and in the feed) once per visitor, page, verb
    and day, never for bots."""
    assert beacon.verb is not None
    page = page_id(conn, site_id, beacon.url, beacon.title)
    day = now.date()
    row = {"site_id": site_id, "event_id": beacon.event_id, "verb": beacon.verb, "page_id": page,
           "actor_uid": actor.uid if actor else None, "actor_name": actor.name if actor else None,
           "actor_avatar": actor.avatar if actor else None, "visitor": reader.visitor, "day": day,
           "created_at": now}
    insert = dialect_insert(conn, actions).values(row).on_conflict_do_nothing().returning(actions.c.id)
    stored = conn.scalar(insert)
    if stored is None:
        return False
    status = "bot" if reader.bot else None
    if status is None and not first_time(conn, site_id, day, "action", page, beacon.verb, reader.visitor):
        status = "repeat"
    if status:
        conn.execute(update(actions).where(actions.c.id == stored).values(status=status))
        return True
    key = {"site_id": site_id, "day": day, "page_id": page, "service": "", "referrer": "", "action": beacon.verb}
    bump(conn, daily_rollups, key, "actions")
    count_dims(conn, site_id, day, [("", ""), ("page", str(page)), ("action", beacon.verb)], "actions")
    return True
