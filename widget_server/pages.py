"""A page's public title: the one its owner set, else the readers' consensus.

The aggregator (``counting.py``) keeps ``pages.title``, the title more than one distinct
reader's browser reported (a later such title replacing an earlier one). The site's owner
may set ``pages.owner_title`` instead, here; the aggregator never writes it, and clearing it
hands the page back to the consensus, which went on being kept meanwhile. Everything shown
to the public reads ``public_title()``.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select, update

from . import db
from .ingest import MAX_TITLE, fold_title
from .models import Site, pages, utcnow
from .sites import host_allowed
from .urls import clean_url, url_hash, url_host


def public_title() -> ColumnElement[Any]:
    """The title readers see, as a column of ``pages``."""
    return func.coalesce(pages.c.owner_title, pages.c.title)


def clean_owner_title(raw: str) -> str:
    """The title cleaned as beacon titles are (``ingest.clean_title``), but refused, not cut.

    :raise ValueError: empty once cleaned, or longer than ``MAX_TITLE`` characters.
    """
    title = fold_title(raw)
    if not title:
        raise ValueError("the title is empty")
    if len(title) > MAX_TITLE:
        raise ValueError(f"the title is longer than {MAX_TITLE} characters")
    return title


def site_page_url(site: Site, raw_url: str) -> str:
    """``raw_url`` cleaned as beacons' are, on one of the site's domains.

    :raise ValueError: (``urls.BadURL`` among them) not such a URL.
    """
    url = clean_url(raw_url)
    if not host_allowed(url_host(url), site.domains):
        raise ValueError(f"{url} is not on the domains of site {site.id} ({', '.join(site.domains)})")
    return url


def set_owner_title(site: Site, raw_url: str, raw_title: str | None) -> tuple[str, str | None]:
    """Set (or with ``None`` clear) the owner's title of a page; the page is created when no
    reader was counted on it yet, so a title can be set ahead. Returns the page's clean URL
    and the title now shown publicly (``None``: the URL is shown until readers agree).

    :raise ValueError: a bad or foreign URL, an empty or too long title (nothing changed).
    """
    url = site_page_url(site, raw_url)
    title = None if raw_title is None else clean_owner_title(raw_title)
    where = (pages.c.site_id == site.id, pages.c.url_hash == url_hash(url))
    with db.engine().begin() as conn:
        if title is None:
            conn.execute(update(pages).where(*where).values(owner_title=None))
        else:
            insert = db.dialect_insert(conn, pages)
            conn.execute(insert.values(site_id=site.id, url=url, url_hash=url_hash(url), title=None,
                                       owner_title=title, created_at=utcnow())
                         .on_conflict_do_update(index_elements=["site_id", "url_hash"],
                                                set_={"owner_title": title}))
        shown: str | None = conn.scalar(select(public_title()).where(*where))
    return url, shown
