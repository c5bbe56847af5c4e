"""Small in-process caches for the public read endpoints that any reader can call.

Each worker keeps its own: what they hold (a leaderboard, the recent activity) is already
public, may be a few minutes old by contract (their ``Cache-Control`` says so), and is
cheap to compute once per worker. Keys are the *parsed* parameters, never the raw query
string, so a cache-busting parameter (``&_=123``) gets the cached answer.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app


class TimedCache:
    """At most ``size`` values, each for ``seconds``; the least recently used goes first.

    Safe across threads; two threads missing the same key both compute it, which costs
    one extra computation and never a wrong answer.
    """

    def __init__(self, size: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.size, self.seconds, self.clock = size, seconds, clock
        self.entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The cached value of ``key``, made with ``make()`` when missing or stale."""
        now = self.clock()
        with self.lock:
            found = self.entries.get(key)
            if found is not None and found[0] > now:
                self.entries.move_to_end(key)
                return found[1]
        value = make()
        with self.lock:
            self.entries[key] = (now + self.seconds, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


def cache(name: str, size: int, seconds: float) -> TimedCache:
    """The app's cache called ``name``, created on first use (one per app, so two apps in
    one process, as in tests, never share answers)."""
    caches: dict[str, TimedCache] = current_app.extensions.setdefault("widget_caches", {})
    if name not in caches:
        caches[name] = TimedCache(size, seconds)
    return caches[name]
