"""Partner tokens and the Atom feed URL of a site.

A token is listed (and can be revoked) here only when it names this site and every site it
names is one the account owns: revoking never takes access away from someone else's site.
"""
from __future__ import annotations

from flask import render_template, request
from werkzeug.wrappers import Response

from .. import accounts, feeds, sites, tokens
from ..models import ApiToken
from . import bp, signed_in, site_for
from .forms import Confirm, NewToken
from .i18n import gettext as _

Page = str | Response | tuple[str, int]


def owned_site_ids() -> set[int]:
    return {site.id for site, role in accounts.sites_of(signed_in().id) if role == "owner"}


def tokens_of(site_id: int) -> list[ApiToken]:
    owned = owned_site_ids()
    return [row for row in tokens.all_tokens() if site_id in row.site_ids and set(row.site_ids) <= owned]


@bp.route("/sites/<int:site_id>/tokens", methods=["GET", "POST"])
def site_tokens(site_id: int) -> Page:
    """Create (the token shown once), list and revoke the site's partner tokens."""
    site, _role = site_for(site_id, "owner")
    form, revoke, created, code = NewToken(), Confirm(prefix="revoke"), None, 200
    if request.form.get("action") == "revoke" and revoke.validate_on_submit():
        raw = request.form.get("token_id", "")
        found = [row for row in tokens_of(site.id) if raw.isdigit() and row.id == int(raw)]
        if not found:
            code = 404
        else:
            tokens.revoke(found[0].id)
    elif request.form.get("action") == "create" and form.validate_on_submit():
        name = (form.name.data or "").strip()
        if len(name) > 200 or "<" in name or ">" in name:
            form.name.errors.append(_("A name of at most 200 characters, without < or >."))
            code = 400
        elif not form.scopes.data:
            form.scopes.errors.append(_("Choose at least one scope."))
            code = 400
        else:
            _row, created = tokens.issue([site.id], form.scopes.data, tokens.parse_duration(form.expires.data or "90d"),
                                         name)
    elif request.method == "POST":
        code = 400
    return render_template("dashboard/tokens.html", site=site, form=form, revoke=revoke, created=created,
                           rows=[(row, tokens.status(row)) for row in tokens_of(site.id)]), code


@bp.route("/sites/<int:site_id>/feed", methods=["GET", "POST"])
def feed_url(site_id: int) -> Page:
    """The site's Atom feed URL (a secret: its token is in it); revoking gives a new one."""
    site, _role = site_for(site_id, "owner")
    form, revoked = Confirm(), False
    if form.validate_on_submit():
        feeds.revoke_feeds(site)
        revoked = True
    url = f"{sites.public_url()}/api/v1/feed.atom?token={feeds.feed_token(site)}"
    return render_template("dashboard/feed.html", site=site, form=form, url=url, revoked=revoked), (
        400 if form.errors else 200)
