"""The event log the beacon path writes and the aggregator reads: ``event_log`` (partitioned
by month on PostgreSQL), the aggregator's watermark, per-page totals (filled from the
rollups), title votes, ``sites.updated_at`` for the site caches and ``events.counted_at``.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30
"""
from datetime import date

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONTHS_AHEAD = 3
MONTHS_BACK = 2  # room for rows a restore or a test dates back

# PostgreSQL: the same columns as the model, partitioned by month (the primary key must
# hold the partition key, so it is (id, month); ids still come from one sequence).
PG_EVENT_LOG = """
CREATE TABLE event_log (
    id BIGSERIAL NOT NULL,
    month DATE NOT NULL,
    site_id INTEGER NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    type VARCHAR(16) NOT NULL,
    service VARCHAR(32),
    url TEXT NOT NULL,
    title VARCHAR(300),
    code VARCHAR(40),
    referrer VARCHAR(255),
    verb VARCHAR(32),
    actor_uid VARCHAR(100),
    actor_name VARCHAR(100),
    actor_avatar TEXT,
    visitor VARCHAR(32) NOT NULL,
    bot BOOLEAN NOT NULL,
    address_bar BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT event_log_pkey PRIMARY KEY (id, month),
    CONSTRAINT uq_event_log_site_event UNIQUE (site_id, event_id, month)
) PARTITION BY RANGE (month)
"""


def month_starts(first: date, count: int) -> list[date]:
    months, current = [], first.replace(day=1)
    for _ in range(count):
        months.append(current)
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_EVENT_LOG)
        today = date.today()
        first = date(today.year - (today.month <= MONTHS_BACK), (today.month - MONTHS_BACK - 1) % 12 + 1, 1)
        for start in month_starts(first, MONTHS_BACK + MONTHS_AHEAD + 1):
            end = month_starts(start, 2)[1]
            op.execute(f"CREATE TABLE IF NOT EXISTS event_log_p{start:%Y%m} PARTITION OF event_log "
                       f"FOR VALUES FROM ('{start}') TO ('{end}')")
        op.create_index("ix_event_log_site_code", "event_log", ["site_id", "code"])
    else:
        op.create_table(
            "event_log",
            sa.Column("id", BigId, nullable=False),
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("site_id", sa.Integer(), nullable=False),
            sa.Column("event_id", sa.String(64), nullable=False),
            sa.Column("type", sa.String(16), nullable=False),
            sa.Column("service", sa.String(32)),
            sa.Column("url", sa.Text(), nullable=False),
            sa.Column("title", sa.String(300)),
            sa.Column("code", sa.String(40)),
            sa.Column("referrer", sa.String(255)),
            sa.Column("verb", sa.String(32)),
            sa.Column("actor_uid", sa.String(100)),
            sa.Column("actor_name", sa.String(100)),
            sa.Column("actor_avatar", sa.Text()),
            sa.Column("visitor", sa.String(32), nullable=False),
            sa.Column("bot", sa.Boolean(), nullable=False),
            sa.Column("address_bar", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("site_id", "event_id", "month", name="uq_event_log_site_event"),
            sqlite_autoincrement=True,
        )
        op.create_index("ix_event_log_site_code", "event_log", ["site_id", "code"])
    op.create_table(
        "aggregator_state",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "page_totals",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("url_hash", sa.String(64), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("shares", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("site_id", "url_hash", "service"),
    )
    op.execute(
        "INSERT INTO page_totals (site_id, url_hash, service, shares) "
        "SELECT p.site_id, p.url_hash, r.service, SUM(r.shares) FROM daily_rollups r "
        "JOIN pages p ON p.id = r.page_id WHERE r.service <> '' "
        "GROUP BY p.site_id, p.url_hash, r.service"
    )
    op.create_table(
        "title_votes",
        sa.Column("page_id", BigId, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title_hash", sa.String(40), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("readers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("page_id", "title_hash"),
    )
    op.add_column("sites", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.add_column("events", sa.Column("counted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of ``sites`` would drop the
    # table, and with it, by cascade, every page and count of every site.
    op.drop_column("events", "counted_at")
    op.drop_column("sites", "updated_at")
    op.drop_table("title_votes")
    op.drop_table("page_totals")
    op.drop_table("aggregator_state")
    op.drop_table("event_log")
