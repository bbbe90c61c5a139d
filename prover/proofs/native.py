"""``prover._native``, loaded once for the proof core.

A build made with the ``cuda`` feature links the NVIDIA driver's
``libcuda.so.1`` (``cuda-driver-sys`` asks for ``-lcuda``), so on a machine
without the driver the dynamic loader refuses the whole module. That is
turned here into :class:`NativeUnavailable`, which names the missing driver,
instead of the loader's bare "cannot open shared object file". Where the
driver's library is there but no GPU can be used (no device, no kernel
module, ``CUDA_VISIBLE_DEVICES`` empty), the module loads and bellperson
proves on the CPU.
"""

from __future__ import annotations

__all__ = ["CUDA_DRIVER_MISSING", "NativeUnavailable", "_native"]

CUDA_DRIVER_MISSING = (
    "this build of prover was made with CUDA (--features cuda) and needs the NVIDIA "
    "driver's libcuda.so.1, which is not installed: install the driver or build "
    "without cuda"
)


class NativeUnavailable(ImportError):
    """The native module cannot be loaded on this machine (an ImportError)."""


def _load():
    try:
        from prover import _native
    except ImportError as exc:
        if "libcuda.so" in str(exc):
            raise NativeUnavailable(f"{CUDA_DRIVER_MISSING} ({exc})") from exc
        raise
    return _native


_native = _load()
