"""Alembic environment: runs against the engine the app passes in ``config.attributes``."""
from alembic import context

from widget_server.models import Base, is_partition

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=lambda name, kind, _parents: not (kind == "table" and is_partition(name)),
    )
    with context.begin_transaction():
        context.run_migrations()
