"""The dashboard's forms. Each is a Flask-WTF form, so each carries and checks a CSRF token;
the values are checked by the same functions the CLI uses (``sites``, ``accounts``,
``tokens``), whose complaints are shown next to the field they concern."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

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
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from .. import tokens
from .i18n import gettext


def options(*pairs: tuple[str, str]) -> list[SelectChoice]:
    """A select field's choices from (value, label) pairs, as WTForms declares them since 3.3
    (plain tuples are deprecated there, and go in 3.4)."""
    return [SelectChoice(value, label) for value, label in pairs]


class Localised(FlaskForm):
    """A form whose choices are labelled in the owner's language (the values stay as the
    settings spell them)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for field in self:
            if isinstance(field, SelectField) and field.choices is not None:
                field.choices = [replace(choice, label=gettext(choice.label)) for choice in field.choices]


class Confirm(FlaskForm):
    """A button and its CSRF token: sign-out, delete, revoke, rotate, move."""


class SignIn(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")


class SignUp(FlaskForm):
    email = EmailField("Email")
    password = PasswordField("Password")


class ChooseLang(FlaskForm):
    lang = SelectField("Language", choices=options(("en", "English"), ("zh-CN", "简体中文")))


class SiteSettings(Localised):
    """Everything about a site but its services (a reorderable list read from the request)."""

    name = StringField("Name")
    domains = TextAreaField("Domains")
    theme = SelectField("Theme", choices=options(("auto", "Automatic"), ("light", "Light"), ("dark", "Dark")))
    size = SelectField("Size", choices=options(("small", "Small"), ("medium", "Medium"), ("large", "Large")))
    layout = SelectField("Layout", choices=options(("inline", "Inline"), ("float", "Floating")))
    lang = SelectField("Language of the bar", choices=options(("", "The page's language"), ("zh-CN", "简体中文"),
                                                             ("zh-TW", "繁體中文"), ("en", "English")))
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


class AddMember(Localised):
    email = EmailField("Email")
    role = SelectField("Role", choices=options(("viewer", "Viewer"), ("owner", "Owner")))


class NewToken(Localised):
    name = StringField("Name")
    scopes = SelectMultipleField("Scopes", choices=options(*((s, s) for s in tokens.SCOPES)),
                                 default=["stats:read"], option_widget=CheckboxInput(),
                                 widget=ListWidget(prefix_label=False))
    expires = SelectField("Expires", choices=options(("30d", "30 days"), ("90d", "90 days"), ("1y", "1 year")),
                          default="90d")
