"""Within a release line, migrations only add (see ``prover.store.migrations``).

Managers are upgraded one at a time, so a manager of the previous release
runs (and may lead) on the schema this release migrated. Every migration
after the previous release's head (``prover.store.releases``) is read here
with ``ast``, never run: its ``upgrade()`` and the module's functions it
calls may create tables and indexes, add nullable columns (or NOT NULL ones
with a server default), insert and update rows; anything else fails,
unless the module is marked ``CONTRACT_STEP = "<a later release>"``.

Unknown ``op`` calls fail too: an operation is allowed because it is known
to be additive, not because nobody listed it as destructive.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from prover.store.migrations import CONTRACT_MARKER
from prover.store.releases import RELEASES, previous_release, version_key

VERSIONS = Path(__file__).resolve().parents[2] / "prover" / "store" / "migrations" / "versions"

# op.* (and batch.*) calls known to only add.
ADDITIVE_OPS = {
    "create_table",
    "create_index",
    "add_column",
    "bulk_insert",
    "execute",
    "get_bind",
    "get_context",
    "batch_alter_table",
    "f",
    "inline_literal",
    "create_table_comment",
}
DESTRUCTIVE_OPS = {
    "drop_table": "a drop",
    "drop_column": "a drop",
    "drop_index": "a drop",
    "drop_constraint": "a drop",
    "drop_table_comment": "a drop",
    "drop_column_comment": "a drop",
    "rename_table": "a rename",
    "create_foreign_key": "a constraint an older manager's writes could break",
    "create_unique_constraint": "a constraint an older manager's writes could break",
    "create_check_constraint": "a constraint an older manager's writes could break",
    "create_primary_key": "a constraint an older manager's writes could break",
    "create_exclude_constraint": "a constraint an older manager's writes could break",
}
# Raw SQL in execute(): data statements are fine, DDL other than CREATE is not.
RAW_DDL = [
    (re.compile(r"\bDROP\b", re.I), "a drop"),
    (re.compile(r"\bRENAME\b", re.I), "a rename"),
    (re.compile(r"\bTRUNCATE\b", re.I), "a truncation"),
    (re.compile(r"\bALTER\s+(TABLE|COLUMN)\b", re.I), "raw ALTER (write it with op.*)"),
]


@dataclass(frozen=True)
class Migration:
    revision: str
    down_revision: str | None
    path: Path


def _constant(tree: ast.Module, name: str) -> object:
    """A module-level ``NAME = <literal>``'s value, or None."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                try:
                    return ast.literal_eval(node.value)
                except ValueError:
                    return None
    return None


def migrations() -> list[Migration]:
    """Every migration in ``versions/``, oldest first (by the down-revision chain)."""
    by_down: dict[str | None, Migration] = {}
    for path in sorted(VERSIONS.glob("[0-9]*.py")):
        tree = ast.parse(path.read_text())
        m = Migration(_constant(tree, "revision"), _constant(tree, "down_revision"), path)
        assert m.down_revision not in by_down, f"two migrations follow {m.down_revision}"
        by_down[m.down_revision] = m
    chain, at = [], None
    while at in by_down:
        chain.append(by_down[at])
        at = chain[-1].revision
    assert len(chain) == len(by_down), "migrations outside the one chain from the first"
    return chain


def since(revision: str) -> list[Migration]:
    """The migrations after ``revision``, oldest first."""
    chain = migrations()
    revisions = [m.revision for m in chain]
    assert revision in revisions, f"release head {revision} is not a migration"
    return chain[revisions.index(revision) + 1 :]


def _reachable(tree: ast.Module) -> list[ast.FunctionDef]:
    """``upgrade`` and every module-level function it calls, directly or not
    (``downgrade`` may drop what ``upgrade`` added: it is not read)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen: dict[str, ast.FunctionDef] = {}
    todo = ["upgrade"] if "upgrade" in functions else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = functions[name]
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Name) and node.id in functions and node.id not in seen:
                todo.append(node.id)
    return list(seen.values())


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _strings(node: ast.AST) -> str:
    """The literal text of the SQL handed to ``execute`` (f-strings: their constant parts)."""
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


class _Checker(ast.NodeVisitor):
    """Collects what is not additive in the functions it is shown."""

    def __init__(self, tree: ast.Module) -> None:
        self.problems: list[str] = []
        self.batches: set[str] = set()  # names bound by `with op.batch_alter_table(...) as b`
        self.module = {
            t.id: n.value
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        self.loops: dict[str, list[ast.expr]] = {}  # `for column in COLUMNS`: its elements

    def report(self, node: ast.AST, what: str, why: str) -> None:
        self.problems.append(f"line {node.lineno}: {what}: {why}")

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "batch_alter_table"
                and isinstance(item.optional_vars, ast.Name)
            ):
                self.batches.add(item.optional_vars.id)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        source = self.module.get(node.iter.id) if isinstance(node.iter, ast.Name) else node.iter
        if isinstance(node.target, ast.Name) and isinstance(source, ast.List | ast.Tuple):
            self.loops[node.target.id] = list(source.elts)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else ""
            if owner == "op" or owner in self.batches:
                self._operation(node, f"{owner}.{func.attr}", func.attr)
            elif func.attr in ("execute", "exec_driver_sql"):  # conn.execute(sa.text(...))
                self._raw_sql(node, f"{ast.unparse(func)}")
        self.generic_visit(node)

    def _operation(self, node: ast.Call, what: str, op: str) -> None:
        if op in DESTRUCTIVE_OPS:
            self.report(node, what, DESTRUCTIVE_OPS[op])
        elif op == "alter_column":
            self._alter_column(node, what)
        elif op not in ADDITIVE_OPS:
            self.report(node, what, "not known to be additive")
        elif op == "add_column":
            args = node.args[1:] if what.startswith("op.") else node.args
            column = args[0] if args else _kw(node, "column")
            for c in self._columns(column):
                self._added_column(node, what, c)
        elif op == "execute":
            self._raw_sql(node, what)

    def _alter_column(self, node: ast.Call, what: str) -> None:
        if _kw(node, "new_column_name") is not None:
            self.report(node, what, "a rename")
        if _kw(node, "type_") is not None:
            self.report(node, what, "a type change")
        if _is_const(_kw(node, "nullable"), False):
            self.report(node, what, "made NOT NULL (an older manager's inserts could fail)")
        if _kw(node, "server_default") is not None:
            self.report(node, what, "a changed server default")

    def _columns(self, node: ast.expr | None) -> list[ast.expr | None]:
        """The Column expressions an ``add_column`` argument stands for."""
        if isinstance(node, ast.Name):
            if node.id in self.loops:
                return self.loops[node.id]
            if node.id in self.module:
                return [self.module[node.id]]
        return [node]

    def _added_column(self, node: ast.Call, what: str, column: ast.expr | None) -> None:
        name = getattr(getattr(column, "func", None), "attr", None) or getattr(
            getattr(column, "func", None), "id", None
        )
        if not isinstance(column, ast.Call) or name != "Column":
            self.report(node, what, "a column this check cannot read (write sa.Column(...))")
            return
        nullable = _kw(column, "nullable")
        primary = _is_const(_kw(column, "primary_key"), True)
        not_null = _is_const(nullable, False) or (primary and nullable is None)
        if nullable is not None and not isinstance(nullable, ast.Constant):
            not_null = True  # cannot tell: assume the worst
        has_default = _kw(column, "server_default") is not None
        if not_null and not has_default:
            self.report(
                node, what, "a NOT NULL column without a server default (older managers' inserts)"
            )

    def _raw_sql(self, node: ast.Call, what: str) -> None:
        text = " ".join(_strings(a) for a in node.args)
        for pattern, why in RAW_DDL:
            if pattern.search(text):
                self.report(node, what, why)


def check_migration(source: str, previous: str) -> list[str]:
    """What in a migration's text is not additive ([] when all is), given
    the previous release's version: a module marked ``CONTRACT_STEP`` for a
    release after it is a contract step and may do anything."""
    tree = ast.parse(source)
    marked = _constant(tree, CONTRACT_MARKER)
    if marked is not None:
        try:
            later = version_key(str(marked)) > version_key(previous)
        except ValueError as exc:
            return [f"{CONTRACT_MARKER}: {exc}"]
        if later:
            return []
        return [f"{CONTRACT_MARKER} = {marked!r} names no release after {previous}"]
    if not _reachable(tree):
        return ["no upgrade() function"]
    checker = _Checker(tree)
    for function in _reachable(tree):
        checker.visit(function)
    return checker.problems


# ---- this release's migrations ---------------------------------------------


def test_release_heads_are_migrations_in_order():
    revisions = [m.revision for m in migrations()]
    heads = [r.head for r in RELEASES]
    assert all(h in revisions for h in heads), (heads, revisions)
    assert [revisions.index(h) for h in heads] == sorted(revisions.index(h) for h in heads)
    versions = [version_key(r.version) for r in RELEASES]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_every_migration_since_the_previous_release_only_adds():
    previous = previous_release()
    pending = since(previous.head)
    assert pending, f"no migration after {previous.version}'s head {previous.head}"
    problems = {
        m.path.name: found
        for m in pending
        if (found := check_migration(m.path.read_text(), previous.version))
    }
    assert problems == {}, (
        f"migrations after release {previous.version} ({previous.head}) must only add, so that "
        f"its managers keep running on them (prover/store/migrations/__init__.py): {problems}"
    )


def test_the_checker_finds_release_0_1_0s_one_rewrite():
    """Read over 0.1.0's own migrations, it finds exactly 0005 (the packed
    sectors: the JSON column dropped, the new one renamed into its place)."""
    found = {
        m.path.name[:4]: check_migration(m.path.read_text(), "0.0.0")
        for m in migrations()
        if m.revision <= "0012"
    }
    flagged = {rev: problems for rev, problems in found.items() if problems}
    assert set(flagged) == {"0005"}, flagged
    assert any("a drop" in p for p in flagged["0005"])
    assert any("a rename" in p for p in flagged["0005"])


# ---- the checker on texts of its own ------------------------------------------

HEADER = """
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "0098"
"""


def _check(body: str, marker: str = "") -> list[str]:
    return check_migration(HEADER + marker + textwrap.dedent(body), "0.1.0")


GOOD = [
    """
    def upgrade():
        op.add_column("workers", sa.Column("build", sa.String(32), nullable=True))
        op.add_column("workers", sa.Column("api", sa.Integer()))
        op.add_column("jobs", sa.Column("n", sa.Integer(), nullable=False, server_default="0"))
        op.create_index("ix_x", "jobs", ["n"])
        op.execute("UPDATE jobs SET n = 1")

    def downgrade():
        op.drop_column("jobs", "n")
        op.drop_table("workers")
    """,
    """
    COLUMNS = [sa.Column("a", sa.Integer(), nullable=True), sa.Column("b", sa.JSON())]

    def upgrade():
        for column in COLUMNS:
            op.add_column("messages", column)
        op.create_table("t", sa.Column("id", sa.Integer(), primary_key=True))
    """,
    """
    def upgrade():
        with op.batch_alter_table("jobs") as batch:
            batch.add_column(sa.Column("c", sa.Integer(), nullable=True))
            batch.create_index("ix_c", ["c"])
    """,
]

BAD = [
    ('def upgrade():\n    op.drop_table("jobs")\n', "a drop"),
    ('def upgrade():\n    op.drop_column("jobs", "sectors")\n', "a drop"),
    ('def upgrade():\n    op.drop_index("ix_jobs_claim", table_name="jobs")\n', "a drop"),
    ('def upgrade():\n    op.rename_table("jobs", "tasks")\n', "a rename"),
    (
        'def upgrade():\n    op.alter_column("jobs", "state", type_=sa.String(8))\n',
        "a type change",
    ),
    (
        'def upgrade():\n    op.alter_column("jobs", "state", new_column_name="status")\n',
        "a rename",
    ),
    ('def upgrade():\n    op.alter_column("jobs", "worker", nullable=False)\n', "NOT NULL"),
    (
        'def upgrade():\n    op.add_column("jobs", sa.Column("n", sa.Integer(), nullable=False))\n',
        "NOT NULL column without a server default",
    ),
    (
        'def upgrade():\n    with op.batch_alter_table("jobs") as b:\n        b.drop_column("x")\n',
        "a drop",
    ),
    (
        "def _swap():\n    with op.batch_alter_table('jobs') as b:\n"
        "        b.alter_column('x', new_column_name='y')\n\n"
        "def upgrade():\n    _swap()\n",
        "a rename",
    ),
    ('def upgrade():\n    op.execute("ALTER TABLE jobs DROP COLUMN x")\n', "a drop"),
    (
        'def upgrade():\n    op.get_bind().execute(sa.text("ALTER TABLE jobs RENAME TO t"))\n',
        "a rename",
    ),
    ('def upgrade():\n    op.create_unique_constraint("uq", "jobs", ["x"])\n', "constraint"),
    ('def upgrade():\n    op.some_new_operation("jobs")\n', "not known to be additive"),
    ('def upgrade():\n    op.add_column("jobs", make_column())\n', "cannot read"),
]


@pytest.mark.parametrize("body", GOOD)
def test_additive_texts_pass(body):
    assert _check(body) == []


@pytest.mark.parametrize(("body", "why"), BAD)
def test_each_kind_of_change_that_is_not_additive_fails(body, why):
    problems = _check(body)
    assert problems and any(why in p for p in problems), problems


def test_a_contract_step_of_a_later_release_may_drop():
    body = 'def upgrade():\n    op.drop_column("jobs", "sectors_json")\n'
    assert _check(body, 'CONTRACT_STEP = "0.3.0"\n') == []
    # not one of a release already out, nor a marker that names no release
    assert "names no release after 0.1.0" in _check(body, 'CONTRACT_STEP = "0.1.0"\n')[0]
    assert "not a release version" in _check(body, 'CONTRACT_STEP = "soon"\n')[0]
