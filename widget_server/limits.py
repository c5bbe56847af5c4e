"""Beacon rate limits: per reader and per site, in Redis when ``WIDGET_REDIS_URL`` is set
(shared by every worker and host), else in this process's memory.

- **Per reader**: keyed by the client's address (its /64 for IPv6, what one subscriber
  gets) and the site, ``RATE_LIMIT_VISITOR``. Not by the user agent, which a client
  rotates for free.
- **Per site**: ``RATE_LIMIT_SITE``. A beacon the write finds stored already (a retry whose
  answer was lost, a replay) gets its site's charge back (``refund``): it costs its sender's
  reader budget and nothing of the site's. The event log's unique key is what knows an id
  was stored, so the limits keep nothing per event: no key in Redis, no entry in memory,
  which at a steady 700 beacons a second a worker had grown by 66 MB in ten minutes.

Both are fixed-window counters: in Redis, one script run (one round trip) checks and counts
both, for every beacon a worker is storing at that moment, in the run that then inserts
those admitted (``writer``; a click-back with a share code is checked before its code is
looked up, in a group of its own, ``groups``); in memory, one dict per window, dropped whole
when the window ends, so the cost of a check does not grow with the number of readers.
Without Redis each worker process counts alone: with N workers a reader gets up to N times
the limit.

Other limits (QR codes and the public reads per ``client()``, dashboard sign-ins) are one
fixed-window counter each, through ``check(setting, *key)``, on the same storage.

When Redis stops answering, beacons keep being accepted under the memory limits; one
warning is logged when it goes and one when it is back (checked every few seconds), and
``redis_healthy()`` says which for ``/readyz``.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request
from limits import parse

from .groups import Group, Late
from .problems import Problem

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 3.0
REDIS_TIMEOUT_SECONDS = 0.25
GROUP_TIMEOUT_SECONDS = 4 * REDIS_TIMEOUT_SECONDS  # a beacon's wait for its group's run (connect, then answer)

# The checks of a group of beacons (see ``groups``), in their order, in one round trip.
# KEYS: for each beacon its reader counter and site counter; ARGV: reader limit, reader
# window, site limit, site window. Returns for each beacon 0, 0 (accepted) or 1 (reader) |
# 2 (site), the seconds left.
CHECK_SCRIPT = """
local out = {}
for i = 1, #KEYS, 2 do
  local refused, left = 0, 0
  local r = redis.call('INCR', KEYS[i])
  if r == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  if r > tonumber(ARGV[1]) then
    refused, left = 1, redis.call('TTL', KEYS[i])
  else
    local s = redis.call('INCR', KEYS[i + 1])
    if s == 1 then redis.call('EXPIRE', KEYS[i + 1], ARGV[4]) end
    if s > tonumber(ARGV[3]) then
      refused, left = 2, redis.call('TTL', KEYS[i + 1])
    end
  end
  out[#out + 1] = refused
  out[#out + 1] = left
end
return out
"""
MAX_CHECKS = 100  # beacons per script run

# KEYS: counter; ARGV: limit, window. Returns {0, 0} (within) or {1, seconds left}.
HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return {1, redis.call('TTL', KEYS[1])} end
return {0, 0}
"""

# KEYS: site counters, one unit to give back to each (a counter whose window has ended, gone
# or not, is left alone: DECR would make it anew, without expiry).
REFUND_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECR', KEYS[i]) end
end
return #KEYS
"""


Beacon = tuple[int, str]  # what a beacon's limits count by: its site id and client address


class RateLimited(Problem):
    def __init__(self, retry_after: int):
        super().__init__(429, "rate-limited", f"Too many requests; try again in {retry_after} s.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    amount: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``60/minute``, ``6000 per hour``, ``10/5 seconds`` (the ``limits`` package's notation)."""
        item = parse(text)
        return cls(int(item.amount), int(item.get_expiry()))


def reader_address(address: str) -> str:
    """The part of a client address a reader cannot cheaply change: IPv4 whole, IPv6's /64."""
    if ":" not in address:
        return address  # IPv4 (which ipaddress would spell the same) or no address at all
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address) + "/64"
    return str(ip)


@dataclass
class Window:
    """Counters of one fixed window: all dropped together when the window ends."""

    number: int
    counts: dict[str, int] = field(default_factory=dict)


class MemoryLimiter:
    """Fixed windows in this process; O(1) per check whatever the number of keys."""

    def __init__(self) -> None:
        self._windows: dict[int, Window] = {}  # window length -> current window
        self._lock = threading.Lock()

    def _hit(self, key: str, limit: Limit, now: float) -> tuple[int, int]:
        number = int(now // limit.seconds)
        window = self._windows.get(limit.seconds)
        if window is None or window.number != number:
            window = self._windows[limit.seconds] = Window(number)
        count = window.counts.get(key, 0) + 1
        window.counts[key] = count
        return count, math.ceil((number + 1) * limit.seconds - now)

    def check(self, reader: str, site: str, reader_limit: Limit, site_limit: Limit) -> None:
        now = time.time()
        with self._lock:
            count, left = self._hit(reader, reader_limit, now)
            if count > reader_limit.amount:
                raise RateLimited(max(1, left))
            count, left = self._hit(site, site_limit, now)
            if count > site_limit.amount:
                raise RateLimited(max(1, left))

    def hit(self, key: str, limit: Limit) -> None:
        now = time.time()
        with self._lock:
            count, left = self._hit(key, limit, now)
        if count > limit.amount:
            raise RateLimited(max(1, left))

    def refund(self, key: str, limit: Limit) -> None:
        """One unit back to ``key``'s counter, if its window is still the current one."""
        with self._lock:
            window = self._windows.get(limit.seconds)
            if window is not None and window.number == int(time.time() // limit.seconds) and window.counts.get(key):
                window.counts[key] -= 1


class Limiter:
    """Redis when configured and answering, else the memory limiter."""

    def __init__(self, redis_url: str | None, prefix: str, reader_limit: Limit, site_limit: Limit):
        self.prefix, self.reader_limit, self.site_limit = prefix, reader_limit, site_limit
        self.memory = MemoryLimiter()
        self.redis: Any = None  # the client: what its URL says (scheme, address, timeouts) and the scripts' digests
        self.script: Any = None
        self.hit_script: Any = None
        self.refund_script: Any = None
        self._idle: list[Any] = []  # this process's connections to Redis not in use (see ``_evaluate``)
        self._pid = os.getpid()
        self.checks: Group[Beacon, RateLimited | None] = Group(self.check_many, MAX_CHECKS)
        self.check_args = [reader_limit.amount, reader_limit.seconds, site_limit.amount,
                           site_limit.seconds]  # CHECK_SCRIPT's ARGV
        self.healthy: bool | None = None
        self._retry_at = 0.0
        self._changed_at = 0.0  # when ``healthy`` last changed
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                              socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
            self.script = self.redis.register_script(CHECK_SCRIPT)
            self.hit_script = self.redis.register_script(HIT_SCRIPT)
            self.refund_script = self.redis.register_script(REFUND_SCRIPT)
            self.healthy = True

    def check(self, site_id: int, address: str) -> None:
        """Count one beacon against both limits: with Redis, in one script run with the beacons
        other requests of this process check at the same moment (``groups``).

        :raise RateLimited: one of them is used up (with the seconds until it frees).
        """
        beacon = (site_id, address)
        if self._redis_usable():
            try:
                refused = self.checks.call(beacon, GROUP_TIMEOUT_SECONDS)
            except Late:  # the run before it is stuck: its own failure tells the health
                refused = self._in_memory(beacon)
        else:
            refused = self._in_memory(beacon)
        if refused is not None:
            raise refused

    def check_many(self, beacons: Sequence[Beacon], meanwhile: Callable[[], None] | None = None
                   ) -> list[RateLimited | None]:
        """Count beacons against both limits, in their order, with one script run (one round
        trip) in Redis, or in memory when Redis is not set or does not answer: for each, None
        when it is within them, else its refusal. The writer checks the beacons of a group
        commit so (``writer.Writer.store``), in the same run as their insert.

        ``meanwhile`` is called once the script is sent, while its answer is on its way: the
        caller's work that does not depend on the answer (see ``_evaluate``). Nothing is sent,
        and it is not called, while Redis is known to be down. What it raises is raised here
        once the answer is read, and is not taken for a failure of Redis (``_run`` takes a
        ``ValueError`` or an ``OSError`` for a closed socket's)."""
        if self._redis_usable():
            now = int(time.time())
            keys = [key for beacon in beacons for key in self._redis_keys(beacon, now)]
            failed: list[Exception] = []
            then = None if meanwhile is None else functools.partial(kept_apart, meanwhile, failed)
            answer = self._run(lambda: self._evaluate(self.script, keys, self.check_args, then))
            if failed:
                raise failed[0]
            if answer is not None:
                return [RateLimited(max(1, int(answer[n + 1]))) if int(answer[n]) else None
                        for n in range(0, len(answer), 2)]
        return [self._in_memory(beacon) for beacon in beacons]

    def check_reader(self, site_id: int, address: str) -> None:
        """Count a beacon stored already (the writer remembers it) against its reader's limit
        alone: it costs its site nothing.

        :raise RateLimited: the reader's limit is used up.
        """
        reader = self._names((site_id, address))[0]
        self._count(reader, reader, self.reader_limit)  # the counter CHECK_SCRIPT counts readers on

    def refund(self, site_ids: Sequence[int]) -> None:
        """Give back a unit of the site budget for each of ``site_ids``: beacons counted, then
        found stored already by their write. In one script run with Redis; in memory when
        Redis is not set or does not answer (where a charge made in Redis is then kept)."""
        if not site_ids:
            return
        names = [self._site(site_id) for site_id in site_ids]
        if self._redis_usable():
            now = int(time.time())
            keys = [self._window_key(name, self.site_limit, now) for name in names]
            if self._run(lambda: self._evaluate(self.refund_script, keys, [])) is not None:
                return
        for name in names:
            self.memory.refund(name, self.site_limit)

    def hit(self, key: str, limit: Limit) -> None:
        """Count one request against ``limit`` for ``key``.

        :raise RateLimited: the limit is used up (with the seconds until it frees).
        """
        self._count(key, f"h:{key}", limit)

    def _count(self, name: str, redis_name: str, limit: Limit) -> None:
        """One unit against ``limit`` on the counter ``name`` (``redis_name`` in Redis)."""
        if self._redis_usable():
            keys = [self._window_key(redis_name, limit, int(time.time()))]
            answer = self._run(lambda: self._evaluate(self.hit_script, keys, [limit.amount, limit.seconds]))
            if answer is not None:
                refused, left = answer
                if int(refused):
                    raise RateLimited(max(1, int(left)))
                return
        self.memory.hit(name, limit)

    def _redis_usable(self) -> bool:
        return self.redis is not None and bool(self.healthy or time.monotonic() >= self._retry_at)

    @staticmethod
    def _site(site_id: int) -> str:
        """A site's counter, as the counters name it."""
        return f"s:{site_id}"

    @classmethod
    def _names(cls, beacon: Beacon) -> tuple[str, str]:
        """A beacon's reader and site, as the counters name them."""
        site_id, address = beacon
        return f"r:{site_id}:{reader_address(address)}", cls._site(site_id)

    def _window_key(self, name: str, limit: Limit, now: int) -> str:
        """The Redis key of the counter ``name`` in the window of ``limit`` that ``now`` is in."""
        return f"{self.prefix}:{name}:{now // limit.seconds}"

    def _redis_keys(self, beacon: Beacon, now: int) -> list[str]:
        """CHECK_SCRIPT's two keys of a beacon: its reader's and its site's counters of the
        window ``now`` is in."""
        reader, site = self._names(beacon)
        return [self._window_key(reader, self.reader_limit, now), self._window_key(site, self.site_limit, now)]

    def _in_memory(self, beacon: Beacon) -> RateLimited | None:
        try:
            self.memory.check(*self._names(beacon), self.reader_limit, self.site_limit)
        except RateLimited as refused:
            return refused
        return None

    def _evaluate(self, script: Any, keys: list[str], args: list[Any], meanwhile: Callable[[], None] | None = None
                  ) -> Any:
        """``script``'s answer on ``keys`` and ``args``: one EVALSHA (EVAL, should Redis have
        lost the script) on an idle connection of this process, or a new one.

        ``meanwhile`` runs once, as soon as the command is sent, before its answer is read: a
        worker that waits for an answer with nothing else to do sleeps, and another process
        takes its core and its caches. A writer's run of 8 beacons that prepared its insert
        there took 5% less CPU than one that prepared it after the answer (bench/README.md,
        2026-12-07).

        Not through the client's ``Script``: for every command, the client's pool takes a lock
        and polls the socket it hands out, and a retry wrapper surrounds the call, together a
        third of a beacon's time in Redis calls. Here a connection that fails is closed; when
        it had been idle, the idle ones are closed too (a restarted Redis closed them all) and
        the call is made once more, on a new connection.
        """
        import redis

        if self._pid != os.getpid():  # forked: the parent's sockets are not this process's
            self._idle, self._pid = [], os.getpid()
        while True:
            idle = self._idle.pop() if self._idle else None
            pool = self.redis.connection_pool
            conn = idle if idle is not None else pool.connection_class(**pool.connection_kwargs)
            try:
                try:
                    conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                    if meanwhile is not None:
                        then, meanwhile = meanwhile, None  # once, whatever retries follow
                        then()
                    answer = conn.read_response()
                except redis.exceptions.NoScriptError:
                    conn.send_command("EVAL", script.script, len(keys), *keys, *args)
                    answer = conn.read_response()
            except BaseException as exc:
                conn.disconnect()
                if idle is not None and isinstance(exc, redis.ConnectionError):
                    self._close_idle()
                    continue
                raise
            self._idle.append(conn)
            return answer

    def _close_idle(self) -> None:
        while self._idle:
            self._idle.pop().disconnect()

    def _run(self, call: Callable[[], Any]) -> Any:
        """A limit's Redis call: its answer, or None when Redis did not answer (the caller
        counts in memory then)."""
        import redis

        started = time.monotonic()
        try:
            answer = call()
        except (redis.RedisError, OSError, ValueError) as exc:  # a socket closed under another thread: OSError, ValueError
            self._failed(started, type(exc).__name__)
            return None
        self._answered(started)
        return answer

    # Health changes only on news: a call's outcome moves it when the call began after the last
    # change, so calls in flight across an outage or a recovery (greenlets interleave under gevent)
    # neither flap it nor repeat its warning. The state is set before the warning is logged: a log
    # handler may yield to another greenlet, which must see the change already made.
    def _failed(self, started: float, reason: str) -> None:
        now = time.monotonic()
        if self.healthy and started >= self._changed_at:
            self.healthy, self._changed_at = False, now
            log.warning("Redis is unreachable (%s): rate limits are counted per process until it is back", reason)
        if not self.healthy:
            self._retry_at = now + REDIS_RETRY_SECONDS
        # The idle sockets died with the server; those in use fail on their own.
        self._close_idle()

    def _answered(self, started: float) -> None:
        if not self.healthy and started >= self._changed_at:
            self.healthy, self._changed_at = True, time.monotonic()
            log.warning("Redis answers again: rate limits are shared again")


def kept_apart(work: Callable[[], None], failed: list[Exception]) -> None:
    """``work()``, what it raises kept in ``failed`` rather than raised through a Redis call."""
    try:
        work()
    except Exception as exc:  # noqa: BLE001  # the caller raises it once the call is over
        failed.append(exc)


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions["widget_limiter"] = Limiter(config["REDIS_URL"], config["REDIS_PREFIX"],
                                               Limit.parse(config["RATE_LIMIT_VISITOR"]),
                                               Limit.parse(config["RATE_LIMIT_SITE"]))


def check_beacon(site_id: int, address: str) -> None:
    """Count one beacon of ``site_id`` from ``address``; raise 429 when a limit is used up."""
    limiter: Limiter = current_app.extensions["widget_limiter"]
    limiter.check(site_id, address)


def check(setting: str, *key: str | int) -> None:
    """Count one request against the limit named by ``setting`` (e.g. ``RATE_LIMIT_QR``) for
    ``key``; raise 429 when it is used up."""
    limiter: Limiter = current_app.extensions["widget_limiter"]
    limiter.hit(":".join([setting.lower(), *map(str, key)]), Limit.parse(current_app.config[setting]))


def client() -> str:
    """The requesting client's address (as ``TRUSTED_PROXIES`` resolves it, IPv6 by its /64),
    keyed-hashed so that no IP is ever written to the limits' storage."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    address = reader_address(request.remote_addr or "").encode("utf-8")
    return hmac.new(secret, address, hashlib.sha256).hexdigest()[:32]


def redis_healthy(app: Flask | None = None) -> bool | None:
    """None without Redis; else whether the last check reached it (for ``/readyz``)."""
    limiter: Limiter = (app or current_app).extensions["widget_limiter"]
    return limiter.healthy
