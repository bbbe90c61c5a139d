"""Values of the WindowPoSt domain: proof types, prover ids, randomness,
replicas and results. Pure Python; nothing here calls the native library."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prover.proofs.errors import InvalidInput

if TYPE_CHECKING:
    from prover.proofs.gpuuse import SnarkGpu

_SIZE_UNITS = {"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(KiB|MiB|GiB)\s*$", re.IGNORECASE)


def parse_sector_size(size: str | int) -> int:
    """``"2KiB"``, ``"32GiB"`` or a byte count, as bytes."""
    if isinstance(size, bool):
        raise InvalidInput(f"sector size must be a size like '2KiB' or bytes, not {size!r}")
    if isinstance(size, int):
        return size
    if isinstance(size, str):
        m = _SIZE_RE.match(size)
        if m:
            return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
        if size.strip().isdigit():
            return int(size.strip())
    raise InvalidInput(f"cannot read sector size {size!r}: use e.g. '2KiB', '32GiB' or bytes")


def format_sector_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


class PoStProofType(enum.Enum):
    """The five WindowPoSt sector sizes.

    The value is the chain's current id (``StackedDrgWindow*V1_1``, 10..14);
    the Rust proofs API names the same proofs ``...V1_2`` (filecoin-ffi maps
    one to the other), and ``api_name`` is that name.
    """

    WINDOW_2KIB = 10
    WINDOW_8MIB = 11
    WINDOW_512MIB = 12
    WINDOW_32GIB = 13
    WINDOW_64GIB = 14

    @property
    def chain_id(self) -> int:
        return self.value

    @property
    def chain_ids(self) -> tuple[int, int]:
        """Both chain ids of this size: ``V1`` (5..9, before the network
        upgrade that added ``V1_1``) and ``V1_1`` (10..14); one circuit, one
        set of parameters. The only place that knows how the two relate."""
        return (self.value - 5, self.value)

    @property
    def seal_proof_id(self) -> int:
        """The chain's ``RegisteredSealProof`` of sectors proven by this
        type (``StackedDrg*V1_1``, 5..9), as ``StateMinerSectors`` shows."""
        return self.value - 5

    @classmethod
    def same_size_ids(cls, chain_id: int) -> tuple[int, int]:
        """Both chain ids of the size ``chain_id`` names (either of them);
        an unknown id names only itself."""
        try:
            return cls.from_chain_id(chain_id).chain_ids
        except InvalidInput:
            return (chain_id, chain_id)

    @property
    def sector_size(self) -> int:
        return _INFO[self][0]

    @property
    def partition_sectors(self) -> int:
        """``WindowPoStPartitionSectors``: sectors proven by one SNARK."""
        return _INFO[self][1]

    @property
    def size_name(self) -> str:
        return format_sector_size(self.sector_size)

    @property
    def api_name(self) -> str:
        return f"StackedDrgWindow{self.size_name}V1_2"

    @property
    def chain_name(self) -> str:
        return f"StackedDrgWindow{self.size_name}V1_1"

    @classmethod
    def from_chain_id(cls, chain_id: int) -> PoStProofType:
        """Chain ids 5..9 (``V1``) and 10..14 (``V1_1``) name the same sizes."""
        if isinstance(chain_id, int) and not isinstance(chain_id, bool):
            for member in cls:
                if chain_id in member.chain_ids:
                    return member
        raise InvalidInput(f"unknown WindowPoSt proof type id {chain_id!r}: chain ids are 5..14")

    @classmethod
    def from_sector_size(cls, size: str | int) -> PoStProofType:
        nbytes = parse_sector_size(size)
        for member in cls:
            if member.sector_size == nbytes:
                return member
        known = ", ".join(m.size_name for m in cls)
        raise InvalidInput(f"no WindowPoSt proof type for sector size {size!r} (known: {known})")

    @classmethod
    def parse(cls, value: PoStProofType | str | int) -> PoStProofType:
        """Accepts a member, a chain id, a size (``"2KiB"``) or either name."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value in (member.api_name, member.chain_name, member.name):
                    return member
            return cls.from_sector_size(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.from_chain_id(value)
        raise InvalidInput(f"not a WindowPoSt proof type: {value!r}")

    def __str__(self) -> str:
        return self.size_name


# (sector size, WindowPoStPartitionSectors), as in the actors' policy.
_INFO: dict[PoStProofType, tuple[int, int]] = {
    PoStProofType.WINDOW_2KIB: (2 << 10, 2),
    PoStProofType.WINDOW_8MIB: (8 << 20, 2),
    PoStProofType.WINDOW_512MIB: (512 << 20, 2),
    PoStProofType.WINDOW_32GIB: (32 << 30, 2349),
    PoStProofType.WINDOW_64GIB: (64 << 30, 2300),
}


def leb128(value: int) -> bytes:
    """Unsigned LEB128, the payload encoding of Filecoin ID addresses."""
    if value < 0:
        raise InvalidInput(f"cannot encode negative value {value} as unsigned LEB128")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def prover_id(actor_id: int) -> bytes:
    """The 32-byte prover id of miner ``f0<actor_id>``: the ID address payload
    (LEB128 of the id) padded with zeros, as Lotus and filecoin-ffi build it."""
    if isinstance(actor_id, bool) or not isinstance(actor_id, int):
        raise InvalidInput(f"actor id must be an int, not {actor_id!r}")
    if not 0 <= actor_id < 1 << 63:
        raise InvalidInput(f"actor id {actor_id} is out of range (0 <= id < 2^63)")
    return leb128(actor_id).ljust(32, b"\0")


def mask_randomness(randomness: bytes) -> bytes:
    """Clears the top two bits so the randomness is a valid BLS12-381 scalar,
    as Lotus does before proving (``randomness[31] &= 0x3f``)."""
    if not isinstance(randomness, (bytes, bytearray)) or len(randomness) != 32:
        got = len(randomness) if isinstance(randomness, (bytes, bytearray)) else type(randomness)
        raise InvalidInput(f"randomness must be 32 bytes, got {got}")
    out = bytearray(randomness)
    out[31] &= 0x3F
    return bytes(out)


@dataclass(frozen=True)
class SectorReplica:
    """What proving needs of one sector: its number, comm_r, and files."""

    sector_id: int
    comm_r: bytes
    sealed_path: Path
    cache_dir: Path

    def __post_init__(self) -> None:
        if isinstance(self.sector_id, bool) or not isinstance(self.sector_id, int):
            raise InvalidInput(f"sector_id must be an int, not {self.sector_id!r}")
        if self.sector_id < 0:
            raise InvalidInput(f"sector_id must not be negative, got {self.sector_id}")
        if not isinstance(self.comm_r, bytes) or len(self.comm_r) != 32:
            raise InvalidInput(f"comm_r of sector {self.sector_id} must be 32 bytes")
        object.__setattr__(self, "sealed_path", Path(self.sealed_path))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @property
    def public(self) -> tuple[int, bytes]:
        return (self.sector_id, self.comm_r)


@dataclass(frozen=True)
class StepTimings:
    """Wall-clock seconds of each step of one partition proof."""

    challenges: float
    vanilla: float
    snark: float
    total: float

    def as_dict(self) -> dict[str, float]:
        return {
            "challenges": self.challenges,
            "vanilla": self.vanilla,
            "snark": self.snark,
            "total": self.total,
        }


@dataclass(frozen=True)
class PartitionProof:
    """One partition's SNARK and what it proves.

    ``public_sectors`` is exactly what ``verify_window_post`` must be given
    for this proof: the partition's good sectors in sector order (skipped
    ones left out, see ``prove_partition``).
    """

    proof_type: PoStProofType
    partition_index: int
    proof: bytes
    skipped: list[int]
    faults: dict[int, str]
    public_sectors: list[tuple[int, bytes]]
    timings: StepTimings
    # what the SNARK did with the GPU: a fallback to the CPU shows only here
    gpu: SnarkGpu | None = None
