"""Like-and-share: the actions table, and ``actions`` and ``action_shares`` (shares that
followed an action) counters in both rollup tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for table in ("daily_rollups", "daily_uniques"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("actions", sa.Integer(), server_default="0", nullable=False))
            batch.add_column(sa.Column("action_shares", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "actions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("page_id", BigId, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("actor_uid", sa.String(100)),
        sa.Column("actor_name", sa.String(100)),
        sa.Column("actor_avatar", sa.Text()),
        sa.Column("visitor", sa.String(32)),
        sa.Column("status", sa.String(8), server_default="counted", nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "event_id", name="uq_actions_site_event"),
    )
    op.create_index("ix_actions_site_id", "actions", ["site_id", "id"])
    op.create_index("ix_actions_site_actor", "actions", ["site_id", "actor_uid"])
    op.create_index("ix_actions_site_day", "actions", ["site_id", "day"])


def downgrade() -> None:
    op.drop_table("actions")
    for table in ("daily_uniques", "daily_rollups"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("action_shares")
            batch.drop_column("actions")
