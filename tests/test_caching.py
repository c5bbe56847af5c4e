"""The in-process cache of the public reads: bounded, timed, least recently used out first."""
from __future__ import annotations

from widget_server.caching import TimedCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_made_once_until_it_is_stale() -> None:
    clock, made = Clock(), []
    cache = TimedCache(size=10, seconds=60, clock=clock)
    make = lambda: made.append(1) or len(made)  # noqa: E731
    assert [cache.get("k", make) for _ in range(3)] == [1, 1, 1]
    clock.now = 59.9
    assert cache.get("k", make) == 1
    clock.now = 60.0
    assert cache.get("k", make) == 2
    assert len(made) == 2


def test_the_least_recently_used_key_goes_first() -> None:
    cache = TimedCache(size=2, seconds=60, clock=Clock())
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "fresh A")  # a is used again: b is now the oldest
    cache.get("c", lambda: "C")
    assert list(cache.entries) == ["a", "c"]
    assert cache.get("b", lambda: "new B") == "new B"
