"""The schema comes from Alembic alone, and the migrations match the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect, text

from conftest import BeaconSender, register, table_rows
from widget_server import db, pages
from widget_server.models import Base, Site, is_partition
from widget_server.urls import url_hash


def tables(app: Flask) -> set[str]:
    with app.app_context():
        names = set(inspect(db.engine()).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_partition(name)}  # PostgreSQL's monthly event_log partitions


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
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, _parents: not (kind == "table" and is_partition(name))})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_revisions_the_server_checks_against_are_the_migrations(app: Flask) -> None:
    """`/readyz` and `widget-server check` compare the schema with db.REVISIONS, not with the
    scripts: a migration added without its revision there must fail here."""
    with app.app_context():
        scripts = ScriptDirectory.from_config(db.alembic_config(db.engine()))
        with db.engine().connect() as conn:
            at = db.schema_revisions(conn)
    assert tuple(script.revision for script in reversed(list(scripts.walk_revisions()))) == db.REVISIONS
    assert scripts.get_heads() == [db.HEAD]
    assert at == {db.HEAD}  # what an upgrade to the scripts' head leaves


def test_db_upgrade_command(app: Flask) -> None:
    with app.app_context():
        db.downgrade("base")
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert tables(app) == set(Base.metadata.tables)


def test_shares_counted_before_0002_survive_it_and_its_downgrade(app: Flask) -> None:
    site = register(app)  # the site row survives the downgrade (sites came with 0001)
    with app.app_context():
        db.downgrade("0001")
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(text("INSERT INTO pages (id, site_id, url, url_hash, created_at) "
                          "VALUES (1, :site, 'https://example.com/old', :hash, '2026-01-01')"),
                     {"site": site.id, "hash": url_hash("https://example.com/old")})
        conn.execute(text("INSERT INTO daily_rollups (site_id, day, page_id, service, shares) "
                          "VALUES (:site, '2026-01-01', 1, 'weibo', 5), (:site, '2026-01-02', 1, 'x', 2)"),
                     {"site": site.id})
    client = app.test_client()

    def counts() -> dict:
        return client.get("/v1/counts", query_string={"site": site.key, "url": "https://example.com/old"}).get_json()

    with app.app_context():
        db.upgrade()
    assert counts() == {"url": "https://example.com/old", "total": 7, "services": {"weibo": 5, "x": 2}}
    rows = table_rows(app, "daily_uniques")

    def shares(dim: str, value: str) -> int:
        return sum(row.shares for row in rows if row.dim == dim and row.value == value)

    assert (shares("", ""), shares("page", "1"), shares("platform", "weibo"), shares("platform", "x")) == (7, 7, 5, 2)
    with app.app_context():
        db.downgrade("0001")
        db.upgrade()
    assert counts()["total"] == 7


def test_owner_titles_come_and_go_with_0008_and_no_page_goes(app: Flask, beacon: BeaconSender) -> None:
    beacon.send(title="A post", ip="192.0.2.1")
    beacon.send(title="A post", ip="192.0.2.2")
    with app.app_context():
        site = db.session().get(Site, beacon.site.id)
        assert site is not None
        pages.set_owner_title(site, "https://example.com/post/1", "The owner's title")
        counted = table_rows(app, "events")
        db.session().close()  # its read of the site would hold up 0009's downgrade (visitor_marks refers to sites)
        db.downgrade("0007")
    assert [(row.url, row.title) for row in table_rows(app, "pages")] == [("https://example.com/post/1", "A post")]
    with app.app_context():
        assert "owner_title" not in {c["name"] for c in inspect(db.engine()).get_columns("pages")}
        db.upgrade()
    assert [(row.title, row.owner_title) for row in table_rows(app, "pages")] == [("A post", None)]
    assert table_rows(app, "events") == counted  # nothing hanging off the pages went with the column
