"""Brand marks: the simple-icons set (``simple-icons-pack``, CC0), read when an asset is built.

Nothing of the set is copied into this repository: :func:`mark_path` reads a mark's SVG path
from the installed package and hands back the same outline on the widget's grid, :data:`GRID`
units square (the widget's one ``viewBox``): the set's 24x24 coordinates times :data:`SCALE`,
rounded to whole units, what rounding made straight or empty drawn as a line or left out
(:func:`straightened`), each segment in its shortest form (:func:`shortest`). Whole numbers
need no decimal point, which takes about a third off the gzipped marks of a default bar
compared with one decimal on the 24 grid, and a quarter of the set's unit is under a fifth of
a pixel at the medium bar's 20 px icon. Relative coordinates are rounded against the rounded
current point, so rounding errors never add up along a path: every point of the result lies
within half a unit of the grid, ``1 / (2 * SCALE)`` of the set's, of the set's own point
scaled. Generic symbols drawn for Sharebar on the 24 grid go through the same scaling
(:func:`on_grid`), exactly, as they use halves at most.

The set is read in a child process (:func:`read_set`), once per process for all the marks the
registry names (:func:`foresee`): it is one 13 MB extension module whose import brings 8 MB of it
into the memory of the process that imports it, a tenth of a web worker's, for a few dozen of its
3,400 marks.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from functools import lru_cache

SCALE = 2  # widget grid units per unit of the set's 24x24 grid
GRID = 24 * SCALE  # the widget's viewBox is "0 0 GRID GRID"
PRECISION = 0  # decimals kept on the widget's grid
ARITY = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7, "z": 0}
_TOKEN = re.compile(r"([MmLlHhVvCcSsQqTtAaZz])|(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_D = re.compile(r'\sd="([^"]+)"')

Segment = tuple[str, list[float]]
READ_SET = """
import json, sys
from simple_icons_pack import get_icon
icons = {slug: get_icon(slug) for slug in sys.argv[1:]}
print(json.dumps({slug: icon.svg if icon is not None else None for slug, icon in icons.items()}))
"""
_svgs: dict[str, str | None] = {}  # the set's SVG of each slug read so far; None: it has no such mark
_foreseen: set[str] = set()  # read together with the first mark asked for


class MissingMark(LookupError):
    """The installed set has no mark of this slug."""


@lru_cache(maxsize=None)
def mark_path(slug: str) -> str:
    """The path data of the set's mark ``slug`` on the widget's grid (see the module's docstring).

    :raise MissingMark: when the set has no such mark or it is not a single path.
    """
    return on_grid(set_path(slug))


def on_grid(path: str) -> str:
    """``path``, drawn on a 24x24 grid, scaled to the widget's grid and rounded without drift."""
    return serialise(shortest(straightened(rounded(scaled(parse(path))))))


def set_path(slug: str) -> str:
    """The set's own path data of ``slug``, unchanged.

    :raise MissingMark: when the set has no such mark or it is not a single path.
    """
    if slug not in _svgs:
        _svgs.update(read_set({slug, *_foreseen} - _svgs.keys()))
    svg = _svgs[slug]
    found = _D.findall(svg) if svg is not None else []
    if len(found) != 1:
        raise MissingMark(f"simple-icons has no single-path mark {slug!r}")
    return str(found[0])


def foresee(slugs: Iterable[str]) -> None:
    """Read these marks along with the first one asked for: one child process for them all."""
    _foreseen.update(slugs)


def read_set(slugs: Iterable[str]) -> dict[str, str | None]:
    """The set's SVG of each slug (None where it has no such mark), read by a child process."""
    command = [sys.executable, "-c", READ_SET, *sorted(slugs)]
    found: dict[str, str | None] = json.loads(subprocess.run(command, capture_output=True, text=True,
                                                              check=True).stdout)
    return found


def parse(path: str) -> list[Segment]:
    """``path`` as segments (command, numbers), one per command repetition; arc flags, which
    SVG allows to be written without separators ("a1 1 0 011 1"), are read one digit each."""
    segments: list[Segment] = []
    rest, command = path.strip(), ""
    numbers: list[float] = []
    while rest:
        if rest[0] in " ,\t\n":
            rest = rest[1:]
            continue
        if command.lower() == "a" and len(numbers) % 7 in (3, 4) and rest[0] in "01":
            numbers.append(float(rest[0]))
            rest = rest[1:]
        else:
            match = _TOKEN.match(rest)
            if match is None:
                raise ValueError(f"not path data at {rest[:10]!r}")
            rest = rest[match.end():]
            if match.group(1):
                command, numbers = match.group(1), []
                if command in "zZ":
                    segments.append((command, []))
                continue
            numbers.append(float(match.group(2)))
        arity = ARITY[command.lower()]
        if arity and len(numbers) == arity:
            segments.append((command, numbers))
            # Pairs after a moveto are linetos.
            command = {"m": "l", "M": "L"}.get(command, command)
            numbers = []
    return segments


def _positions(command: str) -> list[tuple[int, str]]:
    """Which numbers of a segment are coordinates: (index, axis)."""
    c = command.lower()
    if c == "h":
        return [(0, "x")]
    if c == "v":
        return [(0, "y")]
    if c == "a":
        return [(5, "x"), (6, "y")]
    return [(i + j, axis) for i in range(0, ARITY[c], 2) for j, axis in enumerate("xy")]


def _end(command: str, numbers: list[float]) -> dict[str, int]:
    """Indices of the segment's end point, per axis."""
    c, n = command.lower(), len(numbers)
    if c == "h":
        return {"x": 0}
    if c == "v":
        return {"y": 0}
    return {"x": n - 2, "y": n - 1}


def scaled(segments: list[Segment], factor: float = SCALE) -> list[Segment]:
    """``segments`` with every coordinate and an arc's radii times ``factor``; an arc's
    rotation and flags stay as they are."""
    out: list[Segment] = []
    for command, numbers in segments:
        lengths = range(len(numbers)) if command.lower() != "a" else (0, 1, 5, 6)
        out.append((command, [v * factor if i in lengths else v for i, v in enumerate(numbers)]))
    return out


def rounded(segments: list[Segment]) -> list[Segment]:
    """``segments`` with every coordinate rounded in absolute terms (see the docstring)."""
    true = {"x": 0.0, "y": 0.0}
    kept = {"x": 0.0, "y": 0.0}  # the rounded current point
    start_true, start_kept = dict(true), dict(kept)
    out: list[Segment] = []
    for command, numbers in segments:
        if command in "zZ":
            true, kept = dict(start_true), dict(start_kept)
            out.append((command, []))
            continue
        relative = command.islower()
        new = [round(v, PRECISION) for v in numbers]
        ends: dict[str, tuple[float, float]] = {}
        for index, axis in _positions(command):
            absolute = numbers[index] + (true[axis] if relative else 0.0)
            target = round(absolute, PRECISION)
            new[index] = round(target - kept[axis], PRECISION) if relative else target
            ends[axis] = (absolute, target)
        for axis, index in _end(command, numbers).items():
            absolute = numbers[index] + (true[axis] if relative else 0.0)
            true[axis], kept[axis] = absolute, round(absolute, PRECISION)
        if command in "mM":
            start_true, start_kept = dict(true), dict(kept)
        out.append((command, new))
    return out


def absolute(segments: list[Segment]) -> list[tuple[Segment, tuple[float, float]]]:
    """Each segment in absolute coordinates (``Z`` as it is), with the current point it starts at."""
    at = {"x": 0.0, "y": 0.0}
    start = dict(at)
    out: list[tuple[Segment, tuple[float, float]]] = []
    for command, numbers in segments:
        here = (at["x"], at["y"])
        if command in "zZ":
            at = dict(start)
            out.append(((command, []), here))
            continue
        values = list(numbers)
        if command.islower():
            for index, axis in _positions(command):
                values[index] += at[axis]
        out.append(((command.upper(), values), here))
        for axis, index in _end(command, values).items():
            at[axis] = values[index]
        if command in "mM":
            start = dict(at)
    return out


def _on_chord(start: tuple[float, float], end: tuple[float, float], point: tuple[float, float]) -> bool:
    """Whether ``point`` lies on the straight segment from ``start`` to ``end``."""
    (x0, y0), (x1, y1), (x, y) = start, end, point
    return ((x1 - x0) * (y - y0) == (y1 - y0) * (x - x0)
            and min(x0, x1) <= x <= max(x0, x1) and min(y0, y1) <= y <= max(y0, y1))


def straightened(segments: list[Segment]) -> list[Segment]:
    """The same filled shape with what rounding to whole units made degenerate written plainly:
    a curve whose control points lie on its chord is that line (its fill is the same), and a
    line, arc or curve that ends where it starts, with its control points there too, draws
    nothing and is left out (the set's marks have many, as ``c0 0 0 0 0 0`` or ``a1 1 0 0 1 0
    0``). A curve that a following ``S`` or ``T`` reflects stays a curve. In absolute form."""
    drawn = absolute(segments)
    out: list[Segment] = []
    for k, ((command, values), start) in enumerate(drawn):
        reflected = k + 1 < len(drawn) and drawn[k + 1][0][0] in "ST"
        if command not in "LHVCQA" or reflected:
            out.append((command, values))
            continue
        end = ((values[0], start[1]) if command == "H" else (start[0], values[0]) if command == "V"
               else (values[-2], values[-1]))
        controls = [(values[i], values[i + 1]) for i in range(0, {"C": 4, "Q": 2}.get(command, 0), 2)]
        if end == start and all(point == start for point in controls):
            continue
        if controls and all(_on_chord(start, end, point) for point in controls):
            out.append(("L", list(end)))
        else:
            out.append((command, values))
    return out


def shortest(segments: list[Segment]) -> list[Segment]:
    """The same outline, each segment written in its shortest form: absolute or relative,
    and a line along an axis as ``h`` or ``v``. Every point stays where it is."""
    out: list[Segment] = []
    for (command, values), (x, y) in absolute(segments):
        if command in "zZ":
            out.append((command, []))
            continue
        forms = [(command, values)]
        if command == "L":
            forms += [("V", values[1:])] if values[0] == x else []
            forms += [("H", values[:1])] if values[1] == y else []
        candidates = []
        for upper, given in forms:
            relative = list(given)
            for index, axis in _positions(upper):
                relative[index] -= x if axis == "x" else y
            candidates += [(upper, given), (upper.lower(), relative)]
        previous = out[-1][0] if out else ""
        # A repeated command needs no letter of its own (serialise leaves it out).
        out.append(min(candidates, key=lambda form: len(serialise([form])) - (form[0] == previous)))
    return out


def points(segments: list[Segment]) -> list[tuple[float, float]]:
    """The absolute end point of every segment: what two outlines are compared by."""
    at = {"x": 0.0, "y": 0.0}
    start = dict(at)
    found: list[tuple[float, float]] = []
    for command, numbers in segments:
        if command in "zZ":
            at = dict(start)
        else:
            for axis, index in _end(command, numbers).items():
                at[axis] = numbers[index] + (at[axis] if command.islower() else 0.0)
            if command in "mM":
                start = dict(at)
        found.append((at["x"], at["y"]))
    return found


def _number(value: float) -> str:
    """The shortest form of ``value`` as it is (rounding is :func:`rounded`'s): 0.5 -> .5,
    -0.5 -> -.5, 3.0 -> 3."""
    text = repr(float(value)).removesuffix(".0")
    if text == "-0":
        return "0"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def serialise(segments: list[Segment]) -> str:
    """Path data of ``segments``: the command letter at each change, numbers separated only
    where the next one would otherwise run into the previous."""
    out: list[str] = []
    previous_command, previous_number = "", ""
    for command, numbers in segments:
        implicit = {"m": "l", "M": "L"}.get(previous_command)
        if command in "mMzZ" or command not in (previous_command, implicit):
            out.append(command)
            previous_number = ""
        for value in numbers:
            text = _number(value)
            if previous_number and not text.startswith("-") and not (text.startswith(".") and "." in previous_number):
                out.append(" ")
            out.append(text)
            previous_number = text
        previous_command = command
    return "".join(out)
