"""The dashboard as owners use it: signing in and out, sites, members, tokens, and that
nobody reaches a site they are not a member of (404, or the sign-in for nobody)."""
from __future__ import annotations

import html
import json
import re
import warnings
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from conftest import register, within_one_window
from widget_server import accounts, db, sites
from widget_server.dashboard import forms
from widget_server.models import ApiToken, Site

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="([a-z]+-)?csrf_token" type="hidden" value="([^"]+)"')


class Person:
    """Someone at the dashboard: a browser session that signs in and submits forms with the
    CSRF token of the page they came from, as a browser would."""

    def __init__(self, app: Flask, email: str | None = None):
        self.app, self.email = app, email
        self.client: FlaskClient = app.test_client()
        if email:
            with app.app_context():
                if accounts.user_by_email(email) is None:
                    accounts.create_user(email, PASSWORD)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, base_url="https://share.test", **kwargs)

    def token(self, path: str, prefix: str = "") -> str:
        """A CSRF token from a form on ``path`` (one token serves the whole session)."""
        found = CSRF.findall(self.get(path).get_data(as_text=True))
        assert found, f"no form on {path}"
        return found[0][1]

    def post(self, path: str, data: dict[str, Any], prefix: str = "", token_from: str | None = None,
             csrf: bool = True) -> TestResponse:
        fields = dict(data)
        if csrf:
            fields[f"{prefix}csrf_token"] = self.token(token_from or path, prefix)
        return self.client.post(path, data=fields, base_url="https://share.test")

    def sign_in(self, password: str = PASSWORD) -> TestResponse:
        return self.post("/dashboard/signin", {"email": self.email, "password": password})


def own_site(app: Flask, email: str, name: str = "A's site", domains: tuple[str, ...] = ("a.example",),
             role: str = "owner") -> int:
    site = register(app, name, domains)
    with app.app_context():
        accounts.set_member(site.id, email, role)
    return site.id


@pytest.fixture
def owner(app: Flask) -> Person:
    person = Person(app, "owner-a@example.com")
    assert person.sign_in().status_code == 302
    return person


def settings_of(app: Flask, site_id: int) -> tuple[str, list[str], dict[str, Any]]:
    with app.app_context():
        site = db.session().get(Site, site_id)
        assert site is not None
        return site.name, site.domains, sites.bar_settings(site)


def site_form(**changes: Any) -> dict[str, Any]:
    """The settings form as a browser submits it, with ``changes``."""
    form: dict[str, Any] = {"name": "A's site", "domains": "a.example", "theme": "auto", "size": "medium",
                            "layout": "inline", "lang": "", "via": "", "hashtags": "", "verbs": "",
                            "retention_days": "", "order": ["weibo", "wechat", "qq", "copy"],
                            "services": ["weibo", "wechat", "copy"], "save": "1"}
    form.update(changes)
    return form


# -- accounts ------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_session_cookie_and_shows_the_sites(app: Flask, owner: Person) -> None:
    own_site(app, owner.email or "")
    page = owner.get("/dashboard/")
    assert page.status_code == 200
    assert "A&#39;s site" in page.get_data(as_text=True)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    fresh = Person(app, owner.email)
    cookie = fresh.sign_in().headers["Set-Cookie"]
    assert all(part in cookie for part in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/dashboard"))


def test_nobody_is_sent_to_the_sign_in(app: Flask) -> None:
    response = Person(app).get("/dashboard/")
    assert response.status_code == 302 and "/dashboard/signin" in response.headers["Location"]


@pytest.mark.parametrize("email,password", [("owner-a@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)])
def test_a_wrong_email_or_password_says_so_beside_the_field(app: Flask, email: str, password: str) -> None:
    Person(app, "owner-a@example.com")
    response = Person(app).post("/dashboard/signin", {"email": email, "password": password})
    assert response.status_code == 200
    assert "The email or the password is not right." in response.get_data(as_text=True)
    assert Person(app).get("/dashboard/").status_code == 302


def test_sign_in_without_or_with_a_forged_csrf_token_is_refused(app: Flask) -> None:
    person = Person(app, "owner-a@example.com")
    for data in ({"email": person.email, "password": PASSWORD},
                 {"email": person.email, "password": PASSWORD, "csrf_token": "forged"}):
        response = person.post("/dashboard/signin", data, csrf=False)
        assert response.status_code == 200
        assert "The form expired" in response.get_data(as_text=True)
    assert person.get("/dashboard/").status_code == 302


def test_sign_in_is_rate_limited_per_account(app: Flask) -> None:
    app.config["RATE_LIMIT_SIGNIN_ACCOUNT"] = "3 per 15 minutes"
    within_one_window(seconds=15 * 60)
    person = Person(app, "owner-a@example.com")
    for _ in range(3):
        person.sign_in("wrong password!")
    response = person.sign_in()  # even the right password waits now
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_sign_in_is_rate_limited_per_client(app: Flask) -> None:
    app.config["RATE_LIMIT_SIGNIN_CLIENT"] = "2 per 15 minutes"
    within_one_window(seconds=15 * 60)
    for number in range(2):
        Person(app, f"user{number}@example.com").sign_in("wrong password!")
    assert Person(app, "owner-a@example.com").sign_in().status_code == 429


def test_sign_out_ends_every_session_of_the_account(app: Flask, owner: Person) -> None:
    laptop = Person(app, owner.email)
    laptop.sign_in()
    assert owner.post("/dashboard/signout", {}, prefix="signout-", token_from="/dashboard/").status_code == 302
    assert owner.get("/dashboard/").status_code == 302
    assert laptop.get("/dashboard/").status_code == 302


def test_an_idle_session_ends(app: Flask, owner: Person) -> None:
    with owner.client.session_transaction("/dashboard/", base_url="https://share.test") as session:
        session["_seen"] = int(session["_seen"]) - 61 * 60
    assert owner.get("/dashboard/").status_code == 302


def test_sign_up_is_off_by_default(app: Flask) -> None:
    assert Person(app).get("/dashboard/signup").status_code == 404


@pytest.mark.parametrize("password,message", [
    ("short1", "Use at least 10 characters."),
    ("password123", "too common"),
    ("aaaaaaaaaaaa", "too common"),
])
def test_sign_up_refuses_weak_passwords_beside_the_field(app: Flask, password: str, message: str) -> None:
    app.config["SIGNUP"] = True
    response = Person(app).post("/dashboard/signup", {"email": "new@example.com", "password": password})
    assert re.search(rf'id="password-error">[^<]*{re.escape(message)}', response.get_data(as_text=True))
    with app.app_context():
        assert accounts.user_by_email("new@example.com") is None


def test_sign_up_without_or_with_a_forged_csrf_token_is_refused(app: Flask) -> None:
    app.config["SIGNUP"] = True
    for extra in ({}, {"csrf_token": "forged"}):
        response = Person(app).post("/dashboard/signup", {"email": "new@example.com", "password": PASSWORD, **extra},
                                    csrf=False)
        assert "The form expired" in response.get_data(as_text=True)
    with app.app_context():
        assert accounts.user_by_email("new@example.com") is None


def test_sign_up_when_switched_on(app: Flask) -> None:
    app.config["SIGNUP"] = True
    person = Person(app)
    assert person.post("/dashboard/signup", {"email": "new@example.com", "password": PASSWORD}).status_code == 302
    assert person.get("/dashboard/").status_code == 200


def test_passwords_are_stored_as_argon2_hashes(app: Flask) -> None:
    with app.app_context():
        user = accounts.create_user("owner-a@example.com", PASSWORD)
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_users_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "cli@example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "create", "--email", "cli2@example.com", "--password", "short"])
    assert result.exit_code != 0 and "at least 10" in result.output
    result = runner.invoke(args=["users", "set-password", "--email", "cli@example.com"],
                           input="another long secret\nanother long secret\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.authenticate("cli@example.com", "another long secret") is not None
        assert accounts.authenticate("cli@example.com", PASSWORD) is None


def test_sites_create_and_set_owner_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "--email", "cli@example.com", "--password", PASSWORD])
    result = runner.invoke(args=["sites", "create", "--name", "N", "--domain", "n.example", "--owner", "cli@example.com"])
    assert result.exit_code == 0, result.output
    old = register(app, "Before accounts", ("old.example",))
    assert runner.invoke(args=["sites", "set", str(old.id), "owner=cli@example.com"]).exit_code == 0
    with app.app_context():
        user = accounts.user_by_email("cli@example.com")
        assert user is not None
        assert [(site.name, role) for site, role in accounts.sites_of(user.id)] == [
            ("N", "owner"), ("Before accounts", "owner")]
    result = runner.invoke(args=["sites", "create", "--name", "M", "--domain", "m.example", "--owner", "no@example.com"])
    assert result.exit_code != 0 and "no account" in result.output


# -- sites -----------------------------------------------------------------------------------


def test_register_a_site_and_become_its_owner(app: Flask, owner: Person) -> None:
    response = owner.post("/dashboard/sites/new", {"name": "Blog", "domains": "blog.example\nwww.blog.example"})
    assert response.status_code == 302
    site_id = int(re.search(r"/sites/(\d+)/", response.headers["Location"]).group(1))  # type: ignore[union-attr]
    assert settings_of(app, site_id)[:2] == ("Blog", ["blog.example", "www.blog.example"])
    page = owner.get(f"/dashboard/sites/{site_id}/").get_data(as_text=True)
    assert "https://share.test/static/sharebar.js" in page  # the public URL, not a guess


def test_save_settings_through_the_checked_path(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    form = site_form(theme="dark", via="example_news", hashtags="#news, 科技", verbs="clap", retention_days="30",
                     counts="y", order=["copy", "weibo", "qq"], services=["weibo", "copy"])
    response = owner.post(f"/dashboard/sites/{site_id}/", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    _name, _domains, bar = settings_of(app, site_id)
    assert (bar["theme"], bar["via"], bar["hashtags"], bar["verbs"], bar["retention_days"], bar["counts"]) == (
        "dark", "example_news", ["news", "科技"], ["clap"], 30, True)
    assert bar["services"] == ["copy", "weibo"]
    page = html.unescape(owner.get(f"/dashboard/sites/{site_id}/").get_data(as_text=True))
    assert '<div data-sharebar data-via="example_news" data-hashtags="news,科技"></div>' in page


def test_move_buttons_reorder_without_saving(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    response = owner.post(f"/dashboard/sites/{site_id}/", site_form(move="copy:up"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Not saved yet" in page
    assert re.findall(r'name="order" value="(\w+)"', page)[:4] == ["weibo", "wechat", "copy", "qq"]
    assert 'data-services="weibo,wechat,copy"' in page  # the preview shows the new order
    assert settings_of(app, site_id)[2]["services"] == sites.BAR_DEFAULTS["services"]


BAD_INPUTS = [
    ("name", "<script>alert(1)</script>", "name", "without &lt; or &gt;"),
    ("domains", "<script>", "domains", "is not a domain name"),
    ("domains", "a.example\na.example", "domains", "is listed twice"),
    ("domains", "", "domains", "at least one domain"),
    ("via", "<b>x</b>", "via", "An account name"),
    ("hashtags", "ok, <script>", "hashtags", "At most 10 tags"),
    ("verbs", "<script>", "verbs", "Verbs are lower-case"),
    ("retention_days", "0", "retention_days", "A whole number of days"),
    ("retention_days", "soon", "retention_days", "A whole number of days"),
    ("services", [], "services", "Choose at least one service"),
    ("theme", "neon", "theme", "Not a valid choice"),
]


@pytest.mark.parametrize("name,value,field,message", BAD_INPUTS)
def test_bad_settings_are_shown_beside_the_field_and_nothing_changes(
        app: Flask, owner: Person, name: str, value: Any, field: str, message: str) -> None:
    site_id = own_site(app, owner.email or "")
    before = settings_of(app, site_id)
    response = owner.post(f"/dashboard/sites/{site_id}/", site_form(**{name: value}, theme="dark")
                          if name != "theme" else site_form(theme=value))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page), page
    assert settings_of(app, site_id) == before
    assert "<script>alert" not in page and "<b>x</b>" not in page


def test_a_huge_form_body_is_refused(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    before = settings_of(app, site_id)
    response = owner.post(f"/dashboard/sites/{site_id}/", site_form(name="x" * 100_000))
    assert response.status_code == 413
    assert "The form was too large" in response.get_data(as_text=True)
    assert settings_of(app, site_id) == before


def test_forms_without_or_with_a_forged_csrf_token_change_nothing(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    before = settings_of(app, site_id)
    for extra in ({}, {"csrf_token": "forged"}):
        response = owner.post(f"/dashboard/sites/{site_id}/", {**site_form(theme="dark"), **extra}, csrf=False)
        assert response.status_code == 400
        assert "The form expired" in response.get_data(as_text=True)
        response = owner.post(f"/dashboard/sites/{site_id}/delete", extra, csrf=False)
        assert response.status_code == 400
    assert settings_of(app, site_id) == before


def test_members_viewer_sees_charts_only(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    viewer = Person(app, "viewer@example.com")
    assert owner.post(f"/dashboard/sites/{site_id}/members", {"action": "add", "email": viewer.email,
                                                               "role": "viewer"}).status_code == 302
    viewer.sign_in()
    assert viewer.get(f"/dashboard/sites/{site_id}/charts").status_code == 200
    assert viewer.get(f"/dashboard/sites/{site_id}/").status_code == 404
    response = owner.post(f"/dashboard/sites/{site_id}/members", {"action": "add", "email": "ghost@example.com",
                                                                   "role": "viewer"})
    assert response.status_code == 400 and "No account has this email" in response.get_data(as_text=True)


def test_the_last_owner_cannot_be_removed(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    with app.app_context():
        me = accounts.user_by_email(owner.email or "")
        assert me is not None
        my_id = me.id
    response = owner.post(f"/dashboard/sites/{site_id}/members", {"action": "remove", "user_id": my_id},
                          prefix="remove-")
    assert response.status_code == 400 and "at least one owner" in response.get_data(as_text=True)


def test_rotate_the_secret(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    page = owner.get(f"/dashboard/sites/{site_id}/secret").get_data(as_text=True)
    assert "What breaks" in page
    with app.app_context():
        old = db.session().get(Site, site_id).secret  # type: ignore[union-attr]
    assert owner.post(f"/dashboard/sites/{site_id}/secret", {}).status_code == 200
    with app.app_context():
        assert db.session().get(Site, site_id).secret != old  # type: ignore[union-attr]


def test_re_sign_the_site_key_after_reading_what_breaks(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    with app.app_context():
        from widget_server import feeds, tokens
        site = db.session().get(Site, site_id)
        assert site is not None
        old_key, secret, feed = sites.site_key(site), site.secret, feeds.feed_token(site)
        _row, partner = tokens.issue([site_id])
    page = owner.get(f"/dashboard/sites/{site_id}/secret").get_data(as_text=True)
    assert "What breaks: the old key stops working at once" in page and old_key in page
    assert "the secret, the feed URL, partner tokens" in page
    config = owner.client.get("/v1/config", query_string={"site": old_key})
    assert config.status_code == 200

    response = owner.post(f"/dashboard/sites/{site_id}/key", {}, token_from=f"/dashboard/sites/{site_id}/secret")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "The site key was replaced" in page
    with app.app_context():
        site = db.session().get(Site, site_id)
        assert site is not None
        new_key = sites.site_key(site)
        assert site.secret == secret and feeds.feed_token(site) == feed
    assert new_key != old_key and f'data-site="{new_key}"' in html.unescape(page) and old_key not in page

    refused = owner.client.get("/v1/config", query_string={"site": old_key})
    assert refused.status_code == 400 and refused.get_json()["type"].endswith("/invalid-site-key")
    assert owner.client.get("/v1/config", query_string={"site": new_key}).status_code == 200
    beacon = {"type": "share", "site": old_key, "url": "https://a.example/post", "service": "weibo",
              "id": "resign-0001", "code": "c0de0001"}
    assert owner.client.post("/v1/events", data=json.dumps(beacon), content_type="text/plain").status_code == 400
    assert owner.client.post("/v1/events", data=json.dumps({**beacon, "site": new_key, "id": "resign-0002"}),
                             content_type="text/plain").status_code == 204
    check = owner.get(f"/dashboard/sites/{site_id}/check").get_data(as_text=True)
    assert re.search(r"Bad key</t[hd]>\s*<td>1<", check), check
    stats = owner.client.get("/api/v1/stats/aggregate", query_string={"site_id": site_id},
                             headers={"Authorization": f"Bearer {partner}"})
    assert stats.status_code == 200 and stats.get_json()["results"]["shares"]["value"] == 1
    assert owner.client.get(f"/api/v1/feed.atom?token={feed}").status_code == 200


def test_re_signing_from_the_command_line(app: Flask) -> None:
    site = register(app, "Blog", ("blog.example",))
    result = app.test_cli_runner().invoke(args=["sites", "resign-key", str(site.id)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = db.session().get(Site, site.id)
        assert row is not None
        new_key = sites.site_key(row)
    assert new_key != site.key and f'data-site="{new_key}"' in result.output
    assert app.test_client().get("/v1/config", query_string={"site": site.key}).status_code == 400


def test_delete_a_site(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    other = register(app, "Other", ("other.example",)).id
    with app.app_context():
        from widget_server import tokens
        only, _t = tokens.issue([site_id])
        both, _t = tokens.issue([site_id, other])
        only_id, both_id = only.id, both.id
    assert owner.post(f"/dashboard/sites/{site_id}/delete", {}).status_code == 302
    with app.app_context():
        assert db.session().get(Site, site_id) is None
        assert db.session().get(ApiToken, only_id).revoked_at is not None  # type: ignore[union-attr]
        assert db.session().get(ApiToken, both_id).site_ids == [other]  # type: ignore[union-attr]


def test_tokens_are_shown_once_listed_and_revoked(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    page = owner.post(f"/dashboard/sites/{site_id}/tokens", {"action": "create", "name": "partner",
                                                              "scopes": ["stats:read"], "expires": "30d"})
    token = re.search(r'value="(sbp_[^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    listing = owner.get(f"/dashboard/sites/{site_id}/tokens").get_data(as_text=True)
    assert "partner" in listing and token not in listing
    with app.app_context():
        row_id = db.session().query(ApiToken).one().id
    owner.post(f"/dashboard/sites/{site_id}/tokens", {"action": "revoke", "token_id": row_id}, prefix="revoke-")
    response = owner.client.get("/api/v1/stats/aggregate", query_string={"site_id": site_id},
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_feed_url_revoked(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    first = re.search(r'>(https://share.test/api/v1/feed.atom\?token=[^<]+)</textarea>',
                      owner.get(f"/dashboard/sites/{site_id}/feed").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    page = owner.post(f"/dashboard/sites/{site_id}/feed", {}).get_data(as_text=True)
    assert "stopped working" in page and first.replace("&", "&amp;") not in page
    assert owner.client.get(first.replace("https://share.test", "")).status_code == 401


# -- isolation -----------------------------------------------------------------------------

OWNER_PAGES = ["/", "/check", "/members", "/secret", "/delete", "/tokens", "/feed"]  # (/key: a POST only)
ALL_PAGES = OWNER_PAGES + ["/charts"]
POSTS = [("/", site_form(theme="dark"), ""), ("/members", {"action": "add", "email": "x@example.com",
                                                           "role": "owner"}, ""),
         ("/secret", {}, ""), ("/key", {}, ""), ("/delete", {}, ""), ("/feed", {}, ""),
         ("/tokens", {"action": "create", "name": "t", "scopes": ["stats:read"], "expires": "30d"}, ""),
         ("/members", {"action": "remove", "user_id": "1"}, "remove-"),  # owner A, the first account
         ("/tokens", {"action": "revoke", "token_id": "1"}, "revoke-")]


def snapshot(app: Flask, site_id: int) -> Any:
    with app.app_context():
        site = db.session().get(Site, site_id)
        assert site is not None
        return (site.name, site.domains, site.settings, site.secret,
                [(u.email, r) for u, r in accounts.members_of(site_id)],
                [(t.id, t.revoked_at) for t in db.session().query(ApiToken).order_by(ApiToken.id)])


@pytest.fixture
def a_site(app: Flask) -> int:
    Person(app, "owner-a@example.com")
    site_id = own_site(app, "owner-a@example.com")
    with app.app_context():
        from widget_server import tokens
        tokens.issue([site_id], name="A's partner")  # token 1, for the revoke form
    return site_id


@pytest.mark.parametrize("page", ALL_PAGES)
def test_another_owner_gets_404_everywhere(app: Flask, a_site: int, page: str) -> None:
    other = Person(app, "owner-b@example.com")
    other.sign_in()
    own_site(app, "owner-b@example.com", "B's site", ("b.example",))
    response = other.get(f"/dashboard/sites/{a_site}{page}")
    assert response.status_code == 404 and "A&#39;s site" not in response.get_data(as_text=True)


@pytest.mark.parametrize("page,data,prefix", POSTS)
def test_another_owner_changes_nothing(app: Flask, a_site: int, page: str, data: dict[str, Any], prefix: str) -> None:
    other = Person(app, "owner-b@example.com")
    other.sign_in()
    b_site = own_site(app, "owner-b@example.com", "B's site", ("b.example",))
    before = snapshot(app, a_site)
    # A valid CSRF token of B's own page, posted at A's site.
    form_page = "/secret" if page == "/key" else page
    response = other.post(f"/dashboard/sites/{a_site}{page}", data, token_from=f"/dashboard/sites/{b_site}{form_page}")
    assert response.status_code == 404
    assert snapshot(app, a_site) == before


@pytest.mark.parametrize("page", OWNER_PAGES)
def test_a_viewer_gets_404_on_owner_pages(app: Flask, a_site: int, page: str) -> None:
    viewer = Person(app, "viewer@example.com")
    with app.app_context():
        accounts.set_member(a_site, "viewer@example.com", "viewer")
    viewer.sign_in()
    assert viewer.get(f"/dashboard/sites/{a_site}{page}").status_code == 404
    assert viewer.get(f"/dashboard/sites/{a_site}/charts").status_code == 200


@pytest.mark.parametrize("page,data,prefix", POSTS)
def test_a_viewer_changes_nothing(app: Flask, a_site: int, page: str, data: dict[str, Any], prefix: str) -> None:
    viewer = Person(app, "viewer@example.com")
    with app.app_context():
        accounts.set_member(a_site, "viewer@example.com", "viewer")
    viewer.sign_in()
    before = snapshot(app, a_site)
    response = viewer.post(f"/dashboard/sites/{a_site}{page}", data, token_from="/dashboard/")
    assert response.status_code == 404
    assert snapshot(app, a_site) == before


@pytest.mark.parametrize("page", ALL_PAGES)
def test_nobody_is_sent_to_sign_in_from_every_page(app: Flask, a_site: int, page: str) -> None:
    nobody = Person(app)
    response = nobody.get(f"/dashboard/sites/{a_site}{page}")
    assert response.status_code == 302 and "/dashboard/signin" in response.headers["Location"]
    before = snapshot(app, a_site)
    response = nobody.client.post(f"/dashboard/sites/{a_site}{page}", data={"theme": "dark"},
                                  base_url="https://share.test")
    assert response.status_code in (302, 405)  # 405: a page without forms
    assert snapshot(app, a_site) == before


def test_nobody_cannot_re_sign_the_key(app: Flask, a_site: int) -> None:
    before = snapshot(app, a_site)
    response = Person(app).client.post(f"/dashboard/sites/{a_site}/key", base_url="https://share.test")
    assert response.status_code == 302 and "/dashboard/signin" in response.headers["Location"]
    assert snapshot(app, a_site) == before


def test_another_owners_token_cannot_be_revoked_from_my_site(app: Flask, a_site: int) -> None:
    other = Person(app, "owner-b@example.com")
    other.sign_in()
    b_site = own_site(app, "owner-b@example.com", "B's site", ("b.example",))
    with app.app_context():
        from widget_server import tokens
        row, _token = tokens.issue([a_site])
        row_id = row.id
    response = other.post(f"/dashboard/sites/{b_site}/tokens", {"action": "revoke", "token_id": row_id},
                          prefix="revoke-")
    assert response.status_code == 404
    with app.app_context():
        assert db.session().get(ApiToken, row_id).revoked_at is None  # type: ignore[union-attr]


def test_preview_without_saving(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    before = settings_of(app, site_id)
    form = {**site_form(theme="dark", size="large"), "preview": "1"}
    del form["save"]
    page = owner.post(f"/dashboard/sites/{site_id}/", form).get_data(as_text=True)
    assert "this is a preview" in page and 'data-theme="dark"' in page and 'data-size="large"' in page
    assert settings_of(app, site_id) == before


def test_the_last_owner_cannot_become_a_viewer(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    response = owner.post(f"/dashboard/sites/{site_id}/members", {"action": "add", "email": owner.email,
                                                                   "role": "viewer"})
    assert response.status_code == 400 and "at least one owner" in response.get_data(as_text=True)
    with app.app_context():
        assert accounts.owner_count(site_id) == 1


# -- bad input on every form ----------------------------------------------------------------


@pytest.mark.parametrize("page,data,prefix", POSTS)
def test_every_form_refuses_a_missing_or_forged_csrf_token(app: Flask, a_site: int, page: str,
                                                            data: dict[str, Any], prefix: str) -> None:
    owner = Person(app, "owner-a@example.com")
    owner.sign_in()
    before = snapshot(app, a_site)
    for extra in ({}, {f"{prefix}csrf_token": "forged"}):
        response = owner.post(f"/dashboard/sites/{a_site}{page}", {**data, **extra}, csrf=False)
        assert response.status_code == 400
        assert "The form expired. Please try again." in response.get_data(as_text=True)
    assert snapshot(app, a_site) == before


NEW_SITE_BAD_INPUTS = [
    ({"name": "<script>alert(1)</script>", "domains": "a.example"}, "name", "without &lt; or &gt;"),
    ({"name": "", "domains": "a.example"}, "name", "1 to 200 characters"),
    ({"name": "Blog", "domains": "<script>alert(1)</script>"}, "domains", "is not a domain name"),
    ({"name": "Blog", "domains": "bad..example"}, "domains", "is not a domain name"),
    ({"name": "Blog", "domains": "https://-bad-.example/"}, "domains", "is not a domain name"),
    ({"name": "Blog", "domains": "a.example\nA.example"}, "domains", "is listed twice"),
    ({"name": "Blog", "domains": ""}, "domains", "at least one domain"),
]


@pytest.mark.parametrize("data,field,message", NEW_SITE_BAD_INPUTS)
def test_registering_a_site_with_bad_input_creates_nothing(app: Flask, owner: Person, data: dict[str, str],
                                                           field: str, message: str) -> None:
    response = owner.post("/dashboard/sites/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page), page
    assert "<script>alert" not in page
    with app.app_context():
        assert sites.sites_by_id() == []


def test_a_token_name_with_script_is_refused_beside_the_field(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    response = owner.post(f"/dashboard/sites/{site_id}/tokens", {"action": "create", "name": "<script>x</script>",
                                                                  "scopes": ["stats:read"], "expires": "30d"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and re.search(r'id="name-error">[^<]*without &lt; or &gt;', page)
    assert "<script>x" not in page
    with app.app_context():
        assert db.session().query(ApiToken).count() == 0


def test_a_huge_sign_in_or_site_form_is_refused(app: Flask, owner: Person) -> None:
    stranger = Person(app)
    stranger.email = "x" * 100_000 + "@example.com"
    for person, path in ((stranger, "/dashboard/signin"), (owner, "/dashboard/sites/new")):
        response = person.post(path, {"email": person.email, "name": "x" * 100_000, "domains": "a.example",
                                      "password": PASSWORD})
        assert response.status_code == 413
        assert "The form was too large (over 64 KB): nothing was saved." in response.get_data(as_text=True)
    assert stranger.get("/dashboard/").status_code == 302  # not signed in
    with app.app_context():
        assert sites.sites_by_id() == []


def test_a_huge_token_form_creates_no_token(app: Flask, owner: Person) -> None:
    site_id = own_site(app, owner.email or "")
    response = owner.post(f"/dashboard/sites/{site_id}/tokens", {"action": "create", "name": "x" * 100_000,
                                                                  "scopes": ["stats:read"], "expires": "30d"})
    assert response.status_code == 413 and "The form was too large" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session().query(ApiToken).count() == 0


def test_the_forms_render_localised_choices_without_deprecated_wtforms_calls(app: Flask) -> None:
    """Choices are declared as WTForms 3.3 wants them (plain tuples are deprecated, and go in
    3.4), and keep their values while their labels follow the owner's language."""
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rendered = {name: "".join(str(field) for field in form(meta={"csrf": False}))
                    for name, form in (("settings", forms.SiteSettings), ("member", forms.AddMember),
                                       ("token", forms.NewToken), ("lang", forms.ChooseLang))}
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []
    assert '<option value="auto">自动</option>' in rendered["settings"]
    assert '<option value="dark">深色</option>' in rendered["settings"]
    assert 'value="stats:read"' in rendered["token"] and 'value="zh-CN"' in rendered["lang"]
