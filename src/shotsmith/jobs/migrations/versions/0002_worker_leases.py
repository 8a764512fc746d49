"""Worker leases: which worker holds a running job and when it last said so.

A job whose holder stops heart-beating for longer than the lease is taken back
and run by another worker (at-least-once across machines).

Revision ID: 0002_worker_leases
Revises: 0001_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_worker_leases"
down_revision = "0001_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("model", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("model")
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
