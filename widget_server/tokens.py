"""Partner API tokens: random, shown once, stored only as their SHA-256.

A token is ``sbp_`` and 43 URL-safe characters (32 random bytes). It names the sites it
may read and the scopes it grants (``stats:read``; ``feed:read`` and ``actions:write`` for
the action feed), expires, and can be revoked. A token for other sites gets 404 for a site
it does not name — the same answer as a site that does not exist — so nothing leaks.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from . import db
from .models import ApiToken, Site, utcnow
from .problems import Problem

PREFIX = "sbp_"
SCOPES = ("stats:read", "feed:read", "actions:write")
DEFAULT_SCOPES = ("stats:read",)
TOKEN = re.compile(r"^sbp_[A-Za-z0-9_-]{43}$")
DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdy])$")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "y": timedelta(days=365)}
MAX_EXPIRY = timedelta(days=5 * 365)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_duration(raw: str) -> timedelta:
    """``30m``, ``12h``, ``90d`` or ``1y`` (365 days), at most 5 years; ValueError otherwise."""
    match = DURATION.match(raw.strip())
    if not match:
        raise ValueError(f"{raw!r} is not a duration like 30m, 12h, 90d or 1y")
    duration = int(match.group(1)) * UNITS[match.group(2)]
    if duration > MAX_EXPIRY:
        raise ValueError("a token expires within 5 years")
    return duration


def check_grant(site_ids: Iterable[int], scopes: Iterable[str]) -> tuple[list[int], list[str]]:
    """Existing site ids and known scopes, de-duplicated; ValueError naming what is wrong."""
    ids, wanted = list(dict.fromkeys(site_ids)), list(dict.fromkeys(scopes))
    if not ids:
        raise ValueError("a token needs at least one site")
    found = set(db.session().scalars(select(Site.id).where(Site.id.in_(ids))))
    missing = [site_id for site_id in ids if site_id not in found]
    if missing:
        raise ValueError(f"no site with id {', '.join(map(str, missing))}")
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown or not wanted:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    return ids, wanted


def issue(site_ids: Iterable[int], scopes: Iterable[str] = DEFAULT_SCOPES,
          expires: timedelta = timedelta(days=90), name: str = "",
          now: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns its row and the token itself, which is never stored.

    :raise ValueError: for an unknown site or scope, a non-positive expiry or a long name.
    """
    ids, wanted = check_grant(site_ids, scopes)
    if expires <= timedelta(0):
        raise ValueError("a token must expire in the future")
    if len(name) > 200:
        raise ValueError("a token's name is at most 200 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    issued = now or utcnow()
    row = ApiToken(name=name, token_hash=token_hash(token), site_ids=ids, scopes=wanted,
                   created_at=issued, expires_at=issued + expires, revoked_at=None)
    session = db.session()
    session.add(row)
    session.commit()
    return row, token


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every one Sharebar writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer TOKEN`` header; 401 when there is none."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "invalid-token", "Send the partner token as 'Authorization: Bearer TOKEN'.")
    return token.strip()


def authenticate(header: str | None, now: datetime | None = None) -> ApiToken:
    """The live token the header carries.

    :raise Problem 401: ``invalid-token`` (missing, garbled or unknown), ``expired-token``,
        ``revoked-token``.
    """
    token = bearer(header)
    row = None
    if TOKEN.match(token):
        row = db.session().scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None:
        raise Problem(401, "invalid-token", "The token is not one this server issued.")
    if row.revoked_at is not None:
        raise Problem(401, "revoked-token", "The token was revoked.")
    if aware(row.expires_at) <= (now or utcnow()):
        raise Problem(401, "expired-token", "The token has expired; ask for a new one.")
    return row


def require(token: ApiToken, scope: str, site_id: int) -> None:
    """Let the call through only with ``scope`` on an existing site the token names.

    :raise Problem 403: ``insufficient-scope``.
    :raise Problem 404: ``unknown-site``, for a site the token does not name as for a
        site that does not exist.
    """
    if scope not in token.scopes:
        raise Problem(403, "insufficient-scope", f"The token lacks the {scope} scope.")
    if site_id not in token.site_ids or db.session().get(Site, site_id) is None:
        raise Problem(404, "unknown-site", "No site with this id.", "site_id")


def revoke(token_id: int, now: datetime | None = None) -> ApiToken:
    """Revoke a token (revoking twice keeps the first time); LookupError when there is none."""
    session = db.session()
    row = session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.commit()
    return row


def all_tokens() -> list[ApiToken]:
    return list(db.session().scalars(select(ApiToken).order_by(ApiToken.id)))


def status(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if aware(token.expires_at) <= (now or utcnow()) else "active"
