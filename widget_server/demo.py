"""The demo: a site registered for this machine and a page that shows its bars.

Registered only by ``widget-server demo`` (the ``DEMO`` setting).

    GET /demo     demo_page
"""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from . import db, sites
from .models import Site

bp = Blueprint("demo", __name__)

DEMO_NAME = "Sharebar demo"
DEMO_DOMAINS = ["localhost", "127.0.0.1"]


def ensure_site() -> Site:
    """The demo site, registered on first run."""
    site = db.session().scalar(select(Site).where(Site.name == DEMO_NAME))
    if site is None:
        site = sites.create_site(DEMO_NAME, DEMO_DOMAINS)
        site.settings = {"counts": True, "public_activity": True, "public_leaderboard": True}
        db.session().commit()
    return site


@bp.get("/demo")
def demo_page() -> str:
    site = ensure_site()
    key = sites.site_key(site)
    return render_template("demo.html", key=key, snippet=sites.snippet(site, sites.public_url()))
