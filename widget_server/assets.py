"""The widget's files as browsers get them: config injected, minified, gzipped, ETagged.

The source in ``static/`` stays readable and runs as written; the server does at first
request what a build step would do, and keeps the result in memory until the file changes.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import zopfli.gzip
from flask import Response, request

from . import platforms, urls, verbs

CSS_MARK = "/*@css@*/null"  # sharebar.js: the bar's stylesheet (BUILT_IN), adopted without a request
SITE_MARK = "/*@site@*/null"  # sharebar.js: the page's site's config, per request (site_script)
# What SITE_MARK becomes before minifying, so that it can still be found after: a literal the
# minifier keeps as it is, replaced by null in the file served to every page.
SITE_SLOT = '"@sharebar:site@"'
# sharebar.js: widget_config(), in place of the literal it runs with as written (to the end of
# its line)
CONFIG_MARK = re.compile(r"/\*@config@\*/.*$", re.M)
SERVICES_MARK = "/*@services@*/null"  # sharebar-services.js, loaded only when needed: the registry
VERBS_MARK = "/*@verbs@*/null"  # sharebar-actions.js, loaded only where actions are used: verbs_config()
POPUPS_MARK = "/*@popups@*/null"  # sharebar-share.js, loaded when a reader reaches for a bar: popup_sizes()
# V8's explicit compile hint: a script that starts with it is compiled whole while it streams
# in, off the main thread, instead of function by function at each one's first call on it
# (for sharebar.js, about a millisecond at its first run and another as it draws a bar). The
# minifier drops comments, so the build puts it back in front.
COMPILE_HINT = "//# allFunctionsCalledOnLoad\n"
# The statement by which a widget file hands its pure functions to Node's test runner
# (tests/js/) and stops: browsers never take it, so the served file goes without it.
NODE_EXPORTS = re.compile(r"^  if \(typeof module === 'object' && module\.exports\) \{\n.*?^  \}\n", re.M | re.S)
MAX_AGE = 3600  # the script URL has no version in it, so caches revalidate hourly


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    mimetype: str


_built: dict[str, tuple[float, Asset]] = {}
BUILT_IN = {"sharebar.js": "sharebar.css"}  # the stylesheet a script carries in place of CSS_MARK
_templates: dict[str, str] = {}  # a built file with SITE_SLOT still in it (site_script)
FIRST_LOAD = ("sharebar.js", "sharebar.css")  # what every page with a bar fetches: built as a worker boots


def static_dir() -> Path:
    """The widget's source files: ``widget_server/static/`` where a wheel installed them, else
    the top-level ``static/`` of a checkout (an editable install serves the files in place).

    Not ``importlib.resources.files("widget_server.static")``: ``static/`` has no
    ``__init__.py``, so that is a namespace package whose files() is a MultiplexedPath,
    which is not a filesystem path.
    """
    package = Path(__file__).resolve().parent
    installed = package / "static"
    return installed if installed.is_dir() else package.parent / "static"


TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}


def servable(name: str) -> bool:
    """True for a plain file name of ``static/`` with a type we serve."""
    if "/" in name or "\\" in name or name.startswith("."):
        return False
    return name.rsplit(".", 1)[-1] in TYPES and (static_dir() / name).is_file()


def widget_config() -> str:
    """What the widget must agree on with the server, as the JS literal it is built with: which
    query parameters do not name a page, and which carries a share code. The services come
    with the site's config (:func:`config_services`), or all at once, with the default bar, in
    sharebar-services.js."""
    config = {
        "tracking": js_regexp_source(urls.TRACKING.pattern),
        "param": urls.SHARE_PARAM,
    }
    return json.dumps(config, ensure_ascii=False, separators=(",", ":"))


LANGS = ("zh-CN", "zh-TW", "en")  # the widget's languages, in the order of its names

# The bar's own words, in the order of LANGS ("%" is a service's name): the accessible names of
# the bar and its controls, and the counts' caption. Like the services' names, only one
# language travels with /v1/config, all three with sharebar-services.js.
STRINGS = {
    "share": ("分享", "分享", "Share"),
    "shares": ("分享", "分享", "Shares"),
    "on": ("分享到%", "分享到%", "Share on %"),
    "via": ("通过%分享", "透過%分享", "Share via %"),
    "newWin": ("（在新窗口中打开）", "（在新視窗中開啟）", " (opens in a new window)"),
}


def config_services(bar: Mapping[str, Any], page_lang: str | None) -> dict[str, object]:
    """What ``/v1/config`` adds for the widget, so that only what a bar draws travels: the
    site's services (templates, brand marks, colours) with their names in one language (the
    site's choice, else ``page_lang`` the widget read from the page, else English), the bar's
    own words in it (``t``, of :data:`STRINGS`), that language as ``lang`` (an index of
    :data:`LANGS`), and, where they are not the defaults, whether the site publishes its
    recent activity (``activity``: the widget asks for none otherwise) and how a float bar
    behaves below 600 px (``float_mobile``, else ``reserve``)."""
    chosen = bar.get("lang") if bar.get("lang") in LANGS else page_lang
    lang = LANGS.index(chosen) if chosen in LANGS else 2
    float_mobile = bar.get("float_mobile", "reserve")
    return {
        "lang": lang,
        "services": platforms.registry(lang, bar.get("services") or platforms.DEFAULT_SERVICES),
        "t": {key: words[lang] for key, words in STRINGS.items()},
        **({"activity": True} if bar.get("public_activity") is True else {}),
        **({"float_mobile": float_mobile} if float_mobile != "reserve" else {}),
    }


def services_config() -> str:
    """The whole registry, all names, the bar's words in every language, and the default bar
    (drawn when the site's config failed), as the JS literal sharebar-services.js is built with."""
    everything = {"services": platforms.registry(), "t": STRINGS, "defaults": list(platforms.DEFAULT_SERVICES)}
    return json.dumps(everything, ensure_ascii=False, separators=(",", ":"))


def popup_sizes() -> str:
    """Each service's popup window size (width, height), as the JS literal the share module is
    built with: only a click needs them, so neither the config nor the registry carries them."""
    sizes = {service.id: list(service.popup) for service in platforms.SERVICES if service.popup is not None}
    return json.dumps(sizes, separators=(",", ":"))


def verbs_config() -> str:
    """The built-in verbs' phrases (zh-CN, zh-TW, en) as the JS literal the actions module is
    built with; a site's own verbs come with its /v1/config."""
    return json.dumps(verbs.widget_table(), ensure_ascii=False, separators=(",", ":"))


def js_regexp_source(pattern: str) -> str:
    """``pattern`` unchanged, once it is known to mean the same as a JavaScript RegExp.

    :raise ValueError: for syntax only Python has (named groups, inline flags, ``\\A``, ``\\Z``).
    """
    if re.search(r"\(\?P|\(\?[aiLmsux]|\\[AZ]", pattern):
        raise ValueError(f"not a JavaScript RegExp as well: {pattern}")
    return pattern


# Run by :func:`minified` in a child process: the text on stdin, the minified text on stdout.
MINIFY = """
import sys, minify
minify.config({"js-version": 2020})
sys.stdout.buffer.write(minify.string(sys.argv[1], sys.stdin.buffer.read().decode()).encode())
"""


def minified(mimetype: str, text: str) -> str:
    """``text`` minified by tdewolff/minify (``tdewolff-minify``): for scripts, local names
    shortened too (ES2020, the widget's language), which a whitespace-only minifier leaves long.

    In a child process, once per file and process (about a tenth of a second): the package
    runs Go, whose runtime would otherwise stay in every web worker (7 MB of its memory, for a
    dozen files) and does not survive a fork (a process that loaded it and then forks, as
    ``gunicorn --preload`` does, would hang its children at their first minification).

    :raise subprocess.CalledProcessError: when the minifier refuses the text (a syntax error).
    """
    done = subprocess.run([sys.executable, "-c", MINIFY, mimetype], input=text.encode(), capture_output=True,
                          timeout=60, check=True)
    return done.stdout.decode()


def _transform(name: str, text: str) -> str:
    if name.endswith(".js"):
        text = text.replace(SITE_MARK, SITE_SLOT)
        if name in BUILT_IN:
            text = text.replace(CSS_MARK, json.dumps(build(BUILT_IN[name]).body.decode("utf-8"), ensure_ascii=False))
        text = CONFIG_MARK.sub(lambda _: widget_config() + ";", text, count=1)
        if VERBS_MARK in text:
            text = text.replace(VERBS_MARK, verbs_config())
        if POPUPS_MARK in text:
            text = text.replace(POPUPS_MARK, popup_sizes())
        if SERVICES_MARK in text:
            text = text.replace(SERVICES_MARK, services_config())
        hint = COMPILE_HINT if text.startswith(COMPILE_HINT) else ""
        return hint + minified("application/javascript", NODE_EXPORTS.sub("", text, count=1))
    if name.endswith(".css"):
        return minified("text/css", text)
    return text


def build(name: str) -> Asset:
    """The served form of ``static/<name>`` (rebuilt when the source file changes, or a file
    built into it)."""
    path = static_dir() / name
    sources = (name, BUILT_IN[name]) if name in BUILT_IN else (name,)
    mtime = max((static_dir() / source).stat().st_mtime for source in sources)
    cached = _built.get(name)
    if cached and cached[0] == mtime:
        return cached[1]
    text = _transform(name, path.read_text("utf-8"))
    if SITE_SLOT in text:
        _templates[name] = text
        text = text.replace(SITE_SLOT, "null")
    body = text.encode("utf-8")
    mimetype = TYPES[name.rsplit(".", 1)[1]]
    # Zopfli: gzip that every browser reads, 1-2% smaller than zlib's best, for a few tens of
    # milliseconds once per file and process.
    asset = Asset(body, zopfli.gzip.compress(body), hashlib.sha256(body).hexdigest()[:20], mimetype)
    _built[name] = (mtime, asset)
    return asset


_site_scripts: OrderedDict[tuple[str, str], Asset] = OrderedDict()  # (template, site config) -> script, newest last
_site_scripts_lock = threading.Lock()
SITE_SCRIPTS_KEPT = 256  # sites x languages a process keeps built (about 16 KB each)


def site_script(site_config: Mapping[str, Any]) -> Asset:
    """``sharebar.js`` with ``site_config`` in it (``embed.widget_script``), built once per site,
    language and change of the site's settings in this process.

    Zopfli, as for the files (here 2% of the script, the margin of its budget), for about 30 ms
    a build, while fewer than ``SITE_SCRIPTS_KEPT`` are kept; past that, zlib's best (a
    fraction of a millisecond), so that no stream of requests from the pages of many sites
    can make a worker spend Zopfli's time on each.
    """
    build("sharebar.js")  # made again when the source changed
    key = (_templates["sharebar.js"], json.dumps(site_config, ensure_ascii=False, separators=(",", ":")))
    with _site_scripts_lock:  # a threaded server's requests, and gthread workers'
        found = _site_scripts.get(key)
        if found is not None:
            _site_scripts.move_to_end(key)
            return found
        body = key[0].replace(SITE_SLOT, key[1]).encode("utf-8")
        full = len(_site_scripts) >= SITE_SCRIPTS_KEPT
        packed = gzip.compress(body, 9, mtime=0) if full else zopfli.gzip.compress(body)
        found = _site_scripts[key] = Asset(body, packed, hashlib.sha256(body).hexdigest()[:20], TYPES["js"])
        if full:
            _site_scripts.popitem(last=False)
        return found


COMPRESSIBLE = ("application/json", "application/problem+json")
MIN_COMPRESS = 256  # below this, gzip's own header and footer eat the gain


_gzipped: dict[bytes, bytes] = {}
GZIPPED_KEPT = 256  # answers kept compressed; a page view's config is the same for many readers


def gzipped(body: bytes) -> bytes:
    """``body`` gzipped, from memory when the same answer was compressed lately: compressing
    the config was a tenth of a page view's cost."""
    found = _gzipped.get(body)
    if found is None:
        if len(_gzipped) >= GZIPPED_KEPT:
            _gzipped.clear()
        found = _gzipped[body] = gzip.compress(body, 6, mtime=0)
    return found


def compress(response: Response) -> Response:
    """``response`` gzipped when the browser takes gzip and it is JSON worth compressing (the
    config with the site's services is a third of what a page fetches before a click)."""
    if (response.mimetype not in COMPRESSIBLE or response.direct_passthrough or response.status_code != 200
            or "Content-Encoding" in response.headers or request.accept_encodings.quality("gzip") <= 0):
        return response
    body = response.get_data()
    if len(body) < MIN_COMPRESS:
        return response
    response.set_data(gzipped(body))
    response.headers["Content-Encoding"] = "gzip"
    etag, _weak = response.get_etag()
    if etag:  # the tag names the JSON, not these bytes: weak, so it is not taken for them
        response.set_etag(etag, weak=True)
    response.vary.add("Accept-Encoding")
    return response


def send(asset: Asset, cache: str = f"public, max-age={MAX_AGE}, stale-while-revalidate=86400") -> Response:
    """Answer with the asset: 304 when the browser has it, gzip when it takes it."""
    headers = {
        "Cache-Control": cache,
        "ETag": f'"{asset.etag}"',
        "Vary": "Accept-Encoding",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
    }
    if asset.etag in request.if_none_match:
        return Response(status=304, headers=headers)
    body = asset.body
    if request.accept_encodings.quality("gzip") > 0:
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, mimetype=asset.mimetype, headers=headers)
