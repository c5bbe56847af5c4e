"""Sites as the hot paths see them: one cached row per site, in this process's memory.

A beacon or a page view needs a site's domains, secret and settings, which change rarely.
``SiteCache.get`` answers from memory; changes are noticed two ways: in this process at
once (any ORM flush of a ``Site`` clears every cache), and from other processes within
``SITE_CACHE_SECONDS`` (one ``count(*), max(updated_at)`` over ``sites`` per interval, which
changes with every update, insert or delete).
"""
from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, String, event, func, select, type_coerce

from . import signing, vault
from .sites import check_key, parent_domains
from .models import Site, sites
from .problems import Problem


@dataclass(frozen=True)
class CachedSite:
    id: int
    name: str
    sealed_secret: str  # as stored; opened by ``secret``
    domains: list[str]
    settings: dict[str, Any]  # the site's own choices; ``sites.bar_settings`` fills defaults
    updated_at: datetime | None

    @property
    def etag(self) -> str:
        """Changes whenever the site's row does."""
        stamp = self.updated_at.timestamp() if self.updated_at else 0
        return f"{self.id}-{stamp:.6f}"

    @functools.cached_property
    def secret(self) -> str:
        """The site's secret, opened at first use: only an action beacon naming its actor needs
        it, and opening it loads ``cryptography`` (see ``vault``)."""
        return vault.open_secret(self.sealed_secret)


_generation = 0  # bumped by every ORM change of a site in this process


def _site_changed(*_args: Any) -> None:
    global _generation
    _generation += 1


for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(Site, _name, _site_changed)


class SiteCache:
    def __init__(self, engine: Engine, check_seconds: float):
        self.engine, self.check_seconds = engine, check_seconds
        self._sites: dict[int, CachedSite] = {}
        self._domains: dict[str, list[int]] | None = None  # domain -> its sites, for sites_on
        self._version: tuple[Any, ...] | None = None
        self._generation = _generation
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self, site_id: int) -> CachedSite | None:
        self._check()
        found = self._sites.get(site_id)
        if found is None:
            found = self._load(site_id)
            if found is not None:
                self._sites[site_id] = found
        return found

    def _check(self) -> None:
        if self._generation != _generation:
            self._generation = _generation
            self._sites, self._domains = {}, None
        if time.monotonic() - self._checked < self.check_seconds:
            return
        with self._lock:
            with self.engine.connect() as conn:
                version = tuple(conn.execute(select(func.count(), func.max(sites.c.updated_at))).one())
            if version != self._version:
                self._version, self._sites, self._domains = version, {}, None
            self._checked = time.monotonic()

    def sites_on(self, host: str) -> list[int]:
        """The sites whose domains ``host`` is on (one of them, or a subdomain of one:
        ``sites.parent_domains``). The domains of every site are read once per change of
        the sites, not once per call: a beacon with a bad key asks this, and anyone can send
        those, before any limit applies."""
        self._check()
        index = self._domains
        if index is None:
            with self.engine.connect() as conn:
                rows = conn.execute(select(sites.c.id, sites.c.domains)).all()
            index = {}
            for row in rows:
                for domain in row.domains or []:
                    index.setdefault(domain, []).append(int(row.id))
            self._domains = index
        return sorted({site_id for domain in parent_domains(host) for site_id in index.get(domain, [])})

    def _load(self, site_id: int) -> CachedSite | None:
        sealed = type_coerce(sites.c.secret, String).label("secret")  # not opened here (``CachedSite.secret``)
        columns = (sites.c.id, sites.c.name, sealed, sites.c.domains, sites.c.settings, sites.c.updated_at)
        with self.engine.connect() as conn:
            row = conn.execute(select(*columns).where(sites.c.id == site_id)).first()
        if row is None:
            return None
        return CachedSite(int(row.id), str(row.name), str(row.secret), list(row.domains), dict(row.settings or {}),
                          row.updated_at)


MAX_KEYS = 10_000
_key_ids: dict[str, tuple[int, int] | None] = {}  # site key -> (site id, key version), or None: not ours


def key_parts(key: str) -> tuple[int, int] | None:
    """The site id and key version a key names, remembered: checking the signature is the
    costly part of a page view, and a signature's validity only changes with ``SECRET_KEYS``,
    i.e. a restart (whether the version is the site's current one is checked on every use)."""
    if key in _key_ids:
        return _key_ids[key]
    if len(_key_ids) >= MAX_KEYS:
        _key_ids.clear()
    found = _key_ids[key] = signing.key_parts(key)
    return found


def init_app(app: Flask) -> None:
    app.extensions["widget_sites"] = SiteCache(app.extensions["widget_engine"], float(app.config["SITE_CACHE_SECONDS"]))


def site_from_key(key: str | None, param: str = "site") -> CachedSite:
    """The site a signed key names, from the cache; a Problem (400/404) when there is none."""
    if not key:
        raise Problem(400, "missing-site", "The site key is missing.", param)
    parts = key_parts(key)
    if parts is None:
        raise Problem(400, "invalid-site-key", "The site key is not valid (tampered, or not this server's): copy the "
                      "site's snippet again from the dashboard or `widget-server sites show`.", param)
    cache: SiteCache = current_app.extensions["widget_sites"]
    site = cache.get(parts[0])
    if site is None:
        raise Problem(404, "unknown-site", "No site has this key (deleted?): copy the snippet of a registered "
                      "site from the dashboard or `widget-server sites show`.", param)
    check_key(site, parts[1])
    return site
