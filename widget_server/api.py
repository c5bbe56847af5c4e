"""The partner API: stats of the sites a token names, and the description of every endpoint.

    GET /api/v1/stats/aggregate     stats_aggregate     each metric over a period
    GET /api/v1/stats/timeseries    stats_timeseries    the same per date, week or month
    GET /api/v1/stats/breakdown     stats_breakdown     the same per platform, page, action or referrer
    GET /api/v1/stats/leaderboard   stats_leaderboard   top pages by shares, click-backs or lift
    GET /api/openapi.json           openapi_document    OpenAPI 3.1, public

Stats calls need ``Authorization: Bearer TOKEN`` with the ``stats:read`` scope and a
``site_id`` the token names; they answer JSON (``{"results": ...}``, Plausible's shapes) or,
with ``format=csv`` or ``Accept: text/csv``, CSV. Errors are ``application/problem+json``.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import db, exports, openapi, query, stats, tokens
from .models import utcnow
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


@bp.get("/api/openapi.json")
def openapi_document() -> Response:
    response = jsonify(openapi.document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
