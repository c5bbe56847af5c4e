"""A visitor's marks of a day in one row (``visitor_marks``): what the aggregator reads and
writes once per visitor of a batch, where ``daily_marks`` took six rows an event.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitor_marks",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(32), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day", "visitor"),
    )


def downgrade() -> None:
    # The day's tokens are lost: the releases before 0009 then count a reader's next share of
    # the day as new once (their marks are in daily_marks only).
    op.drop_table("visitor_marks")
