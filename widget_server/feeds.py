"""Action feeds: a site's like-and-share actions, newest first, and their stewardship.

Pages are keyset-paged on the action id (``before=ID``), so an action recorded while a
partner pages through the feed never shifts or repeats an item. Only counted actions are
shown (not bots, not repeats). Deleting actions — one, every action of one actor, or all
older than the site's retention — removes the rows and takes them out of the rollups in the
same transaction, so feeds and totals agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import current_app
from sqlalchemy import Connection, ColumnElement, Table, delete, func, select, update

from . import db, signing, sites, verbs
from .models import Site, actions, daily_rollups, daily_uniques, event_log, pages
from .pages import public_title
from .urls import url_hash

A = actions.c
MAX_LIMIT = 100
MAX_ID = 2**63 - 1  # action ids are bigints


@dataclass(frozen=True)
class Item:
    id: int
    verb: str
    url: str
    title: str | None
    actor_uid: str | None
    actor_name: str | None
    actor_avatar: str | None
    published: datetime


def items(conn: Connection, site_id: int, limit: int = 20, before: int | None = None,
          only_verbs: tuple[str, ...] = (), page_url: str | None = None) -> list[Item]:
    """The site's counted actions, newest first, ``limit`` of them below id ``before``."""
    query = (select(A.id, A.verb, pages.c.url, public_title().label("title"), A.actor_uid, A.actor_name, A.actor_avatar,
                    A.created_at)
             .join(pages, pages.c.id == A.page_id)
             .where(A.site_id == site_id, A.status == "counted")
             .order_by(A.id.desc()).limit(limit))
    if before is not None:
        query = query.where(A.id < before)
    if only_verbs:
        query = query.where(A.verb.in_(only_verbs))
    if page_url is not None:
        query = query.where(pages.c.url_hash == url_hash(page_url))
    return [Item(int(r.id), r.verb, r.url, r.title, r.actor_uid, r.actor_name, r.actor_avatar, utc(r.created_at))
            for r in conn.execute(query)]


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- Activity Streams 2.0 -----------------------------------------------------------------

CONTEXT = ["https://www.w3.org/ns/activitystreams", {"sharebar": "https://sharebar.invalid/ns#",
                                                     "verb": "sharebar:verb"}]


def activity(item: Item, site_id: int, names: dict[str, verbs.Verb], lang: str) -> dict[str, Any]:
    """One action as an AS2 activity: ``Like``, ``Create``, ``Read``… with the verb kept."""
    verb = names.get(item.verb, verbs.GENERIC)
    actor: dict[str, Any] | None = None
    if item.actor_uid is not None:
        actor = {"type": "Person", "id": f"urn:sharebar:site:{site_id}:actor:{item.actor_uid}",
                 "name": item.actor_name}
        if item.actor_avatar:
            actor["icon"] = {"type": "Image", "url": item.actor_avatar}
    title = item.title or item.url
    return {
        "type": verb.activity,
        "id": f"urn:sharebar:site:{site_id}:action:{item.id}",
        "verb": item.verb,
        "summary": verbs.sentence(verb, lang, title, item.actor_name),
        "actor": actor,
        "object": {"type": "Page", "id": item.url, "url": item.url, "name": title},
        "published": item.published.isoformat(timespec="seconds"),
    }


def collection_page(found: list[Item], site_id: int, names: dict[str, verbs.Verb], lang: str,
                    self_url: str, next_url: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "OrderedCollectionPage",
        "id": self_url,
        "orderedItems": [activity(item, site_id, names, lang) for item in found],
    }
    if next_url:
        page["next"] = next_url
    return page


def link(path: str) -> str:
    """``path`` (a path and query of this server) as the URL a feed names it by: absolute
    under ``WIDGET_PUBLIC_URL``, else the relative reference itself, which AS2 (JSON-LD) and
    Atom readers resolve against the URL they fetched. Never built from the ``Host`` header."""
    return (current_app.config["PUBLIC_URL"] or "") + path


# -- feed tokens (for Atom readers, which send no headers) --------------------------------


def feed_version(site: Site) -> int:
    """Random from the site's creation (``sites.fresh_version``; 0 for sites made before), so
    a new site given a deleted site's id does not share its version, hence its feed URLs."""
    return int((site.settings or {}).get("feed_version", 0))


def feed_token(site: Site) -> str:
    """A token naming the site's feed; ``revoke_feeds`` makes every earlier one invalid."""
    return signing.serializer("feed").dumps([site.id, feed_version(site)])


def revoke_feeds(site: Site) -> None:
    site.settings = {**(site.settings or {}), "feed_version": sites.fresh_version(feed_version(site))}
    db.session().commit()


def feed_site(token: str) -> Site | None:
    """The site whose feed a token names, or None for one we did not sign or that was revoked."""
    value = signing.load("feed", token)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return None
    site = db.session().get(Site, value[0])
    return site if site is not None and feed_version(site) == value[1] else None


# -- stewardship --------------------------------------------------------------------------


def remove(conn: Connection, site_id: int, *where: ColumnElement[bool]) -> int:
    """Delete the site's actions matching ``where``, taking counted ones out of the rollups."""
    mine = (A.site_id == site_id, *where)
    groups = select(A.day, A.page_id, A.verb, func.count().label("n")).where(
        *mine, A.status == "counted").group_by(A.day, A.page_id, A.verb)
    for row in conn.execute(groups).all():
        key = {"site_id": site_id, "day": row.day, "page_id": row.page_id, "service": "", "referrer": "",
               "action": row.verb}
        subtract(conn, daily_rollups, key, int(row.n))
        for dim, value in (("", ""), ("page", str(row.page_id)), ("action", row.verb)):
            subtract(conn, daily_uniques, {"site_id": site_id, "day": row.day, "dim": dim, "value": value},
                     int(row.n))
    return int(conn.execute(delete(actions).where(*mine)).rowcount or 0)


def subtract(conn: Connection, table: Table, key: dict[str, Any], n: int) -> None:
    match = [table.c[name] == value for name, value in key.items()]
    conn.execute(update(table).where(*match).values(actions=func.max(table.c.actions - n, 0)
                                                    if conn.dialect.name == "sqlite"
                                                    else func.greatest(table.c.actions - n, 0)))


def delete_action(conn: Connection, site_id: int, action_id: int) -> bool:
    return remove(conn, site_id, A.id == action_id) > 0


def erase_actor(conn: Connection, site_id: int, uid: str) -> int:
    """Forget one actor: every action naming them, counted or still in the event log (those
    are never counted). Returns how many actions were deleted.

    Holds the aggregator's state row meanwhile, so a batch being counted cannot bring back
    an action of the actor afterwards."""
    from .aggregate import load_state

    load_state(conn)
    logged = (event_log.c.site_id == site_id, event_log.c.actor_uid == uid)
    erased = set(conn.scalars(select(event_log.c.event_id).where(*logged)))
    erased.update(conn.scalars(select(A.event_id).where(A.site_id == site_id, A.actor_uid == uid)))
    conn.execute(delete(event_log).where(*logged))
    remove(conn, site_id, A.actor_uid == uid)
    return len(erased)


def prune(conn: Connection, site_id: int, retention_days: int, today: date) -> int:
    """Delete the actions older than ``retention_days`` days."""
    return remove(conn, site_id, A.day < today - timedelta(days=retention_days))


def prune_all(conn: Connection, today: date) -> int:
    """Apply every site's ``retention_days``; run by the first request of each day."""
    deleted = 0
    for site_id, settings in conn.execute(select(Site.id, Site.settings)):
        days = (settings or {}).get("retention_days")
        if isinstance(days, int) and not isinstance(days, bool) and days > 0:
            deleted += prune(conn, site_id, days, today)
    return deleted
