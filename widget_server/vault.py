"""Site secrets at rest: sealed with keys derived from ``WIDGET_SECRET_KEYS``.

A site's secret signs its actor tokens, so a database dump that held it in plain text would
let anyone forge actors. Each ``WIDGET_SECRET_KEYS`` entry gives, through HKDF-SHA256 with a
purpose of its own, one Fernet key (AES-128-CBC + HMAC-SHA256); a ``MultiFernet`` over them in
the same order seals with the first and opens with any, as the signing keys do.

Rotation: put the new key first (``new,old``) and run ``widget-server db upgrade``, which
reseals every secret under the new key (``reseal_all``); then the old key can go. A key
dropped before that leaves the secrets it sealed unreadable: ``open_secret`` then raises
``SealedWithUnknownKey``, naming the cure.

``cryptography`` is imported at first use: it is a tenth of a web worker's memory, and serving
opens a secret only for an action beacon that names its actor (``sitecache.CachedSite.secret``).
"""
from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Connection, Dialect, String, column, select, table, update
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

PURPOSE = b"sharebar site secret at rest v1"
SITES = table("sites", column("id"), column("secret"))


class SealedWithUnknownKey(RuntimeError):
    """A stored secret none of the configured keys opens."""


def fernet_key(secret_key: str) -> bytes:
    """The Fernet key derived from one ``WIDGET_SECRET_KEYS`` entry."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret_key.encode("utf-8"))
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=8)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(fernet_key(key)) for key in keys])


def ring(keys: list[str] | None = None) -> MultiFernet:
    """First seals, all open; ``keys`` default to the app's ``SECRET_KEYS``."""
    chosen = keys if keys is not None else current_app.config["SECRET_KEYS"]
    return _ring(tuple(chosen))


def seal(plain: str, keys: list[str] | None = None) -> str:
    return ring(keys).encrypt(plain.encode("utf-8")).decode("ascii")


def open_secret(sealed: str, keys: list[str] | None = None) -> str:
    """The plain secret; :raise SealedWithUnknownKey: when no configured key opens it."""
    from cryptography.fernet import InvalidToken

    try:
        return ring(keys).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise SealedWithUnknownKey(
            "A site secret is sealed with a key not in WIDGET_SECRET_KEYS: put the old key back "
            "after the new one and run `widget-server db upgrade` to reseal.") from None


def sealed_by_first(sealed: str, keys: list[str]) -> bool:
    from cryptography.fernet import Fernet, InvalidToken

    try:
        Fernet(fernet_key(keys[0])).decrypt(sealed.encode("ascii"))
    except InvalidToken:
        return False
    return True


def reseal_all(conn: Connection, keys: list[str] | None = None) -> int:
    """Reseal under the first key every secret another key sealed; returns how many."""
    from cryptography.fernet import InvalidToken

    chosen = keys if keys is not None else list(current_app.config["SECRET_KEYS"])
    count = 0
    for site_id, sealed in conn.execute(select(SITES.c.id, SITES.c.secret)).all():
        if not sealed_by_first(sealed, chosen):
            try:
                fresh = ring(chosen).rotate(sealed.encode("ascii")).decode("ascii")
            except InvalidToken:
                raise SealedWithUnknownKey(f"The secret of site {site_id} is sealed with a key not in "
                                           "WIDGET_SECRET_KEYS; put that key back after the new one.") from None
            conn.execute(update(SITES).where(SITES.c.id == site_id).values(secret=fresh))
            count += 1
    return count


class SealedString(TypeDecorator[str]):
    """A column whose Python value is the plain secret and whose stored value is sealed."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        return None if value is None else open_secret(str(value))
