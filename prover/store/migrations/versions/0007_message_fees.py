"""Messages record, once executed, the base fee they were charged at and
the fee they paid (attoFIL as decimal text).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = [
    sa.Column("base_fee", sa.String(40), nullable=True),
    sa.Column("fee_paid", sa.String(40), nullable=True),
]


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("messages", column)


def downgrade() -> None:
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
