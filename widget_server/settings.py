"""Settings: defaults, parsing of ``WIDGET_*`` values, and the development secret.

Every setting can come from the environment with the ``WIDGET_`` prefix (Flask's
``from_prefixed_env``), e.g. ``WIDGET_DATABASE_URL`` or ``WIDGET_SECRET_KEYS=new,old``.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "INSTANCE_PATH": None,  # default: Flask's instance folder beside the package
    "DATABASE_URL": None,  # default: SQLite in the instance folder
    "SECRET_KEYS": None,  # comma list; the first signs, all verify
    "REDIS_URL": None,
    "REDIS_PREFIX": "sharebar",  # namespace of Sharebar's keys in a shared Redis
    "PUBLIC_URL": None,  # e.g. https://share.example.com; default: the request's host
    "MAX_BEACON_BYTES": 8192,
    "RATE_LIMIT_VISITOR": "60/minute",  # beacons per visitor hash and site
    "RATE_LIMIT_SITE": "6000/minute",  # beacons per site, all visitors together
    "TRUSTED_PROXIES": 0,  # how many proxies in front set X-Forwarded-For
    "DEMO": False,
    "SIGNUP": False,  # dashboard sign-up open to anyone; off: accounts come from `users create`
    "SESSION_IDLE_MINUTES": 60,  # a dashboard session ends after this long without a request
    "RATE_LIMIT_SIGNIN_ACCOUNT": "10 per 15 minutes",  # sign-in attempts per account
    "RATE_LIMIT_SIGNIN_CLIENT": "30 per 15 minutes",  # sign-in attempts per client address
    "TESTING": False,
}

DEV_SECRET_FILE = "dev-secret-key"


def finalise(app: Flask) -> None:
    """Fill derived settings in place; creates the instance folder."""
    if app.config["INSTANCE_PATH"]:
        app.instance_path = str(app.config["INSTANCE_PATH"])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "widget.db")
    keys = parse_keys(app.config["SECRET_KEYS"])
    if not keys:
        keys = [development_secret(Path(app.instance_path))]
    app.config["SECRET_KEYS"] = keys
    app.config["SECRET_KEY"] = keys[0]
    if app.config["PUBLIC_URL"]:
        app.config["PUBLIC_URL"] = str(app.config["PUBLIC_URL"]).rstrip("/")


def parse_keys(value: Any) -> list[str]:
    """Accept a comma list (``new,old``) or, from JSON-looking env values, a list."""
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def development_secret(instance: Path) -> str:
    """Read or create a random secret in the instance folder, warning loudly.

    A generated secret keeps a development server's site keys valid across restarts
    without a secret ever being written into the code.
    """
    path = instance / DEV_SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    log.warning(
        "WIDGET_SECRET_KEYS is not set: using a development secret from %s. "
        "Set WIDGET_SECRET_KEYS before serving real sites.",
        path,
    )
    return path.read_text().strip()
