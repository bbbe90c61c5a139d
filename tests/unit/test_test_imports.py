"""Tests import their helpers one way: by the helper's own name
(``from manager_harness import ...``), never through ``tests.``.

``tests/`` is not a package (no ``__init__.py``): pytest puts the folder of
the root conftest (``tests/``) on ``sys.path``, which is what makes
``manager_harness`` importable everywhere. ``tests.manager_harness`` only
resolves where the repository root is on ``sys.path`` as well (an editable
install's .pth, ``python -m pytest`` from the root), so such an import
collects here and fails where the package is installed from a wheel or
pytest is run from elsewhere. Relative imports fail the same way (no
package to be relative to). Every file is read with ``ast``, imports inside
functions included, so that the second way cannot come back.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def wrong_imports(source: str) -> list[str]:
    """The imports in ``source`` that go through ``tests.`` or are
    relative, as ``line N: what``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append(f"line {node.lineno}: relative import from {node.module or '.'}")
                continue
            names = [node.module or ""]
        else:
            continue
        out += [
            f"line {node.lineno}: import of {n}"
            for n in names
            if n == "tests" or n.startswith("tests.")
        ]
    return out


def test_the_check_finds_both_ways_in():
    source = (
        "import tests.manager_harness\n"
        "from tests.manager_harness import free_port\n"
        "from tests import conftest\n"
        "def f():\n"
        "    from . import pki\n"
        "from manager_harness import free_port\n"
        "import testsuite\n"
    )
    assert wrong_imports(source) == [
        "line 1: import of tests.manager_harness",
        "line 2: import of tests.manager_harness",
        "line 3: import of tests",
        "line 5: relative import from .",
    ]


def test_the_helpers_are_where_the_tests_import_them_from():
    assert not (TESTS / "__init__.py").exists()  # not a package: helpers go by their own name
    assert (TESTS / "conftest.py").is_file() and (TESTS / "manager_harness.py").is_file()


def test_no_test_imports_through_tests():
    # one test for every file, so that the suite's size does not follow the file count
    wrong = {
        str(path.relative_to(TESTS.parent)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := wrong_imports(path.read_text()))
    }
    assert wrong == {}, (
        f"{wrong}: import helpers by their own name (from manager_harness import ...): "
        "tests/ is on sys.path, the repository root may not be"
    )
