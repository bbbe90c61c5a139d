"""Writing our config: the shipped default text with each imported key set
in place, where it came from said above it; the storages appended; what
was not carried over listed at the end."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from prover.configimport.report import ConfigImportError, ImportReport


def render(
    result: ImportReport,
    default_text: str,
    header: str = "",
    unmapped_title: str = "settings not carried over, and why:",
) -> str:
    """The default config text with each imported key set in place, a
    comment above it saying where it came from; the storages appended; the
    settings not carried over listed at the end under ``unmapped_title``."""
    pending = {(s.section, s.key): s for s in result.settings}
    section = ""
    out = [c for line in header.splitlines() for c in comment(line, rest="# ") or ["#"]]
    out += [""] if out else []
    for line in default_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            section = stripped.strip("[]").strip()
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if m and (section, m.group(1)) in pending:
            s = pending.pop((section, m.group(1)))
            out += [*comment(f"imported from {s.source}"), f"{s.key} = {toml_value(s.value)}"]
            continue
        out.append(line)
    if pending:
        raise ConfigImportError(
            "the default config has no line for "
            + ", ".join(f"[{s}] {k}" for s, k in pending)
            + " (a bug: the import and configs/manager.toml disagree)"
        )
    for meta in result.storages:
        out += [
            "",
            *comment(
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
        out += ["", f"# {unmapped_title}"]
        for u in result.unmapped:
            out += comment(str(u), first="#   - ", rest="#     ")
    return "\n".join(out) + "\n"


def comment(text: str, first: str = "# ", rest: str = "#   ") -> list[str]:
    return textwrap.wrap(
        text, 98, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (strings, numbers, booleans, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")
