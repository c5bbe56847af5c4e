"""From the site form to checked changes: plain functions, so tests call them without a page.

Every value is checked by ``sites`` (the path ``widget-server sites set`` takes) before
anything is saved; each complaint is kept against the field it concerns, in words an owner
can act on, so the page shows it beside that field and saves nothing.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask_wtf import FlaskForm

from .. import platforms, sites
from .i18n import gettext as _

MAX_DOMAINS = 20
SEPARATORS = re.compile(r"[\s,，]+")
MESSAGES = {
    "name": "Give the site a name of 1 to 200 characters, without < or >.",
    "domains": "Give at least one domain, like example.com.",
    "bad-domain": "“{value}” is not a domain name like example.com.",
    "twice": "“{value}” is listed twice.",
    "many-domains": "At most 20 domains.",
    "services": "Choose at least one service.",
    "via": "An account name: letters, digits, _ . and - only.",
    "hashtags": "At most 10 tags of letters, digits and _ (no # or spaces inside a tag).",
    "verbs": "Verbs are lower-case words of 2 to 32 letters, digits, _ or -, separated by commas.",
    "retention_days": "A whole number of days (1 or more), or empty to keep every action.",
}


class FieldErrors(dict[str, tuple[str, dict[str, str]]]):
    """Field name -> (message key, values for its ``{fields}``)."""

    def add(self, field: str, key: str, **values: str) -> None:
        self.setdefault(field, (key, values))

    def text(self, field: str) -> str:
        if field not in self:
            return ""
        key, values = self[field]
        return _(MESSAGES[key], **values)

    def attach(self, form: FlaskForm) -> bool:
        """Put each message on its form field; True when there were none."""
        for field in self:
            if field in form:
                form[field].errors = [*form[field].errors, self.text(field)]
        return not self

    def name_and_domains(self, name: str, raw: str) -> tuple[str, list[str]]:
        """The cleaned name and domains, noting what is wrong with them."""
        name = name.strip()
        if not name or len(name) > 200 or "<" in name or ">" in name:
            self.add("name", "name")
        domains: list[str] = []
        for item in (part for part in SEPARATORS.split(raw) if part):
            try:
                domain = sites.clean_domain(item)
            except ValueError:
                self.add("domains", "bad-domain", value=item[:80])
                continue
            if domain in domains:
                self.add("domains", "twice", value=domain)
            domains.append(domain)
        if not domains:
            self.add("domains", "domains")
        elif len(domains) > MAX_DOMAINS:
            self.add("domains", "many-domains")
        return name, domains


def read_services(form: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The chosen services in the order shown, and that whole order (known ids only)."""
    getlist = getattr(form, "getlist")
    order = list(dict.fromkeys(s for s in getlist("order") if s in platforms.SERVICE_IDS))
    order += [s.id for s in platforms.SERVICES if s.id not in order]
    chosen = set(getlist("services"))
    return [s for s in order if s in chosen], order


def reorder(order: list[str], move: str) -> list[str]:
    """``order`` with one service moved: ``move`` is ``"<id>:up"`` or ``"<id>:down"``."""
    service, _sep, direction = move.partition(":")
    if service not in order or direction not in ("up", "down"):
        return order
    index = order.index(service)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(order):
        return order
    moved = list(order)
    moved[index], moved[other] = moved[other], moved[index]
    return moved


def words(raw: str) -> list[str]:
    return [part.lstrip("#") for part in SEPARATORS.split(raw.strip()) if part]


def site_changes(form: Any, services: list[str]) -> tuple[dict[str, Any], FieldErrors]:
    """The settings the form asks for, each checked by ``sites.check_setting``."""
    errors = FieldErrors()
    wanted: dict[str, Any] = {
        "services": services, "theme": form.theme.data, "size": form.size.data, "layout": form.layout.data,
        "lang": form.lang.data or None, "via": (form.via.data or "").strip().lstrip("@"),
        "hashtags": words(form.hashtags.data or ""), "verbs": words(form.verbs.data or ""),
        **{flag: bool(form[flag].data) for flag in sites.FLAGS},
    }
    days = (form.retention_days.data or "").strip()
    wanted["retention_days"] = int(days) if days.isdigit() and len(days) < 7 else (None if not days else days)
    changes: dict[str, Any] = {}
    for name, value in wanted.items():
        try:
            changes[name] = sites.check_setting(name, value)
        except ValueError:
            errors.add(name, name if name in MESSAGES else "services")
    return changes, errors


def apply_site(site_id: int, form: Any, changes: dict[str, Any], errors: FieldErrors) -> bool:
    """Save name, domains and settings when all are right; else note why and save nothing."""
    name, domains = errors.name_and_domains(form.name.data or "", form.domains.data or "")
    if not errors.attach(form):
        return False
    sites.update_site(site_id, name, domains)
    sites.update_settings(site_id, changes)
    return True
