"""The charts page: what shares brought back over a period, site-wide or for one page.

Every number comes from ``stats`` — the functions the partner API serves — on the rollups,
so the page costs what the period costs, not what the history holds.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import render_template, request
from sqlalchemy import Connection

from .. import db, platforms, refusals, stats
from ..models import utcnow
from ..query import DateRange, Filter, StatsQuery
from . import REASON_TEXT, bp, site_for
from .charts import bar_chart, line_chart
from .i18n import gettext as _

PERIODS = ("7", "30", "90", "custom")
MAX_DAYS = 731


@dataclass(frozen=True)
class Choice:
    """The period and page the owner asked for, or the field that was wrong and why."""

    period: str
    range: DateRange
    page: str
    error: tuple[str, str] | None = None  # (field, message)


def choose(args: Mapping[str, str], today: date) -> Choice:
    """The charts' period (``7``/``30``/``90`` days to today, or ``custom`` start..end) and page."""
    period = args.get("period", "30")
    page = args.get("page", "").strip()[:2000]
    default = DateRange(today - timedelta(days=29), today)
    if period not in PERIODS:
        return Choice("30", default, page, ("period", "Choose 7, 30 or 90 days, or your own dates."))
    if period != "custom":
        return Choice(period, DateRange(today - timedelta(days=int(period) - 1), today), page)
    try:
        start, end = date.fromisoformat(args.get("start", "")), date.fromisoformat(args.get("end", ""))
    except ValueError:
        return Choice("custom", default, page, ("start", "Give both dates as YYYY-MM-DD."))
    if start > end or (end - start).days >= MAX_DAYS:
        return Choice("custom", default, page, ("start", "The start comes before the end, at most two years apart."))
    return Choice("custom", DateRange(start, end), page)


def figures(conn: Connection, site_id: int, choice: Choice) -> dict[str, Any]:
    """Every chart's numbers, each from one ``stats`` call."""
    filters = (Filter("page", (choice.page,)),) if choice.page else ()

    def ask(**fields: Any) -> StatsQuery:
        return StatsQuery(site_id, "custom", choice.range, filters=filters, **fields)

    return {
        "over_time": stats.timeseries(conn, ask(metrics=("shares", "clickbacks"))),
        "platforms": stats.breakdown(conn, ask(metrics=("shares", "clickbacks", "lift"), prop="platform", limit=20)),
        "pages": [] if choice.page else stats.leaderboard(
            conn, ask(metrics=("shares", "clickbacks", "lift"), prop="page", limit=10, order_by="shares")),
        "long_tail": stats.long_tail(conn, ask()),
        "referrers": [row for row in stats.breakdown(
            conn, ask(metrics=("clickbacks",), prop="referrer", limit=11, order_by="clickbacks")) if row["referrer"]],
        "actions": [row for row in stats.breakdown(
            conn, ask(metrics=("actions", "action_shares", "share_rate"), prop="action", limit=21)) if row["action"]],
        "filtered": stats.aggregate(conn, ask(metrics=("shares", "clickbacks", "bot_shares", "bot_clickbacks"))),
        "refused": None if choice.page else ordered(refusals.counts(conn, site_id, choice.range.start,
                                                                    choice.range.end)),
    }


def ordered(counts: dict[str, int]) -> dict[str, int]:
    """Repeats first, then rate-limited, then the other refusals: what an owner audits most."""
    first = (refusals.REPEAT, "rate-limited")
    return {reason: counts[reason] for reason in (*first, *(r for r in counts if r not in first))}


def charts_of(found: dict[str, Any]) -> dict[str, Any]:
    """The figures placed for drawing, labelled in the owner's language."""
    shares, clickbacks = _("Shares"), _("Click-backs")
    index = 2 if _("en") == "en" else 0
    names = {s.id: s.names[index] for s in platforms.SERVICES}
    tail = [{**row, "label": age_label(str(row["age"]))} for row in found["long_tail"]]
    traffic = filtered_rows(found["filtered"], found["refused"])
    return {
        "over_time": line_chart(found["over_time"], [("shares", shares), ("clickbacks", clickbacks)]),
        "platforms": bar_chart(found["platforms"], "platform", [("shares", shares), ("clickbacks", clickbacks)],
                               note="lift", labels=names),
        "pages": bar_chart([{**row, "label": row["title"] or row["page"]} for row in found["pages"]], "label",
                           [("shares", shares), ("clickbacks", clickbacks)], note="lift"),
        "long_tail": bar_chart(tail, "label", [("clickbacks", clickbacks)]),
        "long_tail_rows": tail,
        "referrers": bar_chart(found["referrers"][:10], "referrer", [("clickbacks", clickbacks)]),
        "actions": bar_chart(found["actions"], "action", [("actions", _("Actions")), ("action_shares", shares)],
                             note="share_rate"),
        "filtered": bar_chart(traffic, "kind", [("counted", _("Counted")), ("kept_out", _("Kept out"))]),
        "filtered_rows": traffic,
    }


def filtered_rows(filtered: dict[str, Any], refused: dict[str, int] | None) -> list[dict[str, Any]]:
    """What was counted beside what was kept out of the counts: bot shares and click-backs
    (per page too), then, for the whole site only, repeats and refused beacons by reason
    (``refused`` is None for one page: those are counted per site)."""
    rows: list[dict[str, Any]] = [
        {"kind": _("Shares"), "counted": filtered["shares"], "kept_out": None},
        {"kind": _("Click-backs"), "counted": filtered["clickbacks"], "kept_out": None},
        {"kind": _("Bot shares"), "counted": None, "kept_out": filtered["bot_shares"]},
        {"kind": _("Bot click-backs"), "counted": None, "kept_out": filtered["bot_clickbacks"]},
    ]
    for reason, count in (refused or {}).items():
        rows.append({"kind": _(REASON_TEXT[reason]), "counted": None, "kept_out": count})
    return rows


def age_label(age: str) -> str:
    """A long-tail bucket in words: day 0 is the day of the share."""
    labels = {"0": _("Day 0"), "1": _("Day 1"), "2-7": _("Days 2-7"), "8-30": _("Days 8-30"), "31+": _("Later")}
    return labels.get(age, age)


@bp.get("/sites/<int:site_id>/charts")
def charts(site_id: int) -> tuple[str, int]:
    """Owners and viewers; a bad period or date is shown beside its field (400)."""
    site, role = site_for(site_id, "owner", "viewer")
    choice = choose(request.args, utcnow().date())
    with db.engine().connect() as conn:
        found = figures(conn, site.id, choice)
    return render_template("dashboard/charts.html", site=site, role=role, choice=choice, found=found,
                           charts=charts_of(found)), 400 if choice.error else 200
