"""Page URL normalisation: what names a page, and what is refused."""
from __future__ import annotations

import pytest

from widget_server.sites import clean_domain, host_allowed, parent_domains
from widget_server.urls import BadURL, clean_url


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://Example.COM/a?b=1#frag", "https://example.com/a?b=1"),
    ("HTTP://example.com:80/", "http://example.com/"),
    ("https://example.com:443", "https://example.com/"),
    ("https://example.com:8443/x", "https://example.com:8443/x"),
    ("https://example.com/p?utm_source=x&id=3&fbclid=y&spm=a.b", "https://example.com/p?id=3"),
])
def test_clean_url(raw: str, clean: str) -> None:
    assert clean_url(raw) == clean


@pytest.mark.parametrize("raw", [
    None, "", 42, "javascript:alert(1)", "data:text/html,x", "ftp://example.com/", "https:///nohost",
    "https://exa mple.com/", "https://example.com/\x00", "https://example.com:99999/", "//example.com/",
    "https://example.com/" + "x" * 2048,
])
def test_bad_urls(raw: object) -> None:
    with pytest.raises(BadURL):
        clean_url(raw)


@pytest.mark.parametrize(("host", "allowed"), [
    ("example.com", True), ("www.example.com", True), ("a.b.example.com", True),
    ("EXAMPLE.com.", True), ("notexample.com", False), ("example.com.evil.net", False), ("com", False),
])
def test_host_allowed(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["example.com"]) is allowed
    assert ("example.com" in parent_domains(host)) is allowed  # the same rule, for the site cache's index


@pytest.mark.parametrize(("raw", "clean"), [
    ("Example.com", "example.com"), ("https://www.example.com/path", "www.example.com"),
    ("例子.中国", "xn--fsqu00a.xn--fiqs8s"), ("localhost", "localhost"),
])
def test_clean_domain(raw: str, clean: str) -> None:
    assert clean_domain(raw) == clean


@pytest.mark.parametrize("raw", ["", "-bad.com", "a..b", "exa mple.com", "x" * 300])
def test_bad_domain(raw: str) -> None:
    with pytest.raises(ValueError):
        clean_domain(raw)
