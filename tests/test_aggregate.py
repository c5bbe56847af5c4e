"""The aggregator: counts follow the event log behind the beacons, once each, in id order,
after a crash, around ids committed late, and with public titles only by consensus."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, insert, select, text

from conftest import PG_SCHEMA, BeaconSender, Partner, aggregate, app_settings, make_app, register, table_rows
from processes import python_json
from widget_server import aggregate as aggregator, counting, db, feeds, ingest, locks, pages as page_titles, sites, upkeep
from widget_server.models import UNLINKED, Base, Site, daily_rollups, event_log, page_totals, pages

PAGE = "https://example.com/post/1"


def shares_counted(app: Flask) -> int:
    with app.app_context(), db.engine().connect() as conn:
        return int(conn.scalar(select(func.coalesce(func.sum(daily_rollups.c.shares), 0))) or 0)


def test_counts_lag_the_beacon_until_the_aggregator_runs(app: Flask, beacon: BeaconSender) -> None:
    plain = FlaskClient(app)  # no catching up before reads
    assert beacon.send().status_code == 204
    query = {"site": beacon.site.key, "url": PAGE}
    assert plain.get("/v1/counts", query_string=query).get_json()["total"] == 0
    with app.app_context():
        assert aggregator.lag_seconds(db.engine()) >= 0
    assert aggregate(app) == 1
    assert plain.get("/v1/counts", query_string=query).get_json()["total"] == 1
    with app.app_context():
        assert aggregator.lag_seconds(db.engine()) == 0
    assert aggregate(app) == 0  # nothing is counted twice


def test_a_batch_that_fails_midway_is_counted_once_afterwards(app: Flask, beacon: BeaconSender,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(6):
        beacon.send(ip=f"192.0.2.{n}")
    real_add_up = counting.add_up

    def crash(*args: Any) -> None:
        real_add_up(*args)
        raise RuntimeError("killed in the middle of the batch")

    monkeypatch.setattr(counting, "add_up", crash)
    with pytest.raises(RuntimeError):
        aggregate(app)
    monkeypatch.setattr(counting, "add_up", real_add_up)
    assert shares_counted(app) == 0  # the batch's transaction rolled back with its watermark
    assert aggregate(app) == 6
    assert shares_counted(app) == 6
    assert len(table_rows(app, "events")) == 6


def test_two_counters_reading_the_same_watermark_count_once(app: Flask, beacon: BeaconSender,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`aggregate --once` beside the elected aggregator: on SQLite both may read the same
    watermark; the second to write rolls back instead of adding its counts again."""
    if app.extensions["widget_engine"].dialect.name == "postgresql":
        pytest.skip("PostgreSQL locks the state row from the step's start: the second counter waits")
    assert aggregate(app) == 0  # the aggregator's state row exists, as after its first step
    for n in range(4):
        beacon.send(ip=f"192.0.2.{n}")
    real_count_batch = counting.count_batch
    other_counted: list[int] = []

    def other_counter_first(conn: Any, rows: Any, now: Any, plain: Any) -> None:
        monkeypatch.setattr(counting, "count_batch", real_count_batch)
        # While this one decides, another counter counts the same rows.
        other_counted.append(aggregator.catch_up(app.extensions["widget_engine"]))
        real_count_batch(conn, rows, now, plain)

    monkeypatch.setattr(counting, "count_batch", other_counter_first)
    with app.app_context(), pytest.raises(aggregator.Raced):
        with db.engine().begin() as conn:
            aggregator.step(conn)
    assert other_counted == [4]
    assert shares_counted(app) == 4
    assert len(table_rows(app, "events")) == 4
    assert aggregate(app) == 0


def test_small_batches_in_id_order_give_the_same_counts(app: Flask, beacon: BeaconSender) -> None:
    for n in range(7):
        beacon.send(ip=f"192.0.2.{n % 3}", service=("weibo", "qq")[n % 2])
    with app.app_context():
        while True:
            with db.engine().begin() as conn:
                if aggregator.step(conn, batch=2) == 0:
                    break
    statuses = sorted(row.status for row in table_rows(app, "events"))
    assert statuses == ["counted"] * 6 + ["repeat"]  # the seventh repeats the first
    assert shares_counted(app) == 6
    with app.app_context(), db.engine().connect() as conn:
        assert conn.scalar(select(func.sum(page_totals.c.shares))) == 6


def test_a_late_commit_below_the_watermark_is_still_counted(app: Flask, beacon: BeaconSender) -> None:
    if app.extensions["widget_engine"].dialect.name != "postgresql":
        pytest.skip("SQLite commits ids in order")
    engine = app.extensions["widget_engine"]
    slow = engine.connect()
    transaction = slow.begin()
    row = ingest.log_row(beacon.site.id, ingest.parse_beacon(beacon.body(id="slow-0123456789")),
                         ingest.Reader("a" * 32, False))
    slow.execute(insert(event_log).values(row))  # takes an id, not committed yet
    assert beacon.send(ip="192.0.2.50").status_code == 204  # a higher id, committed
    assert aggregate(app) == 1
    transaction.commit()
    slow.close()
    assert aggregate(app) == 1
    assert shares_counted(app) == 2


def test_a_title_is_public_once_two_readers_report_it(app: Flask, beacon: BeaconSender) -> None:
    def title() -> str | None:
        aggregate(app)
        with app.app_context(), db.engine().connect() as conn:
            return conn.scalar(select(pages.c.title))

    beacon.send(title="FREE 1000 USDT -> t.me/spam", ip="192.0.2.1")
    beacon.send(title="FREE 1000 USDT -> t.me/spam", ip="192.0.2.1", service="qq")
    assert title() is None  # one reader, however often
    beacon.send(title="A post", ip="192.0.2.2")
    beacon.send(title="A post", ip="192.0.2.3")
    assert title() == "A post"
    beacon.send(title="A post, revised", ip="192.0.2.4")
    assert title() == "A post"
    beacon.send(title="A post, revised", ip="192.0.2.5")
    assert title() == "A post, revised"  # a later consistent title replaces the earlier one


def public_titles(app: Flask, partner: Partner) -> set[str | None]:
    """The page's title wherever the public sees it: the leaderboard and the activity feed."""
    board = partner.get("/api/v1/stats/leaderboard", period="7d").get_json()["results"]
    with app.app_context(), db.engine().connect() as conn:
        activity = feeds.items(conn, partner.site_id)
    assert board and activity
    return {row["title"] for row in board} | {item.title for item in activity}


def owner_sets_title(app: Flask, site_id: int, title: str | None) -> None:
    with app.app_context():
        site = db.session().get(Site, site_id)
        assert site is not None
        page_titles.set_owner_title(site, PAGE, title)


def test_the_owners_title_wins_over_the_readers_before_and_after(app: Flask, beacon: BeaconSender,
                                                                 partner: Partner) -> None:
    beacon.send(title="A post", ip="192.0.2.1")
    beacon.action("like", title="A post", ip="192.0.2.2")
    assert public_titles(app, partner) == {"A post"}
    owner_sets_title(app, beacon.site.id, "The owner's title")
    assert public_titles(app, partner) == {"The owner's title"}
    beacon.send(title="A post, revised", ip="192.0.2.3")
    beacon.send(title="A post, revised", ip="192.0.2.4")
    assert public_titles(app, partner) == {"The owner's title"}  # however many readers agree
    assert [row.title for row in table_rows(app, "pages")] == ["A post, revised"]  # consensus kept underneath
    owner_sets_title(app, beacon.site.id, None)
    assert public_titles(app, partner) == {"A post, revised"}  # cleared: the readers' consensus again


def test_an_owners_title_set_before_any_reader_stays(app: Flask, beacon: BeaconSender, partner: Partner) -> None:
    owner_sets_title(app, beacon.site.id, "Set ahead")
    beacon.send(title="FREE 1000 USDT -> t.me/spam", ip="192.0.2.1")
    beacon.action("like", title="FREE 1000 USDT -> t.me/spam", ip="192.0.2.2")
    assert public_titles(app, partner) == {"Set ahead"}
    assert [(row.url, row.owner_title) for row in table_rows(app, "pages")] == [(PAGE, "Set ahead")]  # one page
    owner_sets_title(app, beacon.site.id, None)
    assert public_titles(app, partner) == {"FREE 1000 USDT -> t.me/spam"}  # what two readers reported


def test_a_retry_in_another_month_is_counted_once(app: Flask, beacon: BeaconSender) -> None:
    body = beacon.body(id="retried-0123456789")
    assert beacon.post(json.dumps(body)).status_code == 204
    row = ingest.log_row(beacon.site.id, ingest.parse_beacon(body), ingest.Reader("b" * 32, False))
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(insert(event_log).values({**row, "month": upkeep.add_months(row["month"], 1)}))
    aggregate(app)
    assert len(table_rows(app, "events")) == 1 and shares_counted(app) == 1


# Counts the event log as the aggregator elected in a gevent worker does, with a greenlet of its
# own beside it standing for the worker's requests: how often that one ran meanwhile.
IN_A_GEVENT_WORKER = """
from gevent import monkey
monkey.patch_all()
import json, sys
import gevent
from widget_server import aggregate, create_app
app = create_app(json.loads(sys.argv[1]))
turns = 0
def requests():
    global turns
    while True:
        turns += 1
        gevent.sleep(0)
gevent.spawn(requests)
gevent.sleep(0)
before = turns
counted = aggregate.catch_up(app.extensions["widget_engine"])
print(json.dumps({"counted": counted, "turns": turns - before}))
"""


def test_the_aggregator_in_a_gevent_worker_lets_its_requests_run_while_it_counts(tmp_path: Any) -> None:
    """The aggregator elected in the server runs in a gevent worker as one of its greenlets
    (gevent patches threads), and SQLite calls do not yield: a batch decided at once held the
    worker's requests until it was written. It gives them the worker every
    ``PAUSE_EVERY`` events, and counts as before."""
    url = f"sqlite:///{tmp_path / 'greened.db'}"
    app = make_app(url, tmp_path)
    with app.app_context():
        site = sites.create_site("Greened", ["example.com"])
        rows = [ingest.log_row(site.id, ingest.Beacon("share", "", f"https://example.com/post/{n % 7}", f"greened{n:04d}",
                                                      "weibo", None), ingest.Reader(f"{n:032x}", False))
                for n in range(400)]
        with db.engine().begin() as conn:
            conn.execute(insert(event_log), rows)
    app.extensions["widget_engine"].dispose()
    result = python_json(IN_A_GEVENT_WORKER, json.dumps(app_settings(url, tmp_path)))
    assert result["counted"] == 400
    assert result["turns"] >= 400 // counting.PAUSE_EVERY
    assert sum(row.status == "counted" for row in table_rows(app, "events")) == 400
    assert shares_counted(app) == 400


def test_aggregate_command_once(app: Flask, beacon: BeaconSender) -> None:
    beacon.send()
    result = app.test_cli_runner().invoke(args=["aggregate", "--once"])
    assert result.exit_code == 0 and "1 events counted" in result.output


def statements_of_one_batch(app: Flask) -> int:
    """How many statements the aggregator sends to count everything stored, in one batch."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = app.extensions["widget_engine"]
    event.listen(engine, "before_cursor_execute", note)
    try:
        with engine.begin() as conn:
            assert aggregator.step(conn) > 0
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return len(sent)


def send_mixed(beacon: BeaconSender, readers: int, tag: str) -> None:
    """Shares with codes on new pages, click-backs on them, repeats and likes."""
    for n in range(readers):
        url = f"https://example.com/{tag}/{n}"
        code = beacon.share(ip=f"192.0.2.{n}", url=url, service=("weibo", "qq")[n % 2])
        beacon.send(ip=f"192.0.2.{n}", url=url, service=("weibo", "qq")[n % 2])  # a repeat
        assert beacon.clickback(code, ip=f"198.51.100.{n}").status_code == 204
        assert beacon.action(ip=f"192.0.2.{n}", url=url).status_code == 204


def test_a_batch_asks_the_database_as_often_whatever_its_events(app: Flask, beacon: BeaconSender) -> None:
    beacon.send()
    aggregate(app)  # the aggregator's state exists
    send_mixed(beacon, 2, "few")
    few = statements_of_one_batch(app)
    send_mixed(beacon, 12, "many")
    assert statements_of_one_batch(app) == few  # no statement per event, page, mark or repeat
    rows = table_rows(app, "events")
    assert sorted(row.status for row in rows).count("repeat") == 14
    assert sum(row.type == "clickback" and row.status == "counted" for row in rows) == 14


@pytest.mark.parametrize("odd", [
    'A "post", {braces} \\ back\\slash, NULL; 中文',
    'a","b',  # what joins the elements of a quoted array literal (bulk.array_literal)
    '{a,b} NULL',  # no quote, no backslash: quoted whole
    'trailing\\',
])
def test_titles_with_quotes_backslashes_and_commas_are_stored_as_sent(app: Flask, beacon: BeaconSender,
                                                                      odd: str) -> None:
    beacon.send(title=odd, ip="192.0.2.1")
    beacon.send(title=odd, ip="192.0.2.2")
    aggregate(app)
    with app.app_context(), db.engine().connect() as conn:
        assert conn.scalar(select(pages.c.title)) == odd


def test_installations_in_schemas_of_one_database_each_elect_an_aggregator(app: Flask) -> None:
    engine = app.extensions["widget_engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    other_schema = f"{PG_SCHEMA}_other"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {other_schema}"))
    other = create_engine(engine.url.update_query_dict({"options": f"-csearch_path={other_schema}"}))
    mine, second, theirs = locks.for_engine(engine, {}), locks.for_engine(engine, {}), locks.for_engine(other, {})
    try:
        assert mine.acquire()
        assert not second.acquire()  # one aggregator per installation
        assert theirs.acquire()  # another installation's is not held up by it
    finally:
        for lock in (mine, second, theirs):
            lock.release()
        other.dispose()
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {other_schema} CASCADE"))


def marks_now(app: Flask) -> set[str]:
    return {row.mark for row in table_rows(app, "daily_marks")}


def statuses_by_ip(app: Flask, ids: dict[str, str]) -> dict[str, str]:
    status = {row.event_id: row.status for row in table_rows(app, "events")}
    return {ip: status[event_id] for ip, event_id in ids.items()}


# How releases before 0009 wrote each mark in ``daily_marks``: before visitor keys, and after.
EARLIER_FORMS = {"before visitor keys": lambda digested, visitor: digested,
                 "visitor-keyed": lambda digested, visitor: f"v{visitor[:11]}{digested[:28]}"}


def as_an_earlier_release(monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    """This code counting as a release before 0009 did: every mark a row of ``daily_marks``."""
    monkeypatch.setattr(counting, "MAX_TOKENS", 0)
    monkeypatch.setattr(counting, "spill_mark", EARLIER_FORMS[form])


def tokens_now(app: Flask) -> dict[str, str]:
    return {row.visitor: row.tokens for row in table_rows(app, "visitor_marks")}


@pytest.mark.parametrize("form", EARLIER_FORMS)
def test_a_visitors_marks_are_one_row_and_an_earlier_releases_marks_still_count(
        app: Flask, beacon: BeaconSender, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    """One event's marks are tokens in its visitor's row of the day; the marks a release before
    that wrote still make repeats on the day of the upgrade."""
    old_release = create_engine(app.extensions["widget_engine"].url)
    try:
        as_an_earlier_release(monkeypatch, form)
        assert beacon.send(ip="192.0.2.1").status_code == 204
        assert aggregator.catch_up(old_release) == 1
    finally:
        old_release.dispose()
    earlier = marks_now(app)
    assert len(earlier) >= 5 and not tokens_now(app)
    assert all(len(m) == 40 and (m < "g" if form == "before visitor keys" else m[0] == "v") for m in earlier)
    monkeypatch.undo()
    ids = {"192.0.2.1": uuid.uuid4().hex, "192.0.2.2": uuid.uuid4().hex}
    for ip, event_id in ids.items():
        assert beacon.send(ip=ip, id=event_id).status_code == 204
    assert aggregate(app) == 2
    assert statuses_by_ip(app, ids) == {"192.0.2.1": "repeat", "192.0.2.2": "counted"}
    assert marks_now(app) == earlier  # nothing more in daily_marks
    visitor = next(row.visitor for row in table_rows(app, "events") if row.event_id == ids["192.0.2.2"])
    tokens = tokens_now(app)
    assert list(tokens) == [visitor]  # the repeat added none
    assert len(tokens[visitor]) % counting.TOKEN_LENGTH == 0 and len(tokens[visitor]) >= 5 * counting.TOKEN_LENGTH
    assert shares_counted(app) == 2


def test_marks_an_earlier_release_writes_after_an_upgrade_are_seen(
        app: Flask, beacon: BeaconSender, monkeypatch: pytest.MonkeyPatch) -> None:
    """During a rolling upgrade an aggregator of the earlier release may count between two
    steps of this one: the day it had found free of such marks is probed again."""
    assert beacon.send(ip="192.0.2.1").status_code == 204
    assert aggregate(app) == 1  # this process found today free of an earlier release's marks
    old_release = create_engine(app.extensions["widget_engine"].url)
    try:
        as_an_earlier_release(monkeypatch, "visitor-keyed")
        assert beacon.send(ip="192.0.2.3").status_code == 204
        assert aggregator.catch_up(old_release) == 1
    finally:
        old_release.dispose()
    monkeypatch.undo()
    again = uuid.uuid4().hex
    assert beacon.send(ip="192.0.2.3", id=again).status_code == 204
    assert aggregate(app) == 1
    assert statuses_by_ip(app, {"192.0.2.3": again}) == {"192.0.2.3": "repeat"}
    assert shares_counted(app) == 2


def test_a_visitor_past_their_tokens_goes_on_in_daily_marks(
        app: Flask, beacon: BeaconSender, monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor's row holds MAX_TOKENS marks; what comes after is a row each in daily_marks,
    looked up there for the same decisions, in the same batch and in later ones."""
    monkeypatch.setattr(counting, "MAX_TOKENS", 3)
    first, again, other = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    assert beacon.send(ip="192.0.2.9", id=first).status_code == 204
    assert beacon.send(ip="192.0.2.9", id=again).status_code == 204  # the same share: a repeat
    assert aggregate(app) == 2
    assert beacon.send(ip="192.0.2.9", id=other, url="https://example.com/post/2").status_code == 204
    assert beacon.send(ip="192.0.2.9", url="https://example.com/post/2").status_code == 204
    assert aggregate(app) == 2
    status = {row.event_id: row.status for row in table_rows(app, "events")}
    assert [status[first], status[again], status[other]] == ["counted", "repeat", "counted"]
    assert sorted(status.values()).count("counted") == 2
    (visitor, tokens), = tokens_now(app).items()
    assert len(tokens) == 3 * counting.TOKEN_LENGTH
    spilled = marks_now(app)
    assert len(spilled) >= 5 and all(m.startswith("w" + visitor[:11]) for m in spilled)
    with app.app_context(), db.engine().connect() as conn:
        sharers = conn.execute(text("SELECT sharers FROM daily_uniques WHERE dim = '' AND value = ''")).scalar_one()
    assert sharers == 1  # one reader, whichever table knew them


def site_rows(app: Flask, site_id: int) -> dict[str, int]:
    """How many rows of the site each table holds, but the event log (whose rows of a deleted
    site are skipped, then dropped with their month)."""
    with app.app_context(), db.engine().connect() as conn:
        return {table.name: int(conn.scalar(select(func.count()).select_from(table)
                                            .where(table.c.site_id == site_id)) or 0)
                for table in Base.metadata.sorted_tables if "site_id" in table.c and table is not event_log}


def test_deleting_a_site_deletes_everything_counted_for_it(app: Flask, beacon: BeaconSender,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "MAX_TOKENS", 2)  # so that marks go on in daily_marks too
    other = BeaconSender(beacon.client, register(app, "Other"))
    for sender in (beacon, other):
        code = sender.share(ip="192.0.2.1")
        sender.share(ip="192.0.2.1", url="https://example.com/post/2")
        assert sender.clickback(code).status_code == 204
        assert sender.action(ip="192.0.2.3").status_code == 204
    aggregate(app)
    kept = site_rows(app, other.site.id)
    assert site_rows(app, beacon.site.id) == kept
    assert all(kept[table.name] > 0 for table in UNLINKED)
    with app.app_context():
        sites.delete_site(beacon.site.id)
    assert set(site_rows(app, beacon.site.id).values()) == {0}
    assert site_rows(app, other.site.id) == kept


def test_a_site_deleted_while_a_batch_counts_it_leaves_nothing_behind(app: Flask, beacon: BeaconSender,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch read the site before its deletion and writes after it: it finds the site gone
    and is taken again, without it."""
    beacon.share(ip="192.0.2.1")
    assert aggregate(app) == 1  # the page is there now: the next batch writes nothing before its end
    beacon.share(ip="192.0.2.2")
    real_write = counting.write

    def deleted_first(batch: counting.Batch) -> None:
        monkeypatch.setattr(counting, "write", real_write)
        with app.app_context():
            sites.delete_site(beacon.site.id)
        real_write(batch)

    monkeypatch.setattr(counting, "write", deleted_first)
    assert aggregate(app) == 1  # read again after the rollback, and skipped
    assert set(site_rows(app, beacon.site.id).values()) == {0}
    with app.app_context():
        assert aggregator.lag_seconds(db.engine()) == 0
