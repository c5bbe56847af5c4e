"""No cookies, no raw IPs or user agents anywhere: every table and every log line is read."""
from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import inspect

from conftest import BeaconSender, Partner, table_rows
from widget_server import db, logs, upkeep, visitors

IP = "203.0.113.177"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36 PrivacyProbe/9.9"


def every_value(app: Flask) -> str:
    """Every cell of every table, as one string."""
    with app.app_context():
        names = inspect(db.engine()).get_table_names()
    return "\n".join(repr(tuple(row)) for name in names for row in table_rows(app, name))


def test_no_raw_ip_or_user_agent_is_stored_or_logged(app: Flask, beacon: BeaconSender,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="widget_server")
    headers = {"User-Agent": AGENT, "Origin": "https://example.com"}
    code = beacon.share(ip=IP, headers=headers)
    beacon.send(ip=IP, headers=headers)  # a repeat
    assert beacon.clickback(code, ip="198.51.100.177", headers=headers).status_code == 204
    assert beacon.clickback("nope-nope", ip=IP, headers=headers).status_code == 404
    beacon.post(b"{broken", ip=IP, headers=headers)
    stored = every_value(app)
    assert "visitor" not in stored  # sanity: the dump is of values, not column names
    for secret in (IP, "198.51.100.177", "PrivacyProbe", AGENT):
        assert secret not in stored
        assert secret not in caplog.text
    hashes = {row.visitor for row in table_rows(app, "events")}
    assert len(hashes) == 2 and all(len(h) == 32 for h in hashes)


def test_visitor_hash_changes_with_the_day_and_the_site() -> None:
    one = visitors.visitor_hash("salt-of-monday", 1, IP, AGENT)
    assert one == visitors.visitor_hash("salt-of-monday", 1, IP, AGENT)
    assert one != visitors.visitor_hash("salt-of-tuesday", 1, IP, AGENT)
    assert one != visitors.visitor_hash("salt-of-monday", 2, IP, AGENT)


def test_salts_older_than_two_days_are_deleted(app: Flask) -> None:
    start = date(2026, 11, 1)
    with app.app_context():
        made = [visitors.daily_salt(db.engine(), start + timedelta(days=n)) for n in range(4)]
        upkeep.run(db.engine(), app.config, start + timedelta(days=3))  # the aggregator's upkeep that day
    assert len(set(made)) == 4
    kept = sorted(str(row.day) for row in table_rows(app, "salts"))
    assert kept == ["2026-11-03", "2026-11-04", "2026-11-05"]  # the upkeep made tomorrow's ahead


def test_every_worker_gets_the_same_salt(app: Flask) -> None:
    day = date(2026, 11, 5)
    with app.app_context():
        first = visitors.daily_salt(db.engine(), day)
    visitors._salts.clear()  # another worker: nothing cached
    with app.app_context():
        assert visitors.daily_salt(db.engine(), day) == first


def test_a_failed_first_request_of_the_day_leaves_one_salt(app: Flask, beacon: BeaconSender,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from widget_server import writer

    def refuse(self: writer.Writer, row: dict, limited: object = None, checked: bool = False) -> None:
        raise writer.Unavailable("the database went away")

    visitors._salts.clear()
    with monkeypatch.context() as patch:
        patch.setattr(writer.Writer, "store", refuse)
        assert beacon.send().status_code == 503  # the day's first request fails after making the salt
    for _ in range(3):
        visitors._salts.clear()  # every other worker: nothing cached
        assert beacon.send(service="qq").status_code == 204
    assert len(table_rows(app, "salts")) == 1
    assert len({row.visitor for row in table_rows(app, "events")}) == 1  # one reader, one hash


def test_request_logs_carry_no_address_agent_query_or_token(app: Flask, beacon: BeaconSender, partner: Partner,
                                                            caplog: pytest.LogCaptureFixture,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The one record per request names its endpoint, never the path with its parameters."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="widget_server")
    logs.configure("json")
    headers = {"User-Agent": AGENT, "Origin": "https://example.com"}
    beacon.share(ip=IP, headers=headers)
    beacon.post(b"{broken", ip=IP, headers=headers)
    page = "https://example.com/private-page?email=reader%40example.com"
    beacon.client.get("/v1/counts", query_string={"site": beacon.site.key, "url": page},
                      environ_base={"REMOTE_ADDR": IP}, headers=headers)
    partner.get("/api/v1/stats/aggregate", period="7d", headers=headers)
    partner.get("/api/v1/stats/aggregate", period="7d", headers={"Authorization": "Bearer forged.token.value"})
    printed = capsys.readouterr().err
    assert printed.count('"logger": "widget_server.requests"') == 5
    for secret in (IP, "PrivacyProbe", "private-page", "reader", beacon.site.key, partner.token, "forged.token"):
        assert secret not in caplog.text
        assert secret not in printed
    assert {getattr(record, "request_id") for record in caplog.records} != {None}
