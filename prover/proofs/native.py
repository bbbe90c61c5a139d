"""``prover._native``, loaded once for the proof core.

A build made with the ``cuda`` feature links the NVIDIA driver's
``libcuda.so.1`` (``cuda-driver-sys`` asks for ``-lcuda``), so on a machine
without the driver the dynamic loader refuses the whole module. That is
turned here into :class:`NativeUnavailable`, which names the missing driver,
instead of the loader's bare "cannot open shared object file". Where the
driver's library is there but no GPU can be used (no device, no kernel
module, ``CUDA_VISIBLE_DEVICES`` empty), the module loads and bellperson
proves on the CPU.

The module is loaded at its first use, not when ``prover.proofs`` is
imported: on a GPU host whose driver is missing, ``prover --version`` and
``prover doctor`` must still run and say so, and a manager's or storage
host's commands that never prove need not load it at all.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

__all__ = ["CUDA_DRIVER_MISSING", "NativeUnavailable", "_native", "load"]

CUDA_DRIVER_MISSING = (
    "this build of prover was made with CUDA (--features cuda) and needs the NVIDIA "
    "driver's libcuda.so.1, which is not installed: install the driver or build "
    "without cuda"
)


class NativeUnavailable(ImportError):
    """The native module cannot be loaded on this machine (an ImportError)."""


@functools.cache
def load() -> ModuleType:
    """The native module, loaded once; NativeUnavailable names a missing driver."""
    try:
        from prover import _native
    except ImportError as exc:
        if "libcuda.so" in str(exc):
            raise NativeUnavailable(f"{CUDA_DRIVER_MISSING} ({exc})") from exc
        raise
    return _native


class _LazyNative:
    """Stands for the module until an attribute is asked of it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(load(), name)


_native: Any = _LazyNative()
