"""Calls of concurrent requests served together: the beacons' limit checks and their write.

Each caller queues its item. The first, when no run is under way, leads: it runs the work
once on everything queued so far (its own item and those of concurrent requests) and hands
each caller its own result, or the exception the work raised. The others wait for their own
result only. When a run ends with items queued meanwhile, the leader hands the lead to the
first of them, which runs the next. One statement, one commit or one Redis round trip then
serves a burst of beacons instead of one each: on this path a round trip's system calls, and
the wake-ups of the process on the other end, cost more than the work they carry.

The callers whose results are in must not queue behind the next run to learn it. They once
waited for the lead itself, each taking it in turn to find its result there: those answers
went out one at a time, the next requests arrived one at a time, and a group was 1.2 beacons
on average on SQLite under ``bench/ingest.py``.

Under gunicorn's gevent workers the callers are greenlets of one thread. The leader first
lets the worker do everything else it can (``gather``): requests whose bytes came in
meanwhile are read, and reach the group and queue their items; then it runs the work on them
all. While it waits on a socket (PostgreSQL, Redis: gevent patched them) the others go on
queueing for the next run. Under threads the same code groups the requests of a gthread
worker, and a sync worker's one request is a group of one.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Late(Exception):
    """The call did not get its result within its timeout."""


def greened() -> bool:
    """True in a process gevent has monkey-patched (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def pause() -> None:
    """In a gevent worker, let its other greenlets run (requests that came in meanwhile) before
    going on; elsewhere nothing. For long work in a greenlet that would not otherwise give
    the worker back: CPU work, and SQLite calls, which do not yield."""
    if greened():
        time.sleep(0)  # gevent's


# The longest a leader waits for the rest of its worker before its run (``gather``).
GATHER_SECONDS = 0.001


def gather() -> None:
    """Before a run, in a gevent worker (the caller knows it is in one): let every greenlet
    that can go on do so first, those woken by a socket that became readable included, for
    ``GATHER_SECONDS`` at most.

    A yield (``time.sleep(0)``) let only the greenlets ready already run: a request that came
    in meanwhile waited for the next run, and at 16 connections a run on PostgreSQL held 4.7
    beacons. Waiting for gevent's loop to be idle (it has polled its sockets and run what
    they woke) took runs to 5.8 (``bench/ingest.py``; beacons over Redis script runs), at a
    longer tail under readers that do not wait for each other: a worker that never runs out
    of requests may not be idle for a long time. Bounded by a millisecond: 5.2."""
    import gevent

    with gevent.Timeout(GATHER_SECONDS, False):  # silent: the run starts when it expires
        gevent.idle()


@dataclass(eq=False)
class Pending(Generic[Item, Result]):
    item: Item
    woken: threading.Event = field(default_factory=threading.Event)  # its run is over, or it leads
    leads: bool = False  # only an item still queued is given the lead, so a leader's run is to come
    result: Result | None = None
    error: Exception | None = None


class Group(Generic[Item, Result]):
    """``work`` takes up to ``most`` items and returns one result per item, in their order."""

    def __init__(self, work: Callable[[list[Item]], Sequence[Result]], most: int):
        self.work, self.most = work, most
        self._cooperative = greened()  # made in the worker, after gevent patched it
        self._queue: list[Pending[Item, Result]] = []  # items no run has taken yet, oldest first
        self._queue_lock = threading.Lock()
        self._leading = False  # a caller leads: it runs the queue, or will hand it on

    def call(self, item: Item, timeout: float) -> Result:
        """``item``'s result, once the run that took it is over.

        :raise Late: no run took it within ``timeout`` seconds.
        :raise Exception: whatever the run that took it raised (every caller of the run gets it).
        """
        pending: Pending[Item, Result] = Pending(item)
        with self._queue_lock:
            self._queue.append(pending)
            if not self._leading:
                self._leading = pending.leads = True
        if not pending.leads and not pending.woken.wait(timeout):
            with self._queue_lock:
                if not pending.leads:  # not handed the lead meanwhile: give up, unrun if still queued
                    self._queue = [queued for queued in self._queue if queued is not pending]
                    raise Late(f"no result within {timeout} s")
        if pending.leads:  # its item is the first queued
            try:
                self._run_queued()
            finally:
                self._hand_on()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]  # set by its run

    def _hand_on(self) -> None:
        """The lead to the oldest item queued meanwhile, or to whoever comes next."""
        with self._queue_lock:
            if self._queue:
                self._queue[0].leads = True
                self._queue[0].woken.set()
            else:
                self._leading = False

    def _run_queued(self) -> None:
        if self._cooperative:
            gather()
        with self._queue_lock:
            batch, self._queue = self._queue[:self.most], self._queue[self.most:]
        error: Exception | None = None
        try:
            results: Sequence[Result | None] = self.work([pending.item for pending in batch])
        except Exception as exc:  # noqa: BLE001  # the callers decide what it means
            results, error = [None] * len(batch), exc
        for pending, result in zip(batch, results, strict=True):
            pending.result, pending.error = result, error
            pending.woken.set()
