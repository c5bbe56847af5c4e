"""Charts as plain geometry for the SVG templates: numbers in, coordinates and labels out.

Nothing here queries: ``charts_views`` reads the numbers from ``stats`` (the functions the
partner API serves) and these functions only place them, so they are tested without a page.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
BAR_ROW, BAR_LABEL = 26, 150


def nice_max(value: float) -> float:
    """The top of the axis: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Column:
    """One date of a line chart: where its points are and the numbers it tells on focus."""

    label: str
    x: float
    width: float
    values: list[tuple[str, float]]
    points: list[Point] = field(default_factory=list)


@dataclass
class LineChart:
    series: list[tuple[str, str]]  # (key, label)
    lines: list[str]  # SVG polyline points per series
    columns: list[Column]
    ticks: list[tuple[float, str]]  # (y, label)
    x_labels: list[tuple[float, str, str]]  # (x, label, text-anchor)
    width: int = WIDTH
    height: int = HEIGHT


def line_chart(rows: Sequence[dict[str, Any]], series: Sequence[tuple[str, str]], key: str = "date") -> LineChart:
    """Series of ``rows`` (oldest first) as lines over ``key``, scaled to one shared axis."""
    top = nice_max(max((float(row[name] or 0) for row in rows for name, _l in series), default=0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(rows) - 1, 1)
    columns = []
    for index, row in enumerate(rows):
        x = LEFT + index * step if len(rows) > 1 else LEFT + inner_w / 2
        values = [(label, float(row[name] or 0)) for name, label in series]
        points = [Point(round(x, 1), round(TOP + inner_h * (1 - value / top), 1)) for _l, value in values]
        columns.append(Column(str(row[key]), round(x - step / 2, 1), round(step, 1), values, points))
    lines = [" ".join(f"{c.points[i].x},{c.points[i].y}" for c in columns) for i in range(len(series))]
    parts = tick_parts(top)
    ticks = [(round(TOP + inner_h * (1 - part / parts), 1), fmt(top * part / parts)) for part in range(parts + 1)]
    marks = sorted({0, len(rows) // 2, len(rows) - 1}) if rows else []
    x_labels = [(columns[i].points[0].x, columns[i].label, anchor(i, len(rows))) for i in marks]
    return LineChart(list(series), lines, columns, ticks, x_labels)


def tick_parts(top: float) -> int:
    """Into how many steps the axis up to ``top`` divides evenly (steps of 1, 2 or 5 units)."""
    if top <= 2:
        return int(top)
    return 4 if str(int(top))[0] == "2" else 5


def anchor(index: int, count: int) -> str:
    """Where a date label hangs from its point: inward at both ends, so none is cut off."""
    if count > 1 and index == 0:
        return "start"
    return "end" if count > 1 and index == count - 1 else "middle"


@dataclass
class Bar:
    label: str
    values: list[tuple[str, float, float, int]]  # (series label, value, length in px, series index)
    note: str  # a figure beside the bars, e.g. the lift
    y: float


@dataclass
class BarChart:
    series: list[tuple[str, str]]
    bars: list[Bar]
    width: int
    height: int
    row: int = BAR_ROW
    label_width: int = BAR_LABEL


def bar_chart(rows: Sequence[dict[str, Any]], label_key: str, series: Sequence[tuple[str, str]],
              note: str | None = None, labels: dict[str, str] | None = None) -> BarChart:
    """One group of horizontal bars per row, every series on one scale; ``note`` is the key
    of a number written after the bars (lift, share rate). A series whose value in a row is
    None has no bar there (the filtered traffic: counted rows and kept-out rows)."""
    top = nice_max(max((float(row[name] or 0) for row in rows for name, _l in series), default=0))
    room = WIDTH - BAR_LABEL - 90
    bars, y = [], float(TOP)
    for row in rows:
        raw = str(row[label_key] if row[label_key] not in (None, "") else "—")
        values = [(label, float(row[name] or 0), round(room * float(row[name] or 0) / top, 1), index)
                  for index, (name, label) in enumerate(series) if row.get(name, 0) is not None]
        figure = row.get(note) if note else None
        bars.append(Bar((labels or {}).get(raw, raw), values, "" if figure is None else fmt(float(figure)), y))
        y += BAR_ROW * len(values)
    height = round(max(y, TOP + BAR_ROW * len(series)) + TOP)
    return BarChart(list(series), bars, WIDTH, height)


def fmt(value: float) -> str:
    """A number as a person reads it: whole numbers without decimals, others to two."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
