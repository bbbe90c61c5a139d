"""Initial schema: jobs and workers.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("miner", sa.BigInteger(), nullable=False),
        sa.Column("proof_type", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("challenge_epoch", sa.BigInteger(), nullable=True),
        sa.Column("open_epoch", sa.BigInteger(), nullable=True),
        sa.Column("close_epoch", sa.BigInteger(), nullable=True),
        sa.Column("randomness", sa.LargeBinary(), nullable=False),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.BigInteger(), nullable=False),
        sa.Column("finished_attempt", sa.BigInteger(), nullable=True),
        sa.Column("worker", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.Column("faulty", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(none_as_null=True), nullable=True),
        sa.UniqueConstraint(
            "miner", "period_start", "deadline", "partition", "generation", name="uq_jobs_partition"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "close_epoch", "partition"])
    op.create_index("ix_jobs_worker", "jobs", ["worker"])
    op.create_table(
        "workers",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), primary_key=True),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("gpus", sa.JSON(), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("cpuset", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("allowed_miners", sa.JSON(), nullable=False),
        sa.Column("allowed_proof_types", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("ix_jobs_worker", table_name="jobs")
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.drop_table("jobs")
