"""The installation check: beacons refused for a reason that concerns a site are counted and
sampled (never with an IP or user agent); accepted ones mark their host as seen."""
from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from conftest import BeaconSender, Registered, table_rows, within_one_window
from test_dashboard import Person
from widget_server import accounts, ingest, limits, refusals, sites


@pytest.fixture
def owner(app: Flask, site: Registered) -> Person:
    person = Person(app, "owner-a@example.com")
    with app.app_context():
        accounts.set_member(site.id, "owner-a@example.com", "owner")
    person.sign_in()
    return person


def check_page(owner: Person, site: Registered) -> str:
    response = owner.get(f"/dashboard/sites/{site.id}/check")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_beacon_from_the_domain_turns_the_check_green(app: Flask, owner: Person, site: Registered,
                                                        beacon: BeaconSender) -> None:
    assert "no beacon seen yet" in check_page(owner, site)
    beacon.share(url="https://www.example.com/post/1?utm_source=x")
    page = check_page(owner, site)
    assert "working: beacons arrive" in page and "https://www.example.com/post/1</code>" in page


@pytest.mark.parametrize("fields,reason,code", [
    ({"url": "https://elsewhere.example/copied?x=1"}, "foreign-domain", "foreign-domain"),
    ({"service": "no-such-service"}, "malformed", "unknown-service"),
    ({"site": "MQ.tampered-key"}, "bad-key", "invalid-site-key"),
])
def test_a_refusal_is_counted_and_sampled_without_the_reader(app: Flask, owner: Person, site: Registered,
                                                            beacon: BeaconSender, fields: dict[str, str],
                                                            reason: str, code: str) -> None:
    assert beacon.send(**fields).status_code in (400, 403)
    assert [(row.reason, row.count) for row in table_rows(app, "refusals")] == [(reason, 1)]
    (sample,) = table_rows(app, "refusal_samples")
    assert sample.code == code and "?" not in (sample.page or "")
    assert BeaconSender.ip not in json.dumps([str(v) for v in sample]) and "Mozilla" not in str(sample)
    page = check_page(owner, site)
    assert f"({code})" in page
    assert "no beacon seen yet" in page


def test_rate_limited_beacons_are_counted(app: Flask, site: Registered, beacon: BeaconSender) -> None:
    app.config["RATE_LIMIT_VISITOR"] = "1/minute"
    limits.init_app(app)  # the limiter reads its rates when it is made
    ingest.init_app(app)  # and the writer, which checks the limits of what it writes, takes it then
    within_one_window()
    beacon.share()
    assert beacon.send().status_code == 429
    assert [(row.reason, row.count) for row in table_rows(app, "refusals")] == [("rate-limited", 1)]
    owner = Person(app, "owner-a@example.com")
    with app.app_context():
        accounts.set_member(site.id, "owner-a@example.com", "owner")
    owner.sign_in()
    assert "Rate limited: Kept out 1" in owner.get(f"/dashboard/sites/{site.id}/charts").get_data(as_text=True)


def test_refusals_naming_no_site_are_not_recorded(app: Flask, site: Registered, beacon: BeaconSender) -> None:
    assert beacon.post("not json").status_code == 400
    assert beacon.send(site="MQ.tampered", url="https://unrelated.example/").status_code == 400
    assert table_rows(app, "refusals") == []


def test_the_sample_keeps_only_the_latest(app: Flask, site: Registered, beacon: BeaconSender) -> None:
    for number in range(25):
        beacon.send(url=f"https://elsewhere.example/{number}")
    samples = table_rows(app, "refusal_samples")
    assert len(samples) == 20 and samples[-1].page == "https://elsewhere.example/24"
    assert [row.count for row in table_rows(app, "refusals")] == [25]


def test_the_check_is_for_owners_only(app: Flask, site: Registered) -> None:
    viewer = Person(app, "viewer@example.com")
    with app.app_context():
        accounts.set_member(site.id, "viewer@example.com", "viewer")
    viewer.sign_in()
    assert viewer.get(f"/dashboard/sites/{site.id}/check").status_code == 404
    assert Person(app).get(f"/dashboard/sites/{site.id}/check").status_code == 302


def test_repeats_are_counted_apart(app: Flask, site: Registered, beacon: BeaconSender) -> None:
    beacon.share()
    beacon.share()  # the same reader, page and platform again today: a repeat, not a share
    assert [(row.reason, row.count) for row in table_rows(app, "refusals")] == [("repeat", 1)]
    assert table_rows(app, "refusal_samples") == []
    owner = Person(app, "owner-a@example.com")
    with app.app_context():
        accounts.set_member(site.id, "owner-a@example.com", "owner")
    owner.sign_in()
    page = owner.get(f"/dashboard/sites/{site.id}/charts").get_data(as_text=True)
    assert "Repeats: Kept out 1" in page
    assert "Repeats" not in owner.get(f"/dashboard/sites/{site.id}/check").get_data(as_text=True)


def test_a_flood_of_refused_beacons_is_written_once(app: Flask, owner: Person, site: Registered,
                                                    beacon: BeaconSender) -> None:
    app.config["REFUSALS_FLUSH_SECONDS"] = 60
    refusals.init_app(app)  # the buffer reads its interval when it is made
    written: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "refusal" in statement:
            written.append(statement)

    engine = app.extensions["widget_engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        for number in range(30):
            assert beacon.send(url=f"https://elsewhere.example/{number}").status_code == 403
        assert written == [] and table_rows(app, "refusals") == []
        page = check_page(owner, site)  # the check writes this process's pending refusals first
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [(row.reason, row.count) for row in table_rows(app, "refusals")] == [("foreign-domain", 30)]
    samples = table_rows(app, "refusal_samples")
    assert len(samples) == 20 and samples[-1].page == "https://elsewhere.example/29"
    assert "(foreign-domain)" in page


def test_bad_keys_are_tied_to_the_sites_of_their_page_without_reading_every_site_each_time(
        app: Flask, site: Registered, beacon: BeaconSender) -> None:
    with app.app_context():
        other = sites.create_site("Other", ["blog.example.com", "example.org"]).id
    statements: list[str] = []
    engine = app.extensions["widget_engine"]

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for n in range(5):  # www.example.com is on the first site; blog.example.com on both
            assert beacon.send(site="MQ.tampered-key", url=f"https://blog.example.com/{n}").status_code == 400
        assert beacon.send(site="MQ.tampered-key", url="https://example.org/x").status_code == 400
        assert beacon.send(site="MQ.tampered-key", url="https://notexample.org/x").status_code == 400
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sum("sites.domains" in sql and "FROM sites" in sql for sql in statements) == 1
    counted = {(row.site_id, row.reason): row.count for row in table_rows(app, "refusals")}
    assert counted == {(site.id, "bad-key"): 5, (other, "bad-key"): 6}
    with app.app_context():  # a change of the sites is seen at once in this process
        sites.update_site(other, "Other", ["example.net"])
    assert beacon.send(site="MQ.tampered-key", url="https://example.net/x").status_code == 400
    assert beacon.send(site="MQ.tampered-key", url="https://example.org/x").status_code == 400
    counted = {(row.site_id, row.reason): row.count for row in table_rows(app, "refusals")}
    assert counted == {(site.id, "bad-key"): 5, (other, "bad-key"): 7}
