"""Attribution: share codes, click-backs, visitor hashes, uniques, salts and partner tokens.

``daily_rollups`` gains the referrer and action dimensions in its key, so it is rebuilt and
its rows copied (every 0001 row is a plain share: referrer '' and action '').

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def rollups_table(name: str, with_dimensions: bool) -> None:
    columns = [
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("page_id", BigId, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
    ]
    key = ["site_id", "day", "page_id", "service"]
    if with_dimensions:
        columns += [
            sa.Column("referrer", sa.String(255), server_default="", nullable=False),
            sa.Column("action", sa.String(32), server_default="", nullable=False),
        ]
        key += ["referrer", "action"]
    columns.append(sa.Column("shares", sa.Integer(), server_default="0", nullable=False))
    if with_dimensions:
        columns += [
            sa.Column(name_, sa.Integer(), server_default="0", nullable=False)
            for name_ in ("clickbacks", "bot_shares", "bot_clickbacks")
        ]
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"))


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("status", sa.String(8), server_default="counted", nullable=False))
        batch.add_column(sa.Column("visitor", sa.String(32)))
        batch.add_column(sa.Column("code", sa.String(40)))
        batch.add_column(sa.Column("referrer", sa.String(255)))
        batch.add_column(sa.Column("age_seconds", sa.Integer()))

    rollups_table("daily_rollups_v2", with_dimensions=True)
    op.execute(
        "INSERT INTO daily_rollups_v2 (site_id, day, page_id, service, referrer, action, shares) "
        "SELECT site_id, day, page_id, service, '', '', shares FROM daily_rollups"
    )
    op.drop_index("ix_rollups_page", table_name="daily_rollups")
    op.drop_table("daily_rollups")
    op.rename_table("daily_rollups_v2", "daily_rollups")
    op.create_index("ix_rollups_page", "daily_rollups", ["page_id", "service"])

    op.create_table(
        "share_codes",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("page_id", BigId, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("visitor", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "code"),
    )
    op.create_table(
        "daily_uniques",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        *[sa.Column(counter, sa.Integer(), server_default="0", nullable=False)
          for counter in ("shares", "clickbacks", "bot_shares", "bot_clickbacks", "sharers", "visitors")],
        sa.PrimaryKeyConstraint("site_id", "day", "dim", "value"),
    )
    # Shares counted under 0001 had no visitor hash: their totals carry over, their sharers can't.
    for dim, value, group in (("''", "''", ""), ("'page'", "CAST(page_id AS VARCHAR(255))", ", page_id"),
                              ("'platform'", "service", ", service")):
        op.execute(
            f"INSERT INTO daily_uniques (site_id, day, dim, value, shares) "
            f"SELECT site_id, day, {dim}, {value}, SUM(shares) FROM daily_rollups GROUP BY site_id, day{group}"
        )
    op.create_table(
        "daily_marks",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("mark", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day", "mark"),
    )
    op.create_table(
        "salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    for table in ("api_tokens", "salts", "daily_marks", "daily_uniques", "share_codes"):
        op.drop_table(table)
    rollups_table("daily_rollups_v1", with_dimensions=False)
    op.execute(
        "INSERT INTO daily_rollups_v1 (site_id, day, page_id, service, shares) "
        "SELECT site_id, day, page_id, service, SUM(shares) FROM daily_rollups "
        "GROUP BY site_id, day, page_id, service"
    )
    op.drop_index("ix_rollups_page", table_name="daily_rollups")
    op.drop_table("daily_rollups")
    op.rename_table("daily_rollups_v1", "daily_rollups")
    op.create_index("ix_rollups_page", "daily_rollups", ["page_id", "service"])
    with op.batch_alter_table("events") as batch:
        for column in ("age_seconds", "referrer", "code", "visitor", "status"):
            batch.drop_column(column)
