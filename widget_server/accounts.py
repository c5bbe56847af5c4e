"""Dashboard accounts: users with argon2id password hashes, and their roles on sites.

A password is never stored or logged: only its argon2id hash. Each user row carries a
``session_nonce`` that is part of every session's id (``"<id>:<nonce>"``); a new nonce
(sign-out, a new password) ends every session of that user on every device at once.

Roles: ``owner`` (everything about the site) and ``viewer`` (its charts only). The
``users`` commands create accounts and reset passwords from the terminal, as sign-up is off
by default.
"""
from __future__ import annotations

import re
import secrets
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from . import db
from .models import Member, Site, User

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ROLES = ("owner", "viewer")
PASSWORD_MIN, PASSWORD_MAX = 10, 200
EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,189}\.[A-Za-z]{2,63}$")


@cache
def hasher() -> PasswordHasher:
    """argon2id's hasher, made at first use: only signing in and setting a password hash, and a
    web worker that serves beacons would otherwise load argon2 and hash at boot."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs the same time as a
    wrong password and timing does not tell which accounts exist."""
    return hasher().hash(secrets.token_urlsafe(16))


@cache
def common_passwords() -> frozenset[str]:
    text = files("widget_server").joinpath("common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def clean_email(raw: str) -> str:
    """The address in lower case; ValueError when it does not look like one."""
    email = raw.strip().lower()
    if not EMAIL.match(email):
        raise ValueError("Enter an email address like name@example.com.")
    return email


def check_password(password: str, email: str = "") -> str:
    """``password`` when it is acceptable; ValueError saying what is wrong otherwise."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"Use at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"Use at most {PASSWORD_MAX} characters.")
    lowered, local = password.lower(), email.split("@")[0]
    if lowered in common_passwords() or len(set(lowered)) < 3 or (len(local) >= 4 and local in lowered):
        raise ValueError("This password is too common or too easy to guess; choose another.")
    return password


def user_by_email(email: str) -> User | None:
    return db.session().scalar(select(User).where(User.email == email.strip().lower()))


def create_user(email: str, password: str, lang: str = "en") -> User:
    """A new account; ValueError for a bad or taken email or a weak password."""
    address = clean_email(email)
    check_password(password, address)
    if user_by_email(address) is not None:
        raise ValueError("An account with this email exists already.")
    user = User(email=address, password_hash=hasher().hash(password), session_nonce=secrets.token_hex(16), lang=lang)
    session = db.session()
    session.add(user)
    session.commit()
    return user


def set_password(email: str, password: str) -> User:
    """Give the account a new password, ending its sessions; LookupError / ValueError."""
    user = user_by_email(email)
    if user is None:
        raise LookupError(f"no account with email {email}")
    check_password(password, user.email)
    user.password_hash = hasher().hash(password)
    user.session_nonce = secrets.token_hex(16)
    db.session().commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The account when the password is right, else None (in about the same time)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    dummy = dummy_hash()  # made before the lookup: a process's first sign-in costs the same either way
    user = user_by_email(email)
    try:
        hasher().verify(user.password_hash if user else dummy, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
        db.session().commit()
    return user


def end_sessions(user: User) -> None:
    """Every session of the user ends now (their ids carry the old nonce)."""
    user.session_nonce = secrets.token_hex(16)
    db.session().commit()


def user_from_session_id(session_id: str) -> User | None:
    """The user of a session id ``"<id>:<nonce>"`` while the nonce is current."""
    raw_id, _, nonce = session_id.partition(":")
    if not raw_id.isdigit() or not nonce:
        return None
    user = db.session().get(User, int(raw_id))
    if user is None or not secrets.compare_digest(user.session_nonce, nonce):
        return None
    return user


# -- members --------------------------------------------------------------------------------


def role_of(user_id: int, site_id: int) -> str | None:
    member = db.session().get(Member, (site_id, user_id))
    return member.role if member else None


def sites_of(user_id: int) -> list[tuple[Site, str]]:
    """The user's sites with their role, by id."""
    rows = db.session().execute(
        select(Site, Member.role).join(Member, Member.site_id == Site.id)
        .where(Member.user_id == user_id).order_by(Site.id))
    return [(site, role) for site, role in rows]


def members_of(site_id: int) -> list[tuple[User, str]]:
    rows = db.session().execute(
        select(User, Member.role).join(Member, Member.user_id == User.id)
        .where(Member.site_id == site_id).order_by(User.email))
    return [(user, role) for user, role in rows]


def set_member(site_id: int, email: str, role: str) -> User:
    """Give the account with ``email`` ``role`` on the site (replacing any role it had).

    :raise LookupError: no such account or site. :raise ValueError: an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    user = user_by_email(email)
    if user is None:
        raise LookupError(f"no account with email {email.strip()}")
    session = db.session()
    if session.get(Site, site_id) is None:
        raise LookupError(f"no site with id {site_id}")
    member = session.get(Member, (site_id, user.id))
    if member is None:
        session.add(Member(site_id=site_id, user_id=user.id, role=role))
    else:
        if member.role == "owner" and role != "owner" and owner_count(site_id) == 1:
            raise ValueError("A site keeps at least one owner.")
        member.role = role
    session.commit()
    return user


def owner_count(site_id: int) -> int:
    return int(db.session().scalar(select(func.count()).select_from(Member)
                                   .where(Member.site_id == site_id, Member.role == "owner")) or 0)


def remove_member(site_id: int, user_id: int) -> None:
    """Take the user off the site; ValueError when that would leave it without an owner."""
    session = db.session()
    member = session.get(Member, (site_id, user_id))
    if member is None:
        raise LookupError("not a member")
    if member.role == "owner" and owner_count(site_id) == 1:
        raise ValueError("A site keeps at least one owner.")
    session.delete(member)
    session.commit()


# -- commands -------------------------------------------------------------------------------

users_group = AppGroup("users", help="Dashboard accounts.")


def ask_password(password: str | None) -> str:
    if password is not None:
        return password
    entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--password", help="Asked for (hidden) when left out.")
def users_create(email: str, password: str | None) -> None:
    """Create a dashboard account."""
    try:
        user = create_user(email, ask_password(password))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"account {user.id} created for {user.email}")


@users_group.command("set-password")
@click.option("--email", required=True)
@click.option("--password", help="Asked for (hidden) when left out.")
def users_set_password(email: str, password: str | None) -> None:
    """Give an account a new password; its sessions end."""
    try:
        user = set_password(email, ask_password(password))
    except (LookupError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"password of {user.email} changed; its sessions have ended")
