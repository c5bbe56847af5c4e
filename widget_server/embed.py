"""The embed surface: what a reader's browser fetches from pages that carry the bar.

    GET  /static/sharebar.js     widget_script      the widget (registry injected, minified)
    GET  /static/<name>          static_file        its stylesheet and other files
    GET  /v1/config              site_config        a site's bar defaults (+ the page's counts)
    POST /v1/events              record_event       share, click-back and action beacons (sendBeacon)
    GET  /v1/counts              page_counts        share counts of one page
    GET  /v1/qr.svg              qr_code            the WeChat QR code of a page
    GET  /v1/leaderboard         public_leaderboard a site's top pages (排行榜), when it opted in
    GET  /v1/activity            recent_activity    the latest actions on a site or page, when it opted in

No cookies are read or set here, and CORS is open: every answer is public by design.
"""
from __future__ import annotations

import io
from typing import Any

import segno
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import Connection

from . import actors, assets, db, feeds, ingest, limits, query, refusals, sites, stats, verbs, visitors
from .actors import Actor
from .models import Site, utcnow
from .problems import Problem
from .urls import BadURL, clean_url, url_host, with_share_code

bp = Blueprint("embed", __name__)


@bp.after_request
def open_cors(response: Response) -> Response:
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
    # Lets a site's own performance monitoring see what the bar costs it.
    response.headers.setdefault("Timing-Allow-Origin", "*")
    return response


@bp.get("/static/sharebar.js")
def widget_script() -> Response:
    return assets.send(assets.build("sharebar.js"))


@bp.get("/static/<name>")
def static_file(name: str) -> Response:
    """The stylesheet and any other file of ``static/`` (minified where it is JS or CSS)."""
    if not assets.servable(name):
        raise Problem(404, "not-found", "No such file.")
    return assets.send(assets.build(name))


def page_of_site(site: Site, raw: str | None) -> str:
    """The cleaned ``url`` parameter; a Problem unless it is a page of ``site``."""
    try:
        url = clean_url(raw)
    except BadURL as exc:
        raise Problem(400, "invalid-url", str(exc), "url") from None
    if not sites.host_allowed(url_host(url), site.domains):
        raise Problem(403, "foreign-domain", "The page is not on one of the site's domains.", "url")
    return url


def check_origin(site: Site) -> None:
    """Refuse a beacon a browser sent from a page outside the site's domains."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    host = url_host(origin) if origin != "null" else ""
    if not sites.host_allowed(host, site.domains):
        raise Problem(403, "foreign-origin", "The beacon comes from a page outside the site's domains.")


@bp.get("/v1/config")
def site_config() -> Response:
    """The site's bar defaults, and the page's counts when the site shows counts.

    A ``url`` that is not a page of the site only costs the counts: the bar still gets the
    site's settings.
    """
    site = sites.site_from_key(request.args.get("site"))
    bar = sites.bar_settings(site)
    counts = None
    if bar["counts"] and request.args.get("url"):
        try:
            url = page_of_site(site, request.args["url"])
        except Problem:
            url = None
        if url:
            with db.engine().connect() as conn:
                counts = stats.page_counts(conn, site.id, url)
    response = jsonify(site=widget_settings(bar), counts=counts)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def widget_settings(bar: dict[str, object]) -> dict[str, object]:
    """What the widget needs of the settings (not, say, whether the leaderboard is public)."""
    names = ("services", "theme", "size", "layout", "counts", "lang", "address_bar")
    return {**{name: bar[name] for name in names}, "verbs": own_verbs(bar)}


def own_verbs(bar: dict[str, object]) -> dict[str, list[str]]:
    """The site's own verbs with their phrases (the widget knows the built-in ones)."""
    return {name: list(verb.phrases) for name, verb in verbs.site_verbs(bar).items() if name not in verbs.VERBS}


@bp.post("/v1/events", provide_automatic_options=False)
def record_event() -> Response:
    """Store a beacon. 204 also for a retried one; nothing is stored for any 4xx (but the
    refusal, for the owner's installation check)."""
    body = read_body()
    try:
        store_beacon(body)
    except Problem as problem:
        refusals.note(problem, body, request.headers.get("Origin"))
        raise
    return Response(status=204)


def store_beacon(body: bytes) -> None:
    beacon = ingest.parse_beacon(ingest.decode_body(body, request.content_type))
    site = sites.site_from_key(beacon.site_key)
    page_of_site(site, beacon.url)
    check_origin(site)
    settings = sites.bar_settings(site)
    actor = action_actor(site, settings, beacon)
    with db.engine().begin() as conn:
        reader = current_reader(conn, site.id)
        limits.check("RATE_LIMIT_VISITOR", site.id, reader.visitor)
        limits.check("RATE_LIMIT_SITE", site.id)
        ingest.record(conn, site.id, beacon, reader, bool(settings["address_bar"]), actor=actor)
    refusals.seen(site.id, beacon.url)


def action_actor(site: Site, settings: dict[str, Any], beacon: ingest.Beacon) -> Actor | None:
    """The verified actor of an action beacon (None: anonymous, if the site allows it).

    :raise Problem: 400 for a verb the site does not know, 401 for a bad actor token,
        403 when the site wants every action named.
    """
    ingest.check_verb(beacon, settings)
    if beacon.type != "action":
        return None
    if beacon.actor:
        return actors.verify(beacon.actor, site.id, site.secret)
    if not settings["anonymous_actions"]:
        raise Problem(403, "actor-required", "This site records only actions with a signed actor.", "actor")
    return None


def read_body() -> bytes:
    """The body, refused unread when it says it is too large and cut off when it lies."""
    limit = current_app.config["MAX_BEACON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "too-large", f"A beacon is at most {limit} bytes.")
    body: bytes = request.stream.read(limit + 1)
    if len(body) > limit:
        raise Problem(413, "too-large", f"A beacon is at most {limit} bytes.")
    return body


def current_reader(conn: Connection, site_id: int) -> ingest.Reader:
    """The request's reader as a daily hash; the IP and user agent go no further than here."""
    salt = visitors.daily_salt(conn, utcnow().date())
    agent = request.headers.get("User-Agent", "")
    visitor = visitors.visitor_hash(salt, site_id, request.remote_addr or "", agent)
    return ingest.Reader(visitor, visitors.is_bot(agent))


@bp.route("/v1/events", methods=["OPTIONS"])
def events_preflight() -> Response:
    """Let scripts POST ``application/json`` too (``sendBeacon`` with text/plain needs none)."""
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


@bp.get("/v1/counts")
def page_counts() -> Response:
    site = sites.site_from_key(request.args.get("site"))
    url = page_of_site(site, request.args.get("url"))
    with db.engine().connect() as conn:
        response = jsonify(stats.page_counts(conn, site.id, url))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                      title="QR", dark="#000", light="#fff")
    return out.getvalue()


@bp.get("/v1/qr.svg")
def qr_code() -> Response:
    """A QR code of the page (with its share ``code`` when given), for registered sites only."""
    site = sites.site_from_key(request.args.get("site"))
    url = page_of_site(site, request.args.get("url"))
    if "code" in request.args:
        url = with_share_code(url, str(ingest.clean_code(request.args["code"], required=True)))
    response = Response(qr_svg(url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/v1/leaderboard")
def public_leaderboard() -> Response:
    """A site's top pages for its readers: 404 ``leaderboard-off`` unless its settings say
    ``"public_leaderboard": true``; only URL, title and the one number; cached 5 minutes."""
    site = sites.site_from_key(request.args.get("site"))
    if (site.settings or {}).get("public_leaderboard") is not True:
        raise Problem(404, "leaderboard-off", "This site does not publish a leaderboard.")
    board = query.public_leaderboard_query(request.args, site.id, utcnow().date())
    with db.engine().connect() as conn:
        rows = stats.public_leaderboard(conn, board)
    response = jsonify(period=board.period, order_by=board.order_by, results=rows)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/v1/activity")
def recent_activity() -> Response:
    """The latest actions (of one page with ``url``), for the widget's recent-activity element:
    404 ``activity-off`` unless the site's settings say ``"public_activity": true``; actors'
    names only with ``"public_names": true``; at most 20; cached one minute."""
    site = sites.site_from_key(request.args.get("site"))
    settings = sites.bar_settings(site)
    if settings["public_activity"] is not True:
        raise Problem(404, "activity-off", "This site does not publish its recent activity.")
    url = page_of_site(site, request.args["url"]) if request.args.get("url") else None
    limit = query.parse_int(request.args.get("limit"), "limit", 10, 20)
    with db.engine().connect() as conn:
        found = feeds.items(conn, site.id, limit=limit, page_url=url)
    names = settings["public_names"] is True
    items = [{"verb": item.verb, "url": item.url, "title": item.title,
              "name": item.actor_name if names else None, "published": item.published.isoformat(timespec="seconds")}
             for item in found]
    response = jsonify(items=items)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
