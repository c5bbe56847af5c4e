"""Stats query parameters: plain functions from request arguments to a frozen ``StatsQuery``.

The conventions are Plausible's Stats API v1 where they fit: ``period`` relative to ``date``
(default: today, UTC), comma lists of ``metrics``, ``filters`` as ``dim==a|b;dim!=c``,
``limit``/``page`` pagination. Every function raises ``Problem(400, ..., param)`` naming the
parameter it could not accept, so a partner knows what to fix.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

from .problems import Problem

PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "custom")
COUNTERS = ("shares", "clickbacks", "bot_shares", "bot_clickbacks", "actions", "action_shares")
UNIQUES = ("sharers", "visitors")
METRICS = ("shares", "clickbacks", "sharers", "visitors", "lift", "bot_shares", "bot_clickbacks",
           "actions", "action_shares", "share_rate")
PROPERTIES = ("platform", "page", "action", "referrer")
INTERVALS = ("date", "week", "month")
ORDERS = ("shares", "clickbacks", "lift")
FORMATS = ("json", "csv")
MAX_DAYS = 731  # "at most two years", leap day included
# Days a query may name: wide enough for any real share, narrow enough that every period
# around them (7d, 12mo, the weeks of a timeseries) stays within Python's and SQL's dates.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9999, 1, 1)
MAX_LIMIT = 1000
MAX_PAGE = 1_000_000
MAX_CLAUSES = 20
MAX_VALUES = 100
SITE_ID = re.compile(r"^[1-9][0-9]{0,11}$")
NUMBER = re.compile(r"^[0-9]{1,9}$")
DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
CLAUSE = re.compile(r"^([a-z_]+)(==|!=)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class DateRange:
    """Days from ``start`` to ``end``, both included (UTC days, as the rollups keep them)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Filter:
    """``prop`` is (``negate=False``) or is not (``negate=True``) one of ``values``."""

    prop: str
    values: tuple[str, ...]
    negate: bool = False


@dataclass(frozen=True)
class StatsQuery:
    site_id: int
    period: str
    range: DateRange
    metrics: tuple[str, ...] = ("shares",)
    filters: tuple[Filter, ...] = ()
    prop: str | None = None
    interval: str = "date"
    limit: int = 100
    page: int = 1
    order_by: str | None = None


def parse_site_id(raw: str | None) -> int:
    """The numeric site id; 400 ``invalid-site-id`` otherwise."""
    if not raw or not SITE_ID.fullmatch(raw):
        raise Problem(400, "invalid-site-id", "site_id must be the site's numeric id.", "site_id")
    return int(raw)


def parse_day(raw: str, param: str = "date") -> date:
    """A ``YYYY-MM-DD`` day from ``FIRST_DAY`` to ``LAST_DAY``; 400 ``invalid-date`` otherwise."""
    try:
        day = date.fromisoformat(raw) if DAY.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None:
        raise Problem(400, "invalid-date", f"{raw!r} is not a date (YYYY-MM-DD).", param)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Problem(400, "invalid-date", f"date must be from {FIRST_DAY} to {LAST_DAY}.", param)
    return day


def months_back(day: date, months: int) -> date:
    """The first day of the month ``months`` calendar months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def parse_period(period: str | None, raw_date: str | None, today: date) -> DateRange:
    """The days a ``period`` covers, relative to ``date`` (default ``today``).

    ``day`` is that day; ``7d``/``30d`` the n days ending on it; ``month`` its calendar
    month; ``6mo``/``12mo`` the n calendar months ending with its month; ``custom`` needs
    ``date=START,END`` (ascending, at most 731 days). An empty ``period`` or ``date`` is
    refused, not read as the default: a partner who sent one meant something.
    """
    period = "30d" if period is None else period
    if period not in PERIODS:
        raise Problem(400, "unknown-period", f"period must be one of {', '.join(PERIODS)}.", "period")
    if period == "custom":
        return parse_custom(raw_date)
    if raw_date and "," in raw_date:
        raise Problem(400, "invalid-date", "A date range needs period=custom.", "date")
    ref = parse_day(raw_date) if raw_date is not None else today
    return relative_range(period, ref)


def relative_range(period: str, ref: date) -> DateRange:
    if period == "day":
        return DateRange(ref, ref)
    if period in ("7d", "30d"):
        return DateRange(ref - timedelta(days=int(period[:-1]) - 1), ref)
    months = {"month": 0, "6mo": 5, "12mo": 11}[period]
    return DateRange(months_back(ref, months), month_end(ref))


def parse_custom(raw: str | None) -> DateRange:
    parts = (raw or "").split(",")
    if len(parts) != 2:
        raise Problem(400, "invalid-date", "period=custom needs date=YYYY-MM-DD,YYYY-MM-DD.", "date")
    start, end = parse_day(parts[0].strip()), parse_day(parts[1].strip())
    if end < start:
        raise Problem(400, "backwards-range", "The date range ends before it starts.", "date")
    span = DateRange(start, end)
    if span.days > MAX_DAYS:
        raise Problem(400, "range-too-long", f"A date range spans at most {MAX_DAYS} days.", "date")
    return span


def parse_metrics(raw: str | None, default: tuple[str, ...] = ("shares",)) -> tuple[str, ...]:
    """A comma list of known metrics, each at most once."""
    if raw is None:
        return default
    names = tuple(name.strip() for name in raw.split(","))
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise Problem(400, "unknown-metric",
                      f"Unknown metric {unknown[0]!r}; known: {', '.join(METRICS)}.", "metrics")
    if len(set(names)) != len(names):
        raise Problem(400, "unknown-metric", "Each metric may be asked for once.", "metrics")
    return names


def parse_property(raw: str | None) -> str:
    if raw not in PROPERTIES:
        raise Problem(400, "unknown-property", f"property must be one of {', '.join(PROPERTIES)}.", "property")
    return raw


def parse_filters(raw: str | None) -> tuple[Filter, ...]:
    """``prop==a|b;prop!=c``: ``;`` is AND, ``|`` alternatives, ``\\;`` ``\\|`` ``\\\\`` literal."""
    if not raw:
        return ()
    clauses = split_unescaped(raw, ";")
    if len(clauses) > MAX_CLAUSES:
        raise Problem(400, "invalid-filter", f"At most {MAX_CLAUSES} filters.", "filters")
    return tuple(parse_clause(clause) for clause in clauses)


def parse_clause(clause: str) -> Filter:
    match = CLAUSE.match(clause.strip(" "))
    if not match:
        raise Problem(400, "invalid-filter",
                      f"Filter {clause!r} is not PROPERTY==VALUE or PROPERTY!=VALUE.", "filters")
    prop, operator, rest = match.groups()
    if prop not in PROPERTIES:
        raise Problem(400, "invalid-filter",
                      f"Cannot filter on {prop!r}; properties: {', '.join(PROPERTIES)}.", "filters")
    values = tuple(unescape(value) for value in split_unescaped(rest, "|"))
    if len(values) > MAX_VALUES:
        raise Problem(400, "invalid-filter", f"At most {MAX_VALUES} values in a filter.", "filters")
    return Filter(prop, values, negate=operator == "!=")


def split_unescaped(text: str, separator: str) -> list[str]:
    """Split on each ``separator`` no backslash escapes; the escapes stay for ``unescape``."""
    parts, current, escaped = [], "", False
    for char in text:
        if char == separator and not escaped:
            parts.append(current)
            current = ""
        else:
            current += char
        escaped = char == "\\" and not escaped
    return [*parts, current]


def unescape(value: str) -> str:
    return re.sub(r"\\([\\;|])", r"\1", value)


def parse_int(raw: str | None, param: str, default: int, maximum: int) -> int:
    """A whole number from 1 to ``maximum``; ``default`` when absent."""
    if raw is None:
        return default
    if not NUMBER.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise Problem(400, f"invalid-{param}", f"{param} must be a whole number from 1 to {maximum}.", param)
    return int(raw)


def parse_interval(raw: str | None, period: str) -> str:
    """``date`` (alias ``day``), ``week`` or ``month``; default month for 6mo/12mo, else date."""
    if raw is None:
        return "month" if period in ("6mo", "12mo") else "date"
    interval = "date" if raw == "day" else raw
    if interval not in INTERVALS:
        raise Problem(400, "unknown-interval", f"interval must be one of {', '.join(INTERVALS)}.", "interval")
    return interval


def parse_order(raw: str | None) -> str:
    if raw is None:
        return "shares"
    if raw not in ORDERS:
        raise Problem(400, "invalid-order", f"order_by must be one of {', '.join(ORDERS)}.", "order_by")
    return raw


def parse_format(raw: str | None, wants_csv: bool) -> str:
    """``format=json|csv``; without it, CSV when the client asked for ``text/csv``."""
    if raw is None:
        return "csv" if wants_csv else "json"
    if raw not in FORMATS:
        raise Problem(400, "unknown-format", "format must be json or csv.", "format")
    return raw


def common(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    """What every partner stats call takes: period, date, metrics and filters."""
    period = args.get("period", "30d")
    return StatsQuery(
        site_id=site_id,
        period=period,
        range=parse_period(period, args.get("date"), today),
        metrics=parse_metrics(args.get("metrics")),
        filters=parse_filters(args.get("filters")),
    )


def aggregate_query(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    return common(args, site_id, today)


def long_tail_query(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    """The period, and at most one ``page==URL|URL`` filter: the long tail is kept for the
    whole site and for each page, not per platform or referrer."""
    base = common(args, site_id, today)
    if len(base.filters) > 1 or any(f.prop != "page" or f.negate for f in base.filters):
        raise Problem(400, "invalid-filter", "The long tail filters on page==URL only.", "filters")
    return replace(base, metrics=("clickbacks",))


def timeseries_query(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    base = common(args, site_id, today)
    return replace(base, interval=parse_interval(args.get("interval"), base.period))


def breakdown_query(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    base = common(args, site_id, today)
    return replace(
        base,
        prop=parse_property(args.get("property")),
        limit=parse_int(args.get("limit"), "limit", 100, MAX_LIMIT),
        page=parse_int(args.get("page"), "page", 1, MAX_PAGE),
    )


def leaderboard_query(args: Mapping[str, str], site_id: int, today: date, max_limit: int = 100) -> StatsQuery:
    """Top pages: ``order_by`` shares, clickbacks or lift; ``limit`` default 10."""
    period = args.get("period", "7d")
    return StatsQuery(
        site_id=site_id,
        period=period,
        range=parse_period(period, args.get("date"), today),
        metrics=("shares", "clickbacks", "lift"),
        filters=parse_filters(args.get("filters")),
        prop="page",
        limit=parse_int(args.get("limit"), "limit", 10, max_limit),
        order_by=parse_order(args.get("order_by")),
    )


def public_leaderboard_query(args: Mapping[str, str], site_id: int, today: date) -> StatsQuery:
    """The widget's leaderboard: no custom range, no filters, at most 50 pages, up to today."""
    if args.get("period") == "custom":
        raise Problem(400, "unknown-period", "The public leaderboard has no custom period.", "period")
    public = {key: args[key] for key in ("period", "order_by", "limit") if key in args}
    return leaderboard_query(public, site_id, today, max_limit=50)
