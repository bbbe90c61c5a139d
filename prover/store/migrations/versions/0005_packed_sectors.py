"""Jobs store their sectors packed (``prover/store/sectorpack.py``) instead
of as JSON objects, about 75 kB instead of 385 kB for a 32GiB partition,
and carry their lowest and highest sector number. Two indexes keep lists
and the lifetime sweep off table scans at 50,000 jobs: one in list order
(close, id), one on the finish time.

Existing rows are converted in place, a few hundred at a time. On SQLite the
table is rebuilt to change the column's type; the AUTOINCREMENT counter is
carried over so that no id is ever handed out twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import json

import sqlalchemy as sa
from alembic import op

from prover.proofs.layout import SectorRef
from prover.store.sectorpack import pack, unpack

# as in prover/store/models.py, fixed here as a migration must be
NO_CLOSE = 1 << 62

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHUNK = 200


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _rewrite(source: str, target: str, convert) -> None:
    """Fills ``target`` from ``source`` for every job, in chunks by id."""
    conn = op.get_bind()
    last = -1
    while True:
        rows = conn.execute(
            sa.text(f"SELECT id, {source} FROM jobs WHERE id > :last ORDER BY id LIMIT {CHUNK}"),
            {"last": last},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text(
                f"UPDATE jobs SET {target} = :value, min_sector = :lo, max_sector = :hi"
                " WHERE id = :id"
            ),
            [convert(job_id, value) for job_id, value in rows],
        )
        last = rows[-1][0]


def _sqlite_sequence() -> int | None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return None
    return conn.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'")).scalar()


def _restore_sequence(seq: int | None) -> None:
    if seq is None:
        return
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'jobs'"))
    conn.execute(
        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', :seq)"), {"seq": seq}
    )


def _swap(new_type, *, drop: tuple[str, ...] = ()) -> None:
    """Drops ``sectors`` (and ``drop``) and renames ``sectors_new`` to it."""
    seq = _sqlite_sequence()
    with op.batch_alter_table("jobs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for name in ("sectors", *drop):
            batch.drop_column(name)
        batch.alter_column(
            "sectors_new", new_column_name="sectors", existing_type=new_type, nullable=False
        )
    _restore_sequence(seq)


def upgrade() -> None:
    # The sectors go last: SQLite keeps a row's columns in order, and any
    # column after a 75 kB value is reached by walking its overflow pages.
    op.add_column("jobs", sa.Column("min_sector", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("max_sector", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("sectors_new", sa.LargeBinary(), nullable=True))

    def convert(job_id, value):
        refs = [SectorRef.from_json(d) for d in _json(value)]
        ids = [r.id for r in refs]
        return {
            "id": job_id,
            "value": pack(refs),
            "lo": min(ids, default=None),
            "hi": max(ids, default=None),
        }

    _rewrite("sectors", "sectors_new", convert)
    _swap(sa.LargeBinary())
    op.create_index("ix_jobs_finished", "jobs", ["state", "finished_at"])
    op.create_index("ix_jobs_order", "jobs", [sa.text(f"coalesce(close_epoch, {NO_CLOSE})"), "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_order", "jobs")
    op.drop_index("ix_jobs_finished", "jobs")
    op.add_column("jobs", sa.Column("sectors_new", sa.JSON(), nullable=True))

    def convert(job_id, value):
        refs = unpack(bytes(value))
        value = json.dumps([r.to_json() for r in refs])
        return {"id": job_id, "value": value, "lo": None, "hi": None}

    _rewrite("sectors", "sectors_new", convert)
    _swap(sa.JSON(), drop=("min_sector", "max_sector"))
