"""A page's title set by the site's owner (``pages.owner_title``): shown instead of the
readers' consensus title while set.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pages", sa.Column("owner_title", sa.String(300)))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of ``pages`` would drop the
    # table, and with it, by cascade, every event, rollup and action of every page.
    op.drop_column("pages", "owner_title")
