"""Optional dependencies: PostgreSQL and Redis support are the extras ``postgres`` and ``redis``.

A plain install serves on SQLite and in-process rate limits; a setting that names a
PostgreSQL or Redis server needs its extra. That is checked once, when the app is created,
so a missing driver is one plain sentence at start and never an ImportError on the first
request. Code that talks to Redis or PostgreSQL imports their drivers where it uses them.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import click
from sqlalchemy.engine import make_url

from .db import normalise_url

DISTRIBUTION = "sharebar-widget-server"


class MissingExtra(click.ClickException):
    """A setting needs a driver that is not installed.

    A ClickException, so ``widget-server`` prints it as one line and exits 1.
    """


def needed(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(setting, module, extra)`` for every driver the settings call for."""
    wanted = []
    if make_url(normalise_url(str(config["DATABASE_URL"]))).get_backend_name() == "postgresql":
        wanted.append(("WIDGET_DATABASE_URL", "psycopg", "postgres"))
    if config.get("REDIS_URL"):
        wanted.append(("WIDGET_REDIS_URL", "redis", "redis"))
    return wanted


def check(config: Mapping[str, Any]) -> None:
    """:raise MissingExtra: naming the setting and the install command, for the first
    driver the settings need that cannot be imported."""
    for setting, module, extra in needed(config):
        if not installed(module):
            raise MissingExtra(
                f"{setting} names a {extra_label(extra)} server, but {module} is not installed: "
                f"pip install '{DISTRIBUTION}[{extra}]'"
            )


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def extra_label(extra: str) -> str:
    return {"postgres": "PostgreSQL", "redis": "Redis"}[extra]
