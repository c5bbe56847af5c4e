"""Settings: every ``WIDGET_*`` setting declared once, parsed and checked when the app is created.

Values come from the environment through Flask's ``from_prefixed_env`` (a string, or the
JSON-decoded value when the string is JSON: ``8192``, ``true``, ``["k1", "k2"]``) and from
``test_config``; both go through the same parser. A bad value, or a ``WIDGET_*`` name that is
no setting, stops the start with a :class:`SettingsError` of one line naming the setting, its
value (masked when secret) and what is expected::

    WIDGET_MAX_BEACON_BYTES=8k: expected a whole number of bytes (512..65536)

A new setting is one row of ``SETTINGS``.
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits
from flask import Config, Flask
from gunicorn.errors import AppImportError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

PREFIX = "WIDGET_"
RESERVED = ("TEST_",)  # WIDGET_TEST_* belong to the test suite, not to the server
MIN_KEY_LENGTH = 32
PLACEHOLDERS = ("changeme", "change-me", "change_me", "changethis", "replaceme", "replace-me", "placeholder",
                "example", "password", "secretkey", "secret-key", "secret_key", "yoursecret", "your-secret")
DEV_SECRET_FILE = "dev-secret-key"

Parser = Callable[[Any], Any]


class SettingsError(AppImportError):  # type: ignore[misc]
    """Settings that stop the start, said in one line: the first problem, and how many more.

    It is gunicorn's ``AppImportError``, so a gunicorn worker prints this line alone and
    stops instead of printing a traceback and being restarted.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more: `widget-server check` lists them)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


def shown(value: Any) -> str:
    """A value as a message shows it: strings as they are unless they hold control characters."""
    if value is None:
        return "(not set)"
    text = value if isinstance(value, str) and value.isprintable() else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 100 else text[:99] + "…"


def masked_url(value: Any) -> str:
    """A URL with its password (in the authority or a ``password=`` parameter) as ``****``."""
    if not isinstance(value, str):
        return shown(value)
    try:
        parts = urlsplit(value)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            value = value.replace(parts.netloc, f"{parts.username or ''}:****@{host}", 1)
    except ValueError:
        return "****"
    return shown(re.sub(r"([?&]password=)[^&#]*", r"\1****", value, flags=re.IGNORECASE))


def masked_keys(value: Any) -> str:
    if not value:
        return "(not set)"
    count = len(value) if isinstance(value, (list, tuple)) else len([k for k in str(value).split(",") if k.strip()])
    return f"**** ({count} key{'s' if count != 1 else ''})"


@dataclass(frozen=True)
class Setting:
    """One setting: its name without the prefix, its default, the parser that checks a value and
    returns the value in force (raising ValueError, whose text may say why), what a good value
    looks like, and how a value is shown in messages and by ``widget-server check``.
    """

    name: str
    default: Any
    parse: Parser
    expected: str
    show: Callable[[Any], str] = shown

    @property
    def env(self) -> str:
        return PREFIX + self.name

    def problem(self, value: Any, reason: str) -> str:
        return f"{self.env}={self.show(value)}: {reason + '; ' if reason else ''}expected {self.expected}"


# -- parsers: each takes what from_prefixed_env or test_config gives, raises ValueError ---------


def optional(parse: Parser) -> Parser:
    """``parse``, but an empty or missing value means "not set" (None)."""
    def parse_optional(value: Any) -> Any:
        return None if value is None or value == "" else parse(value)
    return parse_optional


def integer(low: int, high: int) -> Parser:
    def parse_integer(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError("")
        return value
    return parse_integer


def number(low: float, high: float) -> Parser:
    def parse_number(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError("")
        return float(value)
    return parse_number


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("")


def choice(*options: str) -> Parser:
    """One of ``options``, given in any case."""
    def parse_choice(value: Any) -> str:
        word = str(value).strip().lower()
        if word not in options:
            raise ValueError("")
        return word
    return parse_choice


def text(pattern: str) -> Parser:
    def parse_text(value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError("")
        return value
    return parse_text


def networks(value: Any) -> str:
    """A comma list of addresses or CIDR networks, kept as given once each entry parses."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    for item in (str(entry).strip() for entry in items):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return ",".join(str(entry).strip() for entry in items)


def folder(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("")
    return value


def rate_limit(value: Any) -> str:
    """One rate in the ``limits`` package's notation, kept as the string the limiter parses."""
    try:
        items = limits.parse_many(value) if isinstance(value, str) else []
    except ValueError:
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError("")
    return str(value)


HOST = r"[a-z0-9.-]+|[0-9a-f:.]+"  # a name (IDN as punycode) or an address, as urlsplit gives them


def public_url(value: Any) -> str:
    """An http(s) origin, optionally with a base path; stored without the trailing slash."""
    if not isinstance(value, str):
        raise ValueError("")
    url: str = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not url.lower().startswith(parts.scheme + "://"):
        raise ValueError("no http:// or https:// scheme")
    if not re.fullmatch(HOST, parts.hostname or "") or "@" in parts.netloc or "?" in url or "#" in url:
        raise ValueError("")
    if not re.fullmatch(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?", parts.path):
        raise ValueError("")
    try:
        parts.port
    except ValueError:
        raise ValueError("bad port") from None
    return url.rstrip("/")


def database_url(value: Any) -> str:
    """A SQLAlchemy URL of SQLite or PostgreSQL (whether its driver is installed: extras.py)."""
    from .db import normalise_url

    if not isinstance(value, str):
        raise ValueError("")
    try:
        url = make_url(normalise_url(value))
    except (ArgumentError, ValueError):
        raise ValueError("not a URL") from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{backend} is not supported")
    return value


def redis_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("")
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("")
    if (parts.path if parts.scheme == "unix" else parts.hostname) in (None, ""):
        raise ValueError("")
    return value


def secret_keys(value: Any) -> list[str] | None:
    """The key list, newest first; None when unset (a development secret is used then)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an all-digit key, JSON-decoded by from_prefixed_env
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = list(value)
    elif isinstance(value, str) or value is None:
        items = (value or "").split(",")
    else:
        raise ValueError("")
    keys = [item.strip() for item in items if item.strip()]
    for number, key in enumerate(keys, 1):
        weakness = key_weakness(key)
        if weakness:
            raise ValueError(f"key {number} {weakness}")
    return keys or None


def key_weakness(key: str) -> str | None:
    if len(key) < MIN_KEY_LENGTH:
        return f"has {len(key)} characters"
    if len(set(key)) < 10:
        return "repeats too few characters"
    if any(word in key.lower() for word in PLACEHOLDERS):
        return "looks like a placeholder"
    return None


KEYS_EXPECTED = (f"comma-separated random keys of {MIN_KEY_LENGTH}+ characters, newest first "
                 "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")

# One row per setting; a new one is one more row, e.g.
# Setting("LOG_FORMAT", "text", choice("text", "json"), "text or json").
SETTINGS: tuple[Setting, ...] = (
    Setting("INSTANCE_PATH", None, optional(folder), "a folder path"),
    Setting("DATABASE_URL", None, optional(database_url), "a sqlite:/// or postgresql:// URL", masked_url),
    Setting("SECRET_KEYS", None, secret_keys, KEYS_EXPECTED, masked_keys),
    Setting("PUBLIC_URL", None, optional(public_url), "http(s)://host[:port][/base-path], no query", masked_url),
    Setting("REDIS_URL", None, optional(redis_url), "a redis://, rediss:// or unix:// URL", masked_url),
    Setting("REDIS_PREFIX", "sharebar", text(r"[A-Za-z0-9_:.-]{1,64}"), "1 to 64 letters, digits or _:.-"),
    Setting("MAX_BEACON_BYTES", 8192, integer(512, 65536), "a whole number of bytes (512..65536)"),
    Setting("RATE_LIMIT_VISITOR", "60/minute", rate_limit, "one rate such as 60/minute"),
    # per reader address (IPv6: its /64) and site; per site, all readers together (a viral burst fits)
    Setting("RATE_LIMIT_SITE", "60000/minute", rate_limit, "one rate such as 60000/minute"),
    Setting("RATE_LIMIT_QR", "60/minute", rate_limit, "one rate such as 60/minute"),  # QR codes per client
    Setting("RATE_LIMIT_PUBLIC", "120/minute", rate_limit, "one rate such as 120/minute"),  # leaderboard, activity
    Setting("BEACON_TIMEOUT", 2.0, number(0.1, 30), "seconds a beacon waits for its commit (0.1..30)"),
    Setting("SITE_CACHE_SECONDS", 1.0, number(0, 3600), "seconds between checks for changed sites (0..3600)"),
    Setting("COUNTS_CACHE_SECONDS", 1.0, number(0, 3600), "seconds a page's counts are kept per process (0..3600)"),
    Setting("REFUSALS_FLUSH_SECONDS", 1.0, number(0, 60), "seconds refusals are counted in memory before written (0..60)"),
    Setting("AGGREGATE_IN_SERVER", True, boolean, "true or false"),  # when no `widget-server aggregate` runs
    Setting("EVENT_LOG_MONTHS", 3, integer(0, 1200), "months of raw event log kept, 0 for all (0..1200)"),
    Setting("TRUSTED_PROXIES", 0, integer(0, 10), "the number of proxies in front (0..10)"),
    Setting("LOG_FORMAT", "auto", choice("auto", "json", "text"), "auto, json or text"),
    Setting("METRICS_NETWORKS", "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7", networks,
            "a comma list of IP addresses or networks"),
    Setting("DEMO", False, boolean, "true or false"),
    Setting("SIGNUP", False, boolean, "true or false"),  # dashboard sign-up open to anyone
    Setting("SESSION_IDLE_MINUTES", 60, integer(1, 10080), "minutes a dashboard session lasts idle (1..10080)"),
    Setting("RATE_LIMIT_SIGNIN_ACCOUNT", "10 per 15 minutes", rate_limit, "one rate such as 10 per 15 minutes"),
    Setting("RATE_LIMIT_SIGNIN_CLIENT", "30 per 15 minutes", rate_limit, "one rate such as 30 per 15 minutes"),
    Setting("DEBUG", False, boolean, "true or false"),
    Setting("TESTING", False, boolean, "true or false"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}
FLASK_OWN = ("DEBUG", "TESTING")  # their defaults are Flask's: DEBUG follows --debug
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS if s.name not in FLASK_OWN}


@dataclass(frozen=True)
class Review:
    """Every setting as given, parsed (the good ones), and one line per problem."""

    given: dict[str, Any]
    values: dict[str, Any]
    problems: list[str]


def review(config: Mapping[str, Any], environ: Mapping[str, str]) -> Review:
    """Parse every setting of ``config``; name every ``WIDGET_*`` of ``environ`` that is none."""
    given = {setting.name: config.get(setting.name, setting.default) for setting in SETTINGS}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        try:
            values[setting.name] = setting.parse(given[setting.name])
        except ValueError as exc:
            problems.append(setting.problem(given[setting.name], str(exc)))
    return Review(given, values, problems + unknown_names(environ))


def unknown_names(environ: Mapping[str, str]) -> list[str]:
    problems = []
    for variable in sorted(environ):
        name = variable[len(PREFIX):]
        if variable.startswith(PREFIX) and name not in BY_NAME and not name.startswith(RESERVED):
            close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.6)
            hint = f"did you mean {PREFIX}{close[0]}?" if close else f"settings: {', '.join(BY_NAME)}"
            problems.append(f"{variable} is not a setting: {hint}")
    return problems


def from_environment() -> Review:
    """The settings a ``create_app()`` without ``test_config`` would get, reviewed."""
    config = Config(os.getcwd())
    config.from_mapping(DEFAULTS)
    config.from_prefixed_env(PREFIX.rstrip("_"))
    return review(config, os.environ)


def exit_on_bad_settings() -> None:
    """Print the one line and exit 2 when the environment's settings are bad.

    For a server's config file (``gunicorn.conf.py``): it runs once in the master, before any
    worker, so the line is the last thing printed (workers would each print it, and gunicorn
    may add its own traceback while halting).
    """
    problems = from_environment().problems
    if problems:
        print(SettingsError(problems), file=sys.stderr)
        raise SystemExit(2)


def finalise(app: Flask) -> None:
    """Check every setting, keep the parsed values, fill in derived ones.

    :raise SettingsError: a bad value or an unknown ``WIDGET_*`` name.
    """
    checked = review(app.config, os.environ)
    if checked.problems:
        raise SettingsError(checked.problems)
    app.config.update(checked.values)
    if app.config["INSTANCE_PATH"]:
        app.instance_path = str(app.config["INSTANCE_PATH"])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "widget.db")
    keys = app.config["SECRET_KEYS"] or [development_secret(Path(app.instance_path))]
    app.config["SECRET_KEYS"] = keys
    app.config["SECRET_KEY"] = keys[0]


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
