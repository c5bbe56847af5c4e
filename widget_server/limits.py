"""Rate limits shared by every worker: in Redis when ``WIDGET_REDIS_URL`` is set, else in
this process's memory (one worker, or a development server).

Built on the ``limits`` package (the engine under Flask-Limiter); beacons are limited per
visitor hash and per site, which are only known once the body is read, so the checks are
called from the ingest path rather than declared on the route. The public reads (QR codes,
leaderboard, activity) are limited per ``client()``.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import time

from flask import Flask, current_app, request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from .problems import Problem


def init_app(app: Flask) -> None:
    uri = app.config["REDIS_URL"]
    if uri and uri.startswith("unix://"):
        uri = "redis+unix://" + uri[len("unix://"):]  # the limits package's name for a Redis socket
    storage = storage_from_string(uri, key_prefix=app.config["REDIS_PREFIX"]) if uri else storage_from_string("memory://")
    app.extensions["widget_limiter"] = MovingWindowRateLimiter(storage)


def check(setting: str, *key: str | int) -> None:
    """Count one hit against the limit named by ``setting``; raise 429 when it is used up."""
    limiter: RateLimiter = current_app.extensions["widget_limiter"]
    item: RateLimitItem = parse(current_app.config[setting])
    identifiers = [setting.lower(), *map(str, key)]
    if limiter.hit(item, *identifiers):
        return
    reset = limiter.get_window_stats(item, *identifiers).reset_time
    raise RateLimited(max(1, math.ceil(reset - time.time())))


def client() -> str:
    """The requesting client's address (as ``TRUSTED_PROXIES`` resolves it), keyed-hashed so
    that no IP is ever written to the limits' storage."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(secret, (request.remote_addr or "").encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class RateLimited(Problem):
    def __init__(self, retry_after: int):
        super().__init__(429, "rate-limited", f"Too many requests; try again in {retry_after} s.")
        self.retry_after = retry_after
