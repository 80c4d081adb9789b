"""The package's shape, read from its own imports: no import circle, nothing imported upward.

Every ``import`` counts, wherever it is: at the top, inside a function, under ``if TYPE_CHECKING``,
and ``importlib.import_module("…")`` with a literal name. The map (docs/development.md):

    cloudshell   the contract (spec, names, model, CRD)    imports nothing of ours
    ttyd         the terminal protocol and its clients     only itself
    kube         the Kubernetes client layer               cloudshell
    server       the Jupyter server extension              cloudshell, ttyd, kube (never operator)
    operator     the kopf operator                         cloudshell, kube
    kernel       magics and the widget                     cloudshell, ttyd, kube

The top-level modules (``__init__``, ``app``, ``commands``) are entry points: they may import any
subpackage, and no subpackage imports them (``_version`` excepted).
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "jupyter_cloudtty"
ROOT = Path(__file__).parents[1] / PACKAGE

# A subpackage, and the subpackages its modules may import (itself included).
# The shared contract is the CloudShell (cloudshell/) and ttyd's protocol (ttyd/): the operator renders
# ttyd's command line, so it reads ttyd.protocol as the server does.
LAYERS = {
    "cloudshell": {"cloudshell"},
    "ttyd": {"ttyd"},
    "kube": {"kube", "cloudshell"},
    "server": {"server", "cloudshell", "ttyd", "kube"},
    "operator": {"operator", "cloudshell", "ttyd", "kube"},
    "kernel": {"kernel", "cloudshell", "ttyd", "kube"},
}
SHARED_TOP_LEVEL = {"_version"}  # top-level modules any subpackage may import


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module of ours it imports (a package's is its __init__)
    line: int

    def __str__(self) -> str:
        return f"{self.source} imports {self.target} (line {self.line})"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join((package, *parts))] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that ``name`` is or lies in (``a.b.C`` -> ``a.b``), else None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """What ``module`` imports of the package, each import statement anywhere in its code."""
    package_parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level - 1 >= len(package_parts):
                    raise AssertionError(f"{path}:{node.lineno}: a relative import above the package")
                base = ".".join(package_parts[: len(package_parts) - node.level + 1] + [node.module or ""]).strip(".")
            else:
                base = node.module or ""
            # `from a import b`: the module a.b if there is one, else a name defined in a.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            target = _known(name, modules)
            if target is not None and target != module:
                found.append(Import(module, target, node.lineno))
    return found


def all_imports(root: Path, package: str) -> list[Import]:
    modules = find_modules(root, package)
    return [found for module, path in modules.items() for found in imports_of(module, path, modules)]


def find_cycles(imports: list[Import]) -> list[list[str]]:
    """One circle per strongly connected group of modules (Tarjan), as ``[a, b, ..., a]``."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        graph.setdefault(i.source, set()).add(i.target)
        graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the package's few dozen modules
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle(min(group), graph, group) for group in groups]


def _circle(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest way from ``start`` back to itself inside ``group`` (breadth first)."""
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for successor in sorted(graph[path[-1]] & group):
            if successor == start:
                return path + [start]
            if successor not in seen:
                seen.add(successor)
                paths.append(path + [successor])
    raise AssertionError(f"no circle through {start}")  # a strongly connected group always has one


def layer_of(module: str) -> str | None:
    """The subpackage a module belongs to, or None for a top-level module (``app``, ``__init__``...)."""
    parts = module.split(".")[1:]
    return parts[0] if len(parts) > 1 or (parts and parts[0] in LAYERS) else None


def layering_violations(imports: list[Import], package: str) -> list[str]:
    """Imports across subpackages the map does not allow, and modules of subpackages the map lacks."""
    problems = []
    for i in imports:
        source, target = layer_of(i.source), layer_of(i.target)
        if source is None or target is None:
            continue
        if source not in LAYERS:
            problems.append(f"{i.source}: subpackage {source!r} is not in the map (LAYERS)")
        elif target not in LAYERS[source]:
            allowed = ", ".join(sorted(LAYERS[source] - {source})) or "nothing of ours"
            problems.append(f"{i}: {source} may import {allowed}")
    return sorted(set(problems))


def upward_imports(imports: list[Import], package: str) -> list[str]:
    """Subpackage modules importing a top-level module (the entry points), ``_version`` excepted."""
    shared = {f"{package}.{name}" for name in SHARED_TOP_LEVEL}
    return sorted(
        f"{i}: a subpackage imports no top-level module"
        for i in imports
        if layer_of(i.source) is not None and layer_of(i.target) is None and i.target not in shared
    )


def server_imports_of_operator(imports: list[Import], package: str) -> list[str]:
    return [
        f"{i}: the server never imports the operator"
        for i in imports
        if layer_of(i.source) == "server" and layer_of(i.target) == "operator"
    ]


# --- the package ---------------------------------------------------------------------------------

IMPORTS = all_imports(ROOT, PACKAGE)


def test_the_checker_sees_the_package():
    layers = {layer_of(module) for module in find_modules(ROOT, PACKAGE)}
    assert layers == set(LAYERS) | {None}
    assert ("jupyter_cloudtty.app", "jupyter_cloudtty.server.app") in {(i.source, i.target) for i in IMPORTS}


def test_no_import_circle():
    cycles = find_cycles(IMPORTS)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_each_subpackage_imports_only_what_the_map_allows():
    problems = layering_violations(IMPORTS, PACKAGE)
    assert not problems, "\n".join(problems)


def test_no_subpackage_imports_the_top_level_modules():
    problems = upward_imports(IMPORTS, PACKAGE)
    assert not problems, "\n".join(problems)


def test_the_server_never_imports_the_operator():
    problems = server_imports_of_operator(IMPORTS, PACKAGE)
    assert not problems, "\n".join(problems)


# --- the checker, on a planted tree --------------------------------------------------------------


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pkg"


CLEAN = {
    "__init__.py": "from ._version import __version__\n\ndef ext():\n    from .server.app import App\n",
    "_version.py": "__version__ = '1'\n",
    "app.py": "from .server.app import App\n",
    "cloudshell/__init__.py": "",
    "cloudshell/spec.py": "import json\n",
    "ttyd/__init__.py": "from .client import Client\n",
    "ttyd/client.py": "from . import protocol\nclass Client: ...\n",
    "ttyd/protocol.py": "",
    "kube/__init__.py": "",
    "kube/client.py": "from ..cloudshell import spec\n",
    "server/__init__.py": "",
    "server/app.py": "from pkg import _version\nfrom pkg.ttyd import Client\nfrom ..kube import client\nApp = 1\n",
    "operator/__init__.py": "",
    "operator/reconciler.py": "from pkg.kube import client\n",
    "kernel/__init__.py": "",
    "kernel/widget.py": "from .. import _version\nfrom ..ttyd.client import Client\n",
}


def test_a_clean_tree_passes(tmp_path):
    root = plant(tmp_path, CLEAN)
    imports = all_imports(root, "pkg")
    assert Import("pkg.server.app", "pkg.ttyd", 2) in imports  # a name from a package: its __init__
    assert Import("pkg.ttyd.client", "pkg.ttyd.protocol", 1) in imports  # a module from a package
    assert Import("pkg.kernel.widget", "pkg._version", 1) in imports
    assert Import("pkg.server.app", "pkg.kube.client", 3) in imports
    assert find_cycles(imports) == []
    assert layering_violations(imports, "pkg") == []
    assert upward_imports(imports, "pkg") == []
    assert server_imports_of_operator(imports, "pkg") == []


def test_a_circle_through_type_checking_and_a_function_is_found_and_shown(tmp_path):
    root = plant(tmp_path, {
        **CLEAN,
        "server/app.py": """
            from typing import TYPE_CHECKING
            from .backends import choose
            if TYPE_CHECKING:
                from .handlers import Handler
            class App: ...
        """,
        "server/backends.py": "def choose():\n    from .handlers import handlers\n",
        "server/handlers.py": "def handlers():\n    from . import app\n",
    })  # fmt: skip
    assert find_cycles(all_imports(root, "pkg")) == [
        ["pkg.server.app", "pkg.server.handlers", "pkg.server.app"],
    ]


def test_an_import_against_the_map_is_found(tmp_path):
    root = plant(tmp_path, {
        **CLEAN,
        "cloudshell/spec.py": "def f():\n    from ..ttyd import protocol\n",
        "ttyd/client.py": "import pkg.kube.client\nclass Client: ...\n",
        "kube/client.py": "import importlib\nimportlib.import_module('pkg.server.app')\n",
        "extra/thing.py": "from pkg.cloudshell import spec\n",
    })  # fmt: skip
    assert layering_violations(all_imports(root, "pkg"), "pkg") == [
        "pkg.cloudshell.spec imports pkg.ttyd.protocol (line 2): cloudshell may import nothing of ours",
        "pkg.extra.thing: subpackage 'extra' is not in the map (LAYERS)",
        "pkg.kube.client imports pkg.server.app (line 2): kube may import cloudshell",
        "pkg.ttyd.client imports pkg.kube.client (line 1): ttyd may import nothing of ours",
    ]


def test_an_upward_import_is_found(tmp_path):
    root = plant(tmp_path, {
        **CLEAN,
        "server/app.py": "from pkg import __version__\nclass App: ...\n",
        "kernel/widget.py": "def f():\n    from .. import app\n",
        "operator/reconciler.py": "from .. import commands\n",
        "commands.py": "",
    })  # fmt: skip
    assert upward_imports(all_imports(root, "pkg"), "pkg") == [
        "pkg.kernel.widget imports pkg.app (line 2): a subpackage imports no top-level module",
        "pkg.operator.reconciler imports pkg.commands (line 1): a subpackage imports no top-level module",
        "pkg.server.app imports pkg (line 1): a subpackage imports no top-level module",
    ]


def test_the_server_importing_the_operator_is_found(tmp_path):
    root = plant(tmp_path, {**CLEAN, "server/app.py": "from ..operator.reconciler import names\nclass App: ...\n"})
    imports = all_imports(root, "pkg")
    assert server_imports_of_operator(imports, "pkg") == [
        "pkg.server.app imports pkg.operator.reconciler (line 1): the server never imports the operator"
    ]
    assert layering_violations(imports, "pkg") == [
        "pkg.server.app imports pkg.operator.reconciler (line 1): server may import cloudshell, kube, ttyd"
    ]
