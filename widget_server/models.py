"""The schema. Typed ORM classes for what people manage (sites); plain tables for events.

``event_log`` is what a beacon request writes, and all it writes: one row per accepted
beacon, unique per client event id (within a month, its partition on PostgreSQL), carrying
everything counting needs (the daily visitor hash, the bot flag) and nothing that names a
reader. The aggregator (``aggregate.py``) reads it by id and derives the rest: ``events``
and ``actions`` (each event with its status), the daily marks, ``daily_rollups``,
``daily_uniques`` and ``page_totals``, so a read never scans the event history.

The tables the aggregator writes a row to for each event or reader have no foreign keys,
which the database checked again for every row inserted (migration 0010 says what that
cost), and neither has ``page_totals`` (``UNLINKED``). A site's deletion deletes their rows
itself (``sites.delete_site``), and a batch holds its sites against a deletion once it has
written them (``counting.hold_sites``).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .vault import SealedString

BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(SealedString())  # plain here, sealed in the database (vault)
    domains: Mapped[list[str]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Changed on every ORM update: the in-process site caches compare it to notice changes.
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("site_id", "url_hash", name="uq_pages_site_url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64))
    # The readers' consensus (counting.py); what is shown is ``pages.public_title``, which
    # prefers ``owner_title``, the title the site's owner set (the aggregator never writes it).
    title: Mapped[str | None] = mapped_column(String(300))
    owner_title: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


sites = cast(Table, Site.__table__)
pages = cast(Table, Page.__table__)

events = Table(
    "events",
    Base.metadata,
    Column("id", BigId, primary_key=True),
    Column("site_id", Integer, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("type", String(16), nullable=False),  # share | clickback
    Column("service", String(32), nullable=False),
    Column("page_id", BigId, nullable=False),
    Column("day", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # counted | repeat (same visitor, same thing, same day) | bot; only "counted" is in the counts
    Column("status", String(8), nullable=False, server_default="counted"),
    Column("visitor", String(32)),  # salted daily hash, never the IP or user agent
    Column("code", String(40)),  # the share code the link carried
    Column("referrer", String(255)),  # host only
    Column("age_seconds", Integer),  # clickbacks: time since the share
    Column("counted_at", DateTime(timezone=True)),  # when the aggregator took it in (lag = this - created_at)
    UniqueConstraint("site_id", "event_id", name="uq_events_site_event"),
)

EVENT_LOG_PARTITION = re.compile(r"^event_log_p\d{6}$")  # PostgreSQL's monthly partitions of event_log


def is_partition(name: str | None) -> bool:
    """True for a monthly partition of ``event_log`` (not a model table of its own)."""
    return bool(name and EVENT_LOG_PARTITION.match(name))


# Everything a beacon request writes. ``id`` only grows (AUTOINCREMENT on SQLite, a sequence
# on PostgreSQL): the aggregator's watermark. ``month`` (the first day of the month it came
# in) is the partition key on PostgreSQL, where the table is partitioned by month so
# retention drops whole partitions.
event_log = Table(
    "event_log",
    Base.metadata,
    Column("id", BigId, primary_key=True),
    Column("month", Date, nullable=False),
    Column("site_id", Integer, nullable=False),  # no foreign key: a deleted site's events are skipped
    Column("event_id", String(64), nullable=False),
    Column("type", String(16), nullable=False),  # share | clickback | action
    Column("service", String(32)),
    Column("url", Text, nullable=False),
    Column("title", String(300)),
    Column("code", String(40)),
    Column("referrer", String(255)),
    Column("verb", String(32)),
    Column("actor_uid", String(100)),
    Column("actor_name", String(100)),
    Column("actor_avatar", Text),
    Column("visitor", String(32), nullable=False),
    Column("bot", Boolean, nullable=False),
    Column("address_bar", Boolean, nullable=False),  # the site tags addresses: unknown a- codes are shares
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("site_id", "event_id", "month", name="uq_event_log_site_event"),
    Index("ix_event_log_site_code", "site_id", "code"),
    sqlite_autoincrement=True,
)

# Where the aggregator is: every id at or below ``watermark`` is counted except the ``gaps``
# ([id, first seen, unix seconds]), ids a concurrent transaction may still commit.
aggregator_state = Table(
    "aggregator_state",
    Base.metadata,
    Column("name", String(16), primary_key=True),
    Column("watermark", BigInteger, nullable=False),
    Column("gaps", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# All-time shares per page and service: ``/v1/counts`` reads the rows of one page.
page_totals = Table(
    "page_totals",
    Base.metadata,
    Column("site_id", Integer, primary_key=True),
    Column("url_hash", String(64), primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("shares", Integer, nullable=False, server_default="0"),
)

# Titles readers' browsers reported for a page, with how many distinct readers did (one
# per visitor hash and day): a title is shown once more than one reader reported it.
title_votes = Table(
    "title_votes",
    Base.metadata,
    Column("page_id", ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True),
    Column("title_hash", String(40), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("readers", Integer, nullable=False, server_default="0"),
    Column("last_day", Date, nullable=False),
)

share_codes = Table(
    "share_codes",
    Base.metadata,
    Column("site_id", Integer, primary_key=True),
    Column("code", String(40), primary_key=True),
    Column("page_id", BigId, nullable=False),
    Column("service", String(32), nullable=False),
    Column("visitor", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per site, day, page, service, referrer host ('' for shares) and action verb ('' for
# plain shares); every stats query is a sum over these rows.
daily_rollups = Table(
    "daily_rollups",
    Base.metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("page_id", ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("referrer", String(255), primary_key=True, server_default=""),
    Column("action", String(32), primary_key=True, server_default=""),
    Column("shares", Integer, nullable=False, server_default="0"),
    Column("clickbacks", Integer, nullable=False, server_default="0"),
    Column("bot_shares", Integer, nullable=False, server_default="0"),
    Column("bot_clickbacks", Integer, nullable=False, server_default="0"),
    Column("actions", Integer, nullable=False, server_default="0"),  # rows with service ''
    Column("action_shares", Integer, nullable=False, server_default="0"),  # shares that followed one
    Index("ix_rollups_page", "page_id", "service"),
)

# The same counters per day for one dimension at a time: the whole site (dim '' / value ''),
# a page (value = page id), a platform (service) or a referrer host; plus the distinct
# sharers and click-back visitors, which cannot be summed across the finer rows. Unfiltered
# stats read these: at most one row per day and value, however many events the day had.
daily_uniques = Table(
    "daily_uniques",
    Base.metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("dim", String(16), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("shares", Integer, nullable=False, server_default="0"),
    Column("clickbacks", Integer, nullable=False, server_default="0"),
    Column("bot_shares", Integer, nullable=False, server_default="0"),
    Column("bot_clickbacks", Integer, nullable=False, server_default="0"),
    Column("sharers", Integer, nullable=False, server_default="0"),
    Column("visitors", Integer, nullable=False, server_default="0"),
    Column("actions", Integer, nullable=False, server_default="0"),
    Column("action_shares", Integer, nullable=False, server_default="0"),
    Index("ix_uniques_site_dim_day", "site_id", "dim", "day"),  # one dim over a range of days
)

# Like-and-share actions: the feed reads these rows (only "counted" ones), newest id first.
actions = Table(
    "actions",
    Base.metadata,
    Column("id", BigId, primary_key=True),
    Column("site_id", Integer, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("verb", String(32), nullable=False),
    Column("page_id", BigId, nullable=False),
    Column("actor_uid", String(100)),  # from a verified actor token; None when anonymous
    Column("actor_name", String(100)),
    Column("actor_avatar", Text),
    Column("visitor", String(32)),
    Column("status", String(8), nullable=False, server_default="counted"),
    Column("day", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("site_id", "event_id", name="uq_actions_site_event"),
    Index("ix_actions_site_id", "site_id", "id"),
    Index("ix_actions_site_actor", "site_id", "actor_uid"),
    Index("ix_actions_site_day", "site_id", "day"),
)

# What was already seen today (a repeat share, a visitor already counted as unique), kept two
# days like the salts that make the hashes in it meaningless afterwards: a visitor's first
# ``counting.MAX_TOKENS`` things of a day as tokens in one row of ``visitor_marks``, anything
# past that (and what releases before 0009 wrote) as one row each in ``daily_marks``.
visitor_marks = Table(
    "visitor_marks",
    Base.metadata,
    Column("site_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visitor", String(32), primary_key=True),
    Column("tokens", Text, nullable=False),
)

daily_marks = Table(
    "daily_marks",
    Base.metadata,
    Column("site_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("mark", String(40), primary_key=True),
)

salts = Table(
    "salts",
    Base.metadata,
    Column("day", Date, primary_key=True),
    Column("salt", String(64), nullable=False),
)


class ApiToken(Base):
    """A partner token: only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_ids: Mapped[list[int]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A dashboard account. ``password_hash`` is argon2id; ``session_nonce`` is part of every
    session's id, so changing it (sign-out, a new password) ends every session at once."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    session_nonce: Mapped[str] = mapped_column(String(32))
    lang: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Member(Base):
    """A user's role on a site: ``owner`` (everything) or ``viewer`` (charts only)."""

    __tablename__ = "site_members"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))


# The installation check. Refused beacons per site, reason and day; a short rolling sample of
# the latest (reason, page, when: never an IP or a user agent); and per host of a site the
# first and last accepted beacon with their pages.
refusals = Table(
    "refusals",
    Base.metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("reason", String(16), primary_key=True),  # foreign-domain | bad-key | rate-limited | malformed
    Column("count", Integer, nullable=False, server_default="0"),
)

refusal_samples = Table(
    "refusal_samples",
    Base.metadata,
    Column("id", BigId, primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("code", String(40), nullable=False),  # the problem's code, e.g. foreign-origin
    Column("page", String(300)),  # scheme, host and path of the page: no query, no fragment
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_refusal_samples_site", "site_id", "id"),
)

sightings = Table(
    "sightings",
    Base.metadata,
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(253), primary_key=True),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("first_page", String(300), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("last_page", String(300), nullable=False),
)


# The aggregator's tables without foreign keys (see above); ``page_totals`` never had one.
UNLINKED = (events, share_codes, actions, visitor_marks, daily_marks, page_totals)
