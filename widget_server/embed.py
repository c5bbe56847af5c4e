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

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import segno
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from . import actors, assets, caching, db, feeds, ingest, limits, query, refusals, sitecache, sites, stats, verbs, visitors
from .actors import Actor
from .models import Site, utcnow
from .sitecache import CachedSite
from .problems import PROBLEM_TYPE, Problem
from .urls import BadURL, clean_url, url_host, with_share_code

bp = Blueprint("embed", __name__)

AnySite = Site | CachedSite
# What the widget reads on every page view: fresh enough within seconds, served stale while
# a cache revalidates, and answered 304 when it has not changed.
PAGE_VIEW_CACHE = "public, max-age=30, stale-while-revalidate=300"


# Every embed answer is public: any page may read it, embed it and time it; the widget waits as
# long as a 429 or 503 asks (Retry-After) before it retries a beacon.
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Timing-Allow-Origin": "*",  # lets a site's own performance monitoring see what the bar costs it
    "Access-Control-Expose-Headers": "Retry-After",
}


@bp.after_request
def open_cors(response: Response) -> Response:
    for name, value in CORS.items():
        response.headers.setdefault(name, value)
    return assets.compress(response)


@bp.get("/static/sharebar.js")
def widget_script() -> Response:
    """The widget. When the page that asks for it is on exactly one site's domains (the
    ``Referer``, which browsers send for a script, with the page's origin at least), with that
    site's config inside (:func:`page_site_config`), fresh as ``/v1/config`` is: the bar then
    draws with no request before a click, where it would otherwise wait for the config's
    round trip. Every other page gets the same file, cached an hour."""
    config = page_site_config()
    if config is None:
        response = assets.send(assets.build("sharebar.js"))
    else:
        response = assets.send(assets.site_script(config), PAGE_VIEW_CACHE)
    response.vary.update(("Referer", "Accept-Language"))
    return response


# The characters of a site's key the script's config ends with: its signature's last 36 bits,
# which a copied snippet of another site, a re-signed key or a truncated one do not share,
# and that are bytes before every page's first paint.
KEY_TAIL = 6


def page_site_config() -> dict[str, Any] | None:
    """``/v1/config`` of the site the script's ``Referer`` is on, without counts (they are per
    page) and with ``k``, the end of the site's key, by which the widget makes sure that it is
    the site its snippet names; None when the page is on no site or on several.

    Its services are named in the site's language, else in the one the reader's browser asks
    for first (``Accept-Language``), as a guess at the page's: the widget asks for the config
    as before when the page's language is another one.

    None as well when the database cannot be read (the site rows are checked for changes every
    ``SITE_CACHE_SECONDS``): the script never depends on it, and the widget's own request for
    the config then meets the 503 and draws the default bar.
    """
    host = url_host(request.headers.get("Referer") or "")
    cache: sitecache.SiteCache = current_app.extensions["widget_sites"]
    try:
        found = cache.sites_on(host) if host else []
        site = cache.get(found[0]) if len(found) == 1 else None
        if site is None:
            return None
        lang = request.accept_languages.best_match(assets.LANGS) or "en"
        return {"k": sites.site_key(site)[-KEY_TAIL:], **site_config_of(site, {"lang": lang})}
    except SQLAlchemyError:
        return None


@bp.get("/static/<name>")
def static_file(name: str) -> Response:
    """The stylesheet and any other file of ``static/`` (minified where it is JS or CSS)."""
    if not assets.servable(name):
        raise Problem(404, "not-found", "No such file.")
    return assets.send(assets.build(name))


# What a refusal for the page's domain says, also in the widget's console warning: the reason
# and what the site's owner does about it.
FOREIGN = ("The {what} is not on one of the site's domains: add {host} to them in the site's Settings "
           "(dashboard), or the snippet was copied from another site.")


def page_of_site(site: AnySite, raw: str | None) -> str:
    """The cleaned ``url`` parameter; a Problem unless it is a page of ``site``."""
    try:
        url = clean_url(raw)
    except BadURL as exc:
        raise Problem(400, "invalid-url", str(exc), "url") from None
    check_domain(site, url)
    return url


def check_domain(site: AnySite, url: str) -> None:
    """Refuse a cleaned page URL outside the site's domains."""
    if not sites.host_allowed(url_host(url), site.domains):
        raise Problem(403, "foreign-domain", FOREIGN.format(host=url_host(url) or "its host", what="page"), "url")


def check_origin(site: AnySite, origin: str | None) -> None:
    """Refuse a beacon a browser sent from a page (``origin``) outside the site's domains."""
    if origin is None:
        return
    host = url_host(origin) if origin != "null" else ""
    if not sites.host_allowed(host, site.domains):
        raise Problem(403, "foreign-origin", FOREIGN.format(host=host or "its host", what="beacon's page"))


@bp.get("/v1/config")
def site_config() -> Response:
    met_in_lane()
    return page_view_response(jsonify(config_answer(request.args)))


def config_answer(args: Mapping[str, str]) -> dict[str, Any]:
    """``/v1/config``: the site's bar defaults, and the page's counts when the site shows
    counts or the widget asks for them (``counts=1``: a bar on the page shows counts, which
    then need no request of their own). What is at its default is left out (the widget has
    the same defaults): every page with a bar fetches this.

    A ``url`` that is not a page of the site still gets the site's settings (the bar draws),
    but no counts, and ``refused`` the problem its beacons will meet (``foreign-domain``), so
    that the widget tells the page's owner at once, in the console, why and what to do. Reads the cached site row
    and, with counts, one page's totals.
    """
    return site_config_of(sitecache.site_from_key(args.get("site")), args)


def site_config_of(site: AnySite, args: Mapping[str, str]) -> dict[str, Any]:
    """:func:`config_answer` for a site already known."""
    bar = sites.bar_settings(site)
    counts, refused = None, {}
    if args.get("url"):
        try:
            url = page_of_site(site, args["url"])
        except Problem as problem:
            url, refused = None, {"refused": {"type": PROBLEM_TYPE + problem.code, "detail": problem.detail}}
        if url and (bar["counts"] or args.get("counts") == "1"):
            counts = cached_counts(site.id, url)
    shown = {"counts": counts} if counts is not None else {}
    return {"site": widget_settings(bar), **shown, **refused, **assets.config_services(bar, args.get("lang"))}


def cached_counts(site_id: int, url: str) -> dict[str, Any]:
    """A page's counts, read at most once per ``COUNTS_CACHE_SECONDS`` in this process: counts
    follow the aggregator anyway, so a second of staleness costs nothing and spares the
    database the page views of a popular page."""
    cache: stats.CountsCache = current_app.extensions["widget_counts"]
    found = cache.get(site_id, url)
    if found is None:
        with db.engine().connect() as conn:
            found = cache.put(site_id, url, stats.page_counts(conn, site_id, url))
    return found


def page_view_response(response: Response) -> Response:
    """``response`` with an ETag and short public caching; 304 when the client has it."""
    response.headers["Cache-Control"] = PAGE_VIEW_CACHE
    response.add_etag()
    response.make_conditional(request)
    return response


def widget_settings(bar: dict[str, object]) -> dict[str, object]:
    """What the widget needs of the settings (not, say, whether the leaderboard is public): the
    services, and the rest where the site chose other than the default (``sites.BAR_DEFAULTS``,
    which the widget knows too) or has verbs of its own."""
    names = ("theme", "size", "layout", "counts", "lang", "address_bar")
    chosen = {name: bar[name] for name in names if bar[name] != sites.BAR_DEFAULTS[name]}
    own = own_verbs(bar)
    return {"services": bar["services"], **chosen, **({"verbs": own} if own else {})}


def own_verbs(bar: dict[str, object]) -> dict[str, list[str]]:
    """The site's own verbs with their phrases (the widget knows the built-in ones)."""
    return {name: list(verb.phrases) for name, verb in verbs.site_verbs(bar).items() if name not in verbs.VERBS}


@dataclass(frozen=True)
class Arrival:
    """A beacon as it arrived: what the request path needs of the HTTP request, so that Flask's
    view and the hot paths' lane (``lane.py``) store it with the same code."""

    body: bytes
    content_type: str | None
    origin: str | None  # the Origin header
    address: str  # the client's address (behind trusted proxies: theirs)
    agent: str  # the User-Agent header


# The WSGI environ key under which the lane hands Flask the exception a request met there, so
# that Flask answers it (problem document, headers, log record, metrics) without doing the
# work, or storing the beacon, a second time.
MET = "sharebar.lane_met"


def met_in_lane() -> None:
    """Raise what this request met in the lane, if the lane handed it over."""
    met: Exception | None = request.environ.pop(MET, None)
    if met is not None:
        raise met


@bp.post("/v1/events", provide_automatic_options=False)
def record_event() -> Response:
    """Store a beacon: 204 once it is durably in the event log, also for a retried one;
    nothing is stored for any 4xx (but the refusal, for the owner's installation check); 503
    with ``Retry-After`` when the database cannot take it. Counting happens behind, in the
    aggregator."""
    body = read_body()
    arrival = Arrival(body, request.content_type, request.headers.get("Origin"), request.remote_addr or "",
                      request.headers.get("User-Agent", ""))
    try:
        met_in_lane()
        store_beacon(arrival)
    except Problem as problem:
        refusals.note(problem, body, arrival.origin)
        raise
    return no_content()


def no_content() -> Response:
    """204: a beacon's answer has no body, so no type either (Werkzeug would say text/html)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def store_beacon(arrival: Arrival) -> None:
    """Check the beacon and store it; returns once it is durably stored.

    :raise Problem: a refusal (nothing stored). :raise writer.Unavailable: not stored in time.
    """
    beacon = ingest.parse_beacon(ingest.decode_body(arrival.body, arrival.content_type))
    site = sitecache.site_from_key(beacon.site_key)
    check_domain(site, beacon.url)  # cleaned by parse_beacon
    check_origin(site, arrival.origin)
    settings = sites.bar_settings(site)
    actor = action_actor(site, settings, beacon)
    limited: limits.Beacon = (site.id, arrival.address)  # checked with the write
    address_bar = bool(settings["address_bar"])
    checked = False  # the limits were counted before the write
    if beacon.type == "clickback" and beacon.code:
        limits.check_beacon(*limited)  # before a made-up code costs a lookup
        checked = True
        with db.engine().connect() as conn:
            ingest.check_code(conn, site.id, beacon.code, address_bar)
    row = ingest.log_row(site.id, beacon, reader(site.id, arrival), address_bar, actor)
    ingest.writer().store(row, limited, checked)
    refusals.seen(site.id, beacon.url)


def action_actor(site: AnySite, settings: dict[str, Any], beacon: ingest.Beacon) -> Actor | None:
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


def reader(site_id: int, arrival: Arrival) -> ingest.Reader:
    """The beacon's reader as a daily hash; the IP and user agent go no further than here."""
    salt = visitors.daily_salt(db.engine(), utcnow().date())
    visitor = visitors.visitor_hash(salt, site_id, arrival.address, arrival.agent)
    return ingest.Reader(visitor, visitors.is_bot(arrival.agent))


@bp.route("/v1/events", methods=["OPTIONS"])
def events_preflight() -> Response:
    """Let scripts POST ``application/json`` too (``sendBeacon`` with text/plain needs none)."""
    response = no_content()
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


@bp.get("/v1/counts")
def page_counts() -> Response:
    met_in_lane()
    return page_view_response(jsonify(counts_answer(request.args)))


def counts_answer(args: Mapping[str, str]) -> dict[str, Any]:
    """``/v1/counts``: one page's shares per service and in total, from one cached site row and
    one page's totals."""
    site = sitecache.site_from_key(args.get("site"))
    return cached_counts(site.id, page_of_site(site, args.get("url")))


# A QR code a phone still reads off a screen: at most version 26 at error level M, 121 modules.
QR_MAX_BYTES = 1024
QR_CACHE = 128  # rendered codes kept per process; each is at most ~25 KB


@functools.lru_cache(maxsize=QR_CACHE)
def qr_svg(text: str) -> bytes:
    """The SVG of ``text`` (a cleaned URL, so every spelling of a page shares one entry)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                      title="QR", dark="#000", light="#fff")
    return out.getvalue()


@bp.get("/v1/qr.svg")
def qr_code() -> Response:
    """A QR code of the page (with its share ``code`` when given), for registered sites only.

    Limited per client (``RATE_LIMIT_QR``); rendered once per cleaned URL and code.

    :raise Problem 400: ``url-too-long`` past ``QR_MAX_BYTES`` of UTF-8.
    """
    limits.check("RATE_LIMIT_QR", limits.client())
    site = sitecache.site_from_key(request.args.get("site"))
    url = page_of_site(site, request.args.get("url"))
    if "code" in request.args:
        url = with_share_code(url, str(ingest.clean_code(request.args["code"], required=True)))
    if len(url.encode("utf-8")) > QR_MAX_BYTES:
        raise Problem(400, "url-too-long", f"A QR code holds a URL of at most {QR_MAX_BYTES} bytes.", "url")
    response = Response(qr_svg(url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/v1/leaderboard")
def public_leaderboard() -> Response:
    """A site's top pages for its readers: 404 ``leaderboard-off`` unless its settings say
    ``"public_leaderboard": true``; only URL, title and the one number; cached 5 minutes, here
    too, per parsed query (so unknown parameters do not bust it); limited per client."""
    limits.check("RATE_LIMIT_PUBLIC", limits.client())
    site = sitecache.site_from_key(request.args.get("site"))
    if (site.settings or {}).get("public_leaderboard") is not True:
        raise Problem(404, "leaderboard-off", "This site does not publish a leaderboard.")
    board = query.public_leaderboard_query(request.args, site.id, utcnow().date())
    rows = caching.cache("leaderboard", 1024, 300).get(board, lambda: read_leaderboard(board))
    response = jsonify(period=board.period, order_by=board.order_by, results=rows)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def read_leaderboard(board: query.StatsQuery) -> list[dict[str, Any]]:
    with db.engine().connect() as conn:
        return stats.public_leaderboard(conn, board)


@bp.get("/v1/activity")
def recent_activity() -> Response:
    """The latest actions (of one page with ``url``), for the widget's recent-activity element:
    404 ``activity-off`` unless the site's settings say ``"public_activity": true``; actors'
    names only with ``"public_names": true``; at most 20; cached one minute, here too, per page,
    limit and naming; limited per client."""
    limits.check("RATE_LIMIT_PUBLIC", limits.client())
    site = sitecache.site_from_key(request.args.get("site"))
    settings = sites.bar_settings(site)
    if settings["public_activity"] is not True:
        raise Problem(404, "activity-off", "This site does not publish its recent activity.")
    url = page_of_site(site, request.args["url"]) if "url" in request.args else None
    limit = query.parse_int(request.args.get("limit"), "limit", 10, 20)
    names = settings["public_names"] is True
    items = caching.cache("activity", 1024, 60).get((site.id, url, limit, names),
                                                     lambda: read_activity(site.id, url, limit, names))
    response = jsonify(items=items)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def read_activity(site_id: int, url: str | None, limit: int, names: bool) -> list[dict[str, Any]]:
    with db.engine().connect() as conn:
        found = feeds.items(conn, site_id, limit=limit, page_url=url)
    return [{"verb": item.verb, "url": item.url, "title": item.title,
             "name": item.actor_name if names else None, "published": item.published.isoformat(timespec="seconds")}
            for item in found]
