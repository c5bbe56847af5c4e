"""Sites: registration, their domains, their bar defaults, and finding one from its key."""
from __future__ import annotations

import re
import secrets
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import delete, select

from . import db, platforms, signing
from .models import UNLINKED, ApiToken, Site, utcnow
from .problems import Problem

DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")

BAR_DEFAULTS: dict[str, Any] = {
    "services": list(platforms.DEFAULT_SERVICES),
    "theme": "auto",
    "size": "medium",
    "layout": "inline",
    "float_mobile": "reserve",  # a float bar below 600 px: "reserve" room under the page, or "collapse"
    "counts": False,
    "lang": None,
    "address_bar": False,  # tag the address so links copied from it are attributed
    "public_leaderboard": False,
    "anonymous_actions": True,  # record like-and-share actions that name no actor
    "public_activity": False,  # the recent-activity endpoint and widget element
    "public_names": False,  # ... showing actors' display names
    "retention_days": None,  # actions older than this are deleted
    "verbs": [],  # the site's own verbs, beside like, comment, upvote, favorite, read, upload
    "via": "",  # the account shares mention (data-via in the snippet)
    "hashtags": [],  # tags shares carry (data-hashtags in the snippet)
}
ACCOUNT = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{1,50}$")
HASHTAG = re.compile(r"^[\w\u4e00-\u9fff]{1,50}$")


def clean_domain(value: str) -> str:
    """A bare lower-case host name (IDN as punycode); raises ValueError otherwise."""
    host = value.strip().lower().rstrip(".")
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host).split("/")[0].split(":")[0]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"not a domain: {value!r}") from exc
    if not DOMAIN.match(host):
        raise ValueError(f"not a domain: {value!r}")
    return host


def host_allowed(host: str, domains: list[str]) -> bool:
    """True when ``host`` is one of ``domains`` or a subdomain of one."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains)


def parent_domains(host: str) -> list[str]:
    """``host`` and every domain it is a subdomain of: the domains ``host_allowed`` accepts it
    for, to look up in an index of many sites' domains."""
    labels = host.lower().rstrip(".").split(".")
    return [".".join(labels[n:]) for n in range(len(labels))]


def checked_name_and_domains(name: str, domains: list[str]) -> tuple[str, list[str]]:
    """A site's name, stripped, and its domains, cleaned and each once.

    :raise ValueError: an empty or overlong name, a bad domain, or none.
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("a site needs a name of 1 to 200 characters")
    cleaned = list(dict.fromkeys(clean_domain(d) for d in domains))
    if not cleaned:
        raise ValueError("a site needs at least one domain")
    return name, cleaned


def fresh_version(old: int = 0) -> int:
    """A random version other than ``old`` and 0, for a site's key or feed URLs.

    Random rather than counted from 0: SQLite may give a deleted site's id to a new site, and
    a new site starting at a random feed version accepts none of the deleted one's feed URLs
    (partner tokens are kept apart by ``delete_site``)."""
    version = old
    while version in (old, 0):
        version = secrets.randbelow(2**31)
    return version


def create_site(name: str, domains: list[str]) -> Site:
    """Register a site; raises ValueError for an empty name or a bad domain."""
    name, cleaned = checked_name_and_domains(name, domains)
    site = Site(name=name, domains=cleaned, secret=secrets.token_urlsafe(32),
                settings={"feed_version": fresh_version()})
    session = db.session()
    session.add(site)
    session.commit()
    return site


CHOICES: dict[str, tuple[object, ...]] = {
    "theme": ("auto", "light", "dark"), "size": ("small", "medium", "large"),
    "layout": ("inline", "float"), "float_mobile": ("reserve", "collapse"), "lang": (None, "zh-CN", "zh-TW", "en"),
}
FLAGS = ("counts", "address_bar", "public_leaderboard", "anonymous_actions", "public_activity", "public_names")


def check_setting(name: str, value: Any) -> Any:
    """``value`` if it is acceptable for setting ``name``; ValueError saying why otherwise."""
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise ValueError(f"{name} must be one of {', '.join(map(str, CHOICES[name]))}")
    elif name in FLAGS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
    elif name == "services":
        if not isinstance(value, list) or not value or any(v not in platforms.SERVICE_IDS for v in value):
            raise ValueError("services must be a non-empty list of service ids")
    elif name == "retention_days":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError("retention_days must be a number of days (or null)")
    elif name == "verbs":
        check_verbs(value)
    elif name == "via":
        if not isinstance(value, str) or (value and not ACCOUNT.match(value)):
            raise ValueError("via must be an account name (letters, digits, _ . -)")
    elif name == "hashtags":
        if not isinstance(value, list) or len(value) > 10 or any(
                not isinstance(v, str) or not HASHTAG.match(v) for v in value):
            raise ValueError("hashtags must be at most 10 words of letters, digits and _")
    else:
        raise ValueError(f"no setting {name!r}; settings: {', '.join(BAR_DEFAULTS)}")
    return value


def check_verbs(value: Any) -> None:
    from .verbs import SITE_VERB

    names = value if isinstance(value, list) else list(value) if isinstance(value, dict) else None
    if names is None or any(not isinstance(n, str) or not SITE_VERB.match(n) for n in names):
        raise ValueError("verbs must be a list of lower-case names (or a mapping of name to three phrases)")


def update_settings(site_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply checked ``changes`` to a site's settings; returns the settings now in force.

    :raise LookupError: no such site. :raise ValueError: a bad name or value (nothing changed).
    """
    site = db.session().get(Site, site_id)
    if site is None:
        raise LookupError(f"no site with id {site_id}")
    checked = {name: check_setting(name, value) for name, value in changes.items()}
    site.settings = {**(site.settings or {}), **checked}
    db.session().commit()
    return bar_settings(site)


def rotate_secret(site_id: int) -> Site:
    """Give the site a new secret: actor tokens signed with the old one stop verifying.

    :raise LookupError: no such site.
    """
    site = db.session().get(Site, site_id)
    if site is None:
        raise LookupError(f"no site with id {site_id}")
    site.secret = secrets.token_urlsafe(32)
    db.session().commit()
    return site


class Keyed(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def settings(self) -> dict[str, Any]: ...


def key_version(site: Keyed) -> int:
    """0 until the site's key is first re-signed: the key is then the bare signed id."""
    return int((site.settings or {}).get("key_version", 0))


def site_key(site: Keyed) -> str:
    """The site's public key, the one its snippet must carry."""
    return signing.site_key(site.id, version=key_version(site))


def check_key(site: Keyed, version: int) -> None:
    """Refuse a key of ``site`` that was replaced by re-signing (400 ``invalid-site-key``,
    like a key that is not ours: the installation check counts it as a bad key)."""
    if version != key_version(site):
        raise Problem(400, "invalid-site-key", "This site key was replaced: the page needs the site's new snippet.",
                      "site")


def resign_key(site_id: int) -> Site:
    """Give the site a new public key. Pages still carrying the old snippet are refused (their
    bar gets no settings or counts, their beacons are refused as a bad key); the secret, the
    feed URL, partner tokens and everything counted so far stay as they are.

    :raise LookupError: no such site.
    """
    site = db.session().get(Site, site_id)
    if site is None:
        raise LookupError(f"no site with id {site_id}")
    site.settings = {**(site.settings or {}), "key_version": fresh_version(key_version(site))}
    db.session().commit()
    return site


def update_site(site_id: int, name: str, domains: list[str]) -> Site:
    """Rename a site and replace its domains, checked as ``create_site`` checks them.

    :raise LookupError: no such site. :raise ValueError: a bad name or domain (nothing changed).
    """
    site = db.session().get(Site, site_id)
    if site is None:
        raise LookupError(f"no site with id {site_id}")
    site.name, site.domains = checked_name_and_domains(name, domains)
    db.session().commit()
    return site


def delete_site(site_id: int) -> None:
    """Delete a site with everything recorded for it; LookupError when there is none.

    Partner tokens lose the site (a token left with none is revoked), so a later site that
    reuses the id (SQLite may) is never readable with them.

    The site's row goes first: a batch of the aggregator that holds it (``counting.hold_sites``)
    commits before, and then the rows it wrote are there to delete; a batch that comes after
    finds the site gone. The tables without foreign keys (``models.UNLINKED``) are emptied of
    the site here, the others by their keys' cascades.
    """
    session = db.session()
    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"no site with id {site_id}")
    for token in session.scalars(select(ApiToken)):
        if site_id in token.site_ids:
            token.site_ids = [other for other in token.site_ids if other != site_id]
            if not token.site_ids and token.revoked_at is None:
                token.revoked_at = utcnow()
    session.delete(site)
    session.flush()
    for table in UNLINKED:
        session.execute(delete(table).where(table.c.site_id == site_id))
    session.commit()


class HasSettings(Protocol):
    @property
    def settings(self) -> dict[str, Any]: ...


VERSIONS = ("feed_version", "key_version")  # kept in the settings, never set by the owner


def bar_settings(site: HasSettings) -> dict[str, Any]:
    """The site's bar defaults, PRODUCT defaults filled in for what it did not choose (without
    the versions of its key and feed URLs, which are no setting)."""
    own = site.settings or {}
    return {**BAR_DEFAULTS, **{name: value for name, value in own.items() if name not in VERSIONS}}


def sites_by_id() -> list[Site]:
    return list(db.session().scalars(select(Site).order_by(Site.id)))


def public_url() -> str:
    """This server's public origin from ``WIDGET_PUBLIC_URL``; '' when unset, so links built
    on it stay relative to this server. Never the request's ``Host``: a client chooses that."""
    configured: str | None = current_app.config["PUBLIC_URL"]
    return configured or ""


PLACEHOLDER_URL = "https://YOUR-SERVER"  # printed instead of guessing when WIDGET_PUBLIC_URL is unset


def summary(site: Site) -> dict[str, Any]:
    """A site as ``sites list`` shows it."""
    return {"id": site.id, "name": site.name, "domains": site.domains}


def details(site: Site, server: str) -> dict[str, Any]:
    """A site as ``sites show`` shows it: key, domains, settings in force, snippet (no secret)."""
    return {**summary(site), "key": site_key(site), "settings": bar_settings(site),
            "snippet": snippet(site, server)}


def snippet(site: Site, server: str) -> str:
    """The exact HTML a site owner pastes."""
    key = site_key(site)
    return (
        "<div data-sharebar></div>\n"
        f'<script async src="{server}/static/sharebar.js" data-site="{key}"></script>'
    )
