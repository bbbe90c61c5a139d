"""Misses, dry-run jobs and recovery messages.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from prover.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "messages",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="post"),
    )
    op.create_table(
        "misses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("miner", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("close_epoch", sa.BigInteger(), nullable=False),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("miner", "period_start", "deadline", "partition", name="uq_misses"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("misses")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("dry_run")
