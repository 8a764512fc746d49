"""Alembic environment for the job records.

Run by `JobStore` at start-up (`upgrade head`) on the connection it opened, so the
same migrations serve the embedded SQLite file and a shared PostgreSQL database.
`alembic -c <ini>` from the command line works too when sqlalchemy.url is set.
"""

from alembic import context
from sqlalchemy import engine_from_config, pool

from shotsmith.jobs.store import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


run()
