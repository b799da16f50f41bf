"""Which package modules a submission needs, and their minified source.

The set is discovered, not listed: starting from the packed entry point, every ``import`` of a
``pgolf`` module anywhere in a module's source (top level or inside a function) is followed,
so a new module is bundled as soon as training, export or eval imports it.
Interface-only modules (the CLI, ``*.commands``, the packer itself, reading record logs and
record weights) are never bundled.
"""

from __future__ import annotations

import ast
import re
import importlib.util
from pathlib import Path

from pgolf.errors import PgolfError

ROOT_PACKAGE = "pgolf"
ENTRY = "pgolf.pack.entry"
# Modules the packed file never needs: the command line and the tools around a run.
EXCLUDED_PREFIXES = ("pgolf.cli", "pgolf.__main__", "pgolf.run", "pgolf.pack", "pgolf.referee",
                     "pgolf.bench", "pgolf.submit", "pgolf.config_log", "pgolf.model.reference")


def is_excluded(name: str) -> bool:
    if name == ENTRY:
        return False
    return name.endswith(".commands") or any(name == p or name.startswith(p + ".") for p in EXCLUDED_PREFIXES)


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (``__init__.py`` for a package), or None if absent."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def imported_names(tree: ast.AST, current: str, is_pkg: bool) -> set[str]:
    """Every absolute module name an import statement in ``tree`` may load."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = _module_of(node, current, is_pkg)
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return {n for n in out if n == ROOT_PACKAGE or n.startswith(ROOT_PACKAGE + ".")}


def discover(roots: tuple[str, ...] = (ENTRY,), skip: frozenset[str] = frozenset()) -> dict[str, Path]:
    """Module name -> source file for everything reachable from ``roots`` by imports (less ``skip``)."""
    found: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found or is_excluded(name) or name in skip:
            continue
        path = module_file(name)
        if path is None:
            if name in roots:
                raise PgolfError(f"pack: cannot find the source of module {name}")
            continue  # `from pgolf.x import y` where y is a name, not a module
        found[name] = path
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        todo.extend(imported_names(tree, name, path.name == "__init__.py"))
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
    return dict(sorted(found.items()))


class _Shrink(ast.NodeTransformer):
    """Drop docstrings and annotations that do nothing at run time.

    Every bundled module has ``from __future__ import annotations``, so annotations are never
    evaluated; class-level ones stay (dataclasses read them), function and local ones go, and so
    does the ``__future__`` import of a module with no annotation left.
    """

    def __init__(self):
        self.in_class = 0

    @staticmethod
    def _no_docstring(node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        node.body = body or [ast.Pass()]

    def visit_Module(self, node):
        self.generic_visit(node)
        if not any(isinstance(n, ast.AnnAssign) for n in ast.walk(node)):  # no annotation left to defer
            node.body = [n for n in node.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__"
                                                      and [a.name for a in n.names] == ["annotations"])]
        self._no_docstring(node)
        return node

    def visit_ClassDef(self, node):
        self.in_class += 1
        self.generic_visit(node)
        self.in_class -= 1
        self._no_docstring(node)
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        a = node.args
        for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
            if arg is not None:
                arg.annotation = None
        depth, self.in_class = self.in_class, 0  # a method's body is not a class body
        self.generic_visit(node)
        self.in_class = depth
        self._no_docstring(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node):
        if self.in_class or not isinstance(node.target, (ast.Name, ast.Attribute)):
            return node
        if node.value is None:  # `x: int` outside a class declares nothing at run time
            return None if isinstance(node.target, ast.Name) else ast.Expr(node.target.value)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def minify(source: str, filename: str = "<source>") -> str:
    """Source without comments, docstrings and run-time-inert annotations (same behaviour)."""
    return _render(_Shrink().visit(ast.parse(source, filename)))


def _render(tree: ast.AST) -> str:
    text = ast.unparse(ast.fix_missing_locations(tree))
    # one space per indent level instead of four; kept only if it parses to the same tree
    short = re.sub(r"(?m)^((?:    )+)", lambda m: " " * (len(m.group(1)) // 4), text)
    if ast.dump(ast.parse(short)) == ast.dump(ast.parse(text)):
        text = short
    return text + "\n"


def _module_of(node: ast.ImportFrom, current: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def names_used_from(sources: dict[str, tuple[bool, str]]) -> dict[str, set[str]]:
    """Module -> the names other modules take from it: ``from m import a`` and ``alias.a`` where
    ``alias`` is ``m`` imported as a module, anywhere in their source; and its ``__all__``."""
    used: dict[str, set[str]] = {}
    for name, (is_pkg, src) in sources.items():
        tree = ast.parse(src)
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = _module_of(node, name, is_pkg)
                for a in node.names:
                    used.setdefault(mod, set()).add(a.name)
                    aliases[a.asname or a.name] = f"{mod}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                used.setdefault(name, set()).update(ast.literal_eval(node.value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                used.setdefault(aliases[node.value.id], set()).add(node.attr)
    return used


def drop_unused_imports(source: str, keep: set[str]) -> str:
    """``source`` without the names its top-level imports bind that nothing reads: not the module
    itself (its minified source, so annotations that were dropped no longer count) and not the
    other bundled modules (``keep``: the names they take from this one)."""
    tree = ast.parse(source)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__":
            node.names = [a for a in node.names if a.name == "*" or (a.asname or a.name).split(".")[0] in read
                          or (a.asname or a.name) in keep]
            if not node.names:
                continue
        body.append(node)
    tree.body = body
    return _render(tree)
