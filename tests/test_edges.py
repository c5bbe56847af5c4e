"""What every request and answer passes through: garbled paths and queries refused before
any view, ``nosniff`` on everything, a CSP on everything (a strict one on the server's own
HTML, one that allows nothing elsewhere)."""
from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import Partner, Registered
from widget_server import edges

GARBLED = [
    ("/v1/counts?site={key}&url=https://example.com/%FF", "invalid-utf8"),
    ("/v1/counts?site={key}&url=https://example.com/%ED%A0%80", "invalid-utf8"),  # a lone surrogate
    ("/v1/qr.svg?site={key}&url=https://example.com/%00", "invalid-character"),
    ("/v1/config?site={key}%C0", "invalid-utf8"),
    ("/api/v1/stats/aggregate?site_id={id}&filters=page==%00", "invalid-character"),
    ("/api/v1/stats/aggregate?site_id={id}&filters=page==%FE%FF", "invalid-utf8"),
    ("/api/v1/feed?site_id={id}&page=https://example.com/%80", "invalid-utf8"),
    ("/api/v1/actors/%00/actions?site_id={id}", "invalid-character"),
    ("/api/v1/actors/%FF/actions?site_id={id}", "invalid-utf8"),
]


@pytest.mark.parametrize(("target", "code"), GARBLED)
def test_a_garbled_path_or_query_is_a_400_problem_with_cors(client: FlaskClient, site: Registered, partner: Partner,
                                                            target: str, code: str) -> None:
    url = target.format(key=site.key, id=site.id)
    path = url.split("?")[0]
    # As a WSGI server passes it (PEP 3333): the path's bytes, percent-decoded, as latin-1.
    environ = {"PATH_INFO": unquote_to_bytes(path).decode("latin-1")}
    method = client.delete if "/actors/" in url else client.get
    response = method(url, headers={"Authorization": f"Bearer {partner.token}"}, environ_overrides=environ)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/" + code)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_utf8_in_queries_is_fine(client: FlaskClient, site: Registered) -> None:
    response = client.get("/v1/counts", query_string={"site": site.key, "url": "https://example.com/文章?q=分享"})
    assert response.status_code == 200


ANSWERS = ["/healthz", "/readyz", "/static/sharebar.js", "/static/sharebar.css", "/v1/config?site={key}",
           "/v1/counts?site={key}&url=https://example.com/", "/v1/qr.svg?site={key}&url=https://example.com/",
           "/v1/leaderboard?site={key}", "/v1/nothing", "/api/openapi.json", "/api/v1/stats/aggregate?site_id={id}"]


@pytest.mark.parametrize("target", ANSWERS)
def test_every_answer_says_nosniff_and_allows_nothing_to_run(client: FlaskClient, site: Registered,
                                                              partner: Partner, target: str) -> None:
    response = client.get(target.format(key=site.key, id=site.id), headers={"Authorization": f"Bearer {partner.token}"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == edges.OTHER_POLICY
    assert "default-src 'none'" in edges.OTHER_POLICY and "script-src" not in edges.OTHER_POLICY


def test_the_demo_page_has_the_strict_html_policy(demo_client: FlaskClient) -> None:
    response = demo_client.get("/demo")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert policy == edges.HTML_POLICY
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "<style" not in response.get_data(as_text=True)  # the page's own styles come from /static


@pytest.mark.parametrize("path", ["/demo", "/dashboard/signin"])
def test_the_servers_own_pages_name_their_icon(demo_client: FlaskClient, path: str) -> None:
    """Else a browser asks for /favicon.ico, a 404 in the console and in the log of every visit."""
    page = demo_client.get(path).get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert icon is not None, page[:500]
    answer = demo_client.get(icon.group(1))
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert answer.get_data(as_text=True).startswith("<svg")


@pytest.fixture
def demo_client(tmp_path) -> FlaskClient:  # type: ignore[no-untyped-def]
    from conftest import make_app

    app: Flask = make_app(f"sqlite:///{tmp_path}/demo.db", tmp_path, DEMO=True)
    return app.test_client()


def test_without_a_public_url_the_demo_page_does_not_echo_the_host(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import make_app

    app: Flask = make_app(f"sqlite:///{tmp_path}/demo.db", tmp_path, DEMO=True, PUBLIC_URL=None)
    page = app.test_client().get("/demo", base_url="http://evil.example:8080").get_data(as_text=True)
    assert "evil.example" not in page
    assert 'src="/static/sharebar.js"' in page  # the snippet stays relative to this server
    app.extensions["widget_engine"].dispose()
