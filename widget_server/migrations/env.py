"""Alembic environment: runs against the engine the app passes in ``config.attributes``."""
from alembic import context

from widget_server.models import Base, is_partition

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration recreates a table; with foreign keys on, dropping a parent table
        # (sites) would cascade-delete its children. Outside a transaction, or it is ignored.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        # The event log's monthly partitions are made by the aggregator's upkeep, not here.
        include_name=lambda name, kind, _parents: not (kind == "table" and is_partition(name)),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
