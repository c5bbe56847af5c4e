"""Partner tokens: issued once, stored as a hash, scoped, expiring, revocable; and their CLI."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from conftest import Registered, register, table_rows
from widget_server import tokens
from widget_server.problems import Problem

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)


def reason(exc: pytest.ExceptionInfo[Problem]) -> tuple[int, str]:
    return exc.value.status, exc.value.code


def test_issue_stores_only_the_hash(app: Flask, site: Registered) -> None:
    with app.app_context():
        row, token = tokens.issue([site.id], name="Reports")
    assert token.startswith("sbp_") and len(token) == 47
    stored = table_rows(app, "api_tokens")
    assert len(stored) == 1
    assert stored[0].token_hash == tokens.token_hash(token) != token
    assert token not in repr(stored) and token[4:] not in repr(stored)
    assert row.scopes == ["stats:read"] and row.site_ids == [site.id] and row.name == "Reports"


def test_tokens_differ(app: Flask, site: Registered) -> None:
    with app.app_context():
        issued = {tokens.issue([site.id])[1] for _ in range(5)}
    assert len(issued) == 5


def test_authenticate_finds_the_live_token(app: Flask, site: Registered) -> None:
    with app.app_context():
        row, token = tokens.issue([site.id], ["stats:read", "feed:read"], timedelta(days=1), now=NOW)
        assert tokens.authenticate(f"Bearer {token}", now=NOW).id == row.id
        assert tokens.authenticate(f"bearer   {token}  ", now=NOW).id == row.id


def test_expiry_is_exact(app: Flask, site: Registered) -> None:
    with app.app_context():
        _, token = tokens.issue([site.id], expires=timedelta(hours=12), now=NOW)
        tokens.authenticate(f"Bearer {token}", now=NOW + timedelta(hours=12) - timedelta(seconds=1))
        with pytest.raises(Problem) as exc:
            tokens.authenticate(f"Bearer {token}", now=NOW + timedelta(hours=12))
    assert reason(exc) == (401, "expired-token")


def test_revoked_beats_expired_and_revoking_twice_keeps_the_first_time(app: Flask, site: Registered) -> None:
    with app.app_context():
        row, token = tokens.issue([site.id], expires=timedelta(days=1), now=NOW)
        tokens.revoke(row.id, now=NOW)
        again = tokens.revoke(row.id, now=NOW + timedelta(hours=1))
        assert again.revoked_at is not None and tokens.aware(again.revoked_at) == NOW
        with pytest.raises(Problem) as exc:
            tokens.authenticate(f"Bearer {token}", now=NOW + timedelta(days=2))
        assert tokens.status(row, now=NOW) == "revoked"
    assert reason(exc) == (401, "revoked-token")


def test_revoke_unknown_token(app: Flask) -> None:
    with app.app_context(), pytest.raises(LookupError):
        tokens.revoke(42)


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Token abc", "Bearer sbp_short", "sbp_" + "a" * 43])
def test_authenticate_refuses_missing_and_garbled(app: Flask, header: str | None) -> None:
    with app.app_context(), pytest.raises(Problem) as exc:
        tokens.authenticate(header)
    assert reason(exc) == (401, "invalid-token")


def test_require_scope_then_site(app: Flask, site: Registered) -> None:
    other = register(app, "Other", ("other.example",))
    with app.app_context():
        row, _ = tokens.issue([site.id], ["feed:read"])
        tokens.require(row, "feed:read", site.id)
        with pytest.raises(Problem) as scope:
            tokens.require(row, "stats:read", site.id)
        with pytest.raises(Problem) as theirs:
            tokens.require(row, "feed:read", other.id)
        with pytest.raises(Problem) as missing:
            tokens.require(row, "feed:read", 99999)
    assert reason(scope) == (403, "insufficient-scope")
    assert reason(theirs) == reason(missing) == (404, "unknown-site")
    assert theirs.value.detail == missing.value.detail


@pytest.mark.parametrize(("sites", "scopes", "expires", "message"), [
    ([], ["stats:read"], timedelta(days=1), "at least one site"),
    ([99999], ["stats:read"], timedelta(days=1), "no site with id 99999"),
    (None, ["admin"], timedelta(days=1), "scopes must be"),
    (None, [], timedelta(days=1), "scopes must be"),
    (None, ["stats:read"], timedelta(0), "expire in the future"),
])
def test_issue_refuses(app: Flask, site: Registered, sites: list[int] | None, scopes: list[str],
                       expires: timedelta, message: str) -> None:
    with app.app_context(), pytest.raises(ValueError, match=message):
        tokens.issue([site.id] if sites is None else sites, scopes, expires)
    assert table_rows(app, "api_tokens") == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("90d", timedelta(days=90)),
    ("1y", timedelta(days=365)), ("5y", timedelta(days=5 * 365)),
])
def test_parse_duration(raw: str, expected: timedelta) -> None:
    assert tokens.parse_duration(raw) == expected


@pytest.mark.parametrize("raw", ["", "90", "d", "0d", "-1d", "1w", "1.5d", "6y", "90 days", "1e3d"])
def test_parse_duration_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        tokens.parse_duration(raw)


# -- the command line ---------------------------------------------------------------------


def test_cli_create_prints_the_token_once(app: Flask, runner: FlaskCliRunner, site: Registered) -> None:
    result = runner.invoke(args=["tokens", "create", "--site", str(site.id), "--name", "Weekly report"])
    assert result.exit_code == 0, result.output
    token = next(word for word in result.output.split() if word.startswith("sbp_"))
    with app.app_context():
        (row,) = tokens.all_tokens()
    assert row.token_hash == tokens.token_hash(token)
    assert "stats:read" in result.output and f"Token {row.id}" in result.output
    expires = tokens.aware(row.expires_at) - datetime.now(timezone.utc)
    assert timedelta(days=89, hours=23) < expires <= timedelta(days=90)


def test_cli_create_json_with_sites_scopes_and_expiry(app: Flask, runner: FlaskCliRunner, site: Registered) -> None:
    other = register(app, "Other", ("other.example",))
    result = runner.invoke(args=["tokens", "create", "--site", str(site.id), "--site", str(other.id),
                                 "--scope", "stats:read", "--scope", "feed:read", "--expires", "12h", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["sites"] == [site.id, other.id]
    assert info["scopes"] == ["stats:read", "feed:read"]
    assert info["status"] == "active"
    assert info["token"].startswith("sbp_")
    expires = datetime.fromisoformat(info["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(hours=11, minutes=59) < expires <= timedelta(hours=12)
    with app.app_context():
        assert tokens.authenticate("Bearer " + info["token"]).id == info["id"]


@pytest.mark.parametrize(("args", "message"), [
    (["--site", "99999"], "no site with id 99999"),
    (["--site", "{site}", "--scope", "admin"], "scopes must be"),
    (["--site", "{site}", "--expires", "forever"], "not a duration"),
    (["--site", "abc"], "abc"),
])
def test_cli_create_refuses_and_creates_nothing(app: Flask, runner: FlaskCliRunner, site: Registered,
                                                args: list[str], message: str) -> None:
    result = runner.invoke(args=["tokens", "create", *(a.format(site=site.id) for a in args)])
    assert result.exit_code != 0
    assert message in result.output
    assert table_rows(app, "api_tokens") == []


def test_cli_list_and_revoke(app: Flask, runner: FlaskCliRunner, site: Registered) -> None:
    created = [json.loads(runner.invoke(args=["tokens", "create", "--site", str(site.id), "--name", name,
                                              "--json"]).output) for name in ("first", "second")]
    listed = runner.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0
    assert "first" in listed.output and "second" in listed.output
    assert all(info["token"] not in listed.output for info in created)
    assert "sbp_" not in listed.output
    revoked = runner.invoke(args=["tokens", "revoke", str(created[0]["id"])])
    assert revoked.exit_code == 0, revoked.output
    states = {info["name"]: info["status"] for info in json.loads(runner.invoke(args=["tokens", "list", "--json"]).output)}
    assert states == {"first": "revoked", "second": "active"}
    with app.app_context(), pytest.raises(Problem):
        tokens.authenticate("Bearer " + created[0]["token"])


def test_cli_revoke_unknown(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["tokens", "revoke", "42"])
    assert result.exit_code != 0
    assert "no token with id 42" in result.output
