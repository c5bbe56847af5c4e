"""Stats indexes: the per-dimension daily rows of one dimension over a range of days.

A breakdown or a filtered aggregate reads ``daily_uniques`` for one ``dim`` over a range of
days; the primary key (site_id, day, dim, value) would walk every dimension of those days.
``daily_rollups`` needs nothing new: its primary key starts with (site_id, day).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_uniques_site_dim_day", "daily_uniques", ["site_id", "dim", "day"])


def downgrade() -> None:
    op.drop_index("ix_uniques_site_dim_day", table_name="daily_uniques")
