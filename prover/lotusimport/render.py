"""Writing our config: the shipped default text with each imported key set
in place, where it came from said above it."""

from __future__ import annotations

import re
import textwrap

from prover.lotusimport.model import ImportResult, LotusImportError
from prover.lotusimport.values import toml_value


def render(result: ImportResult, default_text: str, header: str = "") -> str:
    """The default config text with each imported key set in place, a
    comment above it saying where it came from; the storages appended; the
    Lotus keys not carried over listed at the end."""
    pending = {(s.section, s.key): s for s in result.settings}
    section = ""
    out = [c for line in header.splitlines() for c in _comment(line, rest="# ") or ["#"]]
    out += [""] if out else []
    for line in default_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[]").strip()
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m and (section, m.group(1)) in pending:
            s = pending.pop((section, m.group(1)))
            out += [*_comment(f"imported from {s.source}"), f"{s.key} = {toml_value(s.value)}"]
            continue
        out.append(line)
    if pending:
        raise LotusImportError(
            "the default config has no line for "
            + ", ".join(f"[{s}] {k}" for s, k in pending)
            + " (a bug: the import and configs/manager.toml disagree)"
        )
    for meta in result.storages:
        out += [
            "",
            *_comment(
                f"imported: the Lotus storage path {meta.path}, named by the ID in its "
                f"sectorstore.json (CanStore={'true' if meta.can_store else 'false'}, "
                f"CanSeal={'true' if meta.can_seal else 'false'}, Weight={meta.weight}; "
                "a prover only reads)"
            ),
            "[[storage]]",
            f"name = {toml_value(meta.id)}",
            f"path = {toml_value(str(meta.path))}",
        ]
    if result.unmapped:
        out += ["", "# lotus-miner settings not carried over, and why:"]
        for u in result.unmapped:
            out += _comment(str(u), first="#   - ", rest="#     ")
    return "\n".join(out) + "\n"


def _comment(text: str, first: str = "# ", rest: str = "#   ") -> list[str]:
    return textwrap.wrap(
        text, 98, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )
