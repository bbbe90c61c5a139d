"""Shadow mode: each partition a manager proves without sending, when its
proof would have gone, beside what the chain showed at Close.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from prover.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_partitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("miner", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("open_epoch", sa.BigInteger(), nullable=False),
        sa.Column("close_epoch", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("ready_epoch", sa.BigInteger(), nullable=True),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("chain_epoch", sa.BigInteger(), nullable=True),
        sa.Column("chain_cid", sa.String(length=128), nullable=False),
        sa.Column("chain_sender", sa.String(length=128), nullable=False),
        sa.Column("chain_exit_code", sa.Integer(), nullable=True),
        sa.Column("chain_faulty", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ready_at", UTCDateTime(), nullable=True),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("miner", "period_start", "deadline", "partition", name="uq_shadow"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_shadow_close", "shadow_partitions", ["close_epoch"])


def downgrade() -> None:
    op.drop_index("ix_shadow_close", table_name="shadow_partitions")
    op.drop_table("shadow_partitions")
