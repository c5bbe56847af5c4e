"""The beacon path: parse and check a beacon, then store it once, durably, in the event log.

Parsing is plain functions over bytes and dicts so tests call them without a request.
Storing is one row in ``event_log`` (``log_row``), committed by the process's group-commit
writer (``writer.py``): a retried beacon's id is stored once. Counting (pages, repeats,
bots, self-clicks, uniques, rollups, totals) is the aggregator's (``aggregate.py``), which
reads the log behind the request.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, literal, select, union_all

from . import platforms, verbs
from .actors import Actor
from .models import event_log, share_codes, utcnow
from .problems import Problem
from .writer import Writer
from .urls import BadURL, clean_url, url_hash, url_host

CONTENT_TYPES = ("text/plain", "application/json")
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SHARE_CODE = re.compile(r"^[A-Za-z0-9_-]{6,40}$")
ADDRESS_CODE = re.compile(r"^a-([0-9a-z]{1,10})-[A-Za-z0-9]{4,12}$")
ADDRESS = "address"  # the pseudo-service of links copied from the address bar
EVENT_TYPES = ("share", "clickback", "action")
MAX_TITLE = 300
# A beacon is one flat object. Python 3.11 and 3.12 give up parsing about 1,000 levels deep
# (RecursionError), 3.13 parses far deeper: the same refusal on every version, and no encoder
# recursing through it afterwards.
MAX_DEPTH = 32
TOO_DEEP = "The body nests too deep to be a beacon."
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # keeps \t \n \r, which split() folds


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
    except RecursionError:  # Python 3.11 and 3.12 recurse while parsing
        raise Problem(400, "invalid-json", TOO_DEEP) from None
    except ValueError:
        raise Problem(400, "invalid-json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Problem(400, "invalid-beacon", "The beacon must be a JSON object.")
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and nesting(data) > MAX_DEPTH:  # 3.13 parses it
        raise Problem(400, "invalid-json", TOO_DEEP)
    if b"\\u" in body and not encodable(data):  # only an escape makes a lone surrogate
        raise Problem(400, "invalid-utf8", "The beacon has a lone surrogate (\\ud800-\\udfff), which is not text.")
    return data


def nesting(data: object) -> int:
    """How deep lists and objects nest in ``data`` (a string or number is 0), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def encodable(data: dict[str, Any]) -> bool:
    """False when a JSON escape made a lone surrogate, a string no database or URL can hold."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    """The title as shown: whitespace runs made one space, control characters (NUL among
    them, which PostgreSQL cannot store) taken out rather than refused, since browsers report
    whatever ``document.title`` holds; at most ``MAX_TITLE`` characters."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise Problem(400, "invalid-title", "title must be a string.", "title")
    return fold_title(raw)[:MAX_TITLE] or None


def fold_title(raw: str) -> str:
    """``raw`` with whitespace runs made one space and control characters taken out."""
    return " ".join(CONTROL.sub("", raw).split())


def referrer_host(raw: object) -> str:
    """Only the host of where a reader came from is kept; anything unusable is ''."""
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        return url_host(clean_url(raw))[:255]
    except BadURL:
        return ""


def init_app(app: Flask) -> None:
    """This process's group-commit writer into the event log (after ``limits.init_app``: it
    checks the beacons' limits in its runs)."""
    app.extensions["widget_writer"] = Writer(app.extensions["widget_engine"], app.extensions["widget_limiter"],
                                             float(app.config["BEACON_TIMEOUT"]))


def writer() -> Writer:
    found: Writer = current_app.extensions["widget_writer"]
    return found


def log_row(site_id: int, beacon: Beacon, reader: Reader, address_bar: bool = False,
            actor: Actor | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The ``event_log`` row of an accepted beacon: all the aggregator needs to count it."""
    now = now or utcnow()
    return {
        "month": now.date().replace(day=1), "site_id": site_id, "event_id": beacon.event_id,
        "type": beacon.type, "service": beacon.service, "url": beacon.url, "title": beacon.title,
        "code": beacon.code, "referrer": beacon.referrer or None, "verb": beacon.verb,
        "actor_uid": actor.uid if actor else None, "actor_name": actor.name if actor else None,
        "actor_avatar": actor.avatar if actor else None, "visitor": reader.visitor, "bot": reader.bot,
        "address_bar": address_bar, "created_at": now,
    }


def check_code(conn: Connection, site_id: int, code: str, address_bar: bool) -> None:
    """Refuse a click-back whose code names no share of the site, counted or still in the log.

    A code the widget put in the address bar (``a-...``) names no stored share until its
    first click-back, and is accepted where the site tags addresses.

    :raise Problem 404: unknown code.
    """
    if address_bar and ADDRESS_CODE.match(code):
        return
    counted = select(literal(1)).where(share_codes.c.site_id == site_id, share_codes.c.code == code)
    logged = select(literal(1)).where(event_log.c.site_id == site_id, event_log.c.code == code,
                                      event_log.c.type == "share")
    if conn.execute(union_all(counted, logged).limit(1)).first() is None:
        raise Problem(404, "unknown-share", "No share of this site has this code.", "code")
