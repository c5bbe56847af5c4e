"""The partner API: stats of the sites a token names, and the description of every endpoint.

    GET /api/v1/stats/aggregate     stats_aggregate     each metric over a period
    GET /api/v1/stats/timeseries    stats_timeseries    the same per date, week or month
    GET /api/v1/stats/breakdown     stats_breakdown     the same per platform, page, action or referrer
    GET /api/v1/stats/leaderboard   stats_leaderboard   top pages by shares, click-backs or lift
    GET /api/v1/stats/long-tail     stats_long_tail     click-backs by days since their share
    GET    /api/v1/feed                   action_feed    actions as Activity Streams 2.0, newest first
    GET    /api/v1/feed.atom?token=T      atom_feed      the same as Atom, for feed readers (feed token)
    DELETE /api/v1/actions/<id>           remove_action  delete one action
    DELETE /api/v1/actors/<uid>/actions   forget_actor   delete every action of one actor
    GET /api/openapi.json           openapi_document    OpenAPI 3.1, public

Calls need ``Authorization: Bearer TOKEN`` with the scope they name (``stats:read``,
``feed:read``, ``actions:write``) and a ``site_id`` the token names (the Atom feed takes a
feed token in its URL instead); stats calls they answer JSON (``{"results": ...}``, Plausible's shapes) or,
with ``format=csv`` or ``Accept: text/csv``, CSV. Errors are ``application/problem+json``.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode
from typing import Any

from flask import Blueprint, Response, json, jsonify, render_template, request

from . import db, exports, feeds, openapi, query, sites, stats, tokens, verbs
from .models import Site, utcnow
from .problems import Problem
from .query import StatsQuery

bp = Blueprint("api", __name__)

UNIQUES_WARNING = (
    "sharers and visitors are null: distinct readers are kept for the whole site and for each "
    "single value of platform, page and referrer, and cannot be added up across values."
)


@bp.after_request
def no_store(response: Response) -> Response:
    if request.path.startswith("/api/v1/"):
        response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sharebar"'
    return response


def today() -> date:
    """The reference day of periods: today in UTC, the day the rollups use."""
    return utcnow().date()


def partner_site(scope: str = "stats:read") -> int:
    """The ``site_id`` of the call, once the token has proven it may read it (401/403/404)."""
    token = tokens.authenticate(request.headers.get("Authorization"))
    site_id = query.parse_site_id(request.args.get("site_id"))
    tokens.require(token, scope, site_id)
    return site_id


def wants_csv() -> bool:
    chosen = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return chosen == "text/csv"


def described(q: StatsQuery) -> dict[str, Any]:
    """What was answered, so a partner sees which days ``7d`` meant."""
    info: dict[str, Any] = {
        "site_id": q.site_id, "period": q.period,
        "date_range": [q.range.start.isoformat(), q.range.end.isoformat()], "metrics": list(q.metrics),
    }
    if q.filters:
        info["filters"] = request.args.get("filters")
    if q.prop:
        info["property"] = q.prop
    if q.order_by:
        info["order_by"] = q.order_by
    return info


def answer(q: StatsQuery, results: Any, rows: list[stats.Row], columns: list[str], name: str) -> Response:
    """JSON ``{"results": ..., "query": ...}`` or the same rows as CSV."""
    if query.parse_format(request.args.get("format"), wants_csv()) == "csv":
        filename = f"sharebar-{name}-{q.site_id}-{q.range.start}-{q.range.end}.csv"
        return exports.csv_response(rows, columns, filename)
    body: dict[str, Any] = {"results": results, "query": described(q)}
    if stats.wants_uniques(q.metrics) and not stats.uniques_exact(q.filters, q.prop):
        body["warning"] = UNIQUES_WARNING
    return jsonify(body)


def parsed(parse: Callable[[Any, int, date], StatsQuery]) -> StatsQuery:
    return parse(request.args, partner_site(), today())


@bp.get("/api/v1/stats/aggregate")
def stats_aggregate() -> Response:
    """``{"results": {"shares": {"value": 12}, ...}}``."""
    q = parsed(query.aggregate_query)
    with db.engine().connect() as conn:
        totals = stats.aggregate(conn, q)
    return answer(q, {name: {"value": value} for name, value in totals.items()}, [totals], list(q.metrics),
                  "aggregate")


@bp.get("/api/v1/stats/timeseries")
def stats_timeseries() -> Response:
    """``{"results": [{"date": "2026-01-01", "shares": 3, ...}, ...]}``, empty intervals included."""
    q = parsed(query.timeseries_query)
    with db.engine().connect() as conn:
        rows = stats.timeseries(conn, q)
    return answer(q, rows, rows, ["date", *q.metrics], "timeseries")


@bp.get("/api/v1/stats/breakdown")
def stats_breakdown() -> Response:
    """``{"results": [{"platform": "weibo", "shares": 3, ...}, ...]}``, largest first, paged."""
    q = parsed(query.breakdown_query)
    with db.engine().connect() as conn:
        rows = stats.breakdown(conn, q)
    prop = q.prop or ""
    columns = [prop, *(["title"] if prop == "page" else []), *q.metrics]
    return answer(q, rows, rows, columns, "breakdown")


@bp.get("/api/v1/stats/leaderboard")
def stats_leaderboard() -> Response:
    """``{"results": [{"page": URL, "title": T, "shares": 9, "clickbacks": 20, "lift": 2.22}]}``."""
    q = parsed(query.leaderboard_query)
    with db.engine().connect() as conn:
        rows = stats.leaderboard(conn, q)
    return answer(q, rows, rows, ["page", "title", *q.metrics], "leaderboard")


@bp.get("/api/v1/stats/long-tail")
def stats_long_tail() -> Response:
    """``{"results": [{"age": "0", "clickbacks": 9}, ...]}``: day 0, 1, 2-7, 8-30, 31+, in order."""
    q = parsed(query.long_tail_query)
    with db.engine().connect() as conn:
        rows = stats.long_tail(conn, q)
    return answer(q, rows, rows, ["age", "clickbacks"], "long-tail")


def feed_params(site: Site) -> dict[str, Any]:
    """The feed's filters and page: verb (comma list), page URL, limit (<= 100), before (id).
    A parameter sent empty is refused, not taken as absent."""
    known = verbs.site_verbs(site.settings or {})
    raw_verbs = request.args.get("verb")
    only = tuple(raw_verbs.split(",")) if raw_verbs is not None else ()
    if any(v not in known for v in only):
        raise Problem(400, "unknown-verb", f"verb must be some of {', '.join(known)}.", "verb")
    page = request.args.get("page")
    if page == "":
        raise Problem(400, "invalid-url", "page must be a page's URL.", "page")
    before = request.args.get("before")
    lang = request.args.get("lang", sites.bar_settings(site)["lang"] or "en")
    if lang not in verbs.LANGS:
        raise Problem(400, "unknown-lang", f"lang must be one of {', '.join(verbs.LANGS)}.", "lang")
    return {"only_verbs": only, "page_url": stats.page_value(page) if page is not None else None,
            "limit": query.parse_int(request.args.get("limit"), "limit", 20, feeds.MAX_LIMIT),
            "before": query.parse_int(before, "before", 1, 2**62) if before is not None else None, "lang": lang}


def site_row(site_id: int) -> Site:
    found = db.session().get(Site, site_id)
    assert found is not None, "tokens.require checked that the site exists"
    return found


def this_request() -> str:
    """The path and query of the request, as the client sent them."""
    query_string = request.query_string.decode("utf-8")
    return request.path + ("?" + query_string if query_string else "")


@bp.get("/api/v1/feed")
def action_feed() -> Response:
    """An AS2 ``OrderedCollectionPage``; ``next`` pages on with ``before``, stable under inserts."""
    site = site_row(partner_site("feed:read"))
    params = feed_params(site)
    lang = params.pop("lang")
    with db.engine().connect() as conn:
        found = feeds.items(conn, site.id, **params)
    next_url = None
    if len(found) == params["limit"]:
        next_url = feeds.link(request.path + "?" + urlencode({**request.args.to_dict(), "before": found[-1].id}))
    page = feeds.collection_page(found, site.id, verbs.site_verbs(site.settings or {}), lang,
                                 feeds.link(this_request()), next_url)
    return Response(json.dumps(page, ensure_ascii=False), mimetype="application/activity+json")


@bp.get("/api/v1/feed.atom")
def atom_feed() -> Response:
    """The feed as Atom; the URL's signed feed token stands in for the header."""
    site = feeds.feed_site(request.args.get("token") or "")
    if site is None:
        raise Problem(401, "invalid-feed-token", "The feed token is not valid (or was revoked).", "token")
    params = feed_params(site)
    lang = params.pop("lang")
    with db.engine().connect() as conn:
        found = feeds.items(conn, site.id, **params)
    names = verbs.site_verbs(site.settings or {})
    entries = [feeds.activity(item, site.id, names, lang) for item in found]
    body = render_template("feed.atom.xml", site=site, entries=entries, self_url=feeds.link(this_request()),
                           updated=(found[0].published if found else site.created_at).isoformat(timespec="seconds"))
    return Response(body, mimetype="application/atom+xml")


@bp.delete("/api/v1/actions/<int:action_id>")
def remove_action(action_id: int) -> Response:
    """204, or 404 when the site has no such action (deleting twice is 404 the second time;
    an id past the database's bigint is one no action has)."""
    site_id = partner_site("actions:write")
    with db.engine().begin() as conn:
        if action_id > feeds.MAX_ID or not feeds.delete_action(conn, site_id, action_id):
            raise Problem(404, "unknown-action", "The site has no action with this id.")
    return Response(status=204)


@bp.delete("/api/v1/actors/<path:uid>/actions")
def forget_actor(uid: str) -> Response:
    """``{"deleted": N}``: every action naming this actor is gone (right to be forgotten)."""
    site_id = partner_site("actions:write")
    with db.engine().begin() as conn:
        deleted = feeds.erase_actor(conn, site_id, uid)
    return jsonify(deleted=deleted)


@bp.get("/api/openapi.json")
def openapi_document() -> Response:
    response = jsonify(openapi.document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
