"""Messages record how they were sent (sender, nonce, params, gas limit, fee
cap, premium), the gas they used, and the CIDs they had before being
replaced by fee.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = [
    sa.Column("sender", sa.String(255), nullable=False, server_default=""),
    sa.Column("nonce", sa.BigInteger(), nullable=True),
    sa.Column("params", sa.LargeBinary(), nullable=True),
    sa.Column("gas_limit", sa.BigInteger(), nullable=True),
    sa.Column("gas_fee_cap", sa.String(40), nullable=True),
    sa.Column("gas_premium", sa.String(40), nullable=True),
    sa.Column("gas_used", sa.BigInteger(), nullable=True),
    sa.Column("replaced_cids", sa.JSON(), nullable=False, server_default="[]"),
]


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("messages", column)


def downgrade() -> None:
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
