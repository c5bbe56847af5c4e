"""Site secrets at rest: sealed in the database, opened with any configured key, resealed
under the first by ``db upgrade``, sealed by migration 0005 and opened by its downgrade."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from conftest import BeaconSender, make_app, register, table_rows
from test_actors import plain_token
from widget_server import db, signing, vault

OLD_KEY = "old-9fK2mQ7xR4tW8zB1nV5cL3hJ6pD0sG"
NEW_KEY = "new-3Tb8Yq1Lw6Ne2Hs9Kd4Xc7Vm0Rp5Zf"


def actor_beacon(app: Flask, site_key_owner: Any, secret: str) -> int:
    """Send an action signed with ``secret`` to ``app``; return the status."""
    beacon = BeaconSender(app.test_client(), site_key_owner)
    claims = {"site": site_key_owner.id, "uid": "u-1", "name": "Li Lei", "exp": int(time.time()) + 600}
    return beacon.action("like", actor=plain_token(claims, secret=secret)).status_code


def test_a_dump_of_the_database_holds_no_secret(app: Flask, database_url: str) -> None:
    site = register(app)
    stored = table_rows(app, "sites")[0].secret
    assert stored != site.secret and site.secret not in stored
    with app.app_context():
        assert vault.open_secret(stored) == site.secret
        db.engine().dispose()
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for part in path.parent.glob(path.name + "*"):
            assert site.secret.encode() not in part.read_bytes(), part


def test_actor_tokens_verify_across_a_key_rotation(database_url: str, tmp_path: Path) -> None:
    old = make_app(database_url, tmp_path, SECRET_KEYS=OLD_KEY)
    site = register(old)
    assert actor_beacon(old, site, site.secret) == 204
    sealed_by_old = table_rows(old, "sites")[0].secret
    old.extensions["widget_engine"].dispose()

    rotated = make_app(database_url, tmp_path, SECRET_KEYS=f"{NEW_KEY},{OLD_KEY}")  # make_app runs db upgrade
    assert actor_beacon(rotated, site, site.secret) == 204
    resealed = table_rows(rotated, "sites")[0].secret
    assert resealed != sealed_by_old
    assert vault.open_secret(resealed, [NEW_KEY]) == site.secret
    with pytest.raises(vault.SealedWithUnknownKey):
        vault.open_secret(resealed, [OLD_KEY])
    rotated.extensions["widget_engine"].dispose()

    dropped = make_app(database_url, tmp_path, SECRET_KEYS=NEW_KEY)
    assert table_rows(dropped, "sites")[0].secret == resealed  # already under the first key: left alone
    with dropped.app_context():
        site.key = signing.site_key(site.id)  # the old key signed the site key too: a new snippet
    assert actor_beacon(dropped, site, site.secret) == 204
    assert actor_beacon(dropped, site, "a-guessed-secret") == 401
    dropped.extensions["widget_engine"].dispose()


def test_dropping_a_key_before_resealing_is_said_plainly(database_url: str, tmp_path: Path) -> None:
    old = make_app(database_url, tmp_path, SECRET_KEYS=OLD_KEY)
    register(old)
    old.extensions["widget_engine"].dispose()
    with pytest.raises(vault.SealedWithUnknownKey, match="put that key back"):
        make_app(database_url, tmp_path, SECRET_KEYS=NEW_KEY)


def test_migration_0005_seals_plain_secrets_and_its_downgrade_opens_them(app: Flask) -> None:
    with app.app_context():
        db.downgrade("0004")
        with db.engine().begin() as conn:
            conn.execute(text("INSERT INTO sites (id, name, secret, domains, settings, created_at) VALUES "
                              "(7, 'Old', 'plain-old-secret', '[\"example.com\"]', '{}', '2026-01-01')"))
            conn.execute(text("INSERT INTO pages (id, site_id, url, url_hash, created_at) "
                              "VALUES (1, 7, 'https://example.com/', 'h', '2026-01-01')"))
        db.upgrade("0005")
    sealed = table_rows(app, "sites")[0].secret
    assert sealed != "plain-old-secret"
    with app.app_context():
        assert vault.open_secret(sealed) == "plain-old-secret"
        db.downgrade("0004")
    assert table_rows(app, "sites")[0].secret == "plain-old-secret"
    assert len(table_rows(app, "pages")) == 1  # recreating sites (SQLite) cascaded nothing away


@pytest.mark.parametrize("keys", [["k"], ["k", "other"]])
def test_each_key_derives_its_own_fernet_key(keys: list[str]) -> None:
    sealed = vault.seal("s3cret", keys)
    assert vault.open_secret(sealed, [*keys, "later"]) == "s3cret"
    assert vault.fernet_key("k") != vault.fernet_key("other")
    assert vault.fernet_key("k") == vault.fernet_key("k")
