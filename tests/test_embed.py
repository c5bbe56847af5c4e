"""What the widget fetches: script, stylesheet, config, counts and the QR code."""
from __future__ import annotations

import gzip
import json
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from werkzeug.test import TestResponse

from conftest import BeaconSender, Registered, make_app, register
from widget_server import assets, db, embed, platforms, sites
from widget_server.assets import static_dir
from widget_server.models import Site


def test_script_is_served_minified_gzipped_and_cacheable(client: FlaskClient) -> None:
    plain = client.get("/static/sharebar.js")
    assert plain.status_code == 200
    assert plain.mimetype == "text/javascript"
    script = plain.get_data(as_text=True)
    assert "/*@config@*/" not in script
    # The minifier drops the quotes of keys that are names: compared without quotes.
    assert "param:_sb" in script.replace('"', "")
    # Only behaviour: the services travel with the site's config, or in sharebar-services.js
    # with the default bar (drawn when the config failed).
    assert "https://service.weibo.com" not in script and "douban" not in script
    everything = client.get("/static/sharebar-services.js").get_data(as_text=True).replace('"', "")
    assert "defaults:[" + ",".join(platforms.DEFAULT_SERVICES) + "]" in everything
    for service in platforms.SERVICE_IDS:
        assert f"{service}:{{k:" in everything
    assert "share:[分享,分享,Share]" in everything and "Share on %" not in script
    zipped = client.get("/static/sharebar.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert "max-age" in zipped.headers["Cache-Control"]
    again = client.get("/static/sharebar.js", headers={"If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def embedded(script: TestResponse) -> dict[str, Any] | None:
    """The site config a served script carries, or None."""
    text = script.get_data(as_text=True)
    assert assets.SITE_SLOT not in text
    at = text.find('{"k":')
    return None if at < 0 else json.JSONDecoder().raw_decode(text, at)[0]


def test_the_script_for_a_page_of_a_site_carries_its_config(app: Flask, client: FlaskClient, site: Registered) -> None:
    """The bar then draws with no request of its own: the config it would ask for, fresh as
    that would be, for the site the page's address is on, in the reader's language."""
    headers = {"Referer": "https://www.example.com/post/1", "Accept-Language": "zh-TW,en;q=0.5"}
    script = client.get("/static/sharebar.js", headers=headers)
    config = client.get("/v1/config", query_string={"site": site.key, "lang": "zh-TW"}).get_json()
    assert embedded(script) == {"k": site.key[-embed.KEY_TAIL:], **config}
    assert config["lang"] == 1
    assert script.headers["Cache-Control"] == embed.PAGE_VIEW_CACHE
    assert {"Referer", "Accept-Language"} <= set(script.vary)
    assert client.get("/static/sharebar.js", headers={**headers, "If-None-Match": script.headers["ETag"]}).status_code == 304
    # In the site's own language when it has one; a change of its settings is in the next script.
    with app.app_context():
        sites.update_settings(site.id, {"lang": "zh-CN", "services": ["douban", "copy"]})
    changed = client.get("/static/sharebar.js", headers=headers)
    assert embedded(changed)["lang"] == 0 and set(embedded(changed)["services"]) == {"douban", "copy"}
    assert changed.headers["ETag"] != script.headers["ETag"]
    zipped = client.get("/static/sharebar.js", headers={**headers, "Accept-Encoding": "gzip"})
    assert gzip.decompress(zipped.data) == changed.data


@pytest.mark.parametrize("referer", [None, "https://elsewhere.org/", "https://shared.net/", "not a URL"])
def test_the_script_for_any_other_page_is_the_same_file(app: Flask, client: FlaskClient, site: Registered,
                                                         referer: str | None) -> None:
    """No site's, or two sites' (which one would the snippet name?), or no address at all."""
    register(app, "One", ("shared.net",))
    register(app, "Two", ("blog.shared.net", "shared.net"))
    plain = client.get("/static/sharebar.js")
    script = client.get("/static/sharebar.js", headers={"Referer": referer} if referer else {})
    assert embedded(script) is None and script.data == plain.data
    assert script.headers["ETag"] == plain.headers["ETag"]
    assert "max-age=3600" in script.headers["Cache-Control"]
    assert "Referer" in script.vary  # another page's answer may carry a config


def test_site_scripts_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound the least recently used goes; each is a whole, valid gzip stream."""
    monkeypatch.setattr(assets, "SITE_SCRIPTS_KEPT", 2)
    monkeypatch.setattr(assets, "_site_scripts", assets.OrderedDict())
    made = [assets.site_script({"k": str(n)}) for n in range(3)]
    assert len(assets._site_scripts) == 2 and assets.site_script({"k": "2"}) is made[2]
    assert assets.site_script({"k": "0"}) is not made[0]  # gone, made again
    for script in made:
        assert gzip.decompress(script.gzipped) == script.body


def test_the_script_is_built_again_when_its_stylesheet_changes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stylesheet travels inside the script: an edited sharebar.css is in the next one."""
    import os
    import shutil

    shutil.copytree(static_dir(), tmp_path / "static")
    monkeypatch.setattr(assets, "static_dir", lambda: tmp_path / "static")
    monkeypatch.setattr(assets, "_built", {})
    before = assets.build("sharebar.js").body.decode()
    css = tmp_path / "static" / "sharebar.css"
    css.write_text(css.read_text() + "\n.sb-test-rule { color: red; }\n")
    later = os.stat(tmp_path / "static" / "sharebar.js").st_mtime + 5
    os.utime(css, (later, later))
    after = assets.build("sharebar.js").body.decode()
    assert ".sb-test-rule" not in before and ".sb-test-rule{color:red}" in after


SERVING_PROCESS = """
import sys
from widget_server import create_app
app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEYS": sys.argv[1]})
script = app.test_client().get("/static/sharebar.js")
print(script.status_code, "module.exports" in script.get_data(as_text=True), "minify" in sys.modules)
"""


def test_the_minifier_never_runs_in_the_serving_process(tmp_path: Any) -> None:
    """tdewolff-minify runs Go, whose runtime would stay in every web worker (7 MB) and does
    not survive a fork (a gunicorn master with --preload would hang its workers): it runs in a
    child process, and the serving process has the minified script all the same."""
    done = subprocess.run([sys.executable, "-c", SERVING_PROCESS, secrets.token_urlsafe(48)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["200", "False", "False"], done.stderr


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
    # Only what is not at its default (the widget has the defaults): the services always.
    assert body["site"] == {"services": list(platforms.DEFAULT_SERVICES)}
    assert set(body) == {"site", "lang", "services", "t"}


@pytest.mark.parametrize("site_lang,page_lang,expected", [
    (None, "zh-TW", 1), (None, None, 2), (None, "xx", 2), ("zh-CN", "en", 0),
])
def test_config_carries_the_sites_services_in_one_language(app: Flask, client: FlaskClient, site: Registered,
                                                           site_lang: str | None, page_lang: str | None,
                                                           expected: int) -> None:
    with app.app_context():
        sites.update_settings(site.id, {"services": ["douban", "copy"], "lang": site_lang})
    body = client.get("/v1/config", query_string={"site": site.key, "lang": page_lang}).get_json()
    assert body["lang"] == expected and set(body["services"]) == {"douban", "copy"}
    assert body["services"]["douban"]["n"] == platforms.registry()["douban"]["n"][expected]
    assert "activity" not in body and "float_mobile" not in body  # at their defaults: false, reserve
    assert body["t"]["share"] == assets.STRINGS["share"][expected]  # the bar's words too, in that language


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


def test_config_carries_counts_a_bar_asks_for(client: FlaskClient, site: Registered, beacon: BeaconSender) -> None:
    beacon.send(url="https://example.com/a", service="douban")
    query = {"site": site.key, "url": "https://example.com/a", "counts": "1"}
    body = client.get("/v1/config", query_string=query).get_json()
    assert "counts" not in body["site"]  # the site's own setting, unchanged (off, the default)
    assert body["counts"] == {"url": "https://example.com/a", "total": 1, "services": {"douban": 1}}
    foreign = client.get("/v1/config", query_string={**query, "url": "https://elsewhere.org/"}).get_json()
    assert "counts" not in foreign


def test_config_for_a_foreign_page_still_has_the_settings(app: Flask, client: FlaskClient, site: Registered) -> None:
    with app.app_context():
        row = db.session().get(Site, site.id)
        row.settings = {"counts": True, "services": ["douban", "copy"]}
        db.session().commit()
    response = client.get("/v1/config", query_string={"site": site.key, "url": "https://elsewhere.org/"})
    assert response.status_code == 200
    assert response.get_json()["site"]["services"] == ["douban", "copy"]
    assert "counts" not in response.get_json()
    # What its beacons will meet, for the widget's console: the reason and what to do.
    refused = response.get_json()["refused"]
    assert refused["type"].endswith("/foreign-domain") and "add elsewhere.org to them" in refused["detail"]
    on_the_site = client.get("/v1/config", query_string={"site": site.key, "url": "https://example.com/a"})
    assert "refused" not in on_the_site.get_json()


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


@pytest.mark.parametrize("name", ["sharebar.js", "sharebar-share.js", "sharebar-counts.js"])
def test_what_only_nodes_tests_take_is_not_served(client: FlaskClient, name: str) -> None:
    assert "module.exports" in (static_dir() / name).read_text("utf-8")  # tests/js require() these
    served = client.get(f"/static/{name}").get_data(as_text=True)
    assert "module" not in served and "Sharebar" in served


def qr(client: FlaskClient, site: Registered, url: str, ip: str = "203.0.113.7", **params: str) -> TestResponse:
    return client.get("/v1/qr.svg", query_string={"site": site.key, "url": url, **params},
                      environ_base={"REMOTE_ADDR": ip})


@pytest.mark.parametrize("url", [
    "https://example.com/" + "a" * 1100,
    "https://example.com/" + "文" * 400,  # 1,200 bytes of UTF-8 in 420 characters
    "https://example.com/" + "a" * 1000 + "?x=1",  # fits alone, not with its share code
])
def test_qr_code_of_a_url_too_long_to_scan_is_refused(client: FlaskClient, site: Registered, url: str) -> None:
    response = qr(client, site, url, code="abcdef123456")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/url-too-long")
    assert response.get_json()["param"] == "url"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_qr_codes_are_rendered_once_per_cleaned_url(client: FlaskClient, site: Registered) -> None:
    embed.qr_svg.cache_clear()
    first = qr(client, site, "https://example.com/p?q=1")
    for spelling in ("https://example.com/p?q=1&utm_source=x", "https://EXAMPLE.com:443/p?q=1#top"):
        again = qr(client, site, spelling, _="cache-buster")
        assert again.data == first.data
    assert embed.qr_svg.cache_info().misses == 1 and embed.qr_svg.cache_info().hits == 2
    assert qr(client, site, "https://example.com/p?q=1", code="abcdef").data != first.data
    assert embed.qr_svg.cache_info().misses == 2


@pytest.mark.parametrize("path", ["/v1/qr.svg", "/v1/leaderboard", "/v1/activity"])
def test_public_reads_are_limited_per_client(database_url: str, tmp_path: Any, path: str) -> None:
    app = make_app(database_url, tmp_path, RATE_LIMIT_QR="2/minute", RATE_LIMIT_PUBLIC="2/minute")
    client, site = app.test_client(), register(app)
    params = {"site": site.key, "url": "https://example.com/"}
    answers = [client.get(path, query_string={**params, "_": str(n)}, environ_base={"REMOTE_ADDR": "198.51.100.1"})
               for n in range(3)]
    assert [a.status_code for a in answers[:2]] != [429, 429]
    refused = answers[2]
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    other = client.get(path, query_string=params, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert other.status_code != 429
    app.extensions["widget_engine"].dispose()


class Statements:
    """The SQL statements the app's engine runs while this is open."""

    def __init__(self, app: Flask):
        self.engine, self.seen = app.extensions["widget_engine"], []  # type: list[str]

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self.record)

    def record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)


def test_leaderboard_and_activity_are_cached_whatever_else_the_query_says(app: Flask, client: FlaskClient,
                                                                          beacon: BeaconSender) -> None:
    with app.app_context():
        db.session().get(Site, beacon.site.id).settings = {"public_leaderboard": True, "public_activity": True}
        db.session().commit()
    beacon.send()
    beacon.action("like")
    key = beacon.site.key
    first = client.get("/v1/leaderboard", query_string={"site": key, "period": "7d"}).get_json()
    items = client.get("/v1/activity", query_string={"site": key}).get_json()
    assert first["results"] and items["items"]
    with Statements(app) as seen:
        busted = client.get("/v1/leaderboard", query_string={"site": key, "period": "7d", "limit": "10",
                                                             "_": "1234", "filters": "page==x"}).get_json()
        again = client.get("/v1/activity", query_string={"site": key, "nocache": "1", "limit": "10"}).get_json()
    assert (busted, again) == (first, items)
    assert not [s for s in seen if "daily_" in s or "actions" in s], seen
    with Statements(app) as seen:
        other = client.get("/v1/leaderboard", query_string={"site": key, "order_by": "clickbacks"})
    assert other.status_code == 200 and any("daily_" in s for s in seen)


def test_config_is_gzipped_for_browsers_that_take_it(client: FlaskClient, site: Registered) -> None:
    query = {"site": site.key, "url": "https://example.com/a", "lang": "zh-CN"}
    plain = client.get("/v1/config", query_string=query)
    zipped = client.get("/v1/config", query_string=query, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert json.loads(gzip.decompress(zipped.data)) == plain.get_json()
    assert len(zipped.data) < 2500  # the default bar's services, one language, brand marks


@pytest.mark.parametrize("path", ["/v1/counts", "/v1/config"])
def test_page_view_reads_are_cacheable_and_conditional(client: FlaskClient, beacon: BeaconSender, path: str) -> None:
    query = {"site": beacon.site.key, "url": "https://example.com/post/1"}
    first = client.get(path, query_string=query)
    assert "stale-while-revalidate" in first.headers["Cache-Control"] and first.headers["ETag"]
    again = client.get(path, query_string=query, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Access-Control-Allow-Origin"] == "*"
    assert beacon.send().status_code == 204
    if path == "/v1/counts":  # a new count is a new ETag
        assert client.get(path, query_string=query, headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_popup_sizes_come_with_the_share_module_not_the_config(client: FlaskClient, site: Registered) -> None:
    share = client.get("/static/sharebar-share.js").get_data(as_text=True).replace('"', "")
    for service in platforms.SERVICES:
        if service.popup is not None:
            assert f"{service.id}:[{service.popup[0]},{service.popup[1]}]" in share
    config = client.get("/v1/config", query_string={"site": site.key}).get_json()
    assert not any("w" in entry for entry in config["services"].values())
