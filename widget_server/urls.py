"""Page URLs as Sharebar stores them: checked, and stripped of what does not name the page."""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_URL = 2048

# Parameters that say where a visitor came from, not which page it is; the widget strips
# the same list (static/sharebar.js) so both ends agree on a page's identity.
TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|yclid|msclkid|mc_eid|spm|from|isappinstalled|share_source|_sb)$"
)
# The query parameter carrying a share code: a query parameter rather than a fragment because
# shorteners, link previews and in-app browsers keep the query but may drop the fragment; the
# widget takes it out of the address bar on landing, and it never names a different page.
SHARE_PARAM = "_sb"
CONTROL = re.compile(r"[\x00-\x20\x7f]")


class BadURL(ValueError):
    pass


def clean_url(raw: object) -> str:
    """Normalise a page URL: http(s) only, no fragment, no tracking parameters, no default port.

    :raise BadURL: with the reason, for anything that is not such a URL.
    """
    if not isinstance(raw, str) or not raw:
        raise BadURL("url must be a non-empty string")
    if len(raw) > MAX_URL:
        raise BadURL(f"url is longer than {MAX_URL} characters")
    return cleaned(raw)


# Beacons name the same pages over and over (a page's readers share it, and click back to
# it): each URL's parse is kept, for 1,024 URLs of at most 2 KB. Parsing a beacon's URL and
# then its host again was a tenth of the time of a beacon's checks in the web worker.
@lru_cache(maxsize=1024)
def cleaned(raw: str) -> str:
    """``clean_url`` of a string of at most ``MAX_URL`` characters."""
    if CONTROL.search(raw):
        raise BadURL("url contains whitespace or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"url does not parse: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BadURL("url must be http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadURL("url has no host")
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    netloc = host if port in (None, default) else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING.match(k)]
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(query), ""))


@lru_cache(maxsize=1024)
def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def url_hash(url: str) -> str:
    """A fixed-size key for indexing URLs of any length."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def with_share_code(url: str, code: str) -> str:
    """``url`` (already clean) as shared: with its share code in the query."""
    return f"{url}{'&' if '?' in url else '?'}{SHARE_PARAM}={code}"
