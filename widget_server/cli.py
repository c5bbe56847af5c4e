"""The ``widget-server`` command: Flask's CLI on the app factory, plus Sharebar's commands."""
from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup
from werkzeug.serving import WSGIRequestHandler, run_simple

from . import create_app, db, signing, sites


@click.group(cls=FlaskGroup, create_app=create_app)
def main() -> None:
    """Sharebar widget server."""


db_group = AppGroup("db", help="The database schema.")
sites_group = AppGroup("sites", help="Registered sites.")


def init_app(app: Flask) -> None:
    """Put the app's own commands on ``app.cli`` (so ``flask``'s test runner sees them too)."""
    app.cli.add_command(db_group)
    app.cli.add_command(sites_group)


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (to REVISION, default the newest)."""
    db.upgrade(revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema back to REVISION ('base' drops everything)."""
    db.downgrade(revision)
    click.echo(f"database at {revision}")


@sites_group.command("create")
@click.option("--name", required=True, help="The site's name, shown in the dashboard.")
@click.option("--domain", "domains", multiple=True, required=True, help="A domain of the site; subdomains count too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def sites_create(name: str, domains: tuple[str, ...], as_json: bool) -> None:
    """Register a site; print its id, key, secret and the snippet to paste."""
    try:
        site = sites.create_site(name, list(domains))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    info = {
        "id": site.id,
        "name": site.name,
        "domains": site.domains,
        "key": signing.site_key(site.id),
        "secret": site.secret,
        "snippet": sites.snippet(site, server_url()),
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"Site {site.id} ({site.name}) registered for {', '.join(site.domains)}")
    click.echo(f"  site key: {info['key']}")
    click.echo(f"  secret:   {info['secret']}  (keep it on your server: it signs actor tokens)")
    click.echo("Paste this where the bar should appear:\n")
    click.echo(info["snippet"])


def server_url() -> str:
    configured: str | None = current_app.config["PUBLIC_URL"]
    return configured or "http://127.0.0.1:5000"


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
        click.echo(f"Demo site {site.id} with key {signing.site_key(site.id)}")
    click.echo(f"Open http://{host}:{port}/demo to see the share bar.")
    # app.run() refuses to start inside Flask's CLI, so serve with Werkzeug directly.
    run_simple(host, port, app, threaded=True, request_handler=AnonymousRequestLog)


class AnonymousRequestLog(WSGIRequestHandler):
    """The development server's request log, without the client's address."""

    def address_string(self) -> str:
        return "-"


if __name__ == "__main__":
    main()
