"""Workers record the parameter files their start-up check found wrong
(``prover params check --quick``): no job of those proof types is handed to
them, and ``prover workers list`` names the files.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "workers", sa.Column("param_problems", sa.JSON(), nullable=False, server_default="[]")
    )


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("param_problems")
