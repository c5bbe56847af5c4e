"""The service registry: every share target Sharebar offers, as one table of data.

Each :class:`Service` names a target, says how the widget handles it (``kind``), and for the
kinds that open a URL carries the share URL template the platform documents today. The widget
receives the compact form built by :func:`registry` (injected in place of
the ``services`` key of the config that replaces ``/*@config@*/null`` in ``sharebar.js``) and does the substitution:

* Placeholders are ``{url} {title} {summary} {image} {via} {hashtags} {tags_weibo} {via_at}``
  (see :data:`PLACEHOLDERS`); each value is ``encodeURIComponent``-ed by the widget, and query
  parameters whose value ends up empty are dropped.
* ``{hashtags}`` is comma-joined without ``#``; ``{tags_weibo}`` is Weibo's topic convention
  (``" #a# #b#"``, leading space, empty when none); ``{via_at}`` is ``" @account"`` or empty.
* For ``fediverse`` the template is the path and query after the reader's instance origin.

Names are (zh-CN, zh-TW, en). For the sharing kinds the widget composes "分享到微博" /
"Share on Weibo"; for ``copy``, ``print`` and ``native`` the name is the whole action label.

Colours are the brands' own; :func:`registry` adjusts them with :func:`accessible` so that
white on ``c`` and ``d`` on the dark surface both reach 3:1 (WCAG 2 contrast).

Brand marks come from ``simple-icons-pack`` (CC0), read when the server builds what it serves
(:mod:`widget_server.marks`): a service names its mark by the set's slug (``mark``). Where the
set has no mark (LinkedIn, Tieba) the service has a short monogram ``glyph``; copy, print,
email, SMS and the Web Share API keep generic symbols drawn for Sharebar (``icon``, path data
on the set's 24x24 grid). The registry carries both on the widget's grid (:data:`marks.GRID`).

Services that no longer exist (Google+, Tencent Weibo, Renren, Kaixin001, StumbleUpon) are
deliberately absent.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from dataclasses import dataclass
from typing import Literal

from . import marks

Kind = Literal["popup", "link", "qr", "copy", "print", "native", "fediverse"]
Names = tuple[str, str, str]
RGB = tuple[int, int, int]
RegistryValue = str | list[str] | list[int]

PLACEHOLDERS: frozenset[str] = frozenset(
    {"url", "title", "summary", "image", "via", "hashtags", "tags_weibo", "via_at"}
)
LIGHT_SURFACE = "#ffffff"
DARK_SURFACE = "#1b1b1f"
MIN_CONTRAST = 3.0

_SMALL = (600, 500)
_LARGE = (800, 640)
_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Service:
    """One share target.

    ``template`` is set exactly for the kinds ``popup``, ``link`` and ``fediverse``; every
    service has exactly one of ``mark`` (a simple-icons slug), ``icon`` (generic SVG path data)
    and ``glyph`` (monogram text), and ``popup`` is the suggested window size for the ``popup``
    and ``fediverse`` kinds.
    """

    id: str
    kind: Kind
    template: str | None
    names: Names
    colour: str
    icon: str | None = None
    glyph: str | None = None
    popup: tuple[int, int] | None = None
    mark: str | None = None


def _popup(
    id: str, template: str, names: Names, colour: str, *, mark: str | None = None,
    glyph: str | None = None, size: tuple[int, int] = _SMALL,
) -> Service:
    """A service whose share page the widget opens in a popup window."""
    return Service(id, "popup", template, names, colour, None, glyph, size, mark)


# Generic symbols drawn by hand for Sharebar on a 24x24 grid; holes use the opposite winding.
_ENVELOPE = "M3 6h18l-9 7zm0 2.5 9 7 9-7V18H3z"
_BUBBLE = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"
_TWO_SHEETS = "M4 4h11v3.5H7.5V15H4zm5 5h11v11H9z"
_PRINTER = "M7 3h10v4H7zM3 8h18v8h-3v-3H6v3H3zm4 6h10v7H7z"
_SHARE_ARROW = "M12 2l5 5h-3.5v8h-3V7H7zM4 11h4v2H6v7h12v-7h-2v-2h4v11H4z"
SERVICES: tuple[Service, ...] = (
    # open.weibo.com share button (service.weibo.com/share/share.php: url, title, pic); the
    # text follows Weibo's own conventions, topics as #话题# and mentions as @账号.
    _popup("weibo", "https://service.weibo.com/share/share.php?url={url}"
           "&title={title}{tags_weibo}{via_at}&pic={image}",
           ("微博", "微博", "Weibo"), "#E6162D", mark="sinaweibo", size=(650, 520)),
    # WeChat has no web share URL: the widget shows a QR code the server renders.
    Service("wechat", "qr", None, ("微信", "微信", "WeChat"), "#07C160", mark="wechat"),
    # QQ Connect "分享到QQ" button snippet (widget/shareqq: url, title, desc, summary, pics,
    # site); desc is the sharer's own words, left for the reader to write.
    _popup("qq", "https://connect.qq.com/widget/shareqq/index.html?url={url}&title={title}"
           "&summary={summary}&pics={image}", ("QQ", "QQ", "QQ"), "#12B7F5", mark="qq",
           size=(720, 560)),
    # QZone "分享到QQ空间" button snippet (cgi_qzshare_onekey: url, title, desc, summary, pics).
    _popup("qzone", "https://sns.qzone.qq.com/cgi-bin/qzshare/cgi_qzshare_onekey?url={url}"
           "&title={title}&summary={summary}&pics={image}", ("QQ空间", "QQ空間", "Qzone"),
           "#FECE00", mark="qzone", size=(720, 560)),
    # Douban "推荐到豆瓣" (share/service: href, name, text, image).
    _popup("douban", "https://www.douban.com/share/service?href={url}&name={title}"
           "&text={summary}&image={image}", ("豆瓣", "豆瓣", "Douban"), "#007722", mark="douban"),
    # Baidu Tieba share API (openShareApi: url, title, desc, pic).
    _popup("tieba", "https://tieba.baidu.com/f/commit/share/openShareApi?url={url}"
           "&title={title}&desc={summary}&pic={image}", ("百度贴吧", "百度貼吧", "Baidu Tieba"),
           "#2932E1", glyph="贴"),
    # Facebook's share button opens sharer.php with u; the documented dialog/share needs an
    # app_id, and title, text and image come from the page's Open Graph tags either way.
    _popup("facebook", "https://www.facebook.com/sharer/sharer.php?u={url}",
           ("Facebook", "Facebook", "Facebook"), "#0866FF", mark="facebook"),
    # docs.x.com, Post button web intent (x.com/intent/tweet: text, url, hashtags, via).
    _popup("x", "https://x.com/intent/tweet?url={url}&text={title}&via={via}"
           "&hashtags={hashtags}", ("X（推特）", "X（推特）", "X"), "#000000", mark="x"),
    # LinkedIn "Share on LinkedIn" (sharing/share-offsite: url; the rest from Open Graph).
    _popup("linkedin", "https://www.linkedin.com/sharing/share-offsite/?url={url}",
           ("领英", "LinkedIn", "LinkedIn"), "#0A66C2", glyph="in"),
    # Reddit's submit form (r2 GET_submit: url, title).
    _popup("reddit", "https://www.reddit.com/submit?url={url}&title={title}",
           ("Reddit", "Reddit", "Reddit"), "#FF4500", mark="reddit", size=_LARGE),
    # core.telegram.org/widgets/share, custom buttons (t.me/share/url: url, text).
    _popup("telegram", "https://t.me/share/url?url={url}&text={title}",
           ("Telegram", "Telegram", "Telegram"), "#26A5E4", mark="telegram"),
    # WhatsApp Click to Chat FAQ: wa.me/?text= with no number lets the reader pick a chat.
    _popup("whatsapp", "https://wa.me/?text={title}%20{url}",
           ("WhatsApp", "WhatsApp", "WhatsApp"), "#25D366", mark="whatsapp"),
    # developers.line.biz, LINE Social Plugins share button, custom icon (url, text).
    _popup("line", "https://social-plugins.line.me/lineit/share?url={url}&text={title}",
           ("LINE", "LINE", "LINE"), "#06C755", mark="line"),
    # developers.pinterest.com Save button (pin/create/button: url, media, description).
    _popup("pinterest", "https://www.pinterest.com/pin/create/button/?url={url}"
           "&media={image}&description={title}", ("Pinterest", "Pinterest", "Pinterest"),
           "#E60023", mark="pinterest", size=_LARGE),
    # dev.vk.com publications: share widget, simplified link vk.com/share.php (url, title, image).
    _popup("vk", "https://vk.com/share.php?url={url}&title={title}&image={image}",
           ("VK", "VK", "VK"), "#0077FF", mark="vk", size=(650, 570)),
    # Tumblr share button docs (widgets/share/tool: posttype, canonicalUrl, title, caption, tags).
    _popup("tumblr", "https://www.tumblr.com/widgets/share/tool?posttype=link"
           "&canonicalUrl={url}&title={title}&caption={summary}&tags={hashtags}",
           ("Tumblr", "Tumblr", "Tumblr"), "#001935", mark="tumblr", size=(540, 600)),
    # news.ycombinator.com bookmarklet (submitlink: u, t).
    _popup("hackernews", "https://news.ycombinator.com/submitlink?u={url}&t={title}",
           ("Hacker News", "Hacker News", "Hacker News"), "#FF6600", mark="ycombinator", size=_LARGE),
    # Mastodon's own /share page (shares controller: title, text, url joined into the post);
    # the widget asks for the reader's server and goes there directly.
    Service("mastodon", "fediverse", "/share?text={title}%20{url}",
            ("Mastodon", "Mastodon", "Mastodon"), "#6364FF", popup=_SMALL, mark="mastodon"),
    # docs.bsky.app, action intent links (bsky.app/intent/compose: text).
    _popup("bluesky", "https://bsky.app/intent/compose?text={title}%20{url}",
           ("Bluesky", "Bluesky", "Bluesky"), "#1185FE", mark="bluesky"),
    # Meta developer docs, Threads web intents (threads.com/intent/post: text, url).
    _popup("threads", "https://www.threads.com/intent/post?text={title}&url={url}",
           ("Threads", "Threads", "Threads"), "#000000", mark="threads"),
    # dev.xing.com share button docs (spi/shares/new: url).
    _popup("xing", "https://www.xing.com/spi/shares/new?url={url}",
           ("XING", "XING", "XING"), "#006567", mark="xing"),
    # RFC 6068 mailto: (subject, body).
    Service("email", "link", "mailto:?subject={title}&body={url}",
            ("邮件", "郵件", "Email"), "#6E6E73", _ENVELOPE),
    # RFC 5724 sms: (body); "?&" keeps both iOS and Android happy.
    Service("sms", "link", "sms:?&body={title}%20{url}",
            ("短信", "簡訊", "SMS"), "#34A853", _BUBBLE),
    Service("copy", "copy", None, ("复制链接", "複製連結", "Copy link"), "#6E6E73", _TWO_SHEETS),
    Service("print", "print", None, ("打印", "列印", "Print"), "#6E6E73", _PRINTER),
    # The Web Share API: the reader's own apps; the widget hides it where there is none.
    Service("native", "native", None, ("更多", "更多", "More"), "#6E6E73", _SHARE_ARROW),
)

SERVICE_IDS: frozenset[str] = frozenset(service.id for service in SERVICES)
marks.foresee(service.mark for service in SERVICES if service.mark is not None)
DEFAULT_SERVICES: tuple[str, ...] = (
    "weibo", "wechat", "qq", "qzone", "douban", "x", "facebook", "copy",
)


def registry(lang: int | None = None, ids: Iterable[str] | None = None) -> dict[str, dict[str, RegistryValue]]:
    """The compact, JSON-serialisable registry the widget draws from, keyed by service ID.

    Insertion order is :data:`SERVICES` order; ``ids`` keeps only those services (unknown ones
    are left out). Each entry has ``k`` (kind), ``n`` (names, or with ``lang`` 0, 1 or 2 only
    that language's name), ``c`` (colour white has >= 3:1 on), ``d`` (colour with >= 3:1 on
    the dark surface, left out where it is ``c``), and, when present, ``u`` (template), ``i`` (icon path: the brand's mark,
    else a generic symbol) and ``g`` (glyph). Popup sizes, which only a click needs, travel
    with the share module (:func:`widget_server.assets.popup_sizes`). Should the installed set lack
    a service's mark, the service gets the first letter of its English name as a monogram,
    and the log one warning.
    """
    wanted = None if ids is None else set(ids)
    return {service.id: _entry(service, lang) for service in SERVICES if wanted is None or service.id in wanted}


@lru_cache(maxsize=None)
def _entry(service: Service, lang: int | None) -> dict[str, RegistryValue]:
    """One service in the registry's compact form, empty fields left out; made once per
    service and language (colour adjustment and marks cost milliseconds), so callers must
    not change it."""
    entry: dict[str, RegistryValue] = {"k": service.kind}
    if service.template is not None:
        entry["u"] = service.template
    entry["n"] = list(service.names) if lang is None else service.names[lang]
    entry["c"] = accessible(service.colour, LIGHT_SURFACE, MIN_CONTRAST)
    dark = accessible(service.colour, DARK_SURFACE, MIN_CONTRAST)
    if dark != entry["c"]:
        entry["d"] = dark
    icon, glyph = service.icon and marks.on_grid(service.icon), service.glyph
    if service.mark is not None:
        try:
            icon = marks.mark_path(service.mark)
        except marks.MissingMark:
            _warn_once(f"simple-icons has no mark {service.mark!r} for {service.id}: drawn as a monogram")
            glyph = service.names[2][0]
    if icon is not None:
        entry["i"] = icon
    if glyph is not None:
        entry["g"] = glyph
    return entry


@lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    logging.getLogger(__name__).warning(message)


def contrast_ratio(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two ``#rgb``/``#rrggbb`` colours, from 1.0 to 21.0.

    :raise ValueError: if either colour is not a hex colour.
    """
    lighter, darker = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def accessible(colour: str, against: str, ratio: float = MIN_CONTRAST) -> str:
    """``colour`` as ``#rrggbb``, mixed towards black or white just enough to reach ``ratio``.

    The colour is returned unchanged (normalised to lower case) when it already has ``ratio``
    against ``against``; otherwise it moves towards whichever of black and white contrasts more
    with ``against``, in the smallest of 255 steps that reaches the ratio.

    :raise ValueError: if a colour is not hex, or no shade reaches ``ratio``.
    """
    base, goal = _rgb(colour), _extreme_for(against)
    for step in range(256):
        shade = _hex(_mix(base, goal, step / 255))
        if contrast_ratio(shade, against) >= ratio:
            return shade
    raise ValueError(f"no shade of {colour} reaches {ratio}:1 against {against}")


def _extreme_for(against: str) -> RGB:
    """Black or white, whichever contrasts more with ``against``."""
    if contrast_ratio("#000000", against) >= contrast_ratio("#ffffff", against):
        return (0, 0, 0)
    return (255, 255, 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved the fraction ``t`` of the way to ``b``, channel by channel in sRGB."""
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b))
    return (r, g, bl)


def _rgb(colour: str) -> RGB:
    """Parse ``#rgb`` or ``#rrggbb``.

    :raise ValueError: for anything else.
    """
    match = _HEX.fullmatch(colour)
    if match is None:
        raise ValueError(f"not a hex colour: {colour!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _hex(rgb: RGB) -> str:
    """Format a colour as lower-case ``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    r, g, b = (_linear(channel / 255) for channel in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _linear(c: float) -> float:
    """An sRGB channel in [0, 1] converted to linear light."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
