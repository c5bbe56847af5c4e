"""The ``widget-server`` command: Flask's CLI on the app factory, plus Sharebar's commands.

Every error is one line on stderr and a non-zero exit: bad settings, a database that does not
answer or has no schema yet, bad arguments. ``--debug`` (or ``WIDGET_DEBUG=1``) shows the
traceback of unexpected errors instead.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.serving import WSGIRequestHandler, run_simple

from . import accounts, aggregate, checks, create_app, db, feeds, pages, settings, sites, tokens
from .models import ApiToken, Site, utcnow

P = ParamSpec("P")
R = TypeVar("R")
MISSING_TABLE = re.compile(r"no such table|relation .* does not exist|UndefinedTable", re.IGNORECASE)


class WidgetGroup(FlaskGroup):
    """Flask's command group, saying every error in one line (a traceback only with --debug)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            fail(click_message(exc), exc.exit_code)
        except click.Abort:
            fail("aborted")
        except Exception as exc:
            if debugging():
                raise
            fail(one_line(exc))
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands; without the app's own (and with the reason) when the app cannot start."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except Exception as exc:
            if debugging():
                raise
            click.echo(f"Error: {one_line(exc)}", err=True)
            return sorted(click.Group.list_commands(self, ctx))
        return super().list_commands(ctx)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def debugging() -> bool:
    """``--debug`` (Flask's, which sets FLASK_DEBUG) or ``WIDGET_DEBUG`` is on."""
    for variable in ("FLASK_DEBUG", "WIDGET_DEBUG"):
        try:
            if settings.boolean(os.environ.get(variable, "")):
                return True
        except ValueError:
            continue
    return False


def click_message(exc: click.ClickException) -> str:
    message = " ".join(exc.format_message().split())
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        message += f" (see `{context.command_path} --help`)"
    return message


def one_line(exc: BaseException) -> str:
    """An unexpected error in one line: what failed and why, never a traceback."""
    if isinstance(exc, settings.SettingsError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        if MISSING_TABLE.search(str(exc)):
            return f"the database has no schema: {checks.UPGRADE}"
        return f"the database failed: {checks.first_line(exc)} (--debug shows where)"
    return f"{type(exc).__name__}: {checks.first_line(exc)} (--debug shows where)"


@click.group(cls=WidgetGroup, create_app=create_app)
def main() -> None:
    """Sharebar widget server."""


db_group = AppGroup("db", help="The database schema.")
sites_group = AppGroup("sites", help="Registered sites.")
tokens_group = AppGroup("tokens", help="Partner API tokens.")


def init_app(app: Flask) -> None:
    """Put the app's own commands on ``app.cli`` (so ``flask``'s test runner sees them too)."""
    app.cli.add_command(db_group)
    app.cli.add_command(sites_group)
    app.cli.add_command(feeds_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(aggregate.aggregate_command)
    app.cli.add_command(accounts.users_group)


def needs_database(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command`` only when the database answers; else say which one does not, and why."""
    @functools.wraps(command)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            checks.revisions()
        except checks.DatabaseUnreachable as exc:
            raise click.ClickException(str(exc)) from None
        return command(*args, **kwargs)
    return checked


def needs_schema(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command`` only when the database answers and its schema is at the head."""
    @functools.wraps(command)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            current, head = checks.revisions()
        except checks.DatabaseUnreachable as exc:
            raise click.ClickException(str(exc)) from None
        problem = checks.schema_problem(current, head)
        if problem:
            raise click.ClickException(problem if current is None else f"the database schema is {problem}")
        return command(*args, **kwargs)
    return checked


@db_group.command("upgrade")
@click.argument("revision", default="head")
@needs_database
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (to REVISION, default the newest)."""
    db.upgrade(revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@needs_database
def db_downgrade(revision: str) -> None:
    """Migrate the schema back to REVISION ('base' drops everything)."""
    db.downgrade(revision)
    click.echo(f"database at {revision}")


@sites_group.command("create")
@click.option("--name", required=True, help="The site's name, shown in the dashboard.")
@click.option("--domain", "domains", multiple=True, required=True, help="A domain of the site; subdomains count too.")
@click.option("--owner", help="The email of a dashboard account to make the site's owner.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@needs_schema
def sites_create(name: str, domains: tuple[str, ...], owner: str | None, as_json: bool) -> None:
    """Register a site; print its id, key, secret and the snippet to paste."""
    if owner and accounts.user_by_email(owner) is None:
        raise click.BadParameter(f"no account with email {owner}", param_hint="--owner")
    try:
        site = sites.create_site(name, list(domains))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if owner:
        accounts.set_member(site.id, owner, "owner")
    info = {**sites.details(site, server_url()), "secret": site.secret}
    del info["settings"]
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"Site {site.id} ({site.name}) registered for {', '.join(site.domains)}")
    click.echo(f"  site key: {info['key']}")
    click.echo(f"  secret:   {info['secret']}  (keep it on your server: it signs actor tokens)")
    click.echo("Paste this where the bar should appear:\n")
    click.echo(info["snippet"])


@tokens_group.command("create")
@click.option("--site", "site_ids", type=int, multiple=True, required=True, help="A site id the token may read.")
@click.option("--scope", "scopes", multiple=True, help=f"One of {', '.join(tokens.SCOPES)} (default stats:read).")
@click.option("--expires", default="90d", show_default=True, callback=lambda _c, _p, v: duration(v),
              help="Lifetime: 30m, 12h, 90d, 1y.")
@click.option("--name", default="", help="A label to recognise the token by.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@needs_schema
def tokens_create(site_ids: tuple[int, ...], scopes: tuple[str, ...], expires: timedelta, name: str,
                  as_json: bool) -> None:
    """Issue a partner token; it is printed once and stored only as a hash."""
    try:
        row, token = tokens.issue(site_ids, scopes or tokens.DEFAULT_SCOPES, expires, name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    info = {**token_info(row), "token": token}
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"Token {row.id} for site(s) {', '.join(map(str, row.site_ids))}, "
               f"scopes {' '.join(row.scopes)}, expires {info['expires_at']}")
    click.echo(f"  {token}")
    click.echo("It is shown only now: keep it. Send it as 'Authorization: Bearer TOKEN'.")


def duration(value: str) -> timedelta:
    try:
        return tokens.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@needs_schema
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    try:
        tokens.revoke(token_id)
    except LookupError as exc:
        raise click.BadParameter(str(exc), param_hint="TOKEN_ID") from None
    click.echo(f"token {token_id} revoked")


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@needs_schema
def tokens_list(as_json: bool) -> None:
    """List tokens (never the tokens themselves: only their ids, grants and state)."""
    infos = [token_info(row) for row in tokens.all_tokens()]
    if as_json:
        click.echo(json.dumps(infos, ensure_ascii=False, indent=2))
        return
    for info in infos:
        click.echo(f"{info['id']:>5}  {info['status']:<8} sites {','.join(map(str, info['sites']))}  "
                   f"{' '.join(info['scopes'])}  expires {info['expires_at']}  {info['name']}")


def token_info(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "sites": row.site_ids, "scopes": row.scopes,
        "expires_at": tokens.aware(row.expires_at).isoformat(timespec="seconds"),
        "status": tokens.status(row),
    }


@sites_group.command("set")
@click.argument("site_id", type=int)
@click.argument("changes", nargs=-1, required=True, metavar="NAME=VALUE...")
@needs_schema
def sites_set(site_id: int, changes: tuple[str, ...]) -> None:
    """Change a site's settings: NAME=VALUE with VALUE as JSON (true, 30, ["x","y"], "dark").

    Names: the bar defaults (services, theme, size, layout, counts, lang) and address_bar,
    public_leaderboard, anonymous_actions, public_activity, public_names, retention_days, verbs;
    owner=EMAIL makes that dashboard account an owner of the site.
    """
    updates = dict(parse_setting(item) for item in changes)
    try:
        if "owner" in updates:  # owner=EMAIL: a member, not a bar setting
            accounts.set_member(site_id, str(updates.pop("owner")), "owner")
        changed = sites.update_settings(site_id, updates)
    except (LookupError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(json.dumps(changed, ensure_ascii=False, indent=2))


@sites_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@needs_schema
def sites_list(as_json: bool) -> None:
    """List the registered sites: id, name and domains."""
    infos = [sites.summary(site) for site in sites.sites_by_id()]
    if as_json:
        click.echo(json.dumps(infos, ensure_ascii=False, indent=2))
        return
    if not infos:
        click.echo("No sites yet: `widget-server sites create --name NAME --domain DOMAIN` registers one.", err=True)
    width = max((len(info["name"]) for info in infos), default=0)
    for info in infos:
        click.echo(f"{info['id']:>5}  {info['name']:<{width}}  {', '.join(info['domains'])}")


@sites_group.command("show")
@click.argument("site_id", type=int)
@click.option("--secret", "with_secret", is_flag=True, help="Also print the site's secret (it signs actor tokens).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@needs_schema
def sites_show(site_id: int, with_secret: bool, as_json: bool) -> None:
    """Reprint a site's key, domains, settings and snippet (its secret only with --secret)."""
    site = existing_site(site_id)
    info = sites.details(site, server_url())
    if with_secret:
        info["secret"] = site.secret
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"Site {site.id} ({site.name})")
    click.echo(f"  domains:  {', '.join(site.domains)}")
    click.echo(f"  site key: {info['key']}")
    if with_secret:
        click.echo(f"  secret:   {info['secret']}")
    click.echo("  settings:")
    for name, value in info["settings"].items():
        click.echo(f"    {name} = {json.dumps(value, ensure_ascii=False)}")
    click.echo("Paste this where the bar should appear:\n")
    click.echo(info["snippet"])


@sites_group.command("resign-key")
@click.argument("site_id", type=int)
@needs_schema
def sites_resign_key(site_id: int) -> None:
    """Give a site a new site key and print the new snippet. The old key stops working at once:
    pages still carrying the old snippet get the default bar without counts, and what they
    send is refused as a bad key. The secret, feed URL and partner tokens do not change."""
    site = sites.resign_key(existing_site(site_id).id)
    click.echo(f"Site {site.id} has a new key: {sites.site_key(site)}")
    click.echo("The old snippet stops working now. Paste this where the bar should appear:\n")
    click.echo(sites.snippet(site, server_url()))


@sites_group.command("title")
@click.argument("site_id", type=int)
@click.argument("url")
@click.argument("title", required=False)
@click.option("--clear", is_flag=True, help="Forget the owner's title: readers' consensus is shown again.")
@needs_schema
def sites_title(site_id: int, url: str, title: str | None, clear: bool) -> None:
    """Set the public title of the page at URL to TITLE, which readers' browsers then never
    replace (by default a title is shown once two readers report it); --clear undoes it."""
    if clear == (title is not None):
        raise click.UsageError("give either TITLE or --clear")
    site = existing_site(site_id)
    try:
        page_url, shown = pages.set_owner_title(site, url, None if clear else title)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not clear:
        click.echo(f"{page_url} is titled {json.dumps(shown, ensure_ascii=False)}")
    elif shown is None:
        click.echo(f"{page_url} has no title until two readers report the same one")
    else:
        click.echo(f"{page_url} is titled {json.dumps(shown, ensure_ascii=False)}, as its readers report")


def parse_setting(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep:
        raise click.BadParameter(f"{item!r} is not NAME=VALUE")
    try:
        return name.strip(), json.loads(raw)
    except ValueError:
        return name.strip(), raw  # a bare word is a string


feeds_group = AppGroup("feeds", help="Action feeds.")


@feeds_group.command("url")
@click.option("--site", "site_id", type=int, required=True)
@needs_schema
def feeds_url(site_id: int) -> None:
    """Print the Atom feed URL of a site (its token is in the URL: treat it as a secret)."""
    site = existing_site(site_id)
    token = feeds.feed_token(site)
    click.echo(f"{server_url()}/api/v1/feed.atom?token={token}")


@feeds_group.command("revoke")
@click.option("--site", "site_id", type=int, required=True)
@needs_schema
def feeds_revoke(site_id: int) -> None:
    """Revoke every Atom feed URL of a site given out so far."""
    site = existing_site(site_id)
    feeds.revoke_feeds(site)
    click.echo(f"feed URLs of site {site.id} revoked; `widget-server feeds url --site {site.id}` gives the new one")


@feeds_group.command("prune")
@needs_schema
def feeds_prune() -> None:
    """Delete the actions older than each site's retention_days now (also done daily)."""
    with db.engine().begin() as conn:
        deleted = feeds.prune_all(conn, utcnow().date())
    click.echo(f"{deleted} actions deleted")


def existing_site(site_id: int) -> Site:
    site = db.session().get(Site, site_id)
    if site is None:
        raise click.ClickException(f"no site with id {site_id} (`widget-server sites list` lists them)")
    return site


def server_url() -> str:
    """``WIDGET_PUBLIC_URL``; without it a placeholder (never a guess) and a note saying so."""
    configured: str | None = current_app.config["PUBLIC_URL"]
    if configured:
        return configured
    click.echo(f"Note: WIDGET_PUBLIC_URL is not set, so the address printed is {sites.PLACEHOLDER_URL}: "
               "set WIDGET_PUBLIC_URL to this server's public address and run this again.", err=True)
    return sites.PLACEHOLDER_URL


main.add_command(checks.check_command)


@main.command("demo", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def demo_command(host: str, port: int) -> None:
    """Start a working server on SQLite with a demo site and page."""
    from . import demo

    app = create_app({"DEMO": True, "PUBLIC_URL": f"http://{host}:{port}"})
    with app.app_context():
        db.upgrade()
        site = demo.ensure_site()
        click.echo(f"Demo site {site.id} with key {sites.site_key(site)}")
    click.echo(f"Open http://{host}:{port}/demo to see the share bar.")
    # app.run() refuses to start inside Flask's CLI, so serve with Werkzeug directly.
    run_simple(host, port, app, threaded=True, request_handler=AnonymousRequestLog)


class AnonymousRequestLog(WSGIRequestHandler):
    """The development server's request log, without the client's address."""

    def address_string(self) -> str:
        return "-"


if __name__ == "__main__":
    main()
