"""Imports run one way, down the stages of docs/stages.md, and no module imports itself back.

Every ``import`` in every module is read with ``ast`` (top level and inside functions, relative
ones resolved), so a lazy import counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pgolf"
DOC = ROOT / "docs" / "stages.md"

# The stages, lowest first, as docs/stages.md lists them: a module may import its own stage or
# any lower one. A prefix names a package or a module; "*.commands" is every stage's command
# module (the command line's part of that stage).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("pgolf.errors", "pgolf.io", "pgolf.dist", "pgolf.config", "pgolf.config_checks", "pgolf.layout")),
    ("data", ("pgolf.data", "pgolf.config_log")),  # a record log's config names its data and tokenizer
    ("model", ("pgolf.model",)),
    ("optim", ("pgolf.optim",)),
    ("train", ("pgolf.train",)),
    ("quant", ("pgolf.quant",)),
    ("artifact", ("pgolf.artifact",)),
    ("eval", ("pgolf.eval",)),
    ("export", ("pgolf.export",)),
    ("pack", ("pgolf.pack",)),
    ("referee", ("pgolf.referee", "pgolf.report")),
    ("commands", ("*.commands", "pgolf.cmdline", "pgolf.run", "pgolf.seeds", "pgolf.doctor", "pgolf.bench")),
    ("cli", ("pgolf.cli", "pgolf.__main__", "pgolf")),
]

# Upward imports still to remove, each named. Not counted as upward or as cycles; the test
# fails once one is gone, so the list only shrinks.
PENDING: set[tuple[str, str]] = set()  # known upward imports waiting for a fix (none)


def stage_of(module: str) -> int:
    """The rank of ``module``'s stage: the most specific prefix that names it."""
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(STAGES):
        for p in prefixes:
            if p == "*.commands":
                hit, length = module.endswith(".commands"), 10**6  # beats its package's prefix
            else:
                hit, length = module == p or module.startswith(p + "."), len(p)
            if hit and length > best:
                best, rank = length, i
    if rank is None:
        raise KeyError(module)
    return rank


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(tree: ast.AST, current: str, is_pkg: bool, known) -> set[str]:
    """The package modules one module's import statements name: ``import a.b`` -> ``a.b``;
    ``from p import x`` -> ``p.x`` where that is a module, else ``p`` (relative ones resolved)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = current.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {n for n in out if n in known and n != current}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports, at top level or inside functions."""
    mods = package_modules(root)
    return {name: imports_of(ast.parse(path.read_text(encoding="utf-8"), str(path)), name,
                             path.name == "__init__.py", mods)
            for name, path in mods.items()}


def upward_edges(graph: dict[str, set[str]], stage=stage_of) -> list[tuple[str, str]]:
    return sorted((a, b) for a, deps in graph.items() for b in deps if stage(b) > stage(a))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour.get(node) is None and (found := visit(node)):
            return found
    return None


def order_line() -> str:
    return " <- ".join(name for name, _ in STAGES)


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_has_a_stage(graph):
    for module in graph:
        stage_of(module)  # KeyError names a module no stage claims


def test_no_import_cycles(graph):
    assert find_cycle({a: {b for b in deps if (a, b) not in PENDING} for a, deps in graph.items()}) is None


def test_imports_only_go_down_the_stages(graph):
    up = upward_edges(graph)
    assert [e for e in up if e not in PENDING] == [], "upward imports (see docs/stages.md)"
    assert sorted(PENDING - set(up)) == [], "gone: remove them from PENDING"


def test_the_checker_catches_an_upward_import_and_a_cycle():
    fake = {"pgolf.data.loader": {"pgolf.train.trainer"}, "pgolf.train.trainer": {"pgolf.data.loader"},
            "pgolf.eval.score": {"pgolf.dist"}, "pgolf.dist": set()}
    assert upward_edges(fake) == [("pgolf.data.loader", "pgolf.train.trainer")]
    assert find_cycle(fake) in (["pgolf.data.loader", "pgolf.train.trainer", "pgolf.data.loader"],
                                ["pgolf.train.trainer", "pgolf.data.loader", "pgolf.train.trainer"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_checker_reads_a_new_lazy_upward_import(tmp_path):
    pkg = tmp_path / "pgolf"
    for sub in ("data", "train"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "trainer.py").write_text("from pgolf.data import shards\n")
    (pkg / "data" / "shards.py").write_text("def f():\n    from ..train.trainer import x\n")  # lazy and relative
    g = import_graph(pkg)
    assert g["pgolf.train.trainer"] == {"pgolf.data.shards"}
    assert upward_edges(g) == [("pgolf.data.shards", "pgolf.train.trainer")]
    assert find_cycle(g) is not None


def test_a_command_module_ranks_above_its_stage_and_below_the_cli():
    names = [n for n, _ in STAGES]
    assert stage_of("pgolf.data.fetch") == names.index("data")
    assert stage_of("pgolf.data.commands") == stage_of("pgolf.run") == names.index("commands")
    assert stage_of("pgolf.cli") == names.index("cli")
    with pytest.raises(KeyError):
        stage_of("numpy")


def test_the_doc_states_the_same_order():
    assert order_line() in DOC.read_text(encoding="utf-8")
