"""climb's layers hold: no library module imports the front door, and no layer imports one above it.

Top to bottom: the front door (climb/cli.py, climb/demo.py), then pipelines/, loaders/ and trainer/,
then transforms/ and schemas/, and the shared ground every layer may import (climb/storage.py,
climb/errors.py, climb/version.py). docs/ARCHITECTURE.md draws them. The imports are read with
`ast` from every source file (module level and inside functions, absolute and relative), and the
rules are also checked through chains of imports: trainer -> report -> pipelines breaks them as
surely as trainer -> pipelines.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT = {"climb.cli", "climb.demo", "climb.__main__"}
GROUND = {"climb.storage", "climb.errors", "climb.version"}
PARTS = ("schemas", "transforms", "pipelines", "loaders", "trainer")
FORBIDDEN = {
    "schemas": {"pipelines", "loaders", "trainer"},
    "transforms": {"pipelines", "loaders", "trainer"},
    "loaders": {"pipelines", "trainer"},
    "trainer": {"pipelines"},
    "pipelines": {"trainer"},
}


def layer(module: str) -> str:
    """The layer a climb module belongs to: "front", "ground", a part name, or its climb subpackage."""
    bits = module.split(".")
    if module in FRONT:
        return "front"
    if ".".join(bits[:2]) in GROUND:
        return "ground"
    if len(bits) > 1 and bits[1] in PARTS:
        return bits[1]
    return ".".join(bits[:2])


def modules() -> dict[str, Path]:
    """Every climb module by import name, from setup.cfg's package_dir (climb.pipelines is pipelines/)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    found: dict[str, Path] = {}
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, folder = (part.strip() for part in line.split("="))
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if name == "climb" and parts and parts[0] in PARTS:
                continue  # a folder of that name inside climb/ would not be the mapped package
            found[".".join([name, *parts])] = path
    return found


def imports(module: str, source: str, is_package: bool) -> set[str]:
    """climb modules that `source` (the text of `module`) imports, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "climb" or n.startswith("climb.")}


def violation(importer: str, imported: str) -> str | None:
    """Why `importer` may not import `imported`, or None when the edge is allowed."""
    source, target = layer(importer), layer(imported)
    if target == "front" and source != "front":
        return "nothing below the CLI imports the front door"
    if source == "ground" and target != "ground":
        return "shared ground imports only shared ground"
    if target in FORBIDDEN.get(source, ()):
        return f"{source}/ may not import {target}/"
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the known climb modules it imports (a name that is an attribute counts as its module)."""
    found = modules()
    graph = {}
    for name, path in found.items():
        targets = imports(name, path.read_text(encoding="utf-8"), path.name == "__init__.py")
        graph[name] = {t if t in found else t.rpartition(".")[0] for t in targets} & set(found)
        graph[name].discard(name)
    return graph


def chains(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every module reachable from `start`, with one import chain leading there (importing a module
    also runs its packages' __init__)."""
    seen = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop()
        nxt = set(graph.get(current, ()))
        nxt |= {".".join(t.split(".")[:i]) for t in nxt for i in range(2, len(t.split(".")))}
        for target in sorted(nxt & set(graph)):
            if target not in seen:
                seen[target] = seen[current] + [target]
                todo.append(target)
    return seen


def test_no_module_imports_across_a_layer_directly():
    broken = [f"{m} imports {t}: {violation(m, t)}"
              for m, targets in sorted(import_graph().items()) for t in sorted(targets) if violation(m, t)]
    assert broken == []


def test_no_chain_of_imports_crosses_a_layer():
    graph = import_graph()
    broken = []
    for start in sorted(graph):
        for target, chain in sorted(chains(graph, start).items()):
            reason = violation(start, target)
            if reason and len(chain) > 2:
                broken.append(f"{' -> '.join(chain)}: {reason}")
    assert broken == []


def test_the_walk_sees_every_part_and_the_shared_ground():
    found = {layer(m) for m in modules()}
    assert {"front", "ground", *PARTS} <= found
    assert {"climb.pipelines.convert", "climb.trainer.train", "climb.storage", "climb.cli"} <= set(modules())


@pytest.mark.parametrize("module, source, is_package, expected", [
    ("climb.loaders.x", "from climb.pipelines.convert import convert", False, {"climb.pipelines.convert", "climb.pipelines.convert.convert"}),
    ("climb.loaders.x", "from ..pipelines import convert", False, {"climb.pipelines", "climb.pipelines.convert"}),
    ("climb.loaders", "from .stream import ClimbDataset", True, {"climb.loaders.stream", "climb.loaders.stream.ClimbDataset"}),
    ("climb.trainer.x", "def f():\n    import climb.pipelines.sources\n", False, {"climb.pipelines.sources"}),
    ("climb.schemas.x", "import numpy, json", False, set()),
])
def test_imports_are_found_wherever_and_however_they_are_written(module, source, is_package, expected):
    assert imports(module, source, is_package) == expected


@pytest.mark.parametrize("importer, imported", [
    ("climb.pipelines.convert", "climb.cli"),
    ("climb.report.inspect", "climb.demo"),
    ("climb.storage", "climb.cli"),
    ("climb.loaders.stream", "climb.pipelines.sources"),
    ("climb.trainer.train", "climb.pipelines.sources"),
    ("climb.transforms.image", "climb.loaders.decode"),
    ("climb.schemas.manifest", "climb.pipelines.verify"),
    ("climb.schemas.tasks", "climb.trainer.model"),
    ("climb.pipelines.convert", "climb.trainer.train"),
    ("climb.storage", "climb.pipelines.verify"),
])
def test_each_forbidden_edge_is_named(importer, imported):
    assert violation(importer, imported) is not None


@pytest.mark.parametrize("importer, imported", [
    ("climb.cli", "climb.pipelines.convert"),
    ("climb.__main__", "climb.cli"),
    ("climb.pipelines.convert", "climb.transforms.image"),
    ("climb.trainer.train", "climb.loaders.stream"),
    ("climb.loaders.shards", "climb.schemas.manifest"),
    ("climb.transforms.phi", "climb.errors"),
    ("climb.errors", "climb.version"),
])
def test_edges_down_the_layers_are_allowed(importer, imported):
    assert violation(importer, imported) is None
