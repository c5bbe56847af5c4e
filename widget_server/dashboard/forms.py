"""The dashboard's forms. Each is a Flask-WTF form, so each carries and checks a CSRF token;
the values are checked by the same functions the CLI uses (``sites``, ``accounts``,
``tokens``), whose complaints are shown next to the field they concern."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from .. import tokens


class Confirm(FlaskForm):
    """A button and its CSRF token: sign-out, delete, revoke, rotate, move."""


class SignIn(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")


class SignUp(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")


class ChooseLang(FlaskForm):
    lang = SelectField("Language", choices=[("en", "English"), ("zh-CN", "简体中文")])


class SiteSettings(FlaskForm):
    """Everything about a site but its services (a reorderable list read from the request)."""

    name = StringField("Name")
    domains = TextAreaField("Domains")
    theme = SelectField("Theme", choices=[("auto", "auto"), ("light", "light"), ("dark", "dark")])
    size = SelectField("Size", choices=[("small", "small"), ("medium", "medium"), ("large", "large")])
    layout = SelectField("Layout", choices=[("inline", "inline"), ("float", "float")])
    lang = SelectField("Language of the bar", choices=[("", "page"), ("zh-CN", "简体中文"), ("zh-TW", "繁體中文"),
                                                      ("en", "English")])
    via = StringField("Via account")
    hashtags = StringField("Hashtags")
    verbs = StringField("Own verbs")
    retention_days = StringField("Keep actions for (days)")
    counts = BooleanField("Show counts")
    address_bar = BooleanField("Address-bar attribution")
    public_leaderboard = BooleanField("Public leaderboard")
    public_activity = BooleanField("Public recent activity")
    public_names = BooleanField("Show actors' names in the activity")
    anonymous_actions = BooleanField("Record anonymous actions")


class NewSite(FlaskForm):
    name = StringField("Name")
    domains = TextAreaField("Domains")


class AddMember(FlaskForm):
    email = EmailField("Email")
    role = SelectField("Role", choices=[("viewer", "viewer"), ("owner", "owner")])


class NewToken(FlaskForm):
    name = StringField("Name")
    scopes = SelectMultipleField("Scopes", choices=[(s, s) for s in tokens.SCOPES], default=["stats:read"],
                                 option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    expires = SelectField("Expires", choices=[("30d", "30d"), ("90d", "90d"), ("1y", "1y")], default="90d")
