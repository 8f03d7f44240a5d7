"""Alembic environment of the registry: run with the connection the registry gives.

:meth:`Registry.upgrade` puts an open connection in ``config.attributes["connection"]``;
offline (``--sql``) runs use ``config.attributes["url"]`` to pick the SQL dialect.
Deliberately no ``logging.fileConfig``: this runs inside the Buildbot master.
"""

from __future__ import annotations

from alembic import context

from buildbot_modules.registry.schema import VERSION_TABLE, metadata

config = context.config


def run_offline() -> None:
    """Write the migrations' SQL for the dialect of ``attributes["url"]``."""
    context.configure(
        url=config.attributes.get("url") or config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the connection the registry opened."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run the registry's migrations with Registry(url).upgrade() (it passes a connection)"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
