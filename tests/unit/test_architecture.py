"""The code keeps docs/architecture.md: no import cycle, no upward import, every module named, none too long.

The import graph is built from the source with ast, so it counts every import: at module top,
inside functions, under TYPE_CHECKING, relative ones, and importlib.import_module("sloguard.x").
Also: nothing in the repository points outside it, and the README's and docs' links resolve.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "sloguard"
ARCHITECTURE = REPO / "docs" / "architecture.md"
MAX_LINES = 600
ROOT_MODULE = "__init__"  # the package's own __init__.py, named as the layer table names it
# Spelled in two pieces so that this file does not itself point where it forbids pointing.
OUTSIDE_REFERENCES = ("../" + "shared", "DESIGN" + ".md")
DOCS_MAY_NAME = "DESIGN" + ".md"  # docs/ may say where the design came from, never link outside the repository


# ---- the checker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import of a package module by another: `source` imports `target` at `path`:`line`."""

    source: str
    target: str
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Layer:
    name: str
    patterns: tuple[str, ...]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by its dotted name relative to the package ("spec.v1"; a package is "spec")."""
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts) or ROOT_MODULE] = path
    return modules


def _resolve(dotted: str, modules: Mapping[str, Path]) -> str | None:
    """The package module a dotted name relative to the package stands for: the longest prefix that is one."""
    parts = dotted.split(".") if dotted else []
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return ROOT_MODULE if ROOT_MODULE in modules else None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool, package: str) -> str | None:
    """The imported name of a `from X import ...` relative to the package, or None when X is outside it."""
    if node.level == 0:
        name = node.module or ""
        if name == package:
            return ""
        return name.removeprefix(package + ".") if name.startswith(package + ".") else None
    here = [] if module == ROOT_MODULE else module.split(".")
    base = here if is_package else here[:-1]
    up = node.level - 1
    if up > len(base):
        return None  # above the package: not ours
    base = base[: len(base) - up]
    return ".".join([*base, *([node.module] if node.module else [])])


def _dynamic_target(node: ast.Call, package: str) -> str | None:
    """The module of importlib.import_module("sloguard.x") or __import__("sloguard.x"), when a literal."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return None
    if arg.value == package:
        return ""
    return arg.value.removeprefix(package + ".") if arg.value.startswith(package + ".") else None


def imports_of(package_dir: Path, package: str | None = None) -> list[Import]:
    """Every import of one package module by another, in the order the files list them."""
    package = package or package_dir.name
    modules = module_files(package_dir)
    found: list[Import] = []
    for module, path in modules.items():
        shown = f"{package}/{path.relative_to(package_dir).as_posix()}"
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        targets.append(_resolve(alias.name.removeprefix(package).lstrip("."), modules))
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, is_package, package)
                if base is not None:
                    for alias in node.names:
                        # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
                        full = f"{base}.{alias.name}" if base else alias.name
                        targets.append(full if full in modules else _resolve(base, modules))
            elif isinstance(node, ast.Call):
                dynamic = _dynamic_target(node, package)
                if dynamic is not None:
                    targets.append(_resolve(dynamic, modules))
            for target in targets:
                if target is not None and target != module:
                    found.append(Import(module, target, shown, getattr(node, "lineno", 0)))
    # `from m import a, b` is one import of m.
    return sorted(set(found), key=lambda i: (i.path, i.line, i.target))


def parse_layers(markdown: str) -> list[Layer]:
    """The rows of the table whose header starts `| layer | modules |`, bottom layer first."""
    layers: list[Layer] = []
    in_table = False
    tables = 0
    for raw in markdown.splitlines():
        line = raw.strip()
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if [cell.lower() for cell in cells[:2]] == ["layer", "modules"]:
            in_table = True
            tables += 1
            continue
        if not in_table or set(line) <= set("|-: "):
            continue
        patterns = tuple(p.strip().strip("`").strip() for p in cells[1].split(","))
        layers.append(Layer(cells[0].strip("`* "), tuple(p for p in patterns if p)))
    if tables != 1:
        raise ValueError(f"expected exactly one table with the header | layer | modules |, found {tables}")
    for layer in layers:
        for pattern in layer.patterns:
            stem = pattern.removesuffix(".*")
            if not stem or any(ch in stem for ch in "*?[] "):
                raise ValueError(f"layer {layer.name}: {pattern!r} is neither a dotted module name nor `pkg.*`")
    return layers


def matches(pattern: str, module: str) -> bool:
    """`pkg.*` names the package pkg and every module below it; anything else names one module."""
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        return module == stem or module.startswith(stem + ".")
    return module == pattern


def layer_index(modules: Iterable[str], layers: Sequence[Layer]) -> tuple[dict[str, int], list[str]]:
    """Each module's layer (position in the table) and the problems: a module in no row or in two."""
    index: dict[str, int] = {}
    problems: list[str] = []
    for module in sorted(modules):
        rows = [i for i, layer in enumerate(layers) if any(matches(p, module) for p in layer.patterns)]
        if not rows:
            problems.append(f"unlisted: module {module} is in no layer row of docs/architecture.md; add it")
        elif len(rows) > 1:
            names = ", ".join(layers[i].name for i in rows)
            problems.append(f"ambiguous: module {module} is named by more than one layer row ({names})")
        else:
            index[module] = rows[0]
    return index, problems


def find_cycles(imports: Sequence[Import]) -> list[list[Import]]:
    """One cycle (as the imports that close it) per strongly connected group of modules."""
    graph: dict[str, list[Import]] = {}
    for imp in imports:
        graph.setdefault(imp.source, []).append(imp)
        graph.setdefault(imp.target, [])
    # Tarjan's algorithm, iterative: the package is small but the recursion limit should not matter.
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in order:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                order[node] = low[node] = len(order)
                stack.append(node)
                on_stack.add(node)
            edges = graph[node]
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i].target
                if nxt not in order:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], order[nxt])
                continue
            if low[node] == order[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [_cycle_in(group, graph) for group in sorted(groups)]


def _cycle_in(group: Sequence[str], graph: Mapping[str, list[Import]]) -> list[Import]:
    """A shortest cycle through the group's first module, staying inside the group (breadth first)."""
    members = set(group)
    start = group[0]
    came_by: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for imp in graph[node]:
                if imp.target not in members:
                    continue
                if imp.target == start:
                    path = [imp]
                    while path[0].source != start:
                        path.insert(0, came_by[path[0].source])
                    return path
                if imp.target not in came_by:
                    came_by[imp.target] = imp
                    following.append(imp.target)
        frontier = following
    raise AssertionError(f"{group} is strongly connected but has no cycle through {start}")


def check_architecture(package_dir: Path, layers: Sequence[Layer], max_lines: int = MAX_LINES) -> list[str]:
    """Every way the package breaks docs/architecture.md: cycles, upward imports, unlisted or long modules."""
    modules = module_files(package_dir)
    imports = imports_of(package_dir)
    index, problems = layer_index(modules, layers)
    for layer in layers:
        for pattern in layer.patterns:
            if not any(matches(pattern, m) for m in modules):
                problems.append(f"stale: layer {layer.name} names {pattern}, which is no module of the package")
    for cycle in find_cycles(imports):
        chain = " -> ".join([cycle[0].source, *(imp.target for imp in cycle)])
        lines = "; ".join(f"{imp.where()} imports {imp.target}" for imp in cycle)
        problems.append(f"cycle: {chain} ({lines})")
    for imp in imports:
        if imp.source in index and imp.target in index and index[imp.target] > index[imp.source]:
            problems.append(
                f"upward: {imp.where()}: {imp.source} (layer {layers[index[imp.source]].name}) imports "
                f"{imp.target} (layer {layers[index[imp.target]].name})"
            )
    for module, path in sorted(modules.items()):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > max_lines:
            problems.append(
                f"too long: {module} ({path.relative_to(package_dir.parent).as_posix()}) has "
                f"{count} lines, over {max_lines}"
            )
    return problems


def repository_files(repo: Path) -> list[Path]:
    """The repository's files: tracked ones and new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=repo, capture_output=True, check=True).stdout  # fmt: skip
    return [repo / name for name in sorted(set(listed.decode().split("\0"))) if name and (repo / name).is_file()]


def outside_references(repo: Path, files: Iterable[Path]) -> list[str]:
    """Lines that point outside the repository; docs/ may name where the design came from, not link there."""
    problems = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary or unreadable: nothing a reader follows
        relative = path.relative_to(repo).as_posix()
        in_docs = relative.startswith("docs/")
        for number, line in enumerate(text.splitlines(), start=1):
            for needle in OUTSIDE_REFERENCES:
                if needle in line and not (in_docs and needle == DOCS_MAY_NAME):
                    problems.append(f"{relative}:{number}: points outside the repository ({needle}): {line.strip()}")
    return problems


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def broken_links(files: Iterable[Path]) -> list[str]:
    """Relative links in markdown files whose file, or heading anchor, does not exist."""
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            for target in _LINK.findall(line):
                if "://" in target or target.startswith("mailto:"):
                    continue
                name, _, anchor = target.partition("#")
                linked = (path.parent / name).resolve() if name else path
                if not linked.exists():
                    problems.append(f"{path.name}:{number}: {target}: no such file")
                elif anchor and linked.suffix == ".md":
                    anchors = {_anchor(h) for h in linked.read_text(encoding="utf-8").splitlines() if h.startswith("#")}
                    if anchor not in anchors:
                        problems.append(f"{path.name}:{number}: {target}: no heading with that anchor")
    return problems


# ---- the checker's own tests: a synthetic package breaking each rule ------------------------------

_LAYERS_DOC = """\
# Architecture

## Layers

| layer | modules | job |
|---|---|---|
| L0 | `base`, `util` | names |
| L1 | `mid`, `sub.*` | middle |
| L2 | `top` | top |
"""


def _package(root: Path, files: Mapping[str, str]) -> Path:
    package_dir = root / "pkg"
    for name, text in {"__init__.py": "", "sub/__init__.py": "", **files}.items():
        path = package_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package_dir


def _layers(extra_row: str = "") -> list[Layer]:
    return parse_layers(_LAYERS_DOC.replace("| L0 |", "| L00 | `__init__` | root |\n| L0 |") + extra_row)


def test_clean_synthetic_package_passes(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {
        "base.py": "import os\n",
        "util.py": "from pkg import base\n",
        "mid.py": "from pkg.base import X\nfrom . import util\n",
        "sub/leaf.py": "from ..mid import Y\nfrom . import other\n",
        "sub/other.py": "import pkg.util\n",
        "top.py": "def f():\n    from pkg.sub import leaf\n",
    })  # fmt: skip
    assert check_architecture(package_dir, _layers()) == []


def test_reports_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {
        "base.py": "",
        "util.py": "",
        "mid.py": "from pkg import top\n",
        "top.py": "def f():\n    import pkg.mid\n",
    })  # fmt: skip
    problems = check_architecture(package_dir, _layers())
    cycles = [p for p in problems if p.startswith("cycle:")]
    assert cycles == ["cycle: mid -> top -> mid (pkg/mid.py:1 imports top; pkg/top.py:2 imports mid)"]


def test_reports_an_upward_import_under_type_checking_with_its_line(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {
        "base.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.mid import Thing\n",
        "util.py": "",
        "mid.py": "",
        "top.py": "",
    })  # fmt: skip
    problems = check_architecture(package_dir, _layers())
    assert problems == ["upward: pkg/base.py:4: base (layer L0) imports mid (layer L1)"]


def test_reports_upward_relative_and_dynamic_imports(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {
        "base.py": "",
        "util.py": "import importlib\n\ndef f():\n    return importlib.import_module('pkg.top')\n",
        "mid.py": "",
        "sub/__init__.py": "from .. import top\n",
        "top.py": "",
    })  # fmt: skip
    problems = check_architecture(package_dir, _layers())
    assert "upward: pkg/util.py:4: util (layer L0) imports top (layer L2)" in problems
    assert "upward: pkg/sub/__init__.py:1: sub (layer L1) imports top (layer L2)" in problems
    assert len(problems) == 2


def test_reports_an_unlisted_module_a_stale_row_and_a_long_module(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {
        "base.py": "x = 1\n" * 11,
        "mid.py": "",
        "top.py": "",
        "extra.py": "from pkg import base\n",
    })  # fmt: skip
    problems = check_architecture(package_dir, _layers(), max_lines=10)
    assert "unlisted: module extra is in no layer row of docs/architecture.md; add it" in problems
    assert "stale: layer L0 names util, which is no module of the package" in problems
    assert "too long: base (pkg/base.py) has 11 lines, over 10" in problems
    assert len(problems) == 3


def test_a_module_named_by_two_rows_is_ambiguous(tmp_path: Path) -> None:
    package_dir = _package(tmp_path, {"base.py": "", "util.py": "", "mid.py": "", "top.py": "", "sub/leaf.py": ""})
    problems = check_architecture(package_dir, _layers("| L3 | `sub.leaf` | again |\n"))
    assert problems == ["ambiguous: module sub.leaf is named by more than one layer row (L1, L3)"]


def test_layer_table_must_be_there_once_and_name_modules() -> None:
    with pytest.raises(ValueError, match="found 0"):
        parse_layers("# no table\n")
    with pytest.raises(ValueError, match="neither a dotted module name"):
        parse_layers("| layer | modules |\n|---|---|\n| L0 | `de*mo` |\n")
    assert parse_layers(_LAYERS_DOC)[1] == Layer("L1", ("mid", "sub.*"))


def test_reports_references_outside_the_repository(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    design = OUTSIDE_REFERENCES[1]
    (tmp_path / "README.md").write_text(f"intro\nSee {OUTSIDE_REFERENCES[0]}/{design}.\n", encoding="utf-8")
    (tmp_path / "code.py").write_text(f"# the contract of {design}\n", encoding="utf-8")
    (tmp_path / "docs" / "architecture.md").write_text(f"Made from the founding {design}.\n", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe" + design.encode())
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    problems = outside_references(tmp_path, files)
    assert [p.split(" points")[0] for p in problems] == ["README.md:2:", "README.md:2:", "code.py:1:"]


def test_reports_broken_links_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## The run directory (`runs`)\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(
        "[ok](a.md#the-run-directory-runs) [top](#top-part) [gone](c.md) [bad](a.md#nope) [web](https://x.org/y)\n"
        "# Top part\n",
        encoding="utf-8",
    )
    assert broken_links([tmp_path / "b.md"]) == [
        "b.md:1: c.md: no such file",
        "b.md:1: a.md#nope: no heading with that anchor",
    ]


# ---- the real package ---------------------------------------------------------------------------


def test_sloguard_keeps_the_layers_of_docs_architecture() -> None:
    layers = parse_layers(ARCHITECTURE.read_text(encoding="utf-8"))
    problems = check_architecture(REPO / PACKAGE, layers)
    assert not problems, f"{len(problems)} problem(s) against docs/architecture.md:\n" + "\n".join(problems)


def test_nothing_in_the_repository_points_outside_it() -> None:
    try:
        files = repository_files(REPO)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell the repository's files")
    problems = outside_references(REPO, files)
    assert not problems, "\n".join(problems)


def test_links_of_the_readme_and_docs_resolve() -> None:
    problems = broken_links([REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    assert not problems, "\n".join(problems)
