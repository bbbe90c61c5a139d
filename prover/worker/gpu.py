"""GPU facts from NVML (nvidia-ml-py). No driver, no library, no device:
reported as no GPU, never a crash."""

from __future__ import annotations

import contextlib


def gpu_facts(visible: int | None = None) -> list[dict]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        indexes = range(pynvml.nvmlDeviceGetCount())
        if visible is not None:
            indexes = [visible]
        facts = []
        for i in indexes:
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            name = pynvml.nvmlDeviceGetName(h)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            facts.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "uuid": uuid.decode() if isinstance(uuid, bytes) else uuid,
                    "memory_total": int(mem.total),
                    "memory_used": int(mem.used),
                    "utilization": int(pynvml.nvmlDeviceGetUtilizationRates(h).gpu),
                    "temperature": int(
                        pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
                    ),
                }
            )
        return facts
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
