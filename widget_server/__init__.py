"""Sharebar's Flask application factory; everything else lives in the modules it wires up."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``WIDGET_*`` environment variables, then ``test_config``."""
    from . import (aggregate, api, cli, dashboard, db, edges, embed, extras, ingest, lane, limits, logs, metrics,
                   ops, problems, refusals, settings, sitecache, stats)

    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.from_prefixed_env("WIDGET")
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings.finalise(app)
    extras.check(app.config)
    logs.init_app(app)
    lane.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    db.init_app(app)
    limits.init_app(app)
    ingest.init_app(app)
    sitecache.init_app(app)
    refusals.init_app(app)
    stats.init_app(app)
    aggregate.init_app(app)
    cli.init_app(app)
    problems.init_app(app)
    metrics.init_app(app)
    edges.init_app(app)
    app.register_blueprint(embed.bp)
    app.register_blueprint(api.bp)
    ops.init_app(app)
    dashboard.init_app(app)
    if app.config["DEMO"]:
        from . import demo

        app.register_blueprint(demo.bp)
    return app
