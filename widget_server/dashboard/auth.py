"""Signing in and out, signing up (when the setting allows), and the language choice."""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from .. import accounts, db
from ..models import User, utcnow
from . import LAST_SEEN, Account, bp, check_limit, signed_in
from .forms import ChooseLang, Confirm, SignIn, SignUp
from .i18n import gettext as _

Page = str | Response


@bp.route("/signin", methods=["GET", "POST"])
def sign_in() -> Page:
    """:raise 429-like: too many attempts shows a message, not the dashboard."""
    form = SignIn()
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.site_list"))
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        client = request.remote_addr or "unknown"
        if not (check_limit("RATE_LIMIT_SIGNIN_CLIENT", client) and check_limit("RATE_LIMIT_SIGNIN_ACCOUNT", email)):
            form.password.errors.append(_("Too many attempts. Wait a few minutes and try again."))
            return render_template("dashboard/signin.html", form=form), 429  # type: ignore[return-value]
        user = accounts.authenticate(email, form.password.data or "")
        if user is None:
            form.password.errors.append(_("The email or the password is not right."))
        else:
            start_session(user)
            return redirect(url_for("dashboard.site_list"))
    elif form.errors.get("csrf_token"):
        form.password.errors.append(_("The form expired. Please try again."))
    return render_template("dashboard/signin.html", form=form, signup=current_app.config["SIGNUP"])


def start_session(user: User) -> None:
    """A fresh session (nothing carried over from before sign-in), its idle clock started."""
    session.clear()
    login_user(Account(user))
    session.permanent = True
    session[LAST_SEEN] = int(utcnow().timestamp())


@bp.post("/signout")
def sign_out() -> Page:
    """End every session of the account (the nonce in their ids changes)."""
    if Confirm(prefix="signout").validate_on_submit():
        accounts.end_sessions(signed_in())
        logout_user()
        session.clear()
    return redirect(url_for("dashboard.sign_in"))


@bp.route("/signup", methods=["GET", "POST"])
def sign_up() -> Page:
    """:raise 404: when ``SIGNUP`` is off (the default)."""
    if not current_app.config["SIGNUP"]:
        abort(404)
    form = SignUp()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data or "", form.password.data or "")
        except ValueError as exc:
            field = form.email if "email" in str(exc) else form.password
            field.errors.append(_(str(exc)))
        else:
            start_session(user)
            return redirect(url_for("dashboard.site_list"))
    elif form.errors.get("csrf_token"):
        form.password.errors.append(_("The form expired. Please try again."))
    return render_template("dashboard/signup.html", form=form)


@bp.post("/lang")
def choose_lang() -> Page:
    form = ChooseLang(prefix="lang")
    if form.validate_on_submit():
        signed_in().lang = form.lang.data or "en"
        db.session().commit()
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/dashboard/") else url_for("dashboard.site_list"))
