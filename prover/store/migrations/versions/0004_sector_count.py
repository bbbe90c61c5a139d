"""Jobs carry their sector count, so that lists need not read the sectors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("sector_count", sa.Integer(), nullable=False, server_default="0"),
    )
    # json_array_length exists on both backends (SQLite's JSON1, PostgreSQL's json).
    op.execute("UPDATE jobs SET sector_count = json_array_length(sectors)")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sector_count")
