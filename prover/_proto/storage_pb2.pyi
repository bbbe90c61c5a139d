from prover._proto import manager_pb2 as _manager_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChallengedSector(_message.Message):
    __slots__ = ("sector", "challenges")
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    CHALLENGES_FIELD_NUMBER: _ClassVar[int]
    sector: _manager_pb2.SectorRef
    challenges: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sector: _Optional[_Union[_manager_pb2.SectorRef, _Mapping]] = ..., challenges: _Optional[_Iterable[int]] = ...) -> None: ...

class VanillaRequest(_message.Message):
    __slots__ = ("miner", "proof_type", "sectors")
    MINER_FIELD_NUMBER: _ClassVar[int]
    PROOF_TYPE_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    miner: int
    proof_type: int
    sectors: _containers.RepeatedCompositeFieldContainer[ChallengedSector]
    def __init__(self, miner: _Optional[int] = ..., proof_type: _Optional[int] = ..., sectors: _Optional[_Iterable[_Union[ChallengedSector, _Mapping]]] = ...) -> None: ...

class VanillaResult(_message.Message):
    __slots__ = ("sector", "proof", "fault", "seconds")
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    sector: int
    proof: bytes
    fault: str
    seconds: float
    def __init__(self, sector: _Optional[int] = ..., proof: _Optional[bytes] = ..., fault: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ListSectorsRequest(_message.Message):
    __slots__ = ("miner",)
    MINER_FIELD_NUMBER: _ClassVar[int]
    miner: int
    def __init__(self, miner: _Optional[int] = ...) -> None: ...

class StorageListing(_message.Message):
    __slots__ = ("storage", "sealed", "cache", "update", "update_cache")
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_CACHE_FIELD_NUMBER: _ClassVar[int]
    storage: str
    sealed: _containers.RepeatedScalarFieldContainer[int]
    cache: _containers.RepeatedScalarFieldContainer[int]
    update: _containers.RepeatedScalarFieldContainer[int]
    update_cache: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, storage: _Optional[str] = ..., sealed: _Optional[_Iterable[int]] = ..., cache: _Optional[_Iterable[int]] = ..., update: _Optional[_Iterable[int]] = ..., update_cache: _Optional[_Iterable[int]] = ...) -> None: ...

class ListSectorsResponse(_message.Message):
    __slots__ = ("storages",)
    STORAGES_FIELD_NUMBER: _ClassVar[int]
    storages: _containers.RepeatedCompositeFieldContainer[StorageListing]
    def __init__(self, storages: _Optional[_Iterable[_Union[StorageListing, _Mapping]]] = ...) -> None: ...
