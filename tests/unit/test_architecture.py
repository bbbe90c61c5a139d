"""The shape of the package, checked: the data path runs one way (chain ->
tracker -> store -> api -> worker -> proofs) and nothing reaches back.

Imports are read from the source (every ``import`` statement, inside
functions too, except ``if TYPE_CHECKING:`` blocks), so a lazy import cannot
hide an arrow that runs the wrong way.

An arrow points at the module whose code the import needs:
``from prover.doctor import plans`` is an arrow to ``prover.doctor.plans``
(a submodule), ``from prover.doctor import run_doctor`` one to the package
``prover.doctor`` (a name its ``__init__`` defines or re-exports). A
package's ``__init__`` that imports its submodules has arrows to them: it
runs their code. The parent package Python loads before any submodule is no
arrow: it is loaded first by construction, so counting it would put every
package that re-exports its submodules in a cycle with each of them; a
submodule that imports a *name* from its own package's ``__init__`` does
count, and is the cycle that bites (a partly initialised module).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "prover"
DAEMON_ENTRY_POINTS = {"prover.cli.manager_main", "prover.cli.worker_main"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(tree: ast.AST, *, in_function: bool = False) -> list[tuple[str, bool]]:
    """(imported prover module, whether the import sits in a function)."""
    out = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            out += [i for n in node.orelse for i in _imports(n, in_function=in_function)]
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, in_function) for a in node.names if a.name.startswith("prover")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prover"):
            for a in node.names:  # a submodule imported by name is an arrow to it
                sub = f"{node.module}.{a.name}"
                out.append((sub if _is_module(sub) else node.module, in_function))
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        out += _imports(node, in_function=nested)
    return out


@cache
def graph() -> dict[str, set[tuple[str, bool]]]:
    edges: dict[str, set[tuple[str, bool]]] = {}
    for path in PACKAGE.rglob("*.py"):
        if "_proto" in path.parts or "migrations" in path.parts:
            continue
        edges[module_name(path)] = set(_imports(ast.parse(path.read_text())))
    return edges


def imports_of(prefix: str) -> list[tuple[str, str]]:
    """(module, imported module) for every module under ``prefix``."""
    return [
        (mod, target)
        for mod, targets in sorted(graph().items())
        if mod == prefix or mod.startswith(prefix + ".")
        for target, _ in sorted(targets)
    ]


def under(target: str, *packages: str) -> bool:
    return any(target == p or target.startswith(p + ".") for p in packages)


def test_the_graph_sees_the_package():
    assert {"prover.tracker.loop", "prover.store.jobs", "prover.api.convert"} <= set(graph())
    assert ("prover.tracker.loop", False) in graph()["prover.tracker"]
    # ``from prover.doctor import plans``: the submodule; ``... import Options``: the package
    assert ("prover.doctor.plans", False) in graph()["prover.doctor.roles"]
    assert ("prover.doctor", True) in graph()["prover.cli.doctor_cmd"]


@pytest.mark.parametrize("package", ["prover.worker", "prover.cli", "prover.store"])
def test_worker_cli_and_store_do_not_reach_into_the_manager(package):
    wrong = [
        (mod, target)
        for mod, target in imports_of(package)
        if under(target, "prover.manager", "prover.tracker") and mod not in DAEMON_ENTRY_POINTS
    ]
    assert wrong == []


@pytest.mark.parametrize("package", ["prover.chain", "prover.proofs"])
def test_chain_and_proofs_know_nothing_above_them(package):
    above = ("prover.store", "prover.manager", "prover.tracker", "prover.api", "prover.devnet")
    wrong = [(mod, target) for mod, target in imports_of(package) if under(target, *above)]
    assert wrong == []


def test_the_worker_talks_to_the_manager_only_over_the_wire():
    wrong = [
        (mod, target)
        for mod, target in imports_of("prover.worker")
        if under(target, "prover.store", "prover.chain", "prover.devnet")
    ]
    assert wrong == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def top_package(mod: str) -> str:
    parts = mod.split(".")
    return ".".join(parts[:2])


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, targets in graph().items():
        for target, _ in targets:
            a, b = top_package(mod), top_package(target)
            if a != b:
                edges[a].add(b)
    assert _cycles(edges) == []


@pytest.mark.parametrize("lazy", [False, True], ids=["at_import_time", "inside_functions_too"])
def test_no_import_cycle_between_modules(lazy):
    """At import time a cycle is a crash waiting for the wrong import order;
    counting the imports inside functions too, it is two modules that cannot
    be understood (or moved) one without the other, whichever one loads
    first: a lazy import hides a cycle from the interpreter, not from a
    reader."""
    edges = {
        mod: {t for t, in_function in targets if (lazy or not in_function) and t in graph()} - {mod}
        for mod, targets in graph().items()
    }
    assert _cycles(edges) == []


def test_a_cycle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_storage_host_knows_only_its_disks():
    wrong = [
        (mod, target)
        for mod, target in imports_of("prover.storage")
        if under(target, "prover.store", "prover.manager", "prover.tracker", "prover.chain")
        and target != "prover.chain.encoding"  # pure: CIDs for the Lotus route
    ]
    assert wrong == []
