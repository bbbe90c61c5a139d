"""Several managers on one database: the managers that run (each heard from
every few seconds) and the lease under which one of them does the chain
work, with a term that only grows (the fencing token of every ledger write).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "managers",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), primary_key=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("http", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    leases = op.create_table(
        "leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), primary_key=True),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=True),
    )
    # The one row every manager competes for, there from the start, so that
    # taking it is always an UPDATE of a locked row (no insert race).
    never = datetime(1970, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        leases,
        [{"name": "chain", "holder": "", "term": 0, "acquired_at": never, "expires_at": never}],
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("managers")
