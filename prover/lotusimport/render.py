"""Writing our config from a lotus-miner import: the shared writer
(prover.configimport.render), its errors as this import's."""

from __future__ import annotations

from prover.configimport import ConfigImportError
from prover.configimport import render as render_config
from prover.lotusimport.model import ImportResult, LotusImportError


def render(result: ImportResult, default_text: str, header: str = "") -> str:
    """The default config text with each imported key set in place, a
    comment above it saying where it came from; the storages appended; the
    Lotus keys not carried over listed at the end."""
    try:
        return render_config(
            result, default_text, header, "lotus-miner settings not carried over, and why:"
        )
    except LotusImportError:
        raise
    except ConfigImportError as exc:
        raise LotusImportError(str(exc)) from None
