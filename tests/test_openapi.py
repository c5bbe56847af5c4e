"""``/api/openapi.json`` is a valid OpenAPI 3.1 document that describes every route, and
real answers of the app — successes and problems — match it (checked with openapi-core).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_spec_validator import validate
from werkzeug.test import EnvironBuilder, TestResponse

from conftest import Partner, Registered, Seeder, issue_token
from widget_server import db, openapi, signing
from widget_server.models import Site


def text(body: bytes, charset: str = "utf-8", **_: str) -> str:
    return body.decode(charset)


def problem(body: bytes, **_: str) -> Any:
    return json.loads(body)


# openapi-core reads JSON itself; the other media types the document names are text.
READERS = {"application/problem+json": problem, **dict.fromkeys(
    ("text/javascript", "text/css", "text/csv", "text/plain", "image/svg+xml"), text)}
SPEC = OpenAPI.from_dict(openapi.document(), config=Config(extra_media_type_deserializers=READERS))
PAGE = "https://example.com/post/1"


def exchange(client: FlaskClient, method: str, path: str, check_request: bool = True,
             **kwargs: Any) -> TestResponse:
    """Send a request, and check it (unless told: bad input is meant to break the rules)
    and the answer against the document."""
    request = WerkzeugOpenAPIRequest(EnvironBuilder(method=method, path=path, **kwargs).get_request())
    response = client.open(method=method, path=path, **kwargs)
    if check_request:
        SPEC.validate_request(request)
    SPEC.validate_response(request, WerkzeugOpenAPIResponse(response))
    return response


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document == json.loads(json.dumps(openapi.document()))


def test_every_route_is_described_and_nothing_else(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/dashboard/"):
            continue  # HTML pages for site owners, not a machine interface
        methods = set(rule.methods or ()) - {"HEAD"}
        if getattr(rule, "provide_automatic_options", True):
            methods.discard("OPTIONS")
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in methods}
    described = {(path, method) for path, item in openapi.document()["paths"].items() for method in item}
    assert routes == described


def test_partner_errors_are_problems() -> None:
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    assert list(answer["content"]) == ["application/problem+json"], (path, method, status)


@pytest.fixture
def opted_in(app: Flask, site: Registered) -> Registered:
    with app.app_context():
        session = db.session()
        row = session.get(Site, site.id)
        assert row is not None
        row.settings = {"public_leaderboard": True}
        session.commit()
    return site


def test_embed_answers_match(client: FlaskClient, site: Registered, seed: Seeder) -> None:
    key = site.key
    assert exchange(client, "GET", "/static/sharebar.js").status_code == 200
    assert exchange(client, "GET", "/static/sharebar.css").status_code == 200
    assert exchange(client, "GET", "/v1/config", query_string={"site": key, "url": PAGE}).status_code == 200
    assert exchange(client, "GET", "/v1/config", False, query_string={"site": "forged"}).status_code == 400
    assert exchange(client, "GET", "/v1/counts", query_string={"site": key, "url": PAGE}).status_code == 200
    foreign = {"site": key, "url": "https://elsewhere.example/"}
    assert exchange(client, "GET", "/v1/counts", query_string=foreign).status_code == 403
    assert exchange(client, "GET", "/v1/qr.svg", query_string={"site": key, "url": PAGE}).status_code == 200
    with_code = {"site": key, "url": PAGE, "code": "code123456"}
    assert exchange(client, "GET", "/v1/qr.svg", query_string=with_code).status_code == 200
    assert exchange(client, "GET", "/static/nothing.css", False).status_code == 404
    assert exchange(client, "GET", "/v1/leaderboard", query_string={"site": key}).status_code == 404
    assert exchange(client, "OPTIONS", "/v1/events").status_code == 204


def test_unknown_site_key_is_a_404_problem(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        key = signing.site_key(99999)
    assert exchange(client, "GET", "/v1/counts", query_string={"site": key, "url": PAGE}).status_code == 404


def test_beacons_match(client: FlaskClient, site: Registered) -> None:
    share = {"type": "share", "site": site.key, "url": PAGE, "service": "weibo", "id": "a1b2c3d4e5",
             "title": "A post", "code": "code123456"}
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
    response = exchange(client, "POST", "/v1/events", json=share, headers=headers)
    assert response.status_code == 204, response.get_data(as_text=True)
    clickback = {"type": "clickback", "site": site.key, "url": PAGE + "?_sb=code123456", "code": "code123456",
                 "id": "f6e5d4c3b2", "referrer": "https://weibo.com/"}
    response = exchange(client, "POST", "/v1/events", json=clickback, headers=headers,
                        environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert response.status_code == 204, response.get_data(as_text=True)
    as_text = exchange(client, "POST", "/v1/events", data=json.dumps({**share, "id": "z9y8x7w6v5"}),
                       content_type="text/plain;charset=UTF-8", headers=headers)
    assert as_text.status_code == 204
    bad = exchange(client, "POST", "/v1/events", False, json={**share, "service": "google-plus"})
    assert bad.status_code == 400


def test_public_leaderboard_matches(client: FlaskClient, opted_in: Registered, seed: Seeder) -> None:
    from datetime import datetime, timezone

    seed.rollup(datetime.now(timezone.utc).date().isoformat(), PAGE, shares=3, clickbacks=4)
    response = exchange(client, "GET", "/v1/leaderboard", query_string={"site": opted_in.key, "order_by": "lift"})
    assert response.get_json()["results"] == [{"page": PAGE, "title": None, "lift": 1.33}]
    assert exchange(client, "GET", "/v1/leaderboard", False,
                    query_string={"site": opted_in.key, "limit": "99"}).status_code == 400


STATS_CALLS = [
    ("/api/v1/stats/aggregate", {"metrics": "shares,clickbacks,sharers,visitors,lift,bot_shares,bot_clickbacks"}),
    ("/api/v1/stats/aggregate", {"metrics": "sharers", "filters": "platform==weibo|qq"}),
    ("/api/v1/stats/aggregate", {"format": "csv"}),
    ("/api/v1/stats/timeseries", {"period": "6mo", "metrics": "shares,lift"}),
    ("/api/v1/stats/timeseries", {"period": "custom", "date": "2026-03-01,2026-03-31", "interval": "week"}),
    ("/api/v1/stats/breakdown", {"property": "page", "metrics": "shares,visitors,lift", "limit": "5"}),
    ("/api/v1/stats/breakdown", {"property": "referrer", "metrics": "clickbacks", "format": "csv"}),
    ("/api/v1/stats/breakdown", {"property": "action", "filters": "page==https://example.com/post/1"}),
    ("/api/v1/stats/leaderboard", {"order_by": "lift", "limit": "3"}),
]


@pytest.mark.parametrize(("path", "params"), STATS_CALLS)
def test_stats_answers_match(client: FlaskClient, partner: Partner, seed: Seeder, path: str,
                             params: dict[str, str]) -> None:
    seed.page(PAGE, "A post")
    seed.rollup("2026-03-30", PAGE, "weibo", shares=4, clickbacks=5)
    seed.rollup("2026-03-30", PAGE, "weibo", "weibo.cn", clickbacks=2, bot_clickbacks=1)
    seed.uniques("2026-03-30", "", "", sharers=3, visitors=6)
    query = {"site_id": str(partner.site_id), "date": "2026-03-31", **params}
    headers = {"Authorization": f"Bearer {partner.token}"}
    response = exchange(client, "GET", path, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)


STATS_ERRORS = [
    ({"period": "year"}, "token", 400),
    ({"period": "custom", "date": "2026-03-02,2026-03-01"}, "token", 400),
    ({"metrics": "pageviews"}, "token", 400),
    ({"filters": "platform=weibo"}, "token", 400),
    ({}, None, 401),
    ({}, "sbp_" + "x" * 43, 401),
    ({}, "feed-only", 403),
    ({"site_id": "99999"}, "token", 404),
]


@pytest.mark.parametrize(("params", "token", "status"), STATS_ERRORS)
def test_stats_problems_match(app: Flask, client: FlaskClient, partner: Partner, params: dict[str, str],
                              token: str | None, status: int) -> None:
    if token == "token":
        token = partner.token
    elif token == "feed-only":
        token = issue_token(app, [partner.site_id], scopes=("feed:read",))[1]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    query = {"site_id": str(partner.site_id), **params}
    response = exchange(client, "GET", "/api/v1/stats/aggregate", False, query_string=query, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_operator_answers_match(client: FlaskClient) -> None:
    assert exchange(client, "GET", "/healthz").status_code == 200
    assert exchange(client, "GET", "/readyz").status_code == 200
    assert exchange(client, "GET", "/api/openapi.json").status_code == 200
    assert exchange(client, "GET", "/metrics").status_code == 200
    assert exchange(client, "GET", "/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 403


def test_unready_answer_matches(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.downgrade("-1")
    assert exchange(client, "GET", "/readyz").status_code == 503


@pytest.mark.parametrize("body", [
    {"results": [{"shares": 1}]},  # a list where an aggregate has an object
    {"results": {"shares": {"value": "1"}}},  # a number as text
    {"results": {"shares": {"value": 1}}},  # no "query"
])
def test_the_check_catches_a_wrong_answer(body: dict[str, Any]) -> None:
    from openapi_core.exceptions import OpenAPIError
    from werkzeug.wrappers import Response

    request = WerkzeugOpenAPIRequest(EnvironBuilder(path="/api/v1/stats/aggregate", query_string={"site_id": "1"},
                                                    headers={"Authorization": "Bearer x"}).get_request())
    response = WerkzeugOpenAPIResponse(Response(json.dumps(body), mimetype="application/json"))
    with pytest.raises(OpenAPIError):
        SPEC.validate_response(request, response)
