"""The service registry: IDs, share URL templates against what each platform documents,
contrast, names, icons and the size of what the widget embeds."""
from __future__ import annotations

import gzip
import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from widget_server import platforms
from widget_server.platforms import SERVICES, Service, accessible, contrast_ratio, registry

PRODUCT_IDS = (
    "weibo wechat qq qzone douban tieba facebook x linkedin reddit telegram whatsapp line "
    "pinterest vk tumblr hackernews mastodon bluesky threads xing email sms copy print native"
).split()
DEAD_IDS = ("googleplus", "gplus", "google", "tencentweibo", "tqq", "renren", "kaixin001",
            "kaixin", "stumbleupon")
DEAD_HOSTS = ("plus.google.com", "t.qq.com", "renren.com", "kaixin001.com", "stumbleupon.com")
GZIP_BUDGET = 6000  # all 25 services, brand marks included (sharebar-services.js)
DEFAULT_BAR_GZIP_BUDGET = 2200  # the 8 default services in one language (/v1/config)

# What each platform documents today: (scheme, host, path, query keys). Sources are noted
# beside each entry in widget_server/platforms.py.
DOCUMENTED = {
    "weibo": ("https", "service.weibo.com", "/share/share.php", {"url", "title", "pic"}),
    "qq": ("https", "connect.qq.com", "/widget/shareqq/index.html",
           {"url", "title", "summary", "pics"}),
    "qzone": ("https", "sns.qzone.qq.com", "/cgi-bin/qzshare/cgi_qzshare_onekey",
              {"url", "title", "summary", "pics"}),
    "douban": ("https", "www.douban.com", "/share/service", {"href", "name", "text", "image"}),
    "tieba": ("https", "tieba.baidu.com", "/f/commit/share/openShareApi",
              {"url", "title", "desc", "pic"}),
    "facebook": ("https", "www.facebook.com", "/sharer/sharer.php", {"u"}),
    "x": ("https", "x.com", "/intent/tweet", {"url", "text", "via", "hashtags"}),
    "linkedin": ("https", "www.linkedin.com", "/sharing/share-offsite/", {"url"}),
    "reddit": ("https", "www.reddit.com", "/submit", {"url", "title"}),
    "telegram": ("https", "t.me", "/share/url", {"url", "text"}),
    "whatsapp": ("https", "wa.me", "/", {"text"}),
    "line": ("https", "social-plugins.line.me", "/lineit/share", {"url", "text"}),
    "pinterest": ("https", "www.pinterest.com", "/pin/create/button/",
                  {"url", "media", "description"}),
    "vk": ("https", "vk.com", "/share.php", {"url", "title", "image"}),
    "tumblr": ("https", "www.tumblr.com", "/widgets/share/tool",
               {"posttype", "canonicalUrl", "title", "caption", "tags"}),
    "hackernews": ("https", "news.ycombinator.com", "/submitlink", {"u", "t"}),
    "mastodon": ("https", "mastodon.example", "/share", {"text"}),
    "bluesky": ("https", "bsky.app", "/intent/compose", {"text"}),
    "threads": ("https", "www.threads.com", "/intent/post", {"text", "url"}),
    "xing": ("https", "www.xing.com", "/spi/shares/new", {"url"}),
    "email": ("mailto", "", "", {"subject", "body"}),
    "sms": ("sms", "", "", {"body"}),
}
URL_KINDS = {"popup", "link", "fediverse"}
SAMPLE = {
    "url": "https://example.com/a?b=1&c=2#frag",
    "title": "Hello & 你好 #1",
    "summary": "A summary, with commas",
    "image": "https://example.com/i.png",
    "via": "sharebar",
    "hashtags": "news,tech",
    "tags_weibo": " #新闻# #科技#",
    "via_at": " @sharebar",
}


def fill(service: Service, values: dict[str, str]) -> str:
    """What the widget does: substitute encodeURIComponent-ed values, drop empty parameters."""
    assert service.template is not None
    filled = re.sub(r"\{(\w+)\}", lambda m: quote(values.get(m.group(1), ""), safe="!'()*-._~"),
                    service.template)
    base, _, query = filled.partition("?")
    kept = [p for p in query.split("&") if p and not p.endswith("=")]
    url = base + ("?" + "&".join(kept) if kept else "")
    return "https://mastodon.example" + url if service.kind == "fediverse" else url


def by_id(service_id: str) -> Service:
    return next(s for s in SERVICES if s.id == service_id)


url_services = [s for s in SERVICES if s.kind in URL_KINDS]


def test_every_product_id_once_in_order() -> None:
    assert [s.id for s in SERVICES] == PRODUCT_IDS
    assert platforms.SERVICE_IDS == set(PRODUCT_IDS)
    assert list(registry()) == PRODUCT_IDS


def test_default_bar_is_eight_known_services() -> None:
    assert platforms.DEFAULT_SERVICES == (
        "weibo", "wechat", "qq", "qzone", "douban", "x", "facebook", "copy")
    assert set(platforms.DEFAULT_SERVICES) <= platforms.SERVICE_IDS


@pytest.mark.parametrize("dead", DEAD_IDS)
def test_dead_services_are_not_offered(dead: str) -> None:
    assert dead not in platforms.SERVICE_IDS
    assert not any(dead in (s.template or "") for s in SERVICES)


@pytest.mark.parametrize("service", url_services, ids=lambda s: s.id)
def test_no_template_points_at_a_dead_host(service: Service) -> None:
    host = urlsplit(fill(service, SAMPLE)).netloc
    assert not any(host == dead or host.endswith("." + dead) for dead in DEAD_HOSTS)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_template_exactly_for_url_kinds(service: Service) -> None:
    assert (service.template is not None) == (service.kind in URL_KINDS)
    assert (service.id in DOCUMENTED) == (service.kind in URL_KINDS)


@pytest.mark.parametrize("service", url_services, ids=lambda s: s.id)
def test_template_uses_only_known_placeholders(service: Service) -> None:
    assert service.template is not None
    used = set(re.findall(r"\{(\w+)\}", service.template))
    assert used and used <= platforms.PLACEHOLDERS
    assert "url" in used
    assert not re.search(r"[\s#]", re.sub(r"\{\w+\}", "", service.template))


@pytest.mark.parametrize("service", url_services, ids=lambda s: s.id)
def test_filled_template_carries_documented_parameters(service: Service) -> None:
    scheme, host, path, keys = DOCUMENTED[service.id]
    parts = urlsplit(fill(service, SAMPLE))
    assert (parts.scheme, parts.netloc) == (scheme, host)
    if scheme == "https":
        assert parts.path == path
    assert set(parse_qs(parts.query)) == keys
    assert "{" not in parts.geturl() and not parts.fragment


@pytest.mark.parametrize("service", url_services, ids=lambda s: s.id)
def test_shared_url_survives_the_round_trip(service: Service) -> None:
    values = parse_qs(urlsplit(fill(service, SAMPLE)).query)
    assert any(SAMPLE["url"] in v for vs in values.values() for v in vs)


@pytest.mark.parametrize("service", url_services, ids=lambda s: s.id)
def test_empty_optional_values_are_dropped(service: Service) -> None:
    query = parse_qs(urlsplit(fill(service, {"url": SAMPLE["url"]})).query)
    assert all(v != [""] for v in query.values())


def test_weibo_text_follows_topic_and_mention_conventions() -> None:
    query = parse_qs(urlsplit(fill(by_id("weibo"), SAMPLE)).query)
    assert query["title"] == ["Hello & 你好 #1 #新闻# #科技# @sharebar"]
    assert query["pic"] == [SAMPLE["image"]]


def test_x_takes_hashtags_and_via_as_documented() -> None:
    query = parse_qs(urlsplit(fill(by_id("x"), SAMPLE)).query)
    assert query["hashtags"] == ["news,tech"] and query["via"] == ["sharebar"]


def test_mastodon_template_is_a_path_on_the_readers_server() -> None:
    template = by_id("mastodon").template
    assert template is not None and template.startswith("/share?")


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("#000000", "#ffffff", 21.0),
    ("#ffffff", "#000000", 21.0),
    ("#fff", "#000", 21.0),
    ("#777777", "#777777", 1.0),
    ("#777777", "#ffffff", 4.48),
    ("#767676", "#ffffff", 4.54),
])
def test_contrast_ratio_known_values(a: str, b: str, expected: float) -> None:
    assert contrast_ratio(a, b) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("bad", ["red", "#12345", "#ggg", "123456", ""])
def test_contrast_ratio_refuses_non_hex(bad: str) -> None:
    with pytest.raises(ValueError):
        contrast_ratio(bad, "#ffffff")


def test_accessible_keeps_a_colour_that_already_passes() -> None:
    assert accessible("#0A66C2", "#ffffff") == "#0a66c2"


def test_accessible_darkens_on_light_and_lightens_on_dark() -> None:
    darker = accessible("#FECE00", "#ffffff")
    lighter = accessible("#000000", platforms.DARK_SURFACE)
    assert contrast_ratio(darker, "#ffffff") >= 3.0 > contrast_ratio("#FECE00", "#ffffff")
    assert contrast_ratio(lighter, platforms.DARK_SURFACE) >= 3.0


def test_accessible_refuses_an_unreachable_ratio() -> None:
    with pytest.raises(ValueError):
        accessible("#808080", "#808080", ratio=22.0)


@pytest.mark.parametrize("service_id", PRODUCT_IDS)
def test_colours_keep_three_to_one_in_both_themes(service_id: str) -> None:
    entry = registry()[service_id]
    dark = entry.get("d", entry["c"])  # left out where the light theme's colour does in both
    assert isinstance(entry["c"], str) and isinstance(dark, str)
    assert contrast_ratio(entry["c"], "#ffffff") >= 3.0
    assert contrast_ratio(dark, "#1b1b1f") >= 3.0


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_three_names_and_one_mark_icon_or_glyph(service: Service) -> None:
    assert len(service.names) == 3 and all(n.strip() for n in service.names)
    assert [service.mark, service.icon, service.glyph].count(None) == 2
    if service.glyph is not None:
        assert 0 < len(service.glyph) <= 2
    if service.icon is not None:
        assert re.fullmatch(r"[MmLlHhVvCcSsAaZz0-9.\s-]+", service.icon)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_popup_sizes_fit_a_small_screen(service: Service) -> None:
    if service.kind in {"popup", "fediverse"}:
        assert service.popup is not None
    if service.popup is not None:
        width, height = service.popup
        assert 400 <= width <= 900 and 400 <= height <= 700


def test_registry_entries_use_only_contract_keys() -> None:
    for service_id, entry in registry().items():
        assert set(entry) <= {"k", "u", "n", "c", "d", "i", "g"}, service_id
        assert ("u" in entry) == (entry["k"] in URL_KINDS)


def test_registry_is_json_and_within_the_gzip_budget() -> None:
    text = json.dumps(registry(), ensure_ascii=False, separators=(",", ":"))
    assert json.loads(text) == registry()
    assert len(gzip.compress(text.encode("utf-8"), 9)) < GZIP_BUDGET


def test_default_bar_in_one_language_is_what_a_config_carries() -> None:
    entries = registry(0, platforms.DEFAULT_SERVICES)
    assert set(entries) == set(platforms.DEFAULT_SERVICES)  # the bar keeps its own order
    assert entries["weibo"]["n"] == "微博" and registry(2, ["weibo"])["weibo"]["n"] == "Weibo"
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    assert len(gzip.compress(text.encode("utf-8"), 9)) < DEFAULT_BAR_GZIP_BUDGET


def test_unknown_ids_are_left_out_of_a_partial_registry() -> None:
    assert list(registry(2, ["nope", "x", "x"])) == ["x"]
