"""POST /v1/events: good beacons are stored and counted once; bad ones get a 4xx and store nothing."""
from __future__ import annotations

import json
import threading

import pytest
from flask import Flask
from sqlalchemy import select

from conftest import BeaconSender, register, table_rows
from widget_server import db, ingest
from widget_server.models import event_log


def counts(beacon: BeaconSender, url: str = "https://example.com/post/1") -> dict:
    response = beacon.client.get("/v1/counts", query_string={"site": beacon.site.key, "url": url})
    assert response.status_code == 200
    return response.get_json()


def test_share_beacon_is_stored_and_counted(app: Flask, beacon: BeaconSender) -> None:
    response = beacon.send(service="weibo")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    beacon.send(service="weibo", ip="203.0.113.8")
    beacon.send(service="x", url="https://example.com/post/1?utm_source=feed#comments")
    rows = table_rows(app, "events")
    assert sorted(row.service for row in rows) == ["weibo", "weibo", "x"]
    assert counts(beacon) == {"url": "https://example.com/post/1", "total": 3, "services": {"weibo": 2, "x": 1}}


def test_subdomain_page_is_accepted(app: Flask, beacon: BeaconSender) -> None:
    assert beacon.send(url="https://blog.example.com/a").status_code == 204


def test_same_event_id_twice_counts_once(app: Flask, beacon: BeaconSender) -> None:
    body = json.dumps(beacon.body(id="retry-0123456789"))
    assert beacon.post(body).status_code == 204
    assert beacon.post(body).status_code == 204
    assert len(table_rows(app, "events")) == 1
    assert counts(beacon)["total"] == 1


def test_a_beacon_sent_again_takes_no_id_from_the_log(app: Flask, beacon: BeaconSender) -> None:
    """The process remembers what it stored: a retry or a replay reaches no database, so it
    leaves no gap in the log's ids (on PostgreSQL, each one the aggregator would watch)."""
    body = json.dumps(beacon.body(id="resent-0123456789"))
    for _ in range(5):
        assert beacon.post(body).status_code == 204
    assert beacon.send(id="after-resends-0123456789", ip="192.0.2.77").status_code == 204
    with app.app_context(), db.engine().connect() as conn:
        ids = sorted(conn.scalars(select(event_log.c.id)))
    assert len(ids) == 2 and ids[1] == ids[0] + 1
    assert counts(beacon)["total"] == 2


def test_same_event_id_concurrently_counts_once(app: Flask, beacon: BeaconSender) -> None:
    body = json.dumps(beacon.body(id="concurrent-0123456789"))
    statuses: list[int] = []

    def send() -> None:
        statuses.append(app.test_client().post("/v1/events", data=body, content_type="text/plain").status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [204] * 8
    assert len(table_rows(app, "events")) == 1
    assert counts(beacon)["total"] == 1


def test_application_json_and_extra_fields(app: Flask, beacon: BeaconSender) -> None:
    body = beacon.body(site_id=999, count=1000, extra={"x": 1})
    response = beacon.post(json.dumps(body), content_type="application/json")
    assert response.status_code == 204
    assert counts(beacon)["total"] == 1


def test_preflight_for_scripts_posting_json(client) -> None:
    response = client.options("/v1/events", headers={"Origin": "https://example.com",
                                                     "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


BAD_FIELDS = [
    ({"service": "googleplus"}, 400, "unknown-service"),
    ({"service": None}, 400, "unknown-service"),
    ({"type": "view"}, 400, "unknown-type"),
    ({"site": ""}, 400, "missing-site"),
    ({"id": "short"}, 400, "invalid-id"),
    ({"id": "has spaces in it!"}, 400, "invalid-id"),
    ({"url": "javascript:alert(1)"}, 400, "invalid-url"),
    ({"url": "data:text/html,hi"}, 400, "invalid-url"),
    ({"url": "https://example.com/a\nb"}, 400, "invalid-url"),
    ({"url": "https://example.com/" + "a" * 2100}, 400, "invalid-url"),
    ({"url": "https://example.org/post"}, 403, "foreign-domain"),
    ({"url": "https://notexample.com/post"}, 403, "foreign-domain"),
    ({"url": "https://example.com.evil.net/"}, 403, "foreign-domain"),
    ({"title": ["not", "text"]}, 400, "invalid-title"),
]


@pytest.mark.parametrize(("fields", "status", "code"), BAD_FIELDS)
def test_bad_field_is_refused_and_nothing_stored(app: Flask, beacon: BeaconSender, fields, status, code) -> None:
    beacon.send(service="qq")  # accepted before the bad one: must survive it
    response = beacon.send(**fields)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/" + code)
    assert [row.service for row in table_rows(app, "events")] == ["qq"]


def tamper(key: str) -> list[str]:
    return [key[:-1] + ("A" if key[-1] != "A" else "B"), key[:-6], "1." + key.split(".", 1)[1], key + "x"]


def test_tampered_site_keys_are_refused(app: Flask, beacon: BeaconSender) -> None:
    for key in tamper(beacon.site.key):
        response = beacon.send(site=key)
        assert response.status_code == 400, key
        assert response.get_json()["type"].endswith("/invalid-site-key")
    assert table_rows(app, "events") == []


def test_key_of_another_site_cannot_count_for_this_domain(app: Flask, beacon: BeaconSender) -> None:
    other = register(app, "Other", ("other.net",))
    response = beacon.send(site=other.key, url="https://example.com/post/1")
    assert response.status_code == 403
    assert table_rows(app, "events") == []


@pytest.mark.parametrize("origin", ["https://evil.net", "null", "https://example.com.evil.net"])
def test_beacon_from_foreign_origin_is_refused(app: Flask, beacon: BeaconSender, origin: str) -> None:
    response = beacon.send(headers={"Origin": origin})
    assert response.status_code == 403
    assert response.get_json()["type"].endswith("/foreign-origin")
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # never the origin echoed
    assert table_rows(app, "events") == []


def test_beacon_from_the_sites_origin_is_accepted(beacon: BeaconSender) -> None:
    assert beacon.send(headers={"Origin": "https://www.example.com"}).status_code == 204


BAD_BODIES = [
    (b"", "text/plain", 400, "invalid-json"),
    (b"{not json", "text/plain", 400, "invalid-json"),
    (b"[1, 2]", "text/plain", 400, "invalid-beacon"),
    (b'"a string"', "application/json", 400, "invalid-beacon"),
    (b"null", "text/plain", 400, "invalid-beacon"),
    (b'{"type": "share", "title": "\xff\xfe"}', "text/plain", 400, "invalid-utf8"),
    (b'{"type": "share"}', "application/x-www-form-urlencoded", 415, "unsupported-content-type"),
    (b'{"type": "share"}', "multipart/form-data; boundary=x", 415, "unsupported-content-type"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code"), BAD_BODIES)
def test_bad_body_is_refused(app: Flask, beacon: BeaconSender, body, content_type, status, code) -> None:
    beacon.send()
    response = beacon.post(body, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["type"].endswith("/" + code)
    assert len(table_rows(app, "events")) == 1


NESTED = b'{"type": "share", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}"
MALFORMED = [
    # Python's JSON parser recurses; 2,000 levels would be a RecursionError.
    (NESTED, "invalid-json"),
    # 40 levels parse on every Python version, and are no beacon all the same.
    (b'{"type": "share", "extra": ' + b"[" * 40 + b"]" * 40 + b"}", "invalid-json"),
    (b'{"type": "share", "title": "\\ud800", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}", "invalid-json"),
    (b'{"type": "share", "title": "\\ud800"}', "invalid-utf8"),
    (b'{"type": "share", "url": "https://example.com/\\udfff"}', "invalid-utf8"),
    (b'{"type": "share", "\\ud83d": 1}', "invalid-utf8"),
    (b'{"type": "share", "url": "https://example.com/\xed\xa0\x80"}', "invalid-utf8"),
]


def test_brackets_in_a_title_are_text_not_nesting() -> None:
    title = "[" * 100 + "{" * 100
    body = json.dumps({"type": "share", "title": title, "extra": [[{"a": [1]}]]}).encode()
    assert ingest.decode_body(body, "text/plain")["title"] == title
    assert ingest.nesting({"a": [[{"b": []}]]}) == 5 and ingest.nesting("[[[") == 0


@pytest.mark.parametrize(("body", "code"), MALFORMED)
def test_malformed_body_is_a_400_problem_with_cors(app: Flask, beacon: BeaconSender, body: bytes, code: str) -> None:
    response = beacon.post(body, headers={"Origin": "https://example.com"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/" + code)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert table_rows(app, "events") == []


@pytest.mark.parametrize("field", ["title", "url", "site", "id", "service", "code"])
def test_a_lone_surrogate_in_any_field_is_refused(app: Flask, beacon: BeaconSender, field: str) -> None:
    body = json.dumps(beacon.body(**{field: beacon.body()[field] if field != "code" else "abcdef"}))
    spoiled = body.replace('"' + field + '": "', '"' + field + '": "\\ud800', 1)
    response = beacon.post(spoiled)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["type"].endswith("/invalid-utf8")


def test_control_characters_are_taken_out_of_titles(app: Flask, beacon: BeaconSender) -> None:
    """NUL (which PostgreSQL cannot store) and the other control characters are stripped,
    not refused: a browser reports whatever ``document.title`` holds."""
    for ip in ("203.0.113.7", "203.0.113.8"):  # a title is public once two readers report it
        assert beacon.send(title="Free\x00 lunch\x07\x1b[31m\u2028today", ip=ip).status_code == 204
    assert [row.title for row in table_rows(app, "pages")] == ["Free lunch[31m today"]
    assert beacon.action(title="\x00\x00", url="https://example.com/post/2").status_code == 204
    assert table_rows(app, "pages")[1].title is None


def test_oversized_body_is_refused_before_parsing(app: Flask, beacon: BeaconSender) -> None:
    body = json.dumps(beacon.body(title="x" * 9000))
    response = beacon.post(body)
    assert response.status_code == 413
    assert response.get_json()["type"].endswith("/too-large")
    # Not JSON at all, but over the limit: refused for its size, so it was never parsed.
    assert beacon.post(b"{" * 9000).status_code == 413
    assert table_rows(app, "events") == []


def test_unknown_site_is_404(app: Flask, beacon: BeaconSender) -> None:
    from widget_server import signing

    with app.app_context():
        key = signing.site_key(4242)
    response = beacon.send(site=key)
    assert response.status_code == 404
    assert response.get_json()["type"].endswith("/unknown-site")


def test_server_survives_bad_input(app: Flask, beacon: BeaconSender) -> None:
    for body, content_type, _, _ in BAD_BODIES:
        beacon.post(body, content_type=content_type)
    assert beacon.send().status_code == 204
    assert beacon.client.get("/readyz").status_code == 200
