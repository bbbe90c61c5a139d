"""Workers of a GPU build report the SNARKs that went to the CPU (no GPU
kernel ran: no device, a driver too old, a kernel that failed), counted
since they started, in every heartbeat: ``ProverGpuFallback`` is raised from
this column while a worker's latest SNARK fell back. Additive only (a
nullable column): a 0.1.0 manager keeps running on this schema.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("gpu_fallback", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("gpu_fallback")
