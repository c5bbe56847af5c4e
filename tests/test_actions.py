"""Like-and-share actions: recorded with a signed actor or anonymously (if the site allows),
refused with a reason otherwise, counted once, and in the stats with each verb's share rate."""
from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from conftest import BeaconSender, Partner, table_rows
from test_actors import plain_token
from widget_server import sites


def actor_token(beacon: BeaconSender, **fields: Any) -> str:
    claims = {"site": beacon.site.id, "uid": "u-1", "name": "Li Lei", "exp": int(time.time()) + 600, **fields}
    return plain_token(claims, secret=beacon.site.secret)


def settings(app: Flask, site_id: int, **changes: Any) -> None:
    with app.app_context():
        sites.update_settings(site_id, changes)


def test_signed_action_is_recorded_with_its_actor(app: Flask, beacon: BeaconSender) -> None:
    assert beacon.action("like", actor=actor_token(beacon)).status_code == 204
    row = table_rows(app, "actions")[0]
    assert (row.verb, row.actor_uid, row.actor_name, row.status) == ("like", "u-1", "Li Lei", "counted")


def test_anonymous_action_when_the_site_allows_it(app: Flask, beacon: BeaconSender) -> None:
    assert beacon.action("comment").status_code == 204
    assert table_rows(app, "actions")[0].actor_uid is None
    settings(app, beacon.site.id, anonymous_actions=False)
    response = beacon.action("comment", ip="192.0.2.9")
    assert response.status_code == 403
    assert response.get_json()["type"].endswith("/actor-required")
    assert len(table_rows(app, "actions")) == 1


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"verb": "hate"}, 400, "unknown-verb"),
    ({"verb": "Like!"}, 400, "unknown-verb"),
    ({"verb": None}, 400, "unknown-verb"),
    ({"actor": "garbage.token"}, 401, "invalid-actor"),
    ({"actor": 42}, 400, "invalid-actor"),
    ({"title": ["x"]}, 400, "invalid-title"),
    ({"url": "https://example.com/" + "p" * 2100}, 400, "invalid-url"),
])
def test_bad_actions_are_refused_and_nothing_stored(app: Flask, beacon: BeaconSender, fields: dict[str, Any],
                                                    status: int, code: str) -> None:
    others = {name: value for name, value in fields.items() if name != "verb"}
    response = beacon.action(fields.get("verb", "like"), **others)
    assert response.status_code == status
    assert response.get_json()["type"].endswith("/" + code)
    assert table_rows(app, "actions") == []


@pytest.mark.parametrize(("claims", "code"), [
    ({"site": 999}, "invalid-actor"),  # made for another site
    ({"exp": int(time.time()) - 5}, "expired-actor"),  # replayed past its expiry
    ({"name": "n" * 101}, "invalid-actor"),
    ({"uid": "u" * 101}, "invalid-actor"),
    ({"avatar": "https://example.com/" + "a" * 2100}, "invalid-actor"),
    ({"name": "Li\x00Lei"}, "invalid-actor"),  # PostgreSQL cannot store NUL
    ({"uid": "\ud800"}, "invalid-actor"),  # a lone surrogate is no text
])
def test_bad_actor_tokens_are_refused(app: Flask, beacon: BeaconSender, claims: dict[str, Any], code: str) -> None:
    response = beacon.action("like", actor=actor_token(beacon, **claims))
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("/" + code)
    assert table_rows(app, "actions") == []


def test_token_signed_with_another_sites_secret_is_refused(app: Flask, beacon: BeaconSender) -> None:
    claims = {"site": beacon.site.id, "uid": "u", "exp": int(time.time()) + 60}
    response = beacon.action("like", actor=plain_token(claims, secret="not-this-sites-secret"))
    assert response.status_code == 401
    assert table_rows(app, "actions") == []


def test_site_defined_verbs(app: Flask, beacon: BeaconSender) -> None:
    assert beacon.action("cheer").status_code == 400
    settings(app, beacon.site.id, verbs=["cheer"])
    assert beacon.action("cheer").status_code == 204
    assert table_rows(app, "actions")[0].verb == "cheer"


def test_repeats_and_bots_are_kept_out_of_the_counts(app: Flask, beacon: BeaconSender, partner: Partner) -> None:
    for _ in range(3):
        beacon.action("like")
    beacon.action("like", headers={"User-Agent": "Twitterbot/1.0"})
    beacon.action("like", ip="192.0.2.50")
    statuses = sorted(row.status for row in table_rows(app, "actions"))
    assert statuses == ["bot", "counted", "counted", "repeat", "repeat"]
    response = partner.get("/api/v1/stats/aggregate", metrics="actions", period="day")
    assert response.get_json()["results"]["actions"]["value"] == 2


def test_breakdown_by_action_with_share_rate(app: Flask, beacon: BeaconSender, partner: Partner) -> None:
    for reader in range(4):
        beacon.action("like", ip=f"192.0.2.{reader}")
    beacon.action("favorite", ip="192.0.2.9")
    beacon.send(service="weibo", action="like", ip="192.0.2.1")
    beacon.send(service="wechat", action="like", ip="192.0.2.2")
    beacon.send(service="qq", ip="192.0.2.3")  # a plain share
    response = partner.get("/api/v1/stats/breakdown", property="action", period="day",
                           metrics="actions,action_shares,share_rate,shares")
    rows = {row["action"]: row for row in response.get_json()["results"]}
    assert rows["like"] == {"action": "like", "actions": 4, "action_shares": 2, "share_rate": 0.5, "shares": 2}
    assert rows["favorite"]["share_rate"] == 0.0
    assert rows[""]["shares"] == 1 and rows[""]["actions"] == 0
    platforms = partner.get("/api/v1/stats/breakdown", property="platform", period="day").get_json()["results"]
    assert {row["platform"] for row in platforms} == {"weibo", "wechat", "qq"}  # actions have no platform
    counts = beacon.client.get("/v1/counts", query_string={"site": beacon.site.key, "url": "https://example.com/post/1"})
    assert counts.get_json()["total"] == 3


def test_share_following_an_unknown_verb_is_refused(app: Flask, beacon: BeaconSender) -> None:
    response = beacon.send(service="weibo", action="nosuchverb")
    assert response.status_code == 400
    assert response.get_json()["param"] == "action"
    assert table_rows(app, "events") == []
