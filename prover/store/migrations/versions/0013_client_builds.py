"""Workers and storage hosts say which build they run and which API they
speak (release 0.2.0): ``prover workers list`` shows a worker's build (cpu or
cuda) with the NVIDIA driver a cuda build needs, and a manager can tell a
client too old to serve. Additive only (nullable columns), so a 0.1.0
manager keeps running on this schema during a rolling upgrade.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("build", sa.String(length=32), nullable=True))
    op.add_column("workers", sa.Column("driver_required", sa.String(length=32), nullable=True))
    op.add_column("workers", sa.Column("api_version", sa.Integer(), nullable=True))
    op.add_column("storage_hosts", sa.Column("api_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_hosts") as batch:
        batch.drop_column("api_version")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("api_version")
        batch.drop_column("driver_required")
        batch.drop_column("build")
