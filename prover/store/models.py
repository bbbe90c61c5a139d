"""SQL tables. Changes go through migrations (``prover/store/migrations``);
the models and the newest migration must describe the same schema, which a
test checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    literal_column,
)
from sqlalchemy import func as sql_func
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from prover.proofs.layout import SectorRef
from prover.store.sectorpack import pack, unpack
from prover.store.states import MessageKind

# SQLite autoincrements only an INTEGER PRIMARY KEY (the rowid alias).
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both backends (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the job store; times are UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SectorList(TypeDecorator):
    """A job's sectors: ``SectorRef`` records in Python, packed bytes in the
    database (``prover/store/sectorpack.py``, about 32 bytes a sector). The
    one place the stored form is read or written."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: list[SectorRef] | None, dialect: Any) -> bytes | None:
        return None if value is None else pack(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> list[SectorRef] | None:
        return None if value is None else unpack(bytes(value))


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class JobRow(SQLModel, table=True):
    """One partition of one deadline to prove."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint(
            "miner", "period_start", "deadline", "partition", "generation", name="uq_jobs_partition"
        ),
        Index("ix_jobs_claim", "state", "close_epoch", "partition"),
        Index("ix_jobs_worker", "worker"),
        # the lifetime sweep finds old finished jobs without a table scan
        Index("ix_jobs_finished", "state", "finished_at"),
        # Never reuse an id: a stale worker's (job id, attempt) must not
        # match a new job that took a removed job's id.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True))
    miner: int = Field(sa_column=Column(BigInteger, nullable=False))
    proof_type: int
    period_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    deadline: int
    partition: int
    generation: int = 0
    challenge_epoch: int | None = Field(default=None, sa_column=Column(BigInteger))
    open_epoch: int | None = Field(default=None, sa_column=Column(BigInteger))
    close_epoch: int | None = Field(default=None, sa_column=Column(BigInteger))
    randomness: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sectors: list[SectorRef] = Field(sa_column=Column(SectorList, nullable=False))
    # len(sectors), kept so that lists and counts never read the sectors
    sector_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    # the lowest and highest sector number, which decide whether partitions
    # may share a message, so that submitting never reads the sectors either
    min_sector: int | None = Field(default=None, sa_column=Column(BigInteger))
    max_sector: int | None = Field(default=None, sa_column=Column(BigInteger))
    skipped: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=16)
    tries: int = 0
    max_tries: int = 2
    attempt: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    finished_attempt: int | None = Field(default=None, sa_column=Column(BigInteger))
    worker: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    started_at: datetime | None = _ts()
    heartbeat_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    error: str | None = None
    proof: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    faulty: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    timings: dict | None = Field(default=None, sa_column=Column(JSON(none_as_null=True)))
    # A dry run (``prover deadlines prove``): proven and verified like any
    # job, never submitted, never the tracker's job for its deadline.
    dry_run: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


# The sort key of a job without a close epoch: after every real one.
NO_CLOSE = 1 << 62
# Lists go in (close, id) order, page after page from a key: this index
# walks them in order (a literal, not a parameter, so that both databases
# match the query's expression to the index's).
JOB_ORDER = sql_func.coalesce(JobRow.__table__.c.close_epoch, literal_column(str(NO_CLOSE)))
Index("ix_jobs_order", JOB_ORDER, JobRow.__table__.c.id)


class WorkerRow(SQLModel, table=True):
    """A worker process as it registered, and when it was last heard from."""

    __tablename__ = "workers"

    name: str = Field(primary_key=True, max_length=255)
    host: str = ""
    version: str = ""
    gpus: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cpus: int = 0
    cpuset: str = ""
    allowed_miners: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    allowed_proof_types: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    registered_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)
    draining: bool = False
    # the files its start-up check found wrong, as {proof_type, file,
    # problem, detail}: no job of those proof types is handed to it
    param_problems: list[dict] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # release 0.2.0 on (migration 0013); None for a worker of 0.1.0
    build: str | None = Field(default=None, max_length=32)  # cpu or cuda
    driver_required: str | None = Field(default=None, max_length=32)
    api_version: int | None = None
    # a GPU build's SNARKs that went to the CPU, as its last heartbeat said:
    # {count, gpu_snarks, current, reason, last_at} (migration 0014); None
    # from a cpu build or an older worker
    gpu_fallback: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class MessageRow(SQLModel, table=True):
    """A message the tracker pushed to a miner actor: which partitions it
    carries, and what became of it on chain."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_deadline", "miner", "period_start", "deadline"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True))
    miner: int = Field(sa_column=Column(BigInteger, nullable=False))
    period_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    deadline: int
    partitions: list[int] = Field(sa_column=Column(JSON, nullable=False))
    job_ids: list[int] = Field(sa_column=Column(JSON, nullable=False))
    cid: str = Field(max_length=255)
    # a MessageKind; a recovery's ``deadline`` is the deadline declared for
    kind: str = Field(
        default=MessageKind.POST.value,
        sa_column=Column(String(16), nullable=False, server_default=MessageKind.POST.value),
    )
    state: str = Field(max_length=16)  # a MessageState
    pushed_epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    landed_epoch: int | None = Field(default=None, sa_column=Column(BigInteger))
    exit_code: int | None = None
    error: str | None = None
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    # How it was sent (empty for messages the node priced and signed itself):
    # enough to replace it by fee with the same nonce. Token amounts are
    # attoFIL as decimal text (they outgrow 64 bits).
    sender: str = Field(
        default="", sa_column=Column(String(255), nullable=False, server_default="")
    )
    nonce: int | None = Field(default=None, sa_column=Column(BigInteger))
    params: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    gas_limit: int | None = Field(default=None, sa_column=Column(BigInteger))
    gas_fee_cap: str | None = Field(default=None, sa_column=Column(String(40)))
    gas_premium: str | None = Field(default=None, sa_column=Column(String(40)))
    gas_used: int | None = Field(default=None, sa_column=Column(BigInteger))
    # once executed: the base fee it was charged at (its tipset's
    # ParentBaseFee) and what it cost the sender (burns and miner tip)
    base_fee: str | None = Field(default=None, sa_column=Column(String(40)))
    fee_paid: str | None = Field(default=None, sa_column=Column(String(40)))
    # CIDs this message had before it was replaced by fee, oldest first
    replaced_cids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class MissRow(SQLModel, table=True):
    """A partition of a deadline that closed without an accepted proof, and
    why: what an operator reads first after a missed WindowPoSt."""

    __tablename__ = "misses"
    __table_args__ = (
        UniqueConstraint("miner", "period_start", "deadline", "partition", name="uq_misses"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True))
    miner: int = Field(sa_column=Column(BigInteger, nullable=False))
    period_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    deadline: int
    partition: int
    close_epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    sectors: list[int] = Field(sa_column=Column(JSON, nullable=False))
    reason: str
    recorded_at: datetime = _ts(nullable=False)


class StorageHostRow(SQLModel, table=True):
    """A storage host (``prover-storage``) as it last announced itself: where
    its StorageService answers and which storages it attaches. Its
    announcements are its heartbeat: ``last_seen_at`` says whether it is live."""

    __tablename__ = "storage_hosts"

    name: str = Field(primary_key=True, max_length=255)
    address: str = Field(max_length=255)
    storages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    host: str = ""
    version: str = ""
    tls: bool = False
    registered_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)
    api_version: int | None = None  # migration 0013; None for a host of 0.1.0


class ManagerRow(SQLModel, table=True):
    """A manager process on this database, as it last said it was alive:
    where its API and HTTP listeners are, so that operators and standbys can
    name the leader and say where to reach it."""

    __tablename__ = "managers"

    name: str = Field(primary_key=True, max_length=255)
    address: str = Field(max_length=255)
    http: str = Field(default="", max_length=255)
    host: str = ""
    pid: int = 0
    version: str = ""
    started_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)


class LeaseRow(SQLModel, table=True):
    """A lease the managers compete for (one row, ``chain``): its holder
    does the chain work until ``expires_at``; ``term`` grows by one at each
    change of holder (and at a holder's own retake after a lapse), and every
    ledger write checks it in its own transaction."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255)
    term: int = Field(sa_column=Column(BigInteger, nullable=False))
    acquired_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    # the leader's head at its last renewal: the epoch standbys work at
    epoch: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ShadowRow(SQLModel, table=True):
    """A partition proven in shadow mode (``[chain] shadow``): when our
    verified proof would have gone, beside what the chain shows at Close
    (the existing system's PoSt, the faults the chain has). One row per
    partition and deadline turn; ``outcome`` is empty until its Close."""

    __tablename__ = "shadow_partitions"
    __table_args__ = (
        UniqueConstraint("miner", "period_start", "deadline", "partition", name="uq_shadow"),
        Index("ix_shadow_close", "close_epoch"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True))
    miner: int = Field(sa_column=Column(BigInteger, nullable=False))
    period_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    deadline: int
    partition: int
    open_epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    close_epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    job_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # the epoch our proof was verified and would have been pushed; None: never
    ready_epoch: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # sectors our proof left out (not found, or found faulty by the worker)
    skipped: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # what the chain shows, read after Close
    chain_epoch: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    chain_cid: str = Field(default="", max_length=128)
    chain_sender: str = Field(default="", max_length=128)
    chain_exit_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    chain_faulty: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # both, ours_only, chain_only, neither ("" before Close)
    outcome: str = Field(default="", max_length=16)
    ready_at: datetime | None = _ts(nullable=True)
    settled_at: datetime | None = _ts(nullable=True)


class DisputeRow(SQLModel, table=True):
    """A ``DisputeWindowedPoSt`` that landed (exit code 0) against one of our
    miners for a deadline turn in which we had a PoSt on chain: the chain
    verified an optimistically accepted PoSt again and found it invalid, so
    its partitions' sectors are faulty and the miner was penalised. One row
    per dispute message (``prover.store.disputes``)."""

    __tablename__ = "post_disputes"
    __table_args__ = (
        UniqueConstraint("dispute_cid", name="uq_post_disputes_cid"),
        Index("ix_post_disputes_epoch", "epoch"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(ID_TYPE, primary_key=True))
    miner: int = Field(sa_column=Column(BigInteger, nullable=False))
    period_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    deadline: int
    # the index into the deadline's optimistically accepted PoSts it named
    post_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    # the partitions of the PoSt at that index (as the chain's PoSts of the
    # turn map it; empty when they could not be told)
    partitions: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dispute_cid: str = Field(max_length=255)
    disputer: str = Field(max_length=255)
    # where StateSearchMsg found the dispute executed
    epoch: int = Field(sa_column=Column(BigInteger, nullable=False))
    # our PoSt message it names ("" when the PoSt at that index was not one
    # of ours), and the workers whose proofs that message carried
    post_cid: str = Field(default="", max_length=255)
    workers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime = _ts(nullable=False)


# The dispute watch follows landed PoSts by the epoch they landed at.
Index("ix_messages_landed", MessageRow.__table__.c.landed_epoch)
