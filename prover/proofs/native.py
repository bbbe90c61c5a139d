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

Loading it also installs its logger (``native/src/logbridge.rs``): the
``log`` records of bellperson, filecoin-proofs and rust-gpu-tools come to
the Python logger ``prover.native.<target>`` and from there into the
structured log as ``native_log`` events (``target``, ``message``), warnings
and errors by default; ``PROVER_NATIVE_LOG`` (``RUST_LOG``'s syntax, e.g.
``warn,bellperson=info``) asks for more. Without this a CUDA build that
falls back to the CPU said nothing at all.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

__all__ = ["CUDA_DRIVER_MISSING", "NATIVE_LOGGER", "NativeUnavailable", "_native", "load"]

# the Python logger the native module's records come under (logbridge.rs' PREFIX)
NATIVE_LOGGER = "prover.native"

CUDA_DRIVER_MISSING = (
    "this build of prover was made with CUDA (--features cuda or supraseal) and needs "
    "the NVIDIA driver's libcuda.so.1, which is not installed: install the driver or "
    "build without cuda"
)


class NativeUnavailable(ImportError):
    """The native module cannot be loaded on this machine (an ImportError)."""


class _IntoStructlog(logging.Handler):
    """A native record as a ``native_log`` event of the structured log, with
    its Rust target (``bellperson::gpu::locks``) and message."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from prover.logs import get_logger

            target = record.name.removeprefix(NATIVE_LOGGER + ".").replace(".", "::")
            get_logger(NATIVE_LOGGER).log(
                max(record.levelno, logging.DEBUG),
                "native_log",
                target=target,
                message=record.getMessage(),
            )
        except Exception:
            self.handleError(record)


def route_native_log() -> None:
    """Sends ``prover.native`` records into the structured log, once. The
    level is left open here: the native side filters (``PROVER_NATIVE_LOG``),
    and it caches each logger's level at its first record, so this must run
    before the module loads."""
    logger = logging.getLogger(NATIVE_LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # not also through the root logger's last resort
    if not any(isinstance(h, _IntoStructlog) for h in logger.handlers):
        logger.addHandler(_IntoStructlog())


@functools.cache
def load() -> ModuleType:
    """The native module, loaded once; NativeUnavailable names a missing driver."""
    route_native_log()
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
