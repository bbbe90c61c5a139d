"""The dispute watch: each DisputeWindowedPoSt that landed against one of our
miners' PoSts (``post_disputes``), and an index to find the landed PoSts
still in their dispute window.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from prover.store.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_disputes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("miner", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Integer(), nullable=False),
        sa.Column("post_index", sa.BigInteger(), nullable=False),
        sa.Column("partitions", sa.JSON(), nullable=False),
        sa.Column("dispute_cid", sa.String(length=255), nullable=False),
        sa.Column("disputer", sa.String(length=255), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("post_cid", sa.String(length=255), nullable=False),
        sa.Column("workers", sa.JSON(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("dispute_cid", name="uq_post_disputes_cid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_post_disputes_epoch", "post_disputes", ["epoch"])
    op.create_index("ix_messages_landed", "messages", ["landed_epoch"])


def downgrade() -> None:
    op.drop_index("ix_messages_landed", table_name="messages")
    op.drop_index("ix_post_disputes_epoch", table_name="post_disputes")
    op.drop_table("post_disputes")
