"""The package's layout: subpackages whose dependencies run one way, no import cycle, and
matplotlib only where figures are drawn.

The imports are read from the source (``ast``), including those made inside functions;
imports under ``if TYPE_CHECKING:`` never run and are left out. Importing ``a.b.c`` also
runs the ``__init__`` of ``a.b``, so that package counts as imported too (except the
importing module's own packages, whose ``__init__`` has already run, and the root
``bayesdose`` package, which re-exports the public API).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesdose"

#: The layers, lowest first: a module may import from its own layer and those below.
LAYERS = ("errors", "progress", "data", "datasets", "files", "components", "inference",
          "results", "model", "design", "plots", "report", "cli")
#: Packages a lower layer may import inside a function, for a figure method of a fit or a
#: model (``fit.plot_dose_response()``): they bring in matplotlib, so they load on first use.
LAZY_FIGURES = ("bayesdose.plots",)
#: Third-party packages that only figure and report code may import.
FIGURE_PACKAGES = ("matplotlib",)
#: Where importing them is allowed.
FIGURE_LAYERS = ("plots", "report")
#: Heavy optional dependencies that may be imported inside functions (with a reason).
HEAVY = ("matplotlib", "dask", "distributed", "pyarrow", "tqdm", "bayesdose.plots",
         "numpyro", "jax", "blackjax", "nutpie", "numba", "pytensor.link.jax")


@dataclass(frozen=True)
class Import:
    """One import statement of a bayesdose module."""

    source: str
    target: str
    line: int
    in_function: bool
    names: tuple[str, ...]
    has_reason: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _resolve(source: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = source.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or on the line before it or before the run of
    imports it belongs to."""
    i = lineno - 1
    while i > 0 and lines[i - 1].strip().startswith(("import ", "from ")):
        i -= 1
    return "#" in lines[lineno - 1] or (i > 0 and "#" in lines[i - 1])


def imports() -> list[Import]:
    """Every import statement in the package (TYPE_CHECKING blocks left out)."""
    found: list[Import] = []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, in_function: bool, name=name, path=path, lines=lines) -> None:
            for child in ast.iter_child_nodes(node):
                if _is_type_checking(child):
                    continue
                inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                if isinstance(child, ast.Import | ast.ImportFrom):
                    reason = _has_reason(lines, child.lineno)
                    if isinstance(child, ast.ImportFrom):
                        target = _resolve(name, child, path.name == "__init__.py")
                        names = tuple(a.name for a in child.names)
                    else:
                        target, names = child.names[0].name, ()
                    found.append(Import(name, target, child.lineno, inside, names, reason))
                visit(child, inside)

        visit(tree, False)
    return found


def internal_edges() -> dict[str, set[str]]:
    """Module -> the bayesdose modules (and packages) it runs when imported or called."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports():
        if not imp.target.startswith("bayesdose"):
            continue
        targets = {f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in known}
        if not targets or any(f"{imp.target}.{n}" not in known for n in imp.names):
            targets.add(imp.target)
        for target in list(targets):
            parts = target.split(".")
            targets |= {".".join(parts[:i]) for i in range(2, len(parts))}
        own = {".".join(imp.source.split(".")[:i]) for i in range(1, imp.source.count(".") + 2)}
        edges[imp.source] |= {t for t in targets if t in known and t not in own}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
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
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def layer(module: str) -> int | None:
    """Rank of a module's layer (None for the root package and ``__main__``)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] == "__main__":
        return None
    return LAYERS.index(parts[1])


def test_every_module_is_in_a_layer():
    unknown = [m for m in modules() if len(m.split(".")) > 1
               and m.split(".")[1] not in (*LAYERS, "__main__")]
    assert not unknown, f"modules outside the declared layers {LAYERS}: {unknown}"


def test_no_import_cycle():
    found = cycles(internal_edges())
    assert not found, "import cycles among bayesdose modules: " + "; ".join(
        " <-> ".join(c) for c in found)


def test_cycle_finder_finds_a_planted_cycle():
    edges = internal_edges()
    edges["bayesdose.errors"] = {"bayesdose.cli.commands"}
    assert any("bayesdose.errors" in c for c in cycles(edges))


def test_dependencies_run_one_way():
    upward = []
    for imp in imports():
        if not imp.target.startswith("bayesdose.") or layer(imp.source) is None:
            continue
        lazy_figure = imp.in_function and imp.target.startswith(LAZY_FIGURES)
        if layer(imp.target) > layer(imp.source) and not lazy_figure:
            upward.append(f"{imp.source}:{imp.line} imports {imp.target}")
    assert not upward, "imports against the layer order " + " -> ".join(LAYERS) + ":\n" + \
        "\n".join(upward)


def test_only_figure_code_imports_matplotlib():
    offenders = [f"{i.source}:{i.line}" for i in imports()
                 if i.target.split(".")[0] in FIGURE_PACKAGES
                 and (layer(i.source) is None or LAYERS[layer(i.source)] not in FIGURE_LAYERS)]
    assert not offenders, f"matplotlib imported outside {FIGURE_LAYERS}: {offenders}"


def test_imports_inside_functions_only_for_heavy_dependencies_with_a_reason():
    offenders = [f"{i.source}:{i.line} ({i.target})" for i in imports()
                 if i.in_function and not (i.target.startswith(HEAVY) and i.has_reason)]
    assert not offenders, ("imports inside functions are only for heavy optional "
                           f"dependencies {HEAVY}, each with a one-line reason: {offenders}")


def test_no_private_name_imported_across_modules():
    offenders = [f"{i.source}:{i.line} {n}" for i in imports()
                 if i.target.startswith("bayesdose") for n in i.names
                 if n.startswith("_") and not n.startswith("__")]
    assert not offenders, f"private names imported from another module: {offenders}"


def test_no_module_shadowed_by_a_package_attribute():
    code = (
        "import importlib, pkgutil, bayesdose\n"
        "bad = []\n"
        "for info in pkgutil.walk_packages(bayesdose.__path__, 'bayesdose.'):\n"
        "    if info.name.endswith('__main__'):\n"
        "        continue\n"
        "    module = importlib.import_module(info.name)\n"
        "    parent, _, child = info.name.rpartition('.')\n"
        "    if getattr(importlib.import_module(parent), child) is not module:\n"
        "        bad.append(info.name)\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.stdout.strip() == "[]", f"modules shadowed by an attribute: {done.stdout}"


def test_import_bayesdose_loads_no_figure_code_or_cluster_package():
    code = ("import sys, bayesdose\n"
            "print(sorted({m for m in sys.modules if m.startswith(('bayesdose.plots', "
            "'bayesdose.report', 'bayesdose.cli'))} | "
            "({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_says_what_it_is_for(name):
    tree = ast.parse(modules()[name].read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc.strip()) > 20 and "TODO" not in doc, f"{name} needs a docstring"
