"""Alembic environment of the CleanApp store (configured from Python, no alembic.ini).

:func:`cleanapp_api.db.alembic_config` passes either an open SQLAlchemy connection
(``config.attributes["connection"]``) or a URL (``config.attributes["url"]``). The target
metadata is :data:`cleanapp_api.db.tables.metadata` (the library's tables and the
service's); tables that are not ours (PostGIS's ``spatial_ref_sys``, other services'
tables) are ignored by autogenerate.

The tables and the ``alembic_version`` table live in the connection's current schema (the
first existing schema of its ``search_path``). The version table is looked up there
explicitly: otherwise a store migrated in ``public`` would be *visible* through a search
path such as ``myschema,public`` and a fresh ``myschema`` would be taken as migrated.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from geoalchemy2 import alembic_helpers

from cleanapp_api.db.tables import metadata

config = context.config


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave alone reflected tables that the metadata does not declare."""
    return not (type_ == "table" and reflected and compare_to is None)


def _configure(**kwargs: Any) -> None:
    connection = kwargs.get("connection")
    if connection is not None:
        kwargs["version_table_schema"] = connection.exec_driver_sql(
            "SELECT current_schema()"
        ).scalar_one()
    context.configure(
        target_metadata=metadata,
        include_object=include_object,
        render_item=alembic_helpers.render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``)."""
    _configure(url=config.attributes.get("url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the given connection, or a short-lived engine on the given URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.attributes["url"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
