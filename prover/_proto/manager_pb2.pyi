import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SectorRef(_message.Message):
    __slots__ = ("id", "comm_r", "sealed_storage", "cache_storage", "upgraded")
    ID_FIELD_NUMBER: _ClassVar[int]
    COMM_R_FIELD_NUMBER: _ClassVar[int]
    SEALED_STORAGE_FIELD_NUMBER: _ClassVar[int]
    CACHE_STORAGE_FIELD_NUMBER: _ClassVar[int]
    UPGRADED_FIELD_NUMBER: _ClassVar[int]
    id: int
    comm_r: bytes
    sealed_storage: str
    cache_storage: str
    upgraded: bool
    def __init__(self, id: _Optional[int] = ..., comm_r: _Optional[bytes] = ..., sealed_storage: _Optional[str] = ..., cache_storage: _Optional[str] = ..., upgraded: _Optional[bool] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "miner", "proof_type", "period_start", "deadline", "partition", "generation", "challenge_epoch", "open_epoch", "close_epoch", "randomness", "sectors", "skipped", "state", "tries", "max_tries", "attempt", "worker", "created_at", "updated_at", "started_at", "heartbeat_at", "finished_at", "error", "proof", "faulty", "timings", "dry_run", "sector_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    MINER_FIELD_NUMBER: _ClassVar[int]
    PROOF_TYPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    OPEN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CLOSE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANDOMNESS_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIES_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    FAULTY_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    SECTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: int
    miner: int
    proof_type: int
    period_start: int
    deadline: int
    partition: int
    generation: int
    challenge_epoch: int
    open_epoch: int
    close_epoch: int
    randomness: bytes
    sectors: _containers.RepeatedCompositeFieldContainer[SectorRef]
    skipped: _containers.RepeatedScalarFieldContainer[int]
    state: str
    tries: int
    max_tries: int
    attempt: int
    worker: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    heartbeat_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    proof: bytes
    faulty: _containers.RepeatedScalarFieldContainer[int]
    timings: StepTimings
    dry_run: bool
    sector_count: int
    def __init__(self, id: _Optional[int] = ..., miner: _Optional[int] = ..., proof_type: _Optional[int] = ..., period_start: _Optional[int] = ..., deadline: _Optional[int] = ..., partition: _Optional[int] = ..., generation: _Optional[int] = ..., challenge_epoch: _Optional[int] = ..., open_epoch: _Optional[int] = ..., close_epoch: _Optional[int] = ..., randomness: _Optional[bytes] = ..., sectors: _Optional[_Iterable[_Union[SectorRef, _Mapping]]] = ..., skipped: _Optional[_Iterable[int]] = ..., state: _Optional[str] = ..., tries: _Optional[int] = ..., max_tries: _Optional[int] = ..., attempt: _Optional[int] = ..., worker: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., proof: _Optional[bytes] = ..., faulty: _Optional[_Iterable[int]] = ..., timings: _Optional[_Union[StepTimings, _Mapping]] = ..., dry_run: _Optional[bool] = ..., sector_count: _Optional[int] = ...) -> None: ...

class GpuInfo(_message.Message):
    __slots__ = ("index", "name", "uuid", "memory_total", "memory_used", "utilization", "temperature")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    uuid: str
    memory_total: int
    memory_used: int
    utilization: int
    temperature: int
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., uuid: _Optional[str] = ..., memory_total: _Optional[int] = ..., memory_used: _Optional[int] = ..., utilization: _Optional[int] = ..., temperature: _Optional[int] = ...) -> None: ...

class Worker(_message.Message):
    __slots__ = ("name", "host", "version", "gpus", "cpus", "cpuset", "allowed_miners", "allowed_proof_types", "registered_at", "last_seen_at", "draining", "running_jobs", "param_problems", "build", "driver_required", "api_version", "gpu_fallback")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    CPUSET_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MINERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROOF_TYPES_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    PARAM_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    DRIVER_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    GPU_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    version: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    cpus: int
    cpuset: str
    allowed_miners: _containers.RepeatedScalarFieldContainer[int]
    allowed_proof_types: _containers.RepeatedScalarFieldContainer[int]
    registered_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    draining: bool
    running_jobs: _containers.RepeatedScalarFieldContainer[int]
    param_problems: _containers.RepeatedCompositeFieldContainer[ParamProblem]
    build: str
    driver_required: str
    api_version: int
    gpu_fallback: GpuFallback
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., version: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ..., cpus: _Optional[int] = ..., cpuset: _Optional[str] = ..., allowed_miners: _Optional[_Iterable[int]] = ..., allowed_proof_types: _Optional[_Iterable[int]] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., draining: _Optional[bool] = ..., running_jobs: _Optional[_Iterable[int]] = ..., param_problems: _Optional[_Iterable[_Union[ParamProblem, _Mapping]]] = ..., build: _Optional[str] = ..., driver_required: _Optional[str] = ..., api_version: _Optional[int] = ..., gpu_fallback: _Optional[_Union[GpuFallback, _Mapping]] = ...) -> None: ...

class ParamProblem(_message.Message):
    __slots__ = ("proof_type", "file", "problem", "detail")
    PROOF_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    proof_type: int
    file: str
    problem: str
    detail: str
    def __init__(self, proof_type: _Optional[int] = ..., file: _Optional[str] = ..., problem: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("name", "host", "version", "gpus", "cpus", "cpuset", "allowed_miners", "allowed_proof_types", "param_problems", "build", "driver_required", "api_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    CPUSET_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MINERS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROOF_TYPES_FIELD_NUMBER: _ClassVar[int]
    PARAM_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    DRIVER_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    version: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    cpus: int
    cpuset: str
    allowed_miners: _containers.RepeatedScalarFieldContainer[int]
    allowed_proof_types: _containers.RepeatedScalarFieldContainer[int]
    param_problems: _containers.RepeatedCompositeFieldContainer[ParamProblem]
    build: str
    driver_required: str
    api_version: int
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., version: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ..., cpus: _Optional[int] = ..., cpuset: _Optional[str] = ..., allowed_miners: _Optional[_Iterable[int]] = ..., allowed_proof_types: _Optional[_Iterable[int]] = ..., param_problems: _Optional[_Iterable[_Union[ParamProblem, _Mapping]]] = ..., build: _Optional[str] = ..., driver_required: _Optional[str] = ..., api_version: _Optional[int] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "heartbeat_timeout_ms", "server_version", "api_version", "min_client_api")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIENT_API_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    server_version: str
    api_version: int
    min_client_api: int
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., heartbeat_timeout_ms: _Optional[int] = ..., server_version: _Optional[str] = ..., api_version: _Optional[int] = ..., min_client_api: _Optional[int] = ...) -> None: ...

class ClaimRequest(_message.Message):
    __slots__ = ("worker", "wait_ms", "exclude")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    worker: str
    wait_ms: int
    exclude: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, worker: _Optional[str] = ..., wait_ms: _Optional[int] = ..., exclude: _Optional[_Iterable[int]] = ...) -> None: ...

class ClaimResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class JobAttempt(_message.Message):
    __slots__ = ("job_id", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("worker", "jobs", "gpus", "gpu_fallback")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    worker: str
    jobs: _containers.RepeatedCompositeFieldContainer[JobAttempt]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    gpu_fallback: GpuFallback
    def __init__(self, worker: _Optional[str] = ..., jobs: _Optional[_Iterable[_Union[JobAttempt, _Mapping]]] = ..., gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ..., gpu_fallback: _Optional[_Union[GpuFallback, _Mapping]] = ...) -> None: ...

class GpuFallback(_message.Message):
    __slots__ = ("count", "gpu_snarks", "current", "reason", "last_at")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    GPU_SNARKS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_AT_FIELD_NUMBER: _ClassVar[int]
    count: int
    gpu_snarks: int
    current: bool
    reason: str
    last_at: _timestamp_pb2.Timestamp
    def __init__(self, count: _Optional[int] = ..., gpu_snarks: _Optional[int] = ..., current: _Optional[bool] = ..., reason: _Optional[str] = ..., last_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StopOrder(_message.Message):
    __slots__ = ("job_id", "attempt", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    attempt: int
    reason: str
    def __init__(self, job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("stop", "drain")
    STOP_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    stop: _containers.RepeatedCompositeFieldContainer[StopOrder]
    drain: bool
    def __init__(self, stop: _Optional[_Iterable[_Union[StopOrder, _Mapping]]] = ..., drain: _Optional[bool] = ...) -> None: ...

class StepTimings(_message.Message):
    __slots__ = ("challenges", "vanilla", "snark", "total")
    CHALLENGES_FIELD_NUMBER: _ClassVar[int]
    VANILLA_FIELD_NUMBER: _ClassVar[int]
    SNARK_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    challenges: float
    vanilla: float
    snark: float
    total: float
    def __init__(self, challenges: _Optional[float] = ..., vanilla: _Optional[float] = ..., snark: _Optional[float] = ..., total: _Optional[float] = ...) -> None: ...

class FinishRequest(_message.Message):
    __slots__ = ("worker", "job_id", "attempt", "success", "proof", "faulty", "error", "timings")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    FAULTY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    worker: str
    job_id: int
    attempt: int
    success: bool
    proof: bytes
    faulty: _containers.RepeatedScalarFieldContainer[int]
    error: str
    timings: StepTimings
    def __init__(self, worker: _Optional[str] = ..., job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., success: _Optional[bool] = ..., proof: _Optional[bytes] = ..., faulty: _Optional[_Iterable[int]] = ..., error: _Optional[str] = ..., timings: _Optional[_Union[StepTimings, _Mapping]] = ...) -> None: ...

class FinishResponse(_message.Message):
    __slots__ = ("duplicate", "state")
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    state: str
    def __init__(self, duplicate: _Optional[bool] = ..., state: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("worker", "job_id", "attempt", "reason")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    worker: str
    job_id: int
    attempt: int
    reason: str
    def __init__(self, worker: _Optional[str] = ..., job_id: _Optional[int] = ..., attempt: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: str
    def __init__(self, state: _Optional[str] = ...) -> None: ...

class StorageHost(_message.Message):
    __slots__ = ("name", "address", "storages", "host", "version", "tls", "registered_at", "last_seen_at", "live")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STORAGES_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    storages: _containers.RepeatedScalarFieldContainer[str]
    host: str
    version: str
    tls: bool
    registered_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    live: bool
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., storages: _Optional[_Iterable[str]] = ..., host: _Optional[str] = ..., version: _Optional[str] = ..., tls: _Optional[bool] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., live: _Optional[bool] = ...) -> None: ...

class AnnounceStorageRequest(_message.Message):
    __slots__ = ("name", "address", "storages", "host", "version", "tls", "api_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STORAGES_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    storages: _containers.RepeatedScalarFieldContainer[str]
    host: str
    version: str
    tls: bool
    api_version: int
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., storages: _Optional[_Iterable[str]] = ..., host: _Optional[str] = ..., version: _Optional[str] = ..., tls: _Optional[bool] = ..., api_version: _Optional[int] = ...) -> None: ...

class AnnounceStorageResponse(_message.Message):
    __slots__ = ("interval_ms", "timeout_ms", "api_version", "min_client_api")
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIENT_API_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    timeout_ms: int
    api_version: int
    min_client_api: int
    def __init__(self, interval_ms: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., api_version: _Optional[int] = ..., min_client_api: _Optional[int] = ...) -> None: ...

class LocateStorageRequest(_message.Message):
    __slots__ = ("storages",)
    STORAGES_FIELD_NUMBER: _ClassVar[int]
    storages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, storages: _Optional[_Iterable[str]] = ...) -> None: ...

class LocateStorageResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[StorageHost]
    def __init__(self, hosts: _Optional[_Iterable[_Union[StorageHost, _Mapping]]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "miner", "deadline", "all", "include_proof", "include_sectors", "page_size", "page_token", "ids")
    STATES_FIELD_NUMBER: _ClassVar[int]
    MINER_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PROOF_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SECTORS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[str]
    miner: int
    deadline: int
    all: bool
    include_proof: bool
    include_sectors: bool
    page_size: int
    page_token: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, states: _Optional[_Iterable[str]] = ..., miner: _Optional[int] = ..., deadline: _Optional[int] = ..., all: _Optional[bool] = ..., include_proof: _Optional[bool] = ..., include_sectors: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class NewJob(_message.Message):
    __slots__ = ("miner", "proof_type", "period_start", "deadline", "partition", "challenge_epoch", "open_epoch", "close_epoch", "randomness", "sectors", "skipped", "max_tries")
    MINER_FIELD_NUMBER: _ClassVar[int]
    PROOF_TYPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    OPEN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CLOSE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    RANDOMNESS_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIES_FIELD_NUMBER: _ClassVar[int]
    miner: int
    proof_type: int
    period_start: int
    deadline: int
    partition: int
    challenge_epoch: int
    open_epoch: int
    close_epoch: int
    randomness: bytes
    sectors: _containers.RepeatedCompositeFieldContainer[SectorRef]
    skipped: _containers.RepeatedScalarFieldContainer[int]
    max_tries: int
    def __init__(self, miner: _Optional[int] = ..., proof_type: _Optional[int] = ..., period_start: _Optional[int] = ..., deadline: _Optional[int] = ..., partition: _Optional[int] = ..., challenge_epoch: _Optional[int] = ..., open_epoch: _Optional[int] = ..., close_epoch: _Optional[int] = ..., randomness: _Optional[bytes] = ..., sectors: _Optional[_Iterable[_Union[SectorRef, _Mapping]]] = ..., skipped: _Optional[_Iterable[int]] = ..., max_tries: _Optional[int] = ...) -> None: ...

class AddJobsRequest(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[NewJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[NewJob, _Mapping]]] = ...) -> None: ...

class AddJobsResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class JobIdsRequest(_message.Message):
    __slots__ = ("ids", "all")
    IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    all: bool
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., all: _Optional[bool] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("id", "ok", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    ok: bool
    reason: str
    def __init__(self, id: _Optional[int] = ..., ok: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class JobResultsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[JobResult]
    def __init__(self, results: _Optional[_Iterable[_Union[JobResult, _Mapping]]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers", "leader")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[Worker]
    leader: Leader
    def __init__(self, workers: _Optional[_Iterable[_Union[Worker, _Mapping]]] = ..., leader: _Optional[_Union[Leader, _Mapping]] = ...) -> None: ...

class ManagerInfo(_message.Message):
    __slots__ = ("name", "address", "http", "live", "last_seen_age_s", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AGE_S_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    http: str
    live: bool
    last_seen_age_s: float
    version: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., http: _Optional[str] = ..., live: _Optional[bool] = ..., last_seen_age_s: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...

class Leader(_message.Message):
    __slots__ = ("name", "address", "term", "expires_in_s", "answered_by", "managers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    term: int
    expires_in_s: float
    answered_by: str
    managers: _containers.RepeatedCompositeFieldContainer[ManagerInfo]
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., term: _Optional[int] = ..., expires_in_s: _Optional[float] = ..., answered_by: _Optional[str] = ..., managers: _Optional[_Iterable[_Union[ManagerInfo, _Mapping]]] = ...) -> None: ...

class DrainWorkerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DrainWorkerResponse(_message.Message):
    __slots__ = ("ok",)
    OK_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    def __init__(self, ok: _Optional[bool] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("version", "database", "jobs_by_state", "workers", "uptime_s", "current_epoch", "leader", "commit", "build", "api_version", "min_client_api", "schema", "schema_head")
    class JobsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    JOBS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    CURRENT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    MIN_CLIENT_API_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_HEAD_FIELD_NUMBER: _ClassVar[int]
    version: str
    database: str
    jobs_by_state: _containers.ScalarMap[str, int]
    workers: int
    uptime_s: float
    current_epoch: int
    leader: Leader
    commit: str
    build: str
    api_version: int
    min_client_api: int
    schema: str
    schema_head: str
    def __init__(self, version: _Optional[str] = ..., database: _Optional[str] = ..., jobs_by_state: _Optional[_Mapping[str, int]] = ..., workers: _Optional[int] = ..., uptime_s: _Optional[float] = ..., current_epoch: _Optional[int] = ..., leader: _Optional[_Union[Leader, _Mapping]] = ..., commit: _Optional[str] = ..., build: _Optional[str] = ..., api_version: _Optional[int] = ..., min_client_api: _Optional[int] = ..., schema: _Optional[str] = ..., schema_head: _Optional[str] = ...) -> None: ...

class DeadlinesRequest(_message.Message):
    __slots__ = ("miner",)
    MINER_FIELD_NUMBER: _ClassVar[int]
    miner: int
    def __init__(self, miner: _Optional[int] = ...) -> None: ...

class PartitionStatus(_message.Message):
    __slots__ = ("partition", "job_id", "job_state", "generation", "sectors", "skipped", "faulty", "worker", "message_cid", "message_state", "error")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_STATE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    FAULTY_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    partition: int
    job_id: int
    job_state: str
    generation: int
    sectors: int
    skipped: _containers.RepeatedScalarFieldContainer[int]
    faulty: _containers.RepeatedScalarFieldContainer[int]
    worker: str
    message_cid: str
    message_state: str
    error: str
    def __init__(self, partition: _Optional[int] = ..., job_id: _Optional[int] = ..., job_state: _Optional[str] = ..., generation: _Optional[int] = ..., sectors: _Optional[int] = ..., skipped: _Optional[_Iterable[int]] = ..., faulty: _Optional[_Iterable[int]] = ..., worker: _Optional[str] = ..., message_cid: _Optional[str] = ..., message_state: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ChainMessage(_message.Message):
    __slots__ = ("cid", "kind", "deadline", "partitions", "state", "pushed_epoch", "landed_epoch", "exit_code", "error", "sender", "nonce", "gas_limit", "gas_fee_cap", "gas_premium", "gas_used", "replaced_cids", "base_fee", "fee_paid")
    CID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PUSHED_EPOCH_FIELD_NUMBER: _ClassVar[int]
    LANDED_EPOCH_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    GAS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    GAS_FEE_CAP_FIELD_NUMBER: _ClassVar[int]
    GAS_PREMIUM_FIELD_NUMBER: _ClassVar[int]
    GAS_USED_FIELD_NUMBER: _ClassVar[int]
    REPLACED_CIDS_FIELD_NUMBER: _ClassVar[int]
    BASE_FEE_FIELD_NUMBER: _ClassVar[int]
    FEE_PAID_FIELD_NUMBER: _ClassVar[int]
    cid: str
    kind: str
    deadline: int
    partitions: _containers.RepeatedScalarFieldContainer[int]
    state: str
    pushed_epoch: int
    landed_epoch: int
    exit_code: int
    error: str
    sender: str
    nonce: int
    gas_limit: int
    gas_fee_cap: str
    gas_premium: str
    gas_used: int
    replaced_cids: _containers.RepeatedScalarFieldContainer[str]
    base_fee: str
    fee_paid: str
    def __init__(self, cid: _Optional[str] = ..., kind: _Optional[str] = ..., deadline: _Optional[int] = ..., partitions: _Optional[_Iterable[int]] = ..., state: _Optional[str] = ..., pushed_epoch: _Optional[int] = ..., landed_epoch: _Optional[int] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ..., sender: _Optional[str] = ..., nonce: _Optional[int] = ..., gas_limit: _Optional[int] = ..., gas_fee_cap: _Optional[str] = ..., gas_premium: _Optional[str] = ..., gas_used: _Optional[int] = ..., replaced_cids: _Optional[_Iterable[str]] = ..., base_fee: _Optional[str] = ..., fee_paid: _Optional[str] = ...) -> None: ...

class ShadowRequest(_message.Message):
    __slots__ = ("miner", "limit")
    MINER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    miner: int
    limit: int
    def __init__(self, miner: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ShadowPartition(_message.Message):
    __slots__ = ("miner", "period_start", "deadline", "partition", "open", "close", "job_id", "ready_epoch", "skipped", "chain_epoch", "chain_cid", "chain_sender", "chain_exit_code", "chain_faulty", "outcome")
    MINER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    READY_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CHAIN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    CHAIN_CID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_SENDER_FIELD_NUMBER: _ClassVar[int]
    CHAIN_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FAULTY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    miner: int
    period_start: int
    deadline: int
    partition: int
    open: int
    close: int
    job_id: int
    ready_epoch: int
    skipped: _containers.RepeatedScalarFieldContainer[int]
    chain_epoch: int
    chain_cid: str
    chain_sender: str
    chain_exit_code: int
    chain_faulty: _containers.RepeatedScalarFieldContainer[int]
    outcome: str
    def __init__(self, miner: _Optional[int] = ..., period_start: _Optional[int] = ..., deadline: _Optional[int] = ..., partition: _Optional[int] = ..., open: _Optional[int] = ..., close: _Optional[int] = ..., job_id: _Optional[int] = ..., ready_epoch: _Optional[int] = ..., skipped: _Optional[_Iterable[int]] = ..., chain_epoch: _Optional[int] = ..., chain_cid: _Optional[str] = ..., chain_sender: _Optional[str] = ..., chain_exit_code: _Optional[int] = ..., chain_faulty: _Optional[_Iterable[int]] = ..., outcome: _Optional[str] = ...) -> None: ...

class ShadowResponse(_message.Message):
    __slots__ = ("shadow", "partitions")
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    shadow: bool
    partitions: _containers.RepeatedCompositeFieldContainer[ShadowPartition]
    def __init__(self, shadow: _Optional[bool] = ..., partitions: _Optional[_Iterable[_Union[ShadowPartition, _Mapping]]] = ...) -> None: ...

class Miss(_message.Message):
    __slots__ = ("miner", "period_start", "deadline", "partition", "close_epoch", "sectors", "reason", "recorded_at")
    MINER_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    miner: int
    period_start: int
    deadline: int
    partition: int
    close_epoch: int
    sectors: _containers.RepeatedScalarFieldContainer[int]
    reason: str
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, miner: _Optional[int] = ..., period_start: _Optional[int] = ..., deadline: _Optional[int] = ..., partition: _Optional[int] = ..., close_epoch: _Optional[int] = ..., sectors: _Optional[_Iterable[int]] = ..., reason: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadlineStatus(_message.Message):
    __slots__ = ("miner", "index", "period_start", "challenge", "open", "close", "fault_cutoff", "is_open", "seconds_to_close", "partitions", "messages", "submit_error")
    MINER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    FAULT_CUTOFF_FIELD_NUMBER: _ClassVar[int]
    IS_OPEN_FIELD_NUMBER: _ClassVar[int]
    SECONDS_TO_CLOSE_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_ERROR_FIELD_NUMBER: _ClassVar[int]
    miner: int
    index: int
    period_start: int
    challenge: int
    open: int
    close: int
    fault_cutoff: int
    is_open: bool
    seconds_to_close: float
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionStatus]
    messages: _containers.RepeatedCompositeFieldContainer[ChainMessage]
    submit_error: str
    def __init__(self, miner: _Optional[int] = ..., index: _Optional[int] = ..., period_start: _Optional[int] = ..., challenge: _Optional[int] = ..., open: _Optional[int] = ..., close: _Optional[int] = ..., fault_cutoff: _Optional[int] = ..., is_open: _Optional[bool] = ..., seconds_to_close: _Optional[float] = ..., partitions: _Optional[_Iterable[_Union[PartitionStatus, _Mapping]]] = ..., messages: _Optional[_Iterable[_Union[ChainMessage, _Mapping]]] = ..., submit_error: _Optional[str] = ...) -> None: ...

class DeadlinesResponse(_message.Message):
    __slots__ = ("current_epoch", "deadlines", "misses", "leader")
    CURRENT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    DEADLINES_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    current_epoch: int
    deadlines: _containers.RepeatedCompositeFieldContainer[DeadlineStatus]
    misses: _containers.RepeatedCompositeFieldContainer[Miss]
    leader: Leader
    def __init__(self, current_epoch: _Optional[int] = ..., deadlines: _Optional[_Iterable[_Union[DeadlineStatus, _Mapping]]] = ..., misses: _Optional[_Iterable[_Union[Miss, _Mapping]]] = ..., leader: _Optional[_Union[Leader, _Mapping]] = ...) -> None: ...

class ProveDeadlineRequest(_message.Message):
    __slots__ = ("miner", "deadline")
    MINER_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    miner: int
    deadline: int
    def __init__(self, miner: _Optional[int] = ..., deadline: _Optional[int] = ...) -> None: ...

class ProveDeadlineResponse(_message.Message):
    __slots__ = ("job_ids", "period_start", "challenge_epoch", "unprovable")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    UNPROVABLE_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[int]
    period_start: int
    challenge_epoch: int
    unprovable: _containers.RepeatedCompositeFieldContainer[Miss]
    def __init__(self, job_ids: _Optional[_Iterable[int]] = ..., period_start: _Optional[int] = ..., challenge_epoch: _Optional[int] = ..., unprovable: _Optional[_Iterable[_Union[Miss, _Mapping]]] = ...) -> None: ...

class ListStorageHostsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStorageHostsResponse(_message.Message):
    __slots__ = ("hosts",)
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedCompositeFieldContainer[StorageHost]
    def __init__(self, hosts: _Optional[_Iterable[_Union[StorageHost, _Mapping]]] = ...) -> None: ...

class CheckSectorsRequest(_message.Message):
    __slots__ = ("miner", "deadline", "slow_s")
    MINER_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    SLOW_S_FIELD_NUMBER: _ClassVar[int]
    miner: int
    deadline: int
    slow_s: float
    def __init__(self, miner: _Optional[int] = ..., deadline: _Optional[int] = ..., slow_s: _Optional[float] = ...) -> None: ...

class SectorCheck(_message.Message):
    __slots__ = ("deadline", "partition", "sector", "status", "reason", "seconds", "served_by")
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    deadline: int
    partition: int
    sector: int
    status: str
    reason: str
    seconds: float
    served_by: str
    def __init__(self, deadline: _Optional[int] = ..., partition: _Optional[int] = ..., sector: _Optional[int] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., seconds: _Optional[float] = ..., served_by: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AlertInfo(_message.Message):
    __slots__ = ("name", "labels", "summary", "details", "severity", "starts_at")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    summary: str
    details: _containers.ScalarMap[str, str]
    severity: str
    starts_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., summary: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ..., severity: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[AlertInfo]
    def __init__(self, alerts: _Optional[_Iterable[_Union[AlertInfo, _Mapping]]] = ...) -> None: ...
