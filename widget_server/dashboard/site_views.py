"""Sites: the list, registering one, its settings with the snippet and live preview, its
members, its secret, deleting it."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from markupsafe import escape
from werkzeug.wrappers import Response

from .. import accounts, platforms, refusals, sites
from ..models import Site, utcnow
from . import bp, signed_in, site_for
from .forms import AddMember, Confirm, NewSite, SiteSettings
from .i18n import gettext as _
from .settings_form import FieldErrors, apply_site, read_services, reorder, site_changes

Page = str | Response | tuple[str, int]


@bp.get("/")
def site_list() -> Page:
    return render_template("dashboard/sites.html", sites=accounts.sites_of(signed_in().id), confirm=Confirm())


@bp.route("/sites/new", methods=["GET", "POST"])
def new_site() -> Page:
    form = NewSite()
    if form.validate_on_submit():
        errors = FieldErrors()
        name, domains = errors.name_and_domains(form.name.data or "", form.domains.data or "")
        if errors.attach(form):
            site = sites.create_site(name, domains)
            accounts.set_member(site.id, signed_in().email, "owner")
            return redirect(url_for("dashboard.edit_site", site_id=site.id))
    return render_template("dashboard/new_site.html", form=form), 400 if form.errors else 200


@bp.route("/sites/<int:site_id>/", methods=["GET", "POST"])
def edit_site(site_id: int) -> Page:
    """Settings of the site. A ``move`` button reorders the services and shows the result
    (in the preview too) without saving; ``save`` checks everything and saves all or nothing."""
    site, _role = site_for(site_id, "owner")
    posted = request.method == "POST"
    form = SiteSettings() if posted else settings_form(site)
    services, order = read_services(request.form) if posted else current_services(site)
    errors, status, code = FieldErrors(), "", 200
    if posted and form.validate_on_submit():
        move = request.form.get("move", "")
        if move:
            order = reorder(order, move)
            services = [s for s in order if s in services]
            status = _("Not saved yet: press Save to keep the new order.")
        elif request.form.get("preview"):
            status = _("Not saved yet: this is a preview. Press Save to keep these settings.")
        else:
            changes, errors = site_changes(form, services)
            if apply_site(site.id, form, changes, errors):
                return redirect(url_for("dashboard.edit_site", site_id=site.id, saved=1))
            code = 400
    elif posted:
        code = 400
    if request.args.get("saved"):
        status = _("Saved.")
    return render_template("dashboard/site.html", site=site, form=form, services=services, order=order,
                           status=status, snippet=snippet_of(site), preview=preview_attrs(form, services),
                           service_names=service_names(), services_error=errors.text("services")), code


def settings_form(site: Site) -> SiteSettings:
    bar = sites.bar_settings(site)
    form = SiteSettings(formdata=None, data={
        "name": site.name, "domains": "\n".join(site.domains), "theme": bar["theme"], "size": bar["size"],
        "layout": bar["layout"], "lang": bar["lang"] or "", "via": bar["via"],
        "hashtags": ", ".join(bar["hashtags"]), "verbs": ", ".join(bar["verbs"]),
        "retention_days": str(bar["retention_days"] or ""),
        **{flag: bar[flag] for flag in sites.FLAGS},
    })
    return form


def current_services(site: Site) -> tuple[list[str], list[str]]:
    """The site's services, and every service in the order shown: chosen ones first."""
    chosen = list(sites.bar_settings(site)["services"])
    return chosen, chosen + [s.id for s in platforms.SERVICES if s.id not in chosen]


def service_names() -> dict[str, str]:
    index = 2 if _("en") == "en" else 0
    return {s.id: s.names[index] for s in platforms.SERVICES}


def preview_attrs(form: SiteSettings, services: list[str]) -> dict[str, str]:
    """The unsaved settings as the ``data-`` attributes of the preview's bar."""
    attrs = {"services": ",".join(services), "theme": form.theme.data or "auto", "size": form.size.data or "medium",
             "layout": "inline", "counts": "true" if form.counts.data else "false",
             "via": form.via.data or "", "hashtags": form.hashtags.data or "",
             "url": "https://example.com/preview", "title": _("Preview of the share bar")}
    if form.lang.data:
        attrs["lang"] = form.lang.data
    return attrs


def snippet_of(site: Site) -> str:
    """The exact snippet: the server's public URL, the site's via account and hashtags."""
    bar = sites.bar_settings(site)
    extra = "".join(f' data-{name}="{escape(value)}"' for name, value in
                    (("via", bar["via"]), ("hashtags", ",".join(bar["hashtags"]))) if value)
    return sites.snippet(site, sites.public_url()).replace("<div data-sharebar>", f"<div data-sharebar{extra}>", 1)


@bp.route("/sites/<int:site_id>/members", methods=["GET", "POST"])
def members(site_id: int) -> Page:
    site, _role = site_for(site_id, "owner")
    form, remove, code = AddMember(), Confirm(prefix="remove"), 200
    if request.form.get("action") == "remove" and remove.validate_on_submit():
        code = remove_member(site.id, request.form.get("user_id", ""))
    elif request.form.get("action") == "add" and form.validate_on_submit():
        try:
            accounts.set_member(site.id, form.email.data or "", form.role.data or "viewer")
            return redirect(url_for("dashboard.members", site_id=site.id))
        except LookupError:
            form.email.errors.append(_("No account has this email. Ask them to get one first."))
            code = 400
        except ValueError:
            form.role.errors.append(_("A site keeps at least one owner."))
            code = 400
    elif request.method == "POST":
        code = 400
    remove_error = code == 400 and request.form.get("action") == "remove"
    return render_template("dashboard/members.html", site=site, form=form, remove=remove, remove_error=remove_error,
                           members=accounts.members_of(site.id)), code


def remove_member(site_id: int, raw_user: str) -> int:
    if not raw_user.isdigit():
        abort(404)
    try:
        accounts.remove_member(site_id, int(raw_user))
    except LookupError:
        abort(404)
    except ValueError:
        return 400
    return 200


@bp.route("/sites/<int:site_id>/secret", methods=["GET", "POST"])
def rotate_secret(site_id: int) -> Page:
    """The site key and secret, what replacing each breaks, and replacing the secret."""
    return key_page(site_id, "secret")


@bp.post("/sites/<int:site_id>/key")
def resign_key(site_id: int) -> Page:
    """Re-sign the site key (the other confirm button of the key and secret page)."""
    return key_page(site_id, "key")


REPLACE = {"secret": sites.rotate_secret, "key": sites.resign_key}


def key_page(site_id: int, what: str) -> tuple[str, int]:
    site, _role = site_for(site_id, "owner")
    form, done = Confirm(), ""
    if form.validate_on_submit():
        site, done = REPLACE[what](site.id), what
    return render_template("dashboard/secret.html", site=site, form=form, done=done,
                           snippet=snippet_of(site)), 400 if form.errors else 200


@bp.route("/sites/<int:site_id>/delete", methods=["GET", "POST"])
def delete_site(site_id: int) -> Page:
    site, _role = site_for(site_id, "owner")
    form = Confirm()
    if form.validate_on_submit():
        sites.delete_site(site.id)
        return redirect(url_for("dashboard.site_list"))
    return render_template("dashboard/delete.html", site=site, form=form), 400 if form.errors else 200



@bp.get("/sites/<int:site_id>/check")
def installation_check(site_id: int) -> Page:
    """Whether the bar has been seen on each domain, and why beacons were refused."""
    site, _role = site_for(site_id, "owner")
    found = refusals.check(site, utcnow().date())
    return render_template("dashboard/check.html", site=site, check=found, reasons=refusals.REASONS)
