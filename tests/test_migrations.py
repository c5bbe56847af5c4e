"""The schema comes from Alembic alone, and the migrations match the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from widget_server import db
from widget_server.models import Base


def tables(app: Flask) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine()).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_from_empty(app: Flask) -> None:
    assert tables(app) == set(Base.metadata.tables)
    with app.app_context():
        db.downgrade("base")
    assert tables(app) == set()
    with app.app_context():
        db.upgrade()
    assert tables(app) == set(Base.metadata.tables)


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine().connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_db_upgrade_command(app: Flask) -> None:
    with app.app_context():
        db.downgrade("base")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert tables(app) == set(Base.metadata.tables)
