"""Storyboards: boards, their shots and the takes made for each shot (issue 23).

A take points at the job that renders it (its status and files stay the job's). Boards
belong to an owner (a key's SHA-256) exactly as jobs do.

Revision ID: 0004_boards
Revises: 0003_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_boards"
down_revision = "0003_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("fps", sa.Integer, nullable=False),
        sa.Column("style", sa.String(64), nullable=True),
        sa.Column("steps", sa.Integer, nullable=True),
        sa.Column("interpolation", sa.String(16), nullable=True),
        sa.Column("export", sa.JSON, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_boards_id", "boards", ["id"], unique=True)
    op.create_index("ix_boards_owner", "boards", ["owner"])
    op.create_table(
        "board_shots",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("board_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("prompt", sa.String, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("image", sa.String(64), nullable=True),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("style", sa.String(64), nullable=True),
        sa.Column("seed", sa.BigInteger, nullable=True),
        sa.Column("candidates", sa.Integer, nullable=False),
        sa.Column("picked_take_id", sa.String(40), nullable=True),
        sa.Column("pending", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_board_shots_id", "board_shots", ["id"], unique=True)
    op.create_index("ix_board_shots_board_id", "board_shots", ["board_id"])
    op.create_table(
        "board_takes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("board_id", sa.String(40), nullable=False),
        sa.Column("shot_id", sa.String(40), nullable=False),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_board_takes_id", "board_takes", ["id"], unique=True)
    op.create_index("ix_board_takes_board_id", "board_takes", ["board_id"])
    op.create_index("ix_board_takes_shot_id", "board_takes", ["shot_id"])


def downgrade() -> None:
    op.drop_table("board_takes")
    op.drop_table("board_shots")
    op.drop_table("boards")
