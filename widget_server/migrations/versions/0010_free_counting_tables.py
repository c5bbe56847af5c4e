"""No foreign keys on the tables the aggregator writes a row to for each event or reader
(``events``, ``share_codes``, ``actions``, ``visitor_marks``, ``daily_marks``), and no
``ix_events_site_day``, which no query used.

Every such key checked its site (and page) row again for each row inserted, a trigger a row
on PostgreSQL: counting a backlog of ``bench/aggregate.py``'s mix there, the server spent
49-53 ms of CPU per 1,000 events without these keys, 59-64 with them (three runs each). A
site's deletion now deletes these rows itself (``sites.delete_site``), and each batch holds
its sites against a deletion before it writes (``counting.hold_sites``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# table -> its columns that referenced a table, and which
FREED = {
    "events": {"site_id": "sites", "page_id": "pages"},
    "share_codes": {"site_id": "sites", "page_id": "pages"},
    "actions": {"site_id": "sites", "page_id": "pages"},
    "visitor_marks": {"site_id": "sites"},
    "daily_marks": {"site_id": "sites"},
}


# The name a foreign key gets where the database gave it none (SQLite's): the batch operations
# name the keys they read so, and the downgrade names the keys it makes so.
FK_NAME = "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"


def convention(table: str, column: str, referred: str) -> str:
    return FK_NAME % {"table_name": table, "column_0_name": column, "referred_table_name": referred}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in FREED:
        names = [fk["name"] or convention(table, fk["constrained_columns"][0], fk["referred_table"])
                 for fk in inspector.get_foreign_keys(table)]
        with op.batch_alter_table(table, naming_convention={"fk": FK_NAME}) as batch:
            for name in names:
                batch.drop_constraint(name, type_="foreignkey")
            if table == "events":
                batch.drop_index("ix_events_site_day")


def downgrade() -> None:
    for table, columns in FREED.items():
        for column, referred in columns.items():  # rows of a site or page deleted since
            op.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM {referred})")
        with op.batch_alter_table(table) as batch:
            for column, referred in columns.items():
                batch.create_foreign_key(convention(table, column, referred), referred, [column], ["id"],
                                         ondelete="CASCADE")
            if table == "events":
                batch.create_index("ix_events_site_day", ["site_id", "day"])
