"""``widget-server check`` and what it looks at besides the settings: the database (does it
answer, is its schema at the migrations' head), the secret keys, Redis (does it answer), and the
public URL. The checks run inside an app context.

Each check returns a :class:`Finding`, one line for a person; the command line's commands use
:func:`schema_problem` to refuse to run against a database without the current schema.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from . import create_app, db, settings
from .settings import masked_url

UPGRADE = "run `widget-server db upgrade`"


@dataclass(frozen=True)
class Finding:
    """One thing checked: what, whether it is as it must be, and a line saying what was found."""

    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, **self.data}


class DatabaseUnreachable(Exception):
    """The database does not answer; the message names it (password masked) and why."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for messages that must stay one line."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0].strip() if lines else type(cause).__name__


def shown_url() -> str:
    """The app's database URL as the user gave it, password masked."""
    return masked_url(current_app.config["DATABASE_URL"])


def revisions() -> tuple[str | None, str]:
    """The app database's schema revision (None without a schema) and the migrations' head.

    :raise DatabaseUnreachable: no connection.
    """
    try:
        with db.engine().connect() as conn:
            current = db.schema_revisions(conn)
    except SQLAlchemyError as exc:
        raise DatabaseUnreachable(f"cannot connect to the database {shown_url()} (WIDGET_DATABASE_URL): "
                                  f"{first_line(exc)}") from exc
    return ", ".join(sorted(current)) or None, db.HEAD


def schema_problem(current: str | None, head: str) -> str | None:
    """What is wrong with a schema at revision ``current`` when the code wants ``head``."""
    if current == head:
        return None
    if current is None:
        return f"the database has no schema: {UPGRADE}"
    if current in db.REVISIONS:
        return f"behind: {current}, head {head}: {UPGRADE}"
    return f"at {current}, a revision this version does not know (head {head}): it was migrated by a newer release"


def database() -> Finding:
    """Whether the app's database answers and its schema is at the migrations' head."""
    url = shown_url()
    try:
        current, head = revisions()
    except DatabaseUnreachable as exc:
        return Finding("database", False, str(exc))
    problem = schema_problem(current, head)
    return Finding("database", problem is None, f"{url}: {problem or f'at head {head}'}",
                   {"revision": current, "head": head})


def redis(url: str) -> Finding:
    """Whether the Redis at ``url`` answers a PING within two seconds."""
    import redis as redis_client

    client = redis_client.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis_client.RedisError as exc:
        return Finding("redis", False, f"{masked_url(url)}: no answer ({first_line(exc)})")
    finally:
        client.close()
    return Finding("redis", True, f"{masked_url(url)}: answers")


def public_url(configured: str | None, demo: bool) -> Finding:
    if configured:
        return Finding("public_url", True, configured)
    if demo:
        return Finding("public_url", True, "not set (demo: the address the demo serves on)")
    return Finding("public_url", False, "not set: snippets and feed URLs would say https://YOUR-SERVER; "
                                        "set WIDGET_PUBLIC_URL=https://your.host")


def secret_keys(configured: list[str] | None, instance_path: str, demo: bool) -> Finding:
    """Whether site keys are signed with configured keys rather than a development secret."""
    if configured:
        count = len(configured)
        return Finding("secret_keys", True, "1 key from WIDGET_SECRET_KEYS" if count == 1 else
                       f"{count} keys from WIDGET_SECRET_KEYS: the first signs, all verify")
    where = f"{instance_path}/dev-secret-key"
    if demo:
        return Finding("secret_keys", True, f"not set (demo: a development secret from {where})")
    return Finding("secret_keys", False, f"not set: a development secret from {where} signs site keys; "
                                         "set WIDGET_SECRET_KEYS (README: Self-hosting)")


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def check_command(as_json: bool) -> None:
    """Check the settings, the database's schema, Redis and the public URL; exit 1 when one is wrong."""
    reviewed = settings.from_environment()
    effective = reviewed.given
    findings = [Finding("settings", False, problem) for problem in reviewed.problems]
    if not findings:
        findings.append(Finding("settings", True, f"{len(settings.SETTINGS)} settings checked"))
        app = create_app()
        effective = {**app.config, "INSTANCE_PATH": app.instance_path, "SECRET_KEYS": reviewed.values["SECRET_KEYS"]}
        with app.app_context():
            findings += environment_findings(app, reviewed.values["SECRET_KEYS"])
        app.extensions["widget_engine"].dispose()
    shown = {s.env: s.show(effective.get(s.name, s.default)) for s in settings.SETTINGS}
    ok = all(finding.ok for finding in findings)
    if as_json:
        found = {"settings": {"ok": not reviewed.problems, "problems": reviewed.problems},
                 **{f.name: f.as_json() for f in findings if f.name != "settings"}}
        report = {"ok": ok, "settings": shown, "checks": found,
                  "problems": [f.detail for f in findings if not f.ok]}
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_check(shown, findings)
    if not ok:
        sys.exit(1)


def environment_findings(app: Flask, configured_keys: list[str] | None) -> list[Finding]:
    demo = bool(app.config["DEMO"])
    found = [database(), secret_keys(configured_keys, app.instance_path, demo)]
    if app.config["REDIS_URL"]:
        found.append(redis(app.config["REDIS_URL"]))
    return found + [public_url(app.config["PUBLIC_URL"], demo)]


def print_check(shown: dict[str, str], findings: list[Finding]) -> None:
    width = max(map(len, shown))
    click.echo("Settings")
    for name, value in shown.items():
        click.echo(f"  {name:<{width}}  {value}")
    click.echo("Checks")
    for finding in findings:
        click.echo(f"  {'ok' if finding.ok else 'FAIL':<4}  {finding.name.replace('_', ' '):<11} {finding.detail}")
    problems = sum(not finding.ok for finding in findings)
    click.echo(f"{problems} problem{'s' if problems != 1 else ''}" if problems else "All good.")
