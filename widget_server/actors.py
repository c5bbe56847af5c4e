"""Actor tokens: how a site names the user behind an action, signed with the site's secret.

The format is plain HMAC so that any backend can make one in a few lines (README shows
Python, Node.js and PHP)::

    payload   = base64url(UTF-8 JSON {"site": ID, "uid": "…", "name": "…", "avatar": "https://…", "exp": UNIX})
    signature = base64url(HMAC-SHA256(key = the site's secret, message = "sharebar.actor." + payload))
    token     = payload + "." + signature                       (base64url without "=" padding)

``site``, ``uid`` and ``exp`` are required, ``name`` and ``avatar`` optional. The server
refuses a token that is malformed, signed with another key, tampered with, made for another
site, expired, or valid for more than a day (so a leaked token cannot be replayed for long).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .problems import Problem
from .urls import BadURL, clean_url

CONTEXT = b"sharebar.actor."
MAX_NAME = 100
MAX_LIFETIME = timedelta(days=1)
MAX_TOKEN = 4096
# Control characters (PostgreSQL cannot store NUL) and lone surrogates (not text at all).
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Actor:
    uid: str
    name: str | None
    avatar: str | None


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, claims: dict[str, Any]) -> str:
    """Make a token (what a site's backend does; the server only verifies)."""
    payload = b64encode(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    mac = hmac.new(secret.encode("utf-8"), CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{b64encode(mac)}"


def refuse(code: str, detail: str) -> Problem:
    return Problem(401, code, detail, "actor")


def verify(token: object, site_id: int, secret: str, now: datetime | None = None) -> Actor:
    """The actor a token names.

    :raise Problem 401: ``invalid-actor`` (malformed, bad signature, wrong site, bad field)
        or ``expired-actor``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise refuse("invalid-actor", "The actor token is not of the form payload.signature.")
    payload, signature = token.split(".")
    expected = hmac.new(secret.encode("utf-8"), CONTEXT + payload.encode("ascii", "replace"), hashlib.sha256)
    try:
        valid = hmac.compare_digest(expected.digest(), b64decode(signature))
        claims = json.loads(b64decode(payload)) if valid else None
    except (binascii.Error, ValueError):
        raise refuse("invalid-actor", "The actor token is not valid base64url JSON.") from None
    if not valid or not isinstance(claims, dict):
        raise refuse("invalid-actor", "The actor token's signature does not match the site's secret.")
    return check_claims(claims, site_id, now or datetime.now(timezone.utc))


def check_claims(claims: dict[str, Any], site_id: int, now: datetime) -> Actor:
    if claims.get("site") != site_id:
        raise refuse("invalid-actor", "The actor token was made for another site.")
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        raise refuse("invalid-actor", "The actor token has no exp (expiry, in Unix seconds).")
    if expires <= now.timestamp():
        raise refuse("expired-actor", "The actor token has expired.")
    if expires > (now + MAX_LIFETIME).timestamp():
        raise refuse("invalid-actor", "An actor token may be valid for one day at most.")
    uid, name, avatar = claims.get("uid"), claims.get("name"), claims.get("avatar")
    if not isinstance(uid, str) or not 0 < len(uid) <= MAX_NAME or UNPRINTABLE.search(uid):
        raise refuse("invalid-actor", f"uid must be a string of 1 to {MAX_NAME} printable characters.")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME or UNPRINTABLE.search(name)):
        raise refuse("invalid-actor", f"name must be a string of at most {MAX_NAME} printable characters.")
    return Actor(uid, name or None, clean_avatar(avatar))


def clean_avatar(avatar: object) -> str | None:
    if avatar is None or avatar == "":
        return None
    try:
        url = clean_url(avatar)
    except BadURL as exc:
        raise refuse("invalid-actor", f"avatar: {exc}") from None
    if not url.startswith("https://"):
        raise refuse("invalid-actor", "avatar must be an https URL.")
    return url
