"""Brand marks: every service the simple-icons set covers is drawn with the set's own mark,
on the widget's grid and rounded without drift; monograms only where the set has none; generic
symbols stay generic, scaled exactly."""
from __future__ import annotations

import pytest
from simple_icons_pack import get_icon

from widget_server import marks, platforms
from widget_server.assets import static_dir
from widget_server.platforms import SERVICES, Service, registry

# Where the set has a mark for a service, under which slug (checked against the set below).
SET_SLUGS = {
    "weibo": "sinaweibo", "wechat": "wechat", "qq": "qq", "qzone": "qzone", "douban": "douban",
    "facebook": "facebook", "x": "x", "reddit": "reddit", "telegram": "telegram",
    "whatsapp": "whatsapp", "line": "line", "pinterest": "pinterest", "vk": "vk",
    "tumblr": "tumblr", "hackernews": "ycombinator", "mastodon": "mastodon",
    "bluesky": "bluesky", "threads": "threads", "xing": "xing",
}
NOT_IN_SET = {"linkedin", "tieba"}
GENERIC = {"email", "sms", "copy", "print", "native"}


def test_every_service_is_accounted_for() -> None:
    assert set(SET_SLUGS) | NOT_IN_SET | GENERIC == platforms.SERVICE_IDS


@pytest.mark.parametrize("service_id", sorted(NOT_IN_SET))  # sets have no order: workers must agree
def test_the_set_really_lacks_the_monogram_services(service_id: str) -> None:
    assert get_icon(service_id) is None
    assert next(s for s in SERVICES if s.id == service_id).glyph


@pytest.mark.parametrize("service_id,slug", SET_SLUGS.items())
def test_a_service_the_set_covers_is_drawn_with_its_mark(service_id: str, slug: str) -> None:
    assert get_icon(slug) is not None
    drawn = registry(2, [service_id])[service_id]
    assert "g" not in drawn, "a monogram where the set has a mark"
    theirs = marks.points(marks.parse(marks.set_path(slug)))
    ours = marks.points(marks.parse(str(drawn["i"])))
    # Whole units of the widget's grid, rounded against the rounded current point: no drift
    # along the path, every point within half a unit of the set's (a quarter of its unit), in
    # the set's order; the set's points left out are the ends of segments rounding made empty.
    theirs_left = iter(theirs)
    assert all(any(max(abs(a - c * marks.SCALE), abs(b - d * marks.SCALE)) <= 0.5 + 1e-9 for c, d in theirs_left)
               for a, b in ours)
    assert len(ours) >= 0.7 * len(theirs)


@pytest.mark.parametrize("service", [s for s in SERVICES if s.id in GENERIC], ids=lambda s: s.id)
def test_generic_controls_keep_generic_symbols(service: Service) -> None:
    assert service.mark is None and service.icon
    drawn = marks.points(marks.parse(str(registry(2, [service.id])[service.id]["i"])))
    own = marks.points(marks.parse(service.icon))
    assert drawn == [(x * marks.SCALE, y * marks.SCALE) for x, y in own]  # halves at most: exact


def test_the_widget_draws_on_the_servers_grid() -> None:
    script = (static_dir() / "sharebar.js").read_text("utf-8")
    assert f"const GRID = {marks.GRID};" in script and "viewBox: `0 0 ${GRID} ${GRID}`" in script


def test_arcs_scale_their_radii_but_not_their_rotation_or_flags() -> None:
    assert marks.on_grid("M1 1a2 3 45 0 1 4 5.5") == "M2 2a4 6 45 0 1 8 11"


def test_rounding_keeps_shape_and_shrinks_the_path() -> None:
    original = marks.set_path("sinaweibo")
    assert len(marks.mark_path("sinaweibo")) < 0.6 * len(original)


@pytest.mark.parametrize("value,text", [(10.0, "10"), (-20.0, "-20"), (-0.0, "0"), (0.5, ".5"), (-0.25, "-.25")])
def test_whole_numbers_keep_their_zeros(value: float, text: str) -> None:
    assert marks._number(value) == text


@pytest.mark.parametrize("path,numbers", [
    ("M1 2l3 4", [("M", [1, 2]), ("l", [3, 4])]),
    ("m1.5.5-.25 3", [("m", [1.5, 0.5]), ("l", [-0.25, 3])]),  # pairs after a moveto are linetos
    ("a1 1 0 011 1", [("a", [1, 1, 0, 0, 1, 1, 1])]),  # arc flags need no separator
    ("M0 0h2v2H0z", [("M", [0, 0]), ("h", [2]), ("v", [2]), ("H", [0]), ("z", [])]),
])
def test_parse_reads_compact_path_data(path: str, numbers: list[tuple[str, list[float]]]) -> None:
    assert marks.parse(path) == numbers


def test_serialise_round_trips() -> None:
    path = "M1.5 2l-.5.5.5.5A1 1 0 0 1 3 3z"
    assert marks.parse(marks.serialise(marks.parse(path))) == marks.parse(path)


def test_a_mark_the_set_lacks_is_an_error() -> None:
    with pytest.raises(marks.MissingMark):
        marks.mark_path("no-such-brand-anywhere")


def test_a_mark_missing_from_the_installed_set_falls_back_to_a_monogram(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    gone = [s if s.id != "reddit" else Service(**{**s.__dict__, "mark": "no-such-brand-anywhere"}) for s in SERVICES]
    monkeypatch.setattr(platforms, "SERVICES", tuple(gone))
    entry = registry(2, ["reddit"])["reddit"]
    assert entry["g"] == "R" and "i" not in entry
    assert "no-such-brand-anywhere" in caplog.text


@pytest.mark.parametrize("path,drawn", [
    ("M0 0c0 0 0 0 0 0L4 4", "M0 0 8 8"),  # a curve that goes nowhere draws nothing
    ("M0 0a1 1 0 0 1 0 0h0L4 4", "M0 0 8 8"),  # nor does an arc or a line back to its start
    ("M0 0c1 0 2 0 3 0", "M0 0H6"),  # control points on the chord: a line
    ("M0 0c1 1 2 0 3 0", "M0 0C2 2 4 0 6 0"),  # off it: a curve
    ("M0 0c0 0 0 0 0 0s1 1 2 2", "M0 0C0 0 0 0 0 0S2 2 4 4"),  # one that an s reflects stays
])
def test_what_rounding_made_straight_or_empty_is_drawn_plainly(path: str, drawn: str) -> None:
    assert marks.on_grid(path) == drawn


def test_each_segment_takes_its_shortest_form_and_keeps_its_point() -> None:
    path = "M1 1l0 2l3 0L10 10.5z"
    assert marks.on_grid(path) == "M2 2V6H8L20 21z"  # a line along an axis: V, H
    assert marks.points(marks.parse(marks.on_grid(path))) == [(x * 2, y * 2) for x, y in marks.points(marks.parse(path))]
