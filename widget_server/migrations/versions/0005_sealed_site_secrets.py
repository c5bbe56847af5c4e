"""Site secrets sealed at rest (see widget_server/vault.py): the column widens to hold a
Fernet token, and every plain secret is sealed with the first of WIDGET_SECRET_KEYS; the
downgrade opens them again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import context, op
import sqlalchemy as sa

from widget_server import vault

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SITES = sa.table("sites", sa.column("id", sa.Integer()), sa.column("secret", sa.String()))


def rewrite(change) -> None:  # type: ignore[no-untyped-def]
    conn = op.get_bind()
    for site_id, secret in conn.execute(sa.select(SITES.c.id, SITES.c.secret)).all():
        conn.execute(sa.update(SITES).where(SITES.c.id == site_id).values(secret=change(secret)))


def upgrade() -> None:
    keys = context.config.attributes["secret_keys"]
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("secret", type_=sa.String(255), existing_type=sa.String(100), existing_nullable=False)
    rewrite(lambda plain: vault.seal(plain, keys))


def downgrade() -> None:
    keys = context.config.attributes["secret_keys"]
    rewrite(lambda sealed: vault.open_secret(sealed, keys))
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("secret", type_=sa.String(100), existing_type=sa.String(255), existing_nullable=False)
