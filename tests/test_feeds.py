"""The action feed: Activity Streams 2.0 and Atom, paged stably, escaped everywhere, and
deletions, erasure and retention that leave no trace and keep totals consistent."""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import insert

from conftest import BeaconSender, Partner, issue_token, make_app, register, table_rows
from test_actions import actor_token, settings
from widget_server import db, feeds, ingest, sites, upkeep, visitors
from widget_server.models import Site, event_log

EVIL = '<script>alert("x")</script><b>&amp;</b>'
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def feeder(app: Flask, client, site) -> Partner:  # type: ignore[no-untyped-def]
    return Partner(client, site.id, issue_token(app, [site.id], ("feed:read", "actions:write", "stats:read"))[1])


def act(beacon: BeaconSender, n: int, verb: str = "like", **claims: Any) -> None:
    token = actor_token(beacon, uid=f"u-{n}", name=f"Reader {n}", **claims)
    response = beacon.action(verb, actor=token, ip=f"192.0.2.{n}", url=f"https://example.com/p/{n}",
                             title=f"Post {n}")
    assert response.status_code == 204, response.get_data(as_text=True)
    confirm_title(beacon, f"https://example.com/p/{n}", f"Post {n}")


def confirm_title(beacon: BeaconSender, url: str, title: str) -> None:
    """A second reader's browser reports the page's title, which makes it public."""
    assert beacon.send(ip="198.18.0.1", url=url, title=title).status_code == 204


def test_feed_is_an_ordered_collection_page_newest_first(beacon: BeaconSender, feeder: Partner) -> None:
    for n in range(3):
        act(beacon, n)
    beacon.action("comment", ip="192.0.2.99")  # anonymous
    confirm_title(beacon, "https://example.com/post/1", "A post")
    response = feeder.get("/api/v1/feed", lang="en")
    assert response.status_code == 200
    assert response.mimetype == "application/activity+json"
    page = response.get_json()
    assert page["type"] == "OrderedCollectionPage"
    assert "https://www.w3.org/ns/activitystreams" in page["@context"]
    first, second = page["orderedItems"][:2]
    assert first["type"] == "Create" and first["actor"] is None and first["summary"] == "commented on “A post”"
    assert second["type"] == "Like" and second["verb"] == "like"
    assert second["actor"]["name"] == "Reader 2" and second["summary"] == "Reader 2 liked “Post 2”"
    assert second["object"]["url"] == "https://example.com/p/2"
    zh = feeder.get("/api/v1/feed", lang="zh-CN").get_json()["orderedItems"][1]["summary"]
    assert zh == "Reader 2赞了《Post 2》"


def test_paging_is_stable_while_actions_arrive(beacon: BeaconSender, feeder: Partner) -> None:
    for n in range(5):
        act(beacon, n)
    first = feeder.get("/api/v1/feed", limit=2).get_json()
    for n in range(5, 8):  # new actions land between page requests
        act(beacon, n)
    seen = [item["actor"]["name"] for item in first["orderedItems"]]
    url = first["next"]
    while url:
        page = feeder.client.get(url, headers={"Authorization": f"Bearer {feeder.token}"}).get_json()
        seen += [item["actor"]["name"] for item in page["orderedItems"]]
        url = page.get("next")
    assert seen == [f"Reader {n}" for n in (4, 3, 2, 1, 0)]


def test_filters_by_verb_and_page(beacon: BeaconSender, feeder: Partner) -> None:
    act(beacon, 1, "like")
    act(beacon, 2, "upvote")
    act(beacon, 3, "like")
    liked = feeder.get("/api/v1/feed", verb="like").get_json()["orderedItems"]
    assert [item["actor"]["name"] for item in liked] == ["Reader 3", "Reader 1"]
    on_page = feeder.get("/api/v1/feed", page="https://example.com/p/2?utm_source=x").get_json()["orderedItems"]
    assert [item["verb"] for item in on_page] == ["upvote"]
    bad = feeder.get("/api/v1/feed", verb="hate")
    assert bad.status_code == 400 and bad.get_json()["param"] == "verb"


def test_feed_needs_its_scope_and_the_site(app: Flask, beacon: BeaconSender, partner: Partner) -> None:
    assert partner.get("/api/v1/feed").status_code == 403  # stats:read only
    other = register(app, "Other", ("other.net",))
    token = issue_token(app, [other.id], ("feed:read",))[1]
    response = partner.client.get("/api/v1/feed", query_string={"site_id": beacon.site.id},
                                  headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


def atom_url(runner: FlaskCliRunner, site_id: int) -> str:
    result = runner.invoke(args=["feeds", "url", "--site", str(site_id)])
    assert result.exit_code == 0, result.output
    return result.output.strip().replace("https://share.test", "")


def test_atom_feed_with_a_revocable_token(app: Flask, beacon: BeaconSender, runner: FlaskCliRunner) -> None:
    act(beacon, 1)
    url = atom_url(runner, beacon.site.id)
    response = beacon.client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    entries = ET.fromstring(response.data).findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == ["Reader 1 liked “Post 1”"]
    assert entries[0].find(f"{ATOM}link").get("href") == "https://example.com/p/1"
    assert runner.invoke(args=["feeds", "revoke", "--site", str(beacon.site.id)]).exit_code == 0
    assert beacon.client.get(url).status_code == 401
    assert beacon.client.get(atom_url(runner, beacon.site.id)).status_code == 200
    assert beacon.client.get(url.replace("token=", "token=x")).status_code == 401


def test_a_deleted_sites_feed_url_does_not_read_a_site_given_its_id(app: Flask, runner: FlaskCliRunner) -> None:
    """SQLite gives the highest id again once its site is deleted; the new site starts at
    another random feed version, so the old URL is refused (as partner tokens are)."""
    first = register(app, "Gone", ("gone.example",))
    url = atom_url(runner, first.id)
    client = app.test_client()
    assert client.get(url).status_code == 200
    with app.app_context():
        sites.delete_site(first.id)
    second = register(app, "New", ("new.example",))
    if "sqlite" in app.config["DATABASE_URL"]:
        assert second.id == first.id  # the case this guards against
    assert client.get(url).status_code == 401
    assert client.get(atom_url(runner, second.id)).status_code == 200


def test_script_and_html_in_every_field_are_escaped(app: Flask, beacon: BeaconSender, feeder: Partner,
                                                    runner: FlaskCliRunner) -> None:
    settings(app, beacon.site.id, public_activity=True, public_names=True)
    token = actor_token(beacon, uid=EVIL[:100], name=EVIL[:100])
    assert beacon.action("like", actor=token, title=EVIL, url="https://example.com/p?q=%3Cscript%3E").status_code == 204
    confirm_title(beacon, "https://example.com/p?q=%3Cscript%3E", EVIL)
    atom = beacon.client.get(atom_url(runner, beacon.site.id) + "&lang=en")
    assert b"<script>" not in atom.data and b"<b>" not in atom.data
    entry = ET.fromstring(atom.data).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == f"{EVIL[:100]} liked “{EVIL}”"
    assert entry.find(f"{ATOM}author").findtext(f"{ATOM}name") == EVIL[:100]
    item = feeder.get("/api/v1/feed").get_json()["orderedItems"][0]
    assert item["object"]["name"] == EVIL and item["actor"]["name"] == EVIL[:100]
    public = beacon.client.get("/v1/activity", query_string={"site": beacon.site.key})
    assert public.mimetype == "application/json"
    assert public.get_json()["items"][0]["title"] == EVIL


def test_public_activity_is_opt_in_and_names_are_too(app: Flask, beacon: BeaconSender) -> None:
    act(beacon, 1)
    query = {"site": beacon.site.key, "url": "https://example.com/p/1"}
    off = beacon.client.get("/v1/activity", query_string=query)
    assert off.status_code == 404 and off.get_json()["type"].endswith("/activity-off")
    settings(app, beacon.site.id, public_activity=True)
    items = beacon.client.get("/v1/activity", query_string=query).get_json()["items"]
    assert [(i["verb"], i["name"], i["title"]) for i in items] == [("like", None, "Post 1")]
    settings(app, beacon.site.id, public_names=True)
    assert beacon.client.get("/v1/activity", query_string=query).get_json()["items"][0]["name"] == "Reader 1"
    other_page = beacon.client.get("/v1/activity", query_string={**query, "url": "https://example.com/p/2"})
    assert other_page.get_json()["items"] == []


def actions_total(feeder: Partner) -> int:
    response = feeder.get("/api/v1/stats/aggregate", metrics="actions", period="day")
    by_page = feeder.get("/api/v1/stats/breakdown", property="action", metrics="actions", period="day")
    assert sum(row["actions"] for row in by_page.get_json()["results"]) == response.get_json()["results"]["actions"]["value"]
    return int(response.get_json()["results"]["actions"]["value"])


def test_deleting_one_action(app: Flask, beacon: BeaconSender, feeder: Partner) -> None:
    act(beacon, 1)
    act(beacon, 2)
    victim = table_rows(app, "actions")[0].id
    headers = {"Authorization": f"Bearer {feeder.token}"}
    response = feeder.client.delete(f"/api/v1/actions/{victim}", query_string={"site_id": beacon.site.id},
                                    headers=headers)
    assert response.status_code == 204
    names = [i["actor"]["name"] for i in feeder.get("/api/v1/feed").get_json()["orderedItems"]]
    assert names == ["Reader 2"]
    assert actions_total(feeder) == 1
    again = feeder.client.delete(f"/api/v1/actions/{victim}", query_string={"site_id": beacon.site.id},
                                 headers=headers)
    assert again.status_code == 404


@pytest.mark.parametrize("action_id", [str(2**63), str(2**64 + 1), "9" * 40])
def test_deleting_an_id_past_bigint_is_404(app: Flask, beacon: BeaconSender, feeder: Partner, action_id: str) -> None:
    act(beacon, 1)
    response = feeder.client.delete(f"/api/v1/actions/{action_id}", query_string={"site_id": beacon.site.id},
                                    headers={"Authorization": f"Bearer {feeder.token}", "Origin": "https://x.example"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/unknown-action")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert len(table_rows(app, "actions")) == 1


def test_deleting_needs_the_write_scope_and_the_site(app: Flask, beacon: BeaconSender, partner: Partner) -> None:
    act(beacon, 1)
    victim = table_rows(app, "actions")[0].id
    response = partner.client.delete(f"/api/v1/actions/{victim}", query_string={"site_id": beacon.site.id},
                                     headers={"Authorization": f"Bearer {partner.token}"})
    assert response.status_code == 403
    other = register(app, "Other", ("other.net",))
    token = issue_token(app, [other.id], ("actions:write",))[1]
    response = partner.client.delete(f"/api/v1/actions/{victim}", query_string={"site_id": other.id},
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert len(table_rows(app, "actions")) == 1


def test_erasing_an_actor_leaves_no_trace(app: Flask, beacon: BeaconSender, feeder: Partner,
                                          runner: FlaskCliRunner) -> None:
    act(beacon, 1, "like")
    act(beacon, 1, "comment")
    act(beacon, 2, "like")
    response = feeder.client.delete("/api/v1/actors/u-1/actions", query_string={"site_id": beacon.site.id},
                                    headers={"Authorization": f"Bearer {feeder.token}"})
    assert response.get_json() == {"deleted": 2}
    assert {row.actor_uid for row in table_rows(app, "actions")} == {"u-2"}
    feed = feeder.get("/api/v1/feed").get_data(as_text=True)
    atom = beacon.client.get(atom_url(runner, beacon.site.id)).get_data(as_text=True)
    for text in (feed, atom):
        assert "Reader 1" not in text and "u-1" not in text
    assert actions_total(feeder) == 1


def record_old_action(app: Flask, site_id: int, days_ago: int) -> None:
    moment = datetime.now(timezone.utc) - timedelta(days=days_ago)
    beacon = ingest.Beacon("action", "", "https://example.com/old", uuid.uuid4().hex, None, None, "Old", verb="like")
    row = ingest.log_row(site_id, beacon, ingest.Reader(uuid.uuid4().hex[:32], False), now=moment)
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log).values(row))


def test_retention_removes_old_actions_daily_and_totals_follow(app: Flask, beacon: BeaconSender,
                                                                feeder: Partner, runner: FlaskCliRunner) -> None:
    record_old_action(app, beacon.site.id, 40)
    record_old_action(app, beacon.site.id, 10)
    act(beacon, 1)
    def total() -> int:
        response = feeder.get("/api/v1/stats/aggregate", metrics="actions", period="custom",
                              date=f"{date.today() - timedelta(days=60)},{date.today()}")
        return int(response.get_json()["results"]["actions"]["value"])
    assert total() == 3
    settings(app, beacon.site.id, retention_days=30)
    with app.app_context():  # the aggregator's upkeep on the next day
        upkeep.run(db.engine(), app.config, date.today() + timedelta(days=1))
    assert len(table_rows(app, "actions")) == 2
    assert total() == 2
    settings(app, beacon.site.id, retention_days=5)
    result = runner.invoke(args=["feeds", "prune"])
    assert result.exit_code == 0 and "1 actions deleted" in result.output
    assert total() == 1
    with app.app_context():
        assert feeds.feed_site("tampered") is None


def test_site_settings_command(app: Flask, runner: FlaskCliRunner, beacon: BeaconSender) -> None:
    result = runner.invoke(args=["sites", "set", str(beacon.site.id), "public_activity=true", "retention_days=90",
                                 'verbs=["cheer"]', "theme=dark"])
    assert result.exit_code == 0, result.output
    assert '"retention_days": 90' in result.output
    bad = runner.invoke(args=["sites", "set", str(beacon.site.id), "theme=purple"])
    assert bad.exit_code != 0 and "theme must be one of" in bad.output
    assert runner.invoke(args=["sites", "set", "999", "counts=true"]).exit_code != 0
    assert runner.invoke(args=["sites", "set", str(beacon.site.id), "nonsense=1"]).exit_code != 0


SPOOFED = "http://evil.example:8080"


@pytest.mark.parametrize("public_url", ["https://share.test", None])
def test_links_come_from_the_public_url_never_from_the_host_header(database_url: str, tmp_path: Any,
                                                                   public_url: str | None) -> None:
    """With ``WIDGET_PUBLIC_URL`` every link is absolute under it; without it, relative."""
    app = make_app(database_url, tmp_path, PUBLIC_URL=public_url)
    beacon = BeaconSender(app.test_client(), register(app))
    settings(app, beacon.site.id, public_activity=True, public_leaderboard=True)
    for n in (1, 2):
        act(beacon, n)
    token = issue_token(app, [beacon.site.id], ("feed:read", "stats:read"))[1]
    feeder = Partner(beacon.client, beacon.site.id, token)
    with app.app_context():
        atom = "/api/v1/feed.atom?token=" + feeds.feed_token(db.session().get(Site, beacon.site.id))
    page = feeder.client.get("/api/v1/feed?limit=1&site_id=1", base_url=SPOOFED,
                             headers={"Authorization": f"Bearer {token}"}).get_json()
    base = public_url or ""
    assert page["id"] == base + "/api/v1/feed?limit=1&site_id=1"
    assert page["next"] == base + f"/api/v1/feed?limit=1&site_id=1&before={page['orderedItems'][0]['id'].split(':')[-1]}"
    self_link = ET.fromstring(beacon.client.get(atom, base_url=SPOOFED).data).find(f"{ATOM}link").get("href")
    assert self_link == base + atom
    for target in (atom, "/api/v1/feed?limit=1&site_id=1", f"/v1/activity?site={beacon.site.key}",
                   f"/v1/leaderboard?site={beacon.site.key}", "/api/openapi.json", "/v1/nothing",
                   f"/v1/config?site={beacon.site.key}", "/static/sharebar.js"):
        body = beacon.client.get(target, base_url=SPOOFED, headers={"Authorization": f"Bearer {token}"}).data
        assert b"evil.example" not in body, target
    app.extensions["widget_engine"].dispose()
