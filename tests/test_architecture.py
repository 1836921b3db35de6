"""The package boundaries, read from the import graph of the source (no module is imported).

* ``ratebased`` and ``spiking`` never import each other; ``bridges`` may import both;
* no library module imports ``scripts``, and none but the front doors themselves imports
  ``bridges.commands`` (the ``bioplausible`` command: argparse, files, output);
* only the front door (``bridges.commands`` and its helpers ``bridges.cli``) writes to the terminal
  with ``print``, and only it imports ``bridges.cli``;
* no import cycle between library modules (imports inside functions count; imports under
  ``typing.TYPE_CHECKING`` do not, they are never executed);
* the registry mechanism is one file, present byte for byte in both leaf packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("ratebased", "spiking", "bridges")
#: package -> top-level packages of this repository it must never import
FORBIDDEN = {
    "ratebased": {"spiking", "bridges", "scripts"},
    "spiking": {"ratebased", "bridges", "scripts"},
    "bridges": {"scripts"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in LIBRARIES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Repository modules that ``module`` imports (the named module, or the package a name comes from)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES + ("scripts",):
                    found.add(resolve(alias.name) or alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] in LIBRARIES + ("scripts",):
                for alias in node.names:  # `from pkg import submodule` names a module
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in known else (resolve(target) or target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(p, m, known) for m, p in mods.items()}


@pytest.mark.parametrize("package", LIBRARIES)
def test_package_boundaries(graph, package):
    bad = sorted(
        f"{m} imports {t}"
        for m, targets in graph.items()
        if m.split(".")[0] == package
        for t in targets
        if t.split(".")[0] in FORBIDDEN[package]
    )
    assert not bad, "boundary violations:\n" + "\n".join(bad)


def test_only_front_doors_import_the_commands(graph):
    bad = sorted(
        f"{m} imports {t}"
        for m, targets in graph.items()
        if not m.startswith("bridges.commands")
        for t in targets
        if t.startswith("bridges.commands")
    )
    assert not bad, "library modules importing the front doors:\n" + "\n".join(bad)


#: the front door: the ``bioplausible`` command and the helpers only it uses (error and interrupt lines)
FRONT_DOOR = ("bridges.commands", "bridges.cli")


def _is_front_door(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FRONT_DOOR)


def test_only_front_doors_use_the_front_door_helpers(graph):
    bad = sorted(
        f"{m} imports {t}"
        for m, targets in graph.items()
        if not _is_front_door(m)
        for t in targets
        if t == "bridges.cli"
    )
    assert not bad, "library modules importing bridges.cli (the front doors' error and interrupt lines):\n" + "\n".join(
        bad
    )


def test_library_modules_are_quiet():
    """Only the front door writes to the terminal; the libraries log (``logging``) or warn."""
    bad = []
    for module, path in _modules().items():
        if _is_front_door(module):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, "print() outside the front door (use logging or warnings.warn):\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles(graph):
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_detector_finds_a_cycle():
    """The detector itself: a two-module ring and a three-module ring are found, a chain is not."""
    g = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "x": {"y"}, "y": set()}
    assert sorted(_cycles(g)) == [["a", "b"], ["c", "d", "e"]]


def test_boundary_detector_sees_function_level_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from spiking.network import build_network\n    import bridges.io\n")
    known = {"spiking.network", "bridges.io", "bridges"}
    assert _imports(src, "ratebased.m", known) == {"spiking.network", "bridges.io"}


def test_registry_is_one_file():
    assert (ROOT / "ratebased" / "registry.py").read_bytes() == (ROOT / "spiking" / "registry.py").read_bytes()
