"""The tests' own shape: what tests and benchmarks share lives in tests/harness/, and only there.

A test module imports no other test module (a helper it needs moves to the harness, a module named by
what it holds); outside tests/harness/ a file is a test module, a conftest.py or an __init__.py;
nothing in tests/ or bench/ edits ``sys.path`` (``python -m bench.<module>`` and pytest import both
from the repository's root). Read from the files' own imports, as tests/test_layout.py reads the package's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
HARNESS = TESTS / "harness"


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "node_modules" not in p.parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file; a relative import as its dots and name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_no_test_module_imports_another_only_the_harness():
    problems = []
    for path in python_files(TESTS) + python_files(ROOT / "bench"):
        for line, module in imported(path):
            shared = module == "tests.harness" or module.startswith("tests.harness.")
            if module.startswith(".") or (module.startswith("tests.") and not shared) or module == "tests":
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not problems, "\n".join(problems)


def test_outside_the_harness_only_tests_conftests_and_inits():
    helpers = [
        str(p.relative_to(ROOT))
        for p in python_files(TESTS)
        if HARNESS not in p.parents and not (p.name.startswith("test_") or p.name in ("conftest.py", "__init__.py"))
    ]
    assert not helpers, f"helper modules outside tests/harness/: {helpers}"


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_nothing_edits_sys_path(folder):
    edits = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in python_files(ROOT / folder)
        for node in ast.walk(ast.parse(p.read_text(), str(p)))
        if isinstance(node, ast.Attribute) and node.attr == "path"
        and isinstance(node.value, ast.Name) and node.value.id == "sys"
    ]  # fmt: skip
    assert not edits, edits


def collected(*args: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


@pytest.mark.slow  # a pytest of its own, collecting the browser tests (seconds)
def test_every_browser_test_is_browser_and_slow_so_the_fast_suite_leaves_it_out():
    everything = collected("tests/ui", "tests/test_protocol.py")
    marked = collected("-m", "browser and slow", "tests/ui", "tests/test_protocol.py")
    assert marked == [test for test in everything if test.startswith("tests/ui/")] and marked
