"""What the widget fetches: script, stylesheet, config, counts and the QR code."""
from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import BeaconSender, Registered
from widget_server import db, platforms
from widget_server.assets import static_dir
from widget_server.models import Site


def test_script_is_served_minified_gzipped_and_cacheable(client: FlaskClient) -> None:
    plain = client.get("/static/sharebar.js")
    assert plain.status_code == 200
    assert plain.mimetype == "text/javascript"
    assert "/*@config@*/" not in plain.get_data(as_text=True)
    assert '"param":"_sb"' in plain.get_data(as_text=True)
    assert json.dumps(list(platforms.DEFAULT_SERVICES), separators=(",", ":")) in plain.get_data(as_text=True)
    for service in platforms.SERVICE_IDS:
        assert f'"{service}"' in plain.get_data(as_text=True)
    zipped = client.get("/static/sharebar.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert "max-age" in zipped.headers["Cache-Control"]
    again = client.get("/static/sharebar.js", headers={"If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_stylesheet_is_served(client: FlaskClient) -> None:
    response = client.get("/static/sharebar.css", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b".sb-" in gzip.decompress(response.data)


def test_no_cookie_is_ever_set(client: FlaskClient, beacon: BeaconSender, site: Registered) -> None:
    responses = [
        client.get("/static/sharebar.js"),
        client.get("/v1/config", query_string={"site": site.key}),
        beacon.send(),
        client.get("/v1/counts", query_string={"site": site.key, "url": "https://example.com/"}),
        client.get("/v1/qr.svg", query_string={"site": site.key, "url": "https://example.com/"}),
    ]
    for response in responses:
        assert "Set-Cookie" not in response.headers


def test_config_has_defaults(client: FlaskClient, site: Registered) -> None:
    response = client.get("/v1/config", query_string={"site": site.key, "url": "https://example.com/a"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["site"]["services"] == list(platforms.DEFAULT_SERVICES)
    assert body["site"]["counts"] is False
    assert body["counts"] is None


def test_config_carries_counts_when_the_site_shows_them(app: Flask, client: FlaskClient,
                                                         site: Registered, beacon: BeaconSender) -> None:
    with app.app_context():
        row = db.session().get(Site, site.id)
        row.settings = {"counts": True, "theme": "dark"}
        db.session().commit()
    beacon.send(url="https://example.com/a", service="douban")
    body = client.get("/v1/config", query_string={"site": site.key, "url": "https://example.com/a"}).get_json()
    assert body["site"]["theme"] == "dark"
    assert body["counts"] == {"url": "https://example.com/a", "total": 1, "services": {"douban": 1}}


def test_config_for_a_foreign_page_still_has_the_settings(app: Flask, client: FlaskClient, site: Registered) -> None:
    with app.app_context():
        row = db.session().get(Site, site.id)
        row.settings = {"counts": True, "services": ["douban", "copy"]}
        db.session().commit()
    response = client.get("/v1/config", query_string={"site": site.key, "url": "https://elsewhere.org/"})
    assert response.status_code == 200
    assert response.get_json()["site"]["services"] == ["douban", "copy"]
    assert response.get_json()["counts"] is None


def test_counts_of_an_unshared_page_are_zero(client: FlaskClient, site: Registered) -> None:
    response = client.get("/v1/counts", query_string={"site": site.key, "url": "https://example.com/new"})
    assert response.get_json() == {"url": "https://example.com/new", "total": 0, "services": {}}


def test_counts_are_per_site(app: Flask, client: FlaskClient, beacon: BeaconSender) -> None:
    from conftest import register

    other = register(app, "Also example", ("example.com",))
    beacon.send(url="https://example.com/shared")
    response = client.get("/v1/counts", query_string={"site": other.key, "url": "https://example.com/shared"})
    assert response.get_json()["total"] == 0


@pytest.mark.parametrize(("query", "status", "code"), [
    ({"url": "https://example.com/"}, 400, "missing-site"),
    ({"site": "nope", "url": "https://example.com/"}, 400, "invalid-site-key"),
    ({"site": "KEY"}, 400, "invalid-url"),
    ({"site": "KEY", "url": "ftp://example.com/"}, 400, "invalid-url"),
    ({"site": "KEY", "url": "https://elsewhere.org/"}, 403, "foreign-domain"),
])
@pytest.mark.parametrize("path", ["/v1/counts", "/v1/qr.svg"])
def test_counts_and_qr_refuse_bad_queries(client: FlaskClient, site: Registered, path, query, status, code) -> None:
    params = {name: site.key if value == "KEY" else value for name, value in query.items()}
    response = client.get(path, query_string=params)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/" + code)


def test_qr_code_is_svg_of_the_page(client: FlaskClient, site: Registered) -> None:
    response = client.get("/v1/qr.svg", query_string={"site": site.key, "url": "https://example.com/p?q=1"})
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) >= 2


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_readiness_fails_when_the_database_is_gone(tmp_path) -> None:
    from conftest import SECRET_KEYS
    from widget_server import create_app

    app = create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503


def test_unknown_path_is_problem_json(client: FlaskClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.data)["status"] == 404


def test_database_error_is_answered_without_traceback(app: Flask, beacon: BeaconSender) -> None:
    with app.app_context(), db.engine().begin() as conn:
        from sqlalchemy import text

        conn.execute(text("DROP TABLE event_log"))
    response = beacon.send()
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "event_log" not in body
    assert response.get_json()["type"].endswith("/internal-error")


@pytest.mark.parametrize("name", ["../setup.cfg", "nothing.js", ".hidden.css", "sharebar.txt", "..%2Fsetup.cfg"])
def test_only_files_of_static_are_served(client: FlaskClient, name: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_qr_code_carries_the_share_code(client: FlaskClient, site: Registered) -> None:
    from widget_server.embed import qr_svg

    query = {"site": site.key, "url": "https://example.com/p?q=1&utm_source=x", "code": "Abc123xyz0"}
    response = client.get("/v1/qr.svg", query_string=query)
    assert response.status_code == 200
    # QR encoding is deterministic: the same symbol means the same text was encoded.
    assert response.data == qr_svg("https://example.com/p?q=1&_sb=Abc123xyz0")
    assert response.data != qr_svg("https://example.com/p?q=1")
    bad = client.get("/v1/qr.svg", query_string={**query, "code": "no spaces"})
    assert bad.status_code == 400 and bad.get_json()["param"] == "code"


def test_dialogs_script_is_served_minified(client: FlaskClient) -> None:
    response = client.get("/static/sharebar-dialogs.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    source = (static_dir() / "sharebar-dialogs.js").read_bytes()
    assert 0 < len(response.data) < len(source)


@pytest.mark.parametrize("path", ["/v1/counts", "/v1/config"])
def test_page_view_reads_are_cacheable_and_conditional(client: FlaskClient, beacon: BeaconSender, path: str) -> None:
    query = {"site": beacon.site.key, "url": "https://example.com/post/1"}
    first = client.get(path, query_string=query)
    assert "stale-while-revalidate" in first.headers["Cache-Control"] and first.headers["ETag"]
    again = client.get(path, query_string=query, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Access-Control-Allow-Origin"] == "*"
    beacon.send()
    if path == "/v1/counts":  # a new count is a new ETag
        assert client.get(path, query_string=query, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200
