"""Gallery search in SQL: each job's lower-cased prompts and its seeds, kept beside it.

The studio's search (every word in the prompt or the enhanced prompt, or equal to a
seed) used to read up to 2,000 records into Python per request. These two columns
let `JobStore.search` do it in one WHERE clause with the same results; lower-casing
happens in Python on write, so every language folds alike on SQLite and PostgreSQL.

Revision ID: 0003_search
Revises: 0002_worker_leases
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_search"
down_revision = "0002_worker_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from shotsmith.jobs.store import search_keys, search_text

    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("search_text", sa.String, nullable=True))
        batch.add_column(sa.Column("search_keys", sa.String, nullable=True))
    jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("spec", sa.JSON), sa.column("seeds", sa.JSON),
                    sa.column("enhanced_prompt", sa.String), sa.column("search_text", sa.String),
                    sa.column("search_keys", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(jobs.c.id, jobs.c.spec, jobs.c.seeds, jobs.c.enhanced_prompt)).all()
    for job_id, spec, seeds, enhanced in rows:
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(
            search_text=search_text(spec or {}, enhanced), search_keys=search_keys(list(seeds or []))))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("search_keys")
        batch.drop_column("search_text")
