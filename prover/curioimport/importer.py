"""One import, its steps in order: read the database, pick and stack the
layers, map them, and say where WindowPoSt runs in Curio today."""

from __future__ import annotations

from collections.abc import Sequence

from prover.curioimport.database import read_database
from prover.curioimport.layers import Stacked, layer_order, parse_layer, stack
from prover.curioimport.mapping import map_stacked
from prover.curioimport.model import SCHEMA, CurioDatabase, CurioImportError, CurioImportResult


def import_database(url: str, layers: Sequence[str] | None = None) -> CurioImportResult:
    """Everything the config is written from, and the report. ``layers``
    None: those of the machines that run WindowPoSt, when they agree."""
    return import_from(read_database(url), layers)


def import_from(db: CurioDatabase, layers: Sequence[str] | None = None) -> CurioImportResult:
    """The steps after reading (apart, so that they run without a database)."""
    notes: list[str] = []
    if layers is None:
        layers, note = default_layers(db)
        notes.append(note)
    order = layer_order(layers)
    missing = [t for t in order if t not in db.layers]
    if missing:
        raise CurioImportError(
            f"no layer {', '.join(map(repr, missing))} in {SCHEMA}.harmony_config at {db.where} "
            f"(its layers: {', '.join(db.layers) or 'none'})"
        )
    st = stack([(t, parse_layer(t, db.layers[t])) for t in order])
    result = CurioImportResult(where=db.where, layers=order, notes=notes)
    map_stacked(result, st)
    window_post_notes(result, st, db)
    return result


def default_layers(db: CurioDatabase) -> tuple[list[str], str]:
    """The layers of the machines that run WindowPoSt (base dropped: it is
    always first), when they all run the same; else base alone."""
    stacks = {m.layers for m in db.machines if m.proves_window_post}
    if len(stacks) == 1:
        chosen = [t for t in next(iter(stacks)) if t != "base"]
        return chosen, (
            f"layers: {', '.join(['base', *chosen])}, those of the machines that run WdPost "
            "(give --layers to choose)"
        )
    why = "several stacks" if stacks else "no machine records WdPost"
    return [], f"layers: base alone ({why} in {SCHEMA}.harmony_machine_details; give --layers)"


def window_post_notes(result: CurioImportResult, st: Stacked, db: CurioDatabase) -> None:
    """Which layers enable WindowPoSt, which machines run it for which
    miners: what must stop before the prover proves live."""
    enabled = st.get("Subsystems", "EnableWindowPost") is True
    by = st.source("Subsystems", "EnableWindowPost")
    stack_text = ",".join(st.layers)
    if enabled:
        result.notes.append(
            f"WindowPoSt: enabled in the stack {stack_text} by the layer {by!r} "
            "([Subsystems] EnableWindowPost = true)"
        )
    else:
        result.notes.append(
            f"WindowPoSt: not enabled in the stack {stack_text} ([Subsystems] EnableWindowPost = "
            f"{'false' if by else 'false, the default'})"
        )
    enabling = []
    for title, text in db.layers.items():
        try:
            tree = parse_layer(title, text)
        except CurioImportError:
            result.notes.append(f"the layer {title!r} (not imported) is not valid TOML")
            continue
        subsystems = next((v for k, v in tree.items() if k.casefold() == "subsystems"), {})
        if isinstance(subsystems, dict) and any(
            k.casefold() == "enablewindowpost" and v is True for k, v in subsystems.items()
        ):
            enabling.append(title)
    result.notes.append(
        "layers that set EnableWindowPost = true: "
        + (", ".join(enabling) or "none")
        + " (Curio's stock one is 'post')"
    )
    machines = [m for m in db.machines if m.proves_window_post]
    for m in machines:
        result.notes.append(
            f"Curio machine {m.host} runs WdPost with the layers {','.join(m.layers)} for "
            f"{', '.join(m.miners) or 'no miner'}"
        )
    if enabled or machines:
        result.notes.append(
            "Curio proves WindowPoSt for these miners until no machine runs a layer that "
            "enables it: once the prover proves, restart those machines without it (or set "
            "EnableWindowPost = false in it), or both send (the second PoSt of a partition is "
            "refused and its gas lost). Curio sends one SubmitWindowedPoSt per partition; the "
            "prover batches up to [chain] max_partitions_per_message (3)"
        )
