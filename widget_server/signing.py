"""Every signature Sharebar makes, one serializer per purpose, each with its own salt.

The key list comes from ``WIDGET_SECRET_KEYS`` with the newest first: the first key signs,
every key verifies, so a secret rotates by putting a new one in front and dropping the old
one once what it signed has expired. itsdangerous wants the list oldest first, hence the
reversal.
"""
from __future__ import annotations

from typing import Any, Literal

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

Purpose = Literal["site-key", "api-token", "actor", "feed"]


def serializer(purpose: Purpose, keys: list[str] | None = None) -> URLSafeSerializer:
    secrets = keys if keys is not None else current_app.config["SECRET_KEYS"]
    return URLSafeSerializer(list(reversed(secrets)), salt=purpose)


def load(purpose: Purpose, token: str, keys: list[str] | None = None) -> Any:
    """What ``token`` carries, or None when it is not one we signed for ``purpose``."""
    try:
        return serializer(purpose, keys).loads(token)
    except BadSignature:
        return None


def site_key(site_id: int, keys: list[str] | None = None, *, version: int = 0) -> str:
    """The public key a site puts in its script tag: its id, signed, with the key's version
    once the site's key was re-signed (version 0 is the bare id, as every key was before)."""
    return serializer("site-key", keys).dumps([site_id, version] if version else site_id)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def key_parts(key: str, keys: list[str] | None = None) -> tuple[int, int] | None:
    """The site id and key version a key names, or None when the key is not one we signed."""
    value = load("site-key", key, keys)
    if is_int(value):
        return value, 0
    if isinstance(value, list) and len(value) == 2 and all(map(is_int, value)) and value[1] != 0:
        return value[0], value[1]
    return None


def site_id_from_key(key: str, keys: list[str] | None = None) -> int | None:
    """The site id a key names (of any version), or None when the key is not one we signed."""
    parts = key_parts(key, keys)
    return parts[0] if parts else None
