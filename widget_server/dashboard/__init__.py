"""The dashboard for website owners: HTML pages behind a sign-in, every form CSRF-protected.

    GET/POST /dashboard/signin                       sign_in        email and password
    POST     /dashboard/signout                      sign_out       ends every session of the account
    GET/POST /dashboard/signup                       sign_up        only with WIDGET_SIGNUP=true
    POST     /dashboard/lang                         choose_lang    en or zh-CN
    GET      /dashboard/                             site_list      the sites one is a member of
    GET/POST /dashboard/sites/new                    new_site       register a site (its owner)
    GET/POST /dashboard/sites/<id>/                  edit_site      settings, snippet, live preview   owner
    GET      /dashboard/sites/<id>/check             installation_check  seen on each domain? refusals  owner
    GET/POST /dashboard/sites/<id>/members           members        who may see or change the site    owner
    GET/POST /dashboard/sites/<id>/secret            rotate_secret  a new site secret, after warning  owner
    GET/POST /dashboard/sites/<id>/delete            delete_site    after confirming                  owner
    GET/POST /dashboard/sites/<id>/tokens            site_tokens    partner tokens: create, list, revoke  owner
    GET/POST /dashboard/sites/<id>/feed              feed_url       the Atom feed URL; revoke it      owner
    GET      /dashboard/sites/<id>/charts            charts         what shares brought back          owner, viewer

A site the account is not a member of is 404, as is an owner-only page for a viewer; without
a session every page redirects to the sign-in. Pages are served with a strict CSP (scripts
and styles only from this server, no inline code).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import (Blueprint, Flask, Response, abort, current_app, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse
from flask_login import LoginManager, current_user, logout_user

from .. import accounts, db, limits, sites
from ..models import Site, User, utcnow

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", static_folder="static",
               static_url_path="/static", template_folder="../templates")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_FORM_BYTES = 64 * 1024
LAST_SEEN = "_seen"
REASON_TEXT = {"foreign-domain": "Foreign domain", "bad-key": "Bad key", "rate-limited": "Rate limited",
               "malformed": "Malformed", "repeat": "Repeats"}
PUBLIC = {"dashboard.sign_in", "dashboard.sign_up", "dashboard.static"}


def init_app(app: Flask) -> None:
    """Sessions, the login manager and the blueprint."""
    config = app.config
    # The session is the dashboard's alone: the embed surface and the API never set a cookie.
    config["SESSION_COOKIE_SECURE"] = str(config.get("PUBLIC_URL") or "").startswith("https://")
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_PATH"] = "/dashboard"
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=int(config["SESSION_IDLE_MINUTES"]))
    app.session_interface = DashboardSessions()
    manager = LoginManager(app)
    manager.login_view = "dashboard.sign_in"
    manager.login_message = ""
    manager.session_protection = "basic"
    manager.user_loader(load_user)
    app.register_blueprint(bp)


class DashboardSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened only under ``/dashboard``: the cookie's path, so
    no browser sends it anywhere else. A beacon or a page view skips building a signer and
    reading cookies (a fifth of a beacon's time in a profile) and gets the null session."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if not request.environ.get("PATH_INFO", "").startswith(app.config["SESSION_COOKIE_PATH"]):
            return self.make_null_session(app)
        return super().open_session(app, request)


def load_user(session_id: str) -> Any:
    user = accounts.user_from_session_id(session_id)
    return Account(user) if user else None


class Account:
    """The signed-in user as Flask-Login sees it: the session id carries the user's nonce."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_nonce}"


def signed_in() -> User:
    account: Account = current_user._get_current_object()
    return account.user


def site_for(site_id: int, *roles: str) -> tuple[Site, str]:
    """The site and the user's role on it; 404 unless the role is one of ``roles``."""
    role = accounts.role_of(signed_in().id, site_id)
    site = db.session().get(Site, site_id) if role in roles else None
    if site is None or role is None:
        abort(404)
    return site, role


@bp.before_request
def guard() -> BaseResponse | None:
    """Cap form bodies, end a session idle longer than the setting, and send anyone not
    signed in to the sign-in (every page but the sign-in, the sign-up and static files)."""
    request.max_content_length = MAX_FORM_BYTES
    seen = session.get(LAST_SEEN)
    now = int(utcnow().timestamp())
    limit = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    if current_user.is_authenticated and seen is not None and now - int(seen) > limit:
        logout_user()
        session.clear()
    elif current_user.is_authenticated:
        session.permanent = True
        session[LAST_SEEN] = now
    if not current_user.is_authenticated and request.endpoint not in PUBLIC:
        return redirect(url_for("dashboard.sign_in", next=request.path))
    return None


@bp.after_request
def headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def template_helpers() -> dict[str, Any]:
    from .forms import ChooseLang, Confirm
    from .i18n import current_lang, gettext

    return {"_": gettext, "lang": current_lang(), "site_key": sites.site_key,
            "reason_label": lambda reason: gettext(REASON_TEXT[reason]),
            "signout_form": Confirm(prefix="signout", formdata=None),
            "lang_form": ChooseLang(prefix="lang", formdata=None)}


ERRORS = {404: "This page does not exist, or it is not one of your sites.",
          413: "The form was too large (over 64 KB): nothing was saved."}


@bp.errorhandler(404)
@bp.errorhandler(413)
def error_page(error: HTTPException) -> tuple[str, int]:
    """Dashboard errors as pages (the API's are problem+json)."""
    code = error.code or 500
    return render_template("dashboard/error.html", message=ERRORS.get(code, ""), code=code), code


def check_limit(setting: str, key: str) -> bool:
    """Count a hit on a sign-in limit; False when it is used up."""
    try:
        limits.check(setting, key)
    except limits.RateLimited:
        return False
    return True


from . import auth, charts_views, site_views, token_views  # noqa: E402,F401  (routes on bp)
