"""Actor tokens as a site's backend makes them, built here with nothing but hmac and base64."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from widget_server import actors
from widget_server.problems import Problem

SECRET = "site-secret-from-sites-create"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def plain_token(claims: dict[str, Any], secret: str = SECRET) -> str:
    """The README's recipe, independent of the server's helper."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    mac = hmac.new(secret.encode(), b"sharebar.actor." + payload.encode(), hashlib.sha256).digest()
    return payload + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def claims(**fields: Any) -> dict[str, Any]:
    base = {"site": 3, "uid": "u-42", "name": "李雷", "avatar": "https://cdn.example.com/a.png",
            "exp": int((NOW + timedelta(hours=1)).timestamp())}
    return {**base, **fields}


def refused(token: object, code: str = "invalid-actor", site: int = 3, secret: str = SECRET) -> None:
    with pytest.raises(Problem) as caught:
        actors.verify(token, site, secret, now=NOW)
    assert caught.value.status == 401
    assert caught.value.code == code


def test_plain_hmac_token_is_accepted() -> None:
    actor = actors.verify(plain_token(claims()), 3, SECRET, now=NOW)
    assert actor == actors.Actor("u-42", "李雷", "https://cdn.example.com/a.png")


def test_servers_own_helper_makes_tokens_it_accepts() -> None:
    assert actors.verify(actors.sign(SECRET, claims()), 3, SECRET, now=NOW).name == "李雷"


def test_only_uid_and_exp_are_needed() -> None:
    token = plain_token({"site": 3, "uid": "7", "exp": int((NOW + timedelta(minutes=5)).timestamp())})
    assert actors.verify(token, 3, SECRET, now=NOW) == actors.Actor("7", None, None)


def test_expired_token_is_refused() -> None:
    refused(plain_token(claims(exp=int((NOW - timedelta(seconds=1)).timestamp()))), "expired-actor")


def test_token_for_another_site_is_refused() -> None:
    refused(plain_token(claims(site=4)))


def test_token_signed_with_another_secret_is_refused() -> None:
    refused(plain_token(claims(), secret="another-sites-secret"))


def test_token_valid_for_more_than_a_day_is_refused() -> None:
    refused(plain_token(claims(exp=int((NOW + timedelta(days=2)).timestamp()))))


def tampered(token: str) -> list[str]:
    payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(uid="admin")).encode()).rstrip(b"=").decode()
    return [
        forged + "." + signature,  # a changed field under the old signature
        payload + "." + signature[:-2],
        payload + ".",
        payload,
        "." + signature,
        payload[:-1] + "." + signature,
        token + ".x",
        "not base64!.@@@",
        "",
        None,
        42,
        "a" * 5000,
    ]


@pytest.mark.parametrize("index", range(12))
def test_tampered_and_malformed_tokens_are_refused(index: int) -> None:
    refused(tampered(plain_token(claims()))[index])


@pytest.mark.parametrize("fields", [
    {"uid": ""}, {"uid": "x" * 101}, {"uid": 42}, {"name": "n" * 101}, {"name": ["x"]},
    {"avatar": "http://insecure.example.com/a.png"}, {"avatar": "javascript:alert(1)"},
    {"exp": "tomorrow"}, {"exp": None}, {"site": "3"},
    {"uid": "u\x00"}, {"name": "Li\x00Lei"}, {"uid": "u\ud800"}, {"name": "\udfff"}, {"name": "a\x1b[31m"},
])
def test_bad_fields_are_refused(fields: dict[str, Any]) -> None:
    refused(plain_token(claims(**fields)))
