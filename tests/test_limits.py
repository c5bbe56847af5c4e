"""Beacon rate limits: keyed by address and site (not user agent), replays free for the site,
fixed windows in memory or one Redis round trip, and Redis failures that never refuse."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from sqlalchemy import select

from conftest import BeaconSender, make_app, register, within_one_window
from processes import RedisServer, python_json
from widget_server import db, groups, limits
from widget_server.models import event_log
from widget_server.limits import Limit, MemoryLimiter, RateLimited, reader_address

REDIS_URL = os.environ.get("WIDGET_TEST_REDIS_URL")
BACKENDS = [None] + ([REDIS_URL] if REDIS_URL else [])
AGENTS = [f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/{n}.0 Safari/537.36" for n in range(100, 140)]


def sender(tmp_path: Any, database_url: str, redis_url: str | None, **limits_: str) -> BeaconSender:
    app = make_app(database_url, tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=f"test-{uuid.uuid4().hex}", **limits_)
    return BeaconSender(app.test_client(), register(app))


@pytest.mark.parametrize("redis_url", BACKENDS)
def test_rotating_user_agents_do_not_escape_the_reader_limit(tmp_path: Any, database_url: str,
                                                            redis_url: str | None) -> None:
    beacon = sender(tmp_path, database_url, redis_url, RATE_LIMIT_VISITOR="10/minute")
    statuses = [beacon.send(headers={"User-Agent": agent}).status_code for agent in AGENTS[:15]]
    assert statuses == [204] * 10 + [429] * 5
    assert beacon.send(ip="203.0.113.99").status_code == 204  # another reader is not affected


@pytest.mark.parametrize("redis_url", BACKENDS)
def test_replayed_event_ids_cost_nothing_from_the_site_budget(tmp_path: Any, database_url: str,
                                                              redis_url: str | None) -> None:
    beacon = sender(tmp_path, database_url, redis_url, RATE_LIMIT_VISITOR="1000/minute", RATE_LIMIT_SITE="5/minute")
    stored = json.dumps(beacon.body(id="stored-0123456789"))
    for n in range(40):  # one client replaying one stored beacon, rotating agents and addresses
        assert beacon.post(stored, ip=f"198.51.100.{n % 4}", headers={"User-Agent": AGENTS[n]}).status_code == 204
    readers = [beacon.send(ip=f"192.0.2.{n}").status_code for n in range(5)]
    assert readers == [204, 204, 204, 204, 429]  # the replay took one of the five


@pytest.mark.parametrize("redis_url", BACKENDS)
@pytest.mark.parametrize("kind", ["share", "coded click-back"])
def test_a_replay_of_a_beacon_another_worker_stored_costs_the_site_nothing(
        tmp_path: Any, database_url: str, redis_url: str | None, kind: str) -> None:
    """No worker remembers it: it is counted and written, the write finds it stored, and its
    site gets the charge back, in the same run (a share) or after its check (a click-back
    with a share code, checked before its code is looked up)."""
    beacon = sender(tmp_path, database_url, redis_url, RATE_LIMIT_VISITOR="1000/minute", RATE_LIMIT_SITE="6/minute")
    writer = beacon.client.application.extensions["widget_writer"]
    if kind == "share":
        stored = json.dumps(beacon.body(id="stored-elsewhere-0123"))
    else:
        code = beacon.share(ip="192.0.2.200")  # one of the site's six
        stored = json.dumps({"type": "clickback", "site": beacon.site.key, "code": code, "id": "clicked-0123456789",
                             "url": f"https://example.com/post/1?_sb={code}", "referrer": "https://weibo.com/"})
    assert beacon.post(stored).status_code == 204
    for n in range(10):
        writer._stored.clear()  # as if each replay reached another worker
        assert beacon.post(stored, ip=f"198.51.100.{n}").status_code == 204
    left = 5 if kind == "share" else 4  # of six
    readers = [beacon.send(ip=f"192.0.2.{n}").status_code for n in range(left + 1)]
    assert readers == [204] * left + [429]  # the replays took nothing of what the first left
    with beacon.client.application.app_context(), db.engine().connect() as conn:
        assert list(conn.scalars(select(event_log.c.event_id).where(event_log.c.event_id.like("%0123%")))) == \
            [json.loads(stored)["id"]]


@pytest.mark.skipif(not REDIS_URL, reason="WIDGET_TEST_REDIS_URL is not set")
def test_the_limits_keep_nothing_per_beacon_in_redis(tmp_path: Any, database_url: str) -> None:
    """A counter per reader and one per site: Redis does not grow with the beacons."""
    prefix = f"test-{uuid.uuid4().hex}"
    app = make_app(database_url, tmp_path, REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
    beacon = BeaconSender(app.test_client(), register(app))
    for n in range(30):
        assert beacon.send(ip=f"192.0.2.{n % 3}").status_code == 204
    import redis

    keys = sorted(key.decode().split(":")[1] for key in redis.Redis.from_url(REDIS_URL).scan_iter(f"{prefix}:*"))
    assert keys == ["r", "r", "r", "s"]


@pytest.mark.parametrize("redis_url", BACKENDS)
def test_a_replay_of_a_beacon_the_worker_remembers_still_costs_its_reader(tmp_path: Any, database_url: str,
                                                                          redis_url: str | None) -> None:
    """The writer answers a beacon it stored lately without the database, not without the limits."""
    beacon = sender(tmp_path, database_url, redis_url, RATE_LIMIT_VISITOR="3/minute")
    stored = json.dumps(beacon.body(id="remembered-0123456789"))
    assert [beacon.post(stored).status_code for _ in range(5)] == [204, 204, 204, 429, 429]
    assert beacon.send(ip="192.0.2.50").status_code == 204  # another reader is not affected


@pytest.mark.parametrize("redis_url", BACKENDS)
def test_one_write_run_checks_its_beacons_limits_and_stores_only_those_admitted(
        tmp_path: Any, database_url: str, redis_url: str | None) -> None:
    """Concurrent beacons are checked and written in one run of the writer's group, each with
    its own answer: a refused one is answered 429 and stored nowhere."""
    beacon = sender(tmp_path, database_url, redis_url, RATE_LIMIT_VISITOR="3/minute")
    app = beacon.client.application
    statuses = [0] * 6

    def send(n: int) -> None:
        statuses[n] = beacon.send(ip="192.0.2.7", id=f"grouped-{n}-0123456789").status_code

    runs = behind_a_held_run(app.extensions["widget_writer"]._group,
                             lambda: beacon.send(ip="198.51.100.1", id="another-reader-0123456"),
                             [lambda n=n: send(n) for n in range(6)])
    assert runs == [1, 6]  # the six waited for the run before theirs, then went in one
    assert statuses == [204] * 3 + [429] * 3  # the reader's limit, beacon by beacon, in order
    with app.app_context(), db.engine().connect() as conn:
        stored = set(conn.scalars(select(event_log.c.event_id)))
    assert stored == {"another-reader-0123456", *(f"grouped-{n}-0123456789" for n in range(3))}


def behind_a_held_run(group: groups.Group[Any, Any], first: Callable[[], Any], calls: list[Callable[[], Any]]) -> list[int]:
    """Call ``first`` and hold its run of ``group`` until ``calls`` (each in a thread) have
    queued behind it in their order, as under load; the sizes of the runs made."""
    work, runs, running = group.work, [], threading.Event()

    def held(items: list[Any]) -> Any:
        runs.append(len(items))
        if len(runs) == 1:
            running.wait(5)
        return work(items)

    group.work = held
    threads = [threading.Thread(target=first)]
    threads[0].start()
    while not runs:
        time.sleep(0.001)
    for n, call in enumerate(calls):
        threads.append(threading.Thread(target=call))
        threads[-1].start()
        while len(group._queue) <= n:  # queued in this order
            time.sleep(0.001)
    running.set()
    for thread in threads:
        thread.join(5)
    return runs


def test_ipv6_readers_are_limited_by_their_64() -> None:
    assert reader_address("2001:db8:1:2:aaaa::1") == reader_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert reader_address("2001:db8:1:3::1") != reader_address("2001:db8:1:2::1")
    assert reader_address("::ffff:192.0.2.7") == "192.0.2.7"
    assert reader_address("192.0.2.7") == "192.0.2.7"


def test_memory_windows_are_dropped_whole_and_count_per_key() -> None:
    limiter = MemoryLimiter()
    one, many = Limit(2, 60), Limit(10_000, 60)
    for n in range(5000):  # many readers: each its own counter, no sweep over them per check
        limiter.check(f"r:{n}", "s:1", one, many)
    limiter.check("r:0", "s:1", one, many)
    with pytest.raises(RateLimited) as refused:
        limiter.check("r:0", "s:1", one, many)
    assert 1 <= refused.value.retry_after <= 60
    assert len(limiter._windows) == 1  # one window of 60 s, replaced whole when it ends


def test_a_dead_redis_falls_back_to_local_limits_and_says_so(tmp_path: Any, database_url: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    beacon = sender(tmp_path, database_url, "redis://127.0.0.1:1/0", RATE_LIMIT_VISITOR="3/minute")
    with caplog.at_level(logging.WARNING, logger="widget_server.limits"):
        statuses = [beacon.send().status_code for _ in range(5)]
    assert statuses == [204, 204, 204, 429, 429]
    warnings = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    assert len(warnings) == 1
    assert limits.redis_healthy(beacon.client.application) is False


def test_redis_health_moves_once_per_outage_whatever_calls_were_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    """Greenlets interleave: a call begun before Redis went may answer after, one begun before it
    came back may fail after, and a log handler may switch to another call mid-warning. Each
    outage is one warning when it goes and one when it is back."""
    import redis

    limiter = limits.Limiter("redis://127.0.0.1:1/0", "t", Limit.parse("9/minute"), Limit.parse("9/minute"))

    def down(**_: Any) -> Any:
        raise redis.ConnectionError("refused")

    def up(**_: Any) -> Any:
        return 0, 0

    def run(script: Any) -> bool:
        return limiter._run(script) is not None

    def answered_after_it_went(**_: Any) -> Any:
        assert run(down) is False  # another call meets the outage while this one is in flight
        return 0, 0

    class Interleaving(logging.Handler):
        """Another call answers while the warning is being written, as a yielding handler allows."""

        def emit(self, record: logging.LogRecord) -> None:
            if "answers again" in record.getMessage():
                run(up)

    handler = Interleaving()
    logging.getLogger("widget_server.limits").addHandler(handler)
    try:
        with caplog.at_level(logging.WARNING, logger="widget_server.limits"):
            assert run(answered_after_it_went) is True
            assert limiter.healthy is False  # the answer was begun before the outage: no news
            assert run(down) is False  # still down: nothing more said
            assert run(up) is True
            assert limiter.healthy is True

            def failed_after_it_came_back(**_: Any) -> Any:
                assert run(up) is True  # another call answers while this one is in flight
                raise redis.ConnectionError("reset")

            assert run(down) is False  # a second outage
            assert limiter.healthy is False
            assert run(failed_after_it_came_back) is False
            assert limiter.healthy is True  # its failure began before the recovery: no news
    finally:
        logging.getLogger("widget_server.limits").removeHandler(handler)
    said = [r.getMessage().split(":")[0] for r in caplog.records]
    assert said == ["Redis is unreachable (ConnectionError)", "Redis answers again"] * 2


def test_a_restarted_redis_is_met_without_a_warning_or_a_local_count(caplog: pytest.LogCaptureFixture) -> None:
    """The limiter keeps its idle connections; a restart closed them and forgot the scripts."""
    server = RedisServer()
    try:
        within_one_window()
        limiter = limits.Limiter(server.url, "t", Limit.parse("3/minute"), Limit.parse("100/minute"))
        with caplog.at_level(logging.WARNING, logger="widget_server.limits"):
            limiter.check(1, "192.0.2.7")
            server.stop()
            server.start()  # on the same port, empty
            for n in range(3):
                limiter.check(1, "192.0.2.7")
            with pytest.raises(RateLimited):
                limiter.check(1, "192.0.2.7")
        assert caplog.records == [] and limiter.healthy is True
        assert limiter.memory._windows == {}  # nothing was counted in this process's memory
    finally:
        server.stop()


def test_the_work_meanwhile_runs_once_a_check_while_its_answer_is_out(caplog: pytest.LogCaptureFixture) -> None:
    """The writer prepares its insert while the limits' answer comes (``check_many``'s
    ``meanwhile``): once a check whose script was sent, also when a restart made it go again on
    a new connection, or when Redis then failed (the memory answers); never once Redis is known
    to be down (nothing is sent)."""
    server = RedisServer()
    calls: list[int] = []
    try:
        within_one_window()
        limiter = limits.Limiter(server.url, "t", Limit.parse("2/minute"), Limit.parse("100/minute"))
        reader = (1, "192.0.2.7")
        assert limiter.check_many([reader], lambda: calls.append(1)) == [None]
        server.stop()
        server.start()  # on the same port, empty: the idle connection fails, a new one is made
        answers = limiter.check_many([reader] * 3, lambda: calls.append(2))
        assert answers[:2] == [None, None] and isinstance(answers[2], RateLimited)
        assert calls == [1, 2]
        server.stop()
        with caplog.at_level(logging.WARNING, logger="widget_server.limits"):
            assert limiter.check_many([reader], lambda: calls.append(3)) == [None]  # sent, then counted in memory
            assert limiter.check_many([reader], lambda: calls.append(4)) == [None]  # in memory at once
        assert calls == [1, 2, 3] and limiter.healthy is False
    finally:
        server.stop()


def test_what_the_work_meanwhile_raises_is_the_callers_not_a_redis_failure(caplog: pytest.LogCaptureFixture) -> None:
    """An error of the writer's own work during a check (``ValueError`` among them, which a
    socket closed under another thread also raises) reaches the writer as it is; Redis stays
    healthy, the check's answer is read off its connection, and the next check goes on in
    Redis where this one left the counts."""
    server = RedisServer()
    try:
        within_one_window()
        limiter = limits.Limiter(server.url, "t", Limit.parse("2/minute"), Limit.parse("100/minute"))
        reader = (1, "192.0.2.7")

        def broken() -> None:
            raise ValueError("the insert could not be made")

        with caplog.at_level(logging.WARNING, logger="widget_server.limits"):
            with pytest.raises(ValueError, match="the insert could not be made"):
                limiter.check_many([reader], broken)
            answers = limiter.check_many([reader, reader], lambda: None)
        assert answers[0] is None and isinstance(answers[1], RateLimited)  # the first check counted, in Redis
        assert limiter.healthy is True and not caplog.records
        assert redis.Redis.from_url(server.url).keys("t:r:*")  # the reader's count is Redis's, not a worker's memory
    finally:
        server.stop()


@pytest.mark.skipif(not REDIS_URL, reason="WIDGET_TEST_REDIS_URL is not set")
def test_concurrent_beacons_are_checked_in_one_redis_run_each_with_its_own_answer() -> None:
    within_one_window()
    limiter = limits.Limiter(REDIS_URL, f"t{uuid.uuid4().hex}", Limit.parse("3/minute"), Limit.parse("100/minute"))
    answers: list[str] = [""] * 6

    def beacon(n: int) -> None:
        try:
            limiter.check(1, "192.0.2.7")
            answers[n] = "accepted"
        except RateLimited as refused:
            answers[n] = f"refused {refused.retry_after > 0}"

    runs = behind_a_held_run(limiter.checks, lambda: limiter.check(1, "198.51.100.1"),
                             [lambda n=n: beacon(n) for n in range(6)])
    assert runs == [1, 6]  # the six waited for the run before theirs, then went in one
    assert answers == ["accepted"] * 3 + ["refused True"] * 3  # the reader's limit, beacon by beacon, in order


def test_a_caller_whose_result_is_in_does_not_wait_for_the_next_run() -> None:
    """Runs of a group follow one another; each caller returns when its own run ends."""
    gates = {item: threading.Event() for item in "abd"}  # each run is held until its gate opens
    runs: list[list[str]] = []

    def work(items: list[str]) -> list[str]:
        runs.append(items)
        gates[items[0]].wait(5)
        return [item.upper() for item in items]

    group: groups.Group[str, str] = groups.Group(work, 10)
    answers: dict[str, str] = {}
    callers = {item: threading.Thread(target=lambda i=item: answers.setdefault(i, group.call(i, 5.0))) for item in "abcde"}

    def start(items: str, runs_then: int) -> None:  # they queue while the run before theirs is held
        for item in items:
            callers[item].start()
            while item not in [queued.item for queued in group._queue] and len(runs) < runs_then:
                time.sleep(0.001)

    start("a", 1)
    while not runs:
        time.sleep(0.001)
    start("bc", 2)
    gates["a"].set()
    while len(runs) < 2:
        time.sleep(0.001)
    start("de", 3)
    gates["b"].set()
    while len(runs) < 3:
        time.sleep(0.001)
    callers["c"].join(5)  # its run is over, the run of d and e is still held
    assert runs == [["a"], ["b", "c"], ["d", "e"]] and answers == {"a": "A", "b": "B", "c": "C"}
    gates["d"].set()
    for caller in callers.values():
        caller.join(5)
    assert answers == {item: item.upper() for item in "abcde"}


# Under gevent: three requests whose bytes come in just before a fourth leads a run.
GATHERED = """
from gevent import monkey
monkey.patch_all()
import json, socket
import gevent
from widget_server import groups
runs = []
def work(items):
    runs.append(sorted(map(str, items)))
    return items
group = groups.Group(work, 100)
pairs = [socket.socketpair() for _ in range(3)]
def request(n, sock):
    sock.recv(1)
    return group.call(n, 5.0)
waiting = [gevent.spawn(request, n, theirs) for n, (_, theirs) in enumerate(pairs)]
gevent.sleep(0)
for ours, _ in pairs:
    ours.send(b"x")
leader = gevent.spawn(group.call, "lead", 5.0)
gevent.joinall([leader, *waiting], timeout=5)
print(json.dumps({"runs": runs, "answers": [g.value for g in [leader, *waiting]]}))
"""


def test_a_leader_in_a_gevent_worker_takes_the_requests_that_came_in_meanwhile() -> None:
    """Before its run the leader lets its worker read what arrived (``groups.gather``): a
    request whose bytes came in while others ran goes in the same run, not the next."""
    result = python_json(GATHERED)
    assert result["runs"] == [["0", "1", "2", "lead"]]
    assert result["answers"] == ["lead", 0, 1, 2]


# Under gevent: a greenlet that never lets the loop be idle, as a worker that never runs out
# of requests, beside a leader.
NEVER_IDLE = """
from gevent import monkey
monkey.patch_all()
import json
import gevent
from widget_server import groups
busy = True
def requests():
    while busy:
        gevent.sleep(0)
spinner = gevent.spawn(requests)
gevent.sleep(0)
group = groups.Group(lambda items: [item.upper() for item in items], 100)
leader = gevent.spawn(group.call, "lead", 5.0)
leader.join(3)
busy = False
spinner.join(1)
print(json.dumps({"answer": leader.value}))
"""


def test_a_leader_in_a_worker_that_is_never_idle_still_runs() -> None:
    """The leader's wait for its worker to be idle is bounded (``groups.GATHER_SECONDS``):
    unbounded, this run never started."""
    assert python_json(NEVER_IDLE) == {"answer": "LEAD"}


def test_a_group_hands_a_failure_to_every_caller_and_forgets_a_late_one() -> None:
    calls: list[list[int]] = []

    def work(items: list[int]) -> list[int]:
        calls.append(items)
        if 13 in items:
            raise ValueError("unlucky")
        return [item * 2 for item in items]

    group: groups.Group[int, int] = groups.Group(work, 10)
    assert group.call(4, 1.0) == 8
    running, taken = threading.Event(), []

    def held(items: list[int]) -> list[int]:  # the run of 1 is held up until the others queued
        taken.append(items)
        if items == [1]:
            running.wait(5)
        return work(items)

    group.work = held
    first = threading.Thread(target=group.call, args=(1, 5.0))
    first.start()
    while not taken:
        time.sleep(0.001)
    with pytest.raises(groups.Late):
        group.call(5, 0.05)  # nobody ran it in time
    failures: list[Exception] = []
    threads = [threading.Thread(target=lambda n=n: failures.append(pytest.raises(ValueError, group.call, n, 5.0).value))
               for n in (12, 13)]
    for n, thread in enumerate(threads):
        thread.start()
        while len(group._queue) <= n:
            time.sleep(0.001)
    running.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert calls == [[4], [1], [12, 13]]  # 5 was forgotten when its caller gave up
    assert len(failures) == 2 and all(str(f) == "unlucky" for f in failures)
