"""The hot paths' lane answers beacons, counts and config exactly as Flask's views do.

Each request is sent twice: through the app as served (the lane in front) and straight to
Flask's ``wsgi_app`` behind it. Status, headers, body, the closing log record and the metrics
must be the same; the lane must have answered the first itself, and handed Flask what it
cannot answer without doing the work twice.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from werkzeug.test import Client, TestResponse

from conftest import BROWSER_UA, BeaconSender, Registered, table_rows
from widget_server.lane import Lane, query_args

PAGE = "https://example.com/post/1"
VARYING = {"Date", "X-Request-ID"}  # present on both, values differ


@pytest.fixture
def lane(app: Flask, client: FlaskClient, site: Registered) -> Iterator[tuple[Lane, list[str]]]:
    """The app's lane, warmed (its first request goes to Flask), and the paths it handed on
    (requests sent with :func:`flask_only` are not among them)."""
    found = app.wsgi_app
    assert isinstance(found, Lane)
    client.get("/v1/counts", query_string={"site": site.key, "url": PAGE})
    handed: list[str] = []
    following = found.next

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        handed.append(environ["PATH_INFO"])
        return following(environ, start_response)

    found.next = spy
    app.extensions["test_flask_only"] = following
    yield found, handed
    found.next = following


def flask_only(app: Flask) -> Client:
    """A client of Flask's own ``wsgi_app``, behind the lane."""
    return Client(app.extensions["test_flask_only"])


def same(through_lane: TestResponse, through_flask: TestResponse) -> None:
    assert through_lane.status == through_flask.status
    assert dict(through_lane.headers).keys() == dict(through_flask.headers).keys()
    for name, value in through_flask.headers.items():
        if name not in VARYING:
            assert through_lane.headers[name] == value, name
    assert through_lane.get_data() == through_flask.get_data()


def requests_logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [{key: getattr(r, key) for key in ("message", "method", "endpoint", "status")}
            for r in caplog.records if r.name == "widget_server.requests"]


def answered(endpoint: str, method: str, status: int) -> float:
    labels = {"endpoint": endpoint, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("sharebar_http_requests_total", labels) or 0.0


def beacon_environ(body: str, **headers: str) -> dict[str, Any]:
    return {"method": "POST", "data": body, "content_type": "text/plain;charset=UTF-8",
            "headers": {"User-Agent": BROWSER_UA, "Origin": "https://example.com", **headers},
            "environ_base": {"REMOTE_ADDR": "203.0.113.9"}}


def test_a_beacon_is_stored_answered_logged_and_counted_as_flask_does(
        app: Flask, client: FlaskClient, site: Registered, beacon: BeaconSender, lane: tuple[Lane, list[str]],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "widget_server.requests")
    before = answered("embed.record_event", "POST", 204)
    ids = [uuid.uuid4().hex, uuid.uuid4().hex]
    via_lane = client.open("/v1/events", **beacon_environ(json.dumps(beacon.body(id=ids[0]))))
    via_flask = flask_only(app).open("/v1/events", **beacon_environ(json.dumps(beacon.body(id=ids[1]))))
    assert via_lane.status_code == 204
    assert "Content-Type" not in via_lane.headers
    same(via_lane, via_flask)
    assert lane[1] == []
    assert {row.event_id for row in table_rows(app, "event_log")} >= set(ids)
    assert requests_logged(caplog) == [{"message": "POST embed.record_event 204", "method": "POST",
                                        "endpoint": "embed.record_event", "status": 204}] * 2
    assert answered("embed.record_event", "POST", 204) == before + 2


@pytest.mark.parametrize("path", ["/v1/counts", "/v1/config"])
@pytest.mark.parametrize("encoding", ["gzip", ""])
def test_a_page_view_is_answered_as_flask_does(app: Flask, client: FlaskClient, site: Registered,
                                               beacon: BeaconSender, lane: tuple[Lane, list[str]],
                                               caplog: pytest.LogCaptureFixture, path: str, encoding: str) -> None:
    beacon.send()
    caplog.set_level(logging.INFO, "widget_server.requests")
    caplog.clear()
    query = {"site": site.key, "url": PAGE, "lang": "zh-CN", "counts": "1"}
    headers = {"Accept-Encoding": encoding} if encoding else {}
    via_lane = client.get(path, query_string=query, headers=headers)
    via_flask = flask_only(app).get(path, query_string=query, headers=headers)
    assert via_lane.status_code == 200
    same(via_lane, via_flask)
    assert (via_lane.headers.get("Content-Encoding") == "gzip") == (path == "/v1/config" and encoding == "gzip")
    assert lane[1] == []
    assert len(requests_logged(caplog)) == 2


def test_a_refused_beacon_is_answered_by_flask_once(app: Flask, client: FlaskClient, site: Registered,
                                                    beacon: BeaconSender, lane: tuple[Lane, list[str]],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "widget_server.requests")
    refused = REGISTRY.get_sample_value("sharebar_beacons_total", {"outcome": "refused", "reason": "unknown-service"}) or 0
    via_lane = client.open("/v1/events", **beacon_environ(json.dumps(beacon.body(service="myspace"))))
    via_flask = flask_only(app).open("/v1/events", **beacon_environ(json.dumps(beacon.body(service="myspace"))))
    assert via_lane.status_code == 400
    assert via_lane.json is not None and via_lane.json["param"] == "service"
    same(via_lane, via_flask)
    assert lane[1] == ["/v1/events"]  # handed over with what it met, not checked again
    assert via_lane.headers["X-Request-ID"] == caplog.records[0].request_id
    assert len(requests_logged(caplog)) == 2
    assert REGISTRY.get_sample_value("sharebar_beacons_total",
                                     {"outcome": "refused", "reason": "unknown-service"}) == refused + 2
    assert not [row for row in table_rows(app, "event_log") if row.service == "myspace"]


def test_a_retried_beacon_after_a_refusal_in_the_lane_is_stored_once(
        app: Flask, client: FlaskClient, site: Registered, beacon: BeaconSender, lane: tuple[Lane, list[str]]) -> None:
    event_id = uuid.uuid4().hex
    assert client.open("/v1/events", **beacon_environ(json.dumps(beacon.body(id=event_id)))).status_code == 204
    assert client.open("/v1/events", **beacon_environ(json.dumps(beacon.body(id=event_id)))).status_code == 204
    assert [row.event_id for row in table_rows(app, "event_log")].count(event_id) == 1


@pytest.mark.parametrize("query, status", [("site=%ff&url=x", 400), ("site=a%00&url=x", 400)])
def test_a_query_flask_refuses_goes_to_flask(client: FlaskClient, lane: tuple[Lane, list[str]], query: str,
                                             status: int) -> None:
    response = client.get(f"/v1/counts?{query}")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert lane[1] == ["/v1/counts"]


def test_a_conditional_page_view_goes_to_flask(client: FlaskClient, site: Registered,
                                               lane: tuple[Lane, list[str]]) -> None:
    query = f"site={site.key}&url={quote(PAGE, safe='')}"
    first = client.get(f"/v1/counts?{query}")
    again = client.get(f"/v1/counts?{query}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert lane[1] == ["/v1/counts"]


def test_an_oversized_or_unmeasured_beacon_goes_to_flask(app: Flask, client: FlaskClient, beacon: BeaconSender,
                                                         lane: tuple[Lane, list[str]]) -> None:
    big = json.dumps(beacon.body(title="x" * (app.config["MAX_BEACON_BYTES"] + 10)))
    assert client.open("/v1/events", **beacon_environ(big)).status_code == 413
    assert lane[1] == ["/v1/events"]


def test_query_args_take_the_first_value_as_flask_does() -> None:
    assert query_args("a=1&a=2&b=&c=x+y%20z") == {"a": "1", "b": "", "c": "x y z"}
    assert query_args("a=%ff") is None
    assert query_args("a=%00") is None
