"""Counts and stats read from the daily tables, never from the raw events.

Every function is a Core select summing daily rows over a ``StatsQuery``'s days, so its
cost follows the days asked for, not the history kept. Two tables answer:

- ``daily_uniques`` holds each day's counters per value of one dimension at a time (the
  whole site, a page, a platform, a referrer host) with its distinct sharers and visitors.
  It answers whenever the filters and the breakdown touch at most one of those dimensions:
  one row per day and value, however many events the day had.
- ``daily_rollups`` holds the counters per day, page, platform, referrer and action; it
  answers every other combination, without sharers and visitors (``None``): distinct
  readers cannot be added up across values.

Unique sharers and visitors are per-day counts (visitor hashes rotate daily), so a period's
uniques are the sum of its days'. Referrer is a property of click-backs: where it is
filtered on or broken down by, shares count 0.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import BigInteger, Connection, Float, Select, String, Table, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from .models import daily_rollups, daily_uniques, page_totals, pages
from .pages import public_title
from .query import COUNTERS, UNIQUES, DateRange, Filter, StatsQuery
from .urls import BadURL, clean_url, url_hash

Value = int | float | str | None
Row = dict[str, Value]

R, U = daily_rollups.c, daily_uniques.c
ROLLUP_COLUMNS: dict[str, ColumnElement[Any]] = {
    "platform": R.service, "page": R.page_id, "action": R.action, "referrer": R.referrer,
}
UNIQUE_DIMS = {"platform": "platform", "page": "page", "referrer": "referrer", "action": "action"}  # property -> dim
RATIOS = {"lift": ("clickbacks", "shares"), "share_rate": ("action_shares", "actions")}  # metric -> (over, under)


def page_counts(conn: Connection, site_id: int, url: str) -> dict[str, Any]:
    """All-time shares of one page: per service (largest first) and in total, from the
    page's ``page_totals`` rows (one per service, however long its history)."""
    query = select(page_totals.c.service, page_totals.c.shares).where(
        page_totals.c.site_id == site_id, page_totals.c.url_hash == url_hash(url), page_totals.c.shares > 0)
    per_service = {service: int(total) for service, total in conn.execute(query)}
    ordered = dict(sorted(per_service.items(), key=lambda item: (-item[1], item[0])))
    return {"url": url, "total": sum(ordered.values()), "services": ordered}


class CountsCache:
    """Page counts kept for ``seconds`` (0: not kept), at most ``size`` pages, per process."""

    def __init__(self, seconds: float, size: int = 10_000):
        self.seconds, self.size = seconds, size
        self._pages: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}

    def get(self, site_id: int, url: str) -> dict[str, Any] | None:
        found = self._pages.get((site_id, url))
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]

    def put(self, site_id: int, url: str, counts: dict[str, Any]) -> dict[str, Any]:
        if self.seconds > 0:
            if len(self._pages) >= self.size:
                self._pages.clear()
            self._pages[(site_id, url)] = (time.monotonic(), counts)
        return counts


def init_app(app: Flask) -> None:
    app.extensions["widget_counts"] = CountsCache(float(app.config["COUNTS_CACHE_SECONDS"]))


# -- which table answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The rows that answer a query: ``where`` on ``table``, grouped by ``key`` in a breakdown."""

    table: Table
    where: tuple[ColumnElement[bool], ...]
    key: ColumnElement[Any] | None
    uniques: bool  # sharers and visitors are exact
    shares: bool = True  # False where referrer is in play on the rollups

    def total(self, name: str) -> ColumnElement[Any]:
        if name in ("shares", "bot_shares") and not self.shares:
            return literal(0).label(name)
        return func.coalesce(func.sum(self.table.c[name]), 0).label(name)


def dim_of(filters: tuple[Filter, ...], prop: str | None) -> str | None:
    """The ``daily_uniques`` dim that answers, or None: the breakdown's property when every
    filter is on it too; without a breakdown '' (unfiltered) or the one property filtered on."""
    props = {f.prop for f in filters}
    if prop is not None:
        return UNIQUE_DIMS.get(prop) if props <= {prop} else None
    if not props:
        return ""
    return UNIQUE_DIMS.get(props.pop()) if len(props) == 1 else None


def uniques_exact(filters: tuple[Filter, ...], prop: str | None) -> bool:
    """Sharers and visitors are answered exactly: each row (or the total) is one value."""
    dim = dim_of(filters, prop)
    if dim is None:
        return False
    if prop is not None or dim == "":
        return True
    return len(filters) == 1 and not filters[0].negate and len(filters[0].values) == 1


def page_value(raw: str) -> str:
    """A page filter value as pages store it (cleaned), so a pasted URL still matches."""
    try:
        return clean_url(raw)
    except BadURL:
        return raw


def page_ids(site_id: int, urls: Iterable[str], as_text: bool = False) -> Select[Any]:
    """The ids of the site's pages with these URLs (as text for ``daily_uniques.value``)."""
    column = cast(pages.c.id, String) if as_text else pages.c.id
    hashes = [url_hash(page_value(url)) for url in urls]
    return select(column).where(pages.c.site_id == site_id, pages.c.url_hash.in_(hashes))


def matches(column: ColumnElement[Any], flt: Filter, site_id: int, as_text: bool = False) -> ColumnElement[bool]:
    """``column`` satisfies ``flt``; page values are URLs, resolved to page ids."""
    values: Any = page_ids(site_id, flt.values, as_text) if flt.prop == "page" else list(flt.values)
    return column.not_in(values) if flt.negate else column.in_(values)


def source(query: StatsQuery) -> Source:
    """The table, conditions and grouping key that answer ``query``."""
    dim = dim_of(query.filters, query.prop)
    if dim is not None:
        where = [U.site_id == query.site_id, U.day >= query.range.start, U.day <= query.range.end, U.dim == dim]
        where += [U.value == ""] if dim == "" else [
            matches(U.value, f, query.site_id, as_text=True) for f in query.filters]
        key: ColumnElement[Any] | None = U.value if query.prop else None
        return Source(daily_uniques, tuple(where), key, uniques_exact(query.filters, query.prop))
    where = [R.site_id == query.site_id, R.day >= query.range.start, R.day <= query.range.end]
    where += [matches(ROLLUP_COLUMNS[f.prop], f, query.site_id) for f in query.filters]
    if query.prop == "platform":
        where.append(R.service != "")  # the rows of actions, which have no platform
    referrer = query.prop == "referrer" or any(f.prop == "referrer" for f in query.filters)
    key = ROLLUP_COLUMNS[query.prop] if query.prop else None
    return Source(daily_rollups, tuple(where), key, uniques=False, shares=not referrer)


def columns_needed(metrics: Iterable[str], src: Source) -> tuple[str, ...]:
    """The columns to sum: counters asked for, shares and clickbacks for lift, uniques if exact."""
    wanted = set(metrics)
    for ratio, parts in RATIOS.items():
        if ratio in wanted:
            wanted |= set(parts)
    names = [name for name in COUNTERS if name in wanted]
    return tuple(names + ([name for name in UNIQUES if name in wanted] if src.uniques else []))


def wants_uniques(metrics: Iterable[str]) -> bool:
    return any(name in UNIQUES for name in metrics)


# -- turning sums into metrics ------------------------------------------------------------


def ratio(over: int, under: int) -> float | None:
    """``over / under`` to two decimals (lift: click-backs per share; share_rate: shares that
    followed an action per action); None when ``under`` is 0."""
    return round(over / under, 2) if under else None


def metric_values(metrics: Iterable[str], found: Mapping[Any, Any], uniques: bool) -> Row:
    """The metrics in the order asked, from summed columns; sharers/visitors None unless exact."""
    row: Row = {}
    for name in metrics:
        if name in RATIOS:
            over, under = RATIOS[name]
            row[name] = ratio(int(found.get(over) or 0), int(found.get(under) or 0))
        elif name in UNIQUES and not uniques:
            row[name] = None
        else:
            row[name] = int(found.get(name) or 0)
    return row


# -- aggregate and timeseries -------------------------------------------------------------


def aggregate(conn: Connection, query: StatsQuery) -> Row:
    """Each metric over the whole period."""
    src = source(query)
    names = columns_needed(query.metrics, src)
    found = conn.execute(select(*map(src.total, names)).where(*src.where)).one()._mapping if names else {}
    return metric_values(query.metrics, found, src.uniques)


def bucket(day: date, interval: str, span: DateRange) -> date:
    """The first day of ``day``'s interval (Monday for weeks), never before the range."""
    if interval == "week":
        start = day - timedelta(days=day.weekday())
    elif interval == "month":
        start = day.replace(day=1)
    else:
        start = day
    return max(start, span.start)


def timeseries(conn: Connection, query: StatsQuery) -> list[Row]:
    """One row per interval of the range, empty intervals included, oldest first."""
    src = source(query)
    names = columns_needed(query.metrics, src)
    day = src.table.c.day
    buckets: dict[date, dict[str, int]] = {}
    for offset in range(query.range.days):
        buckets.setdefault(bucket(query.range.start + timedelta(days=offset), query.interval, query.range), {})
    if names:
        for row in conn.execute(select(day, *map(src.total, names)).where(*src.where).group_by(day)):
            totals = buckets[bucket(row.day, query.interval, query.range)]
            for name in names:
                totals[name] = totals.get(name, 0) + int(row._mapping[name])
    return [{"date": start.isoformat(), **metric_values(query.metrics, totals, src.uniques)}
            for start, totals in buckets.items()]


# -- breakdown and leaderboard ------------------------------------------------------------


def sort_metric(query: StatsQuery, uniques: bool) -> str:
    """``order_by`` when given, else the first metric that can be sorted on, else shares."""
    if query.order_by:
        return query.order_by
    usable = [m for m in query.metrics if m not in UNIQUES or uniques]
    return usable[0] if usable else "shares"


def breakdown_select(query: StatsQuery, positive_only: bool = False) -> Select[Any]:
    """The property's values with their sums, largest first, one page of them."""
    src = source(query)
    assert src.key is not None, "a breakdown has a property"
    order = sort_metric(query, src.uniques)
    names = columns_needed((*query.metrics, order), src)
    key = src.key.label("key")
    counts = select(key, *map(src.total, names)).where(*src.where).group_by(key)
    if order == "lift":
        sort: ColumnElement[Any] = cast(src.total("clickbacks"), Float) / func.nullif(src.total("shares"), 0)
    else:
        sort = src.total(order)
    if positive_only:
        counts = counts.having(sort > 0)
    offset = (query.page - 1) * query.limit
    paged = (counts.add_columns(sort.label("sort")).order_by(sort.desc().nulls_last(), key)
             .limit(query.limit).offset(offset).subquery("counts"))
    ordered = (paged.c.sort.desc().nulls_last(), paged.c.key)
    if query.prop != "page":
        return select(paged).order_by(*ordered)
    page_id = paged.c.key if src.table is daily_rollups else cast(paged.c.key, BigInteger)
    joined = paged.outerjoin(pages, pages.c.id == page_id)
    return select(paged, pages.c.url, public_title().label("title")).select_from(joined).order_by(*ordered)


def breakdown(conn: Connection, query: StatsQuery, positive_only: bool = False) -> list[Row]:
    """One row per value of the property: the value (page: URL and title), then the metrics."""
    prop = query.prop or ""
    uniques = source(query).uniques
    rows = []
    for found in conn.execute(breakdown_select(query, positive_only)).mappings():
        row: Row = {prop: found["url"] if prop == "page" else found["key"]}
        if prop == "page":
            row["title"] = found["title"]
        rows.append({**row, **metric_values(query.metrics, found, uniques)})
    return rows


def leaderboard(conn: Connection, query: StatsQuery) -> list[Row]:
    """Top pages by ``query.order_by``; pages whose number is zero are left out."""
    return breakdown(conn, query, positive_only=True)


def public_leaderboard(conn: Connection, query: StatsQuery) -> list[Row]:
    """The leaderboard as readers see it: page URL, title and the one number."""
    order = query.order_by or "shares"
    return [{"page": row["page"], "title": row["title"], order: row[order]} for row in leaderboard(conn, query)]


# -- the long tail ----------------------------------------------------------------------------

AGES = ("0", "1", "2-7", "8-30", "31+")  # whole days from the share to the click-back


def age_dim(page_id: int) -> str:
    """The ``daily_uniques`` dim of one page's long tail (values: the ``AGES``); the whole
    site's is ``age``. One dim per page, so a page's tail is read straight off the
    (site, dim, day) index, a handful of rows a day."""
    return f"age:{page_id}"


def long_tail(conn: Connection, query: StatsQuery) -> list[Row]:
    """Click-backs of the period by days since their share (day 0, 1, 2-7, 8-30, later): for
    the whole site, or for the pages of a ``page==URL`` filter (other filters are not applied)."""
    pages_wanted = [f for f in query.filters if f.prop == "page" and not f.negate]
    if pages_wanted:
        ids = conn.scalars(page_ids(query.site_id, pages_wanted[0].values))
        dims = [age_dim(int(page_id)) for page_id in ids]
    else:
        dims = ["age"]
    totals: dict[str, int] = {}
    if dims:
        totals = {value: total for value, total in conn.execute(
            select(U.value, func.sum(U.clickbacks)).where(
                U.site_id == query.site_id, U.dim.in_(dims), U.day >= query.range.start, U.day <= query.range.end)
            .group_by(U.value))}
    return [{"age": age, "clickbacks": int(totals.get(age) or 0)} for age in AGES]
