"""The JupyterLab extension as shipped: enabled by a plain install, in the wheel, its TypeScript
unit tests (vitest) and its lint (Prettier, ESLint, tsc strict) green."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LABEXTENSION = ROOT / "labextension"
NPM = shutil.which("npm")


def npm(*args: str) -> subprocess.CompletedProcess:
    assert NPM, "Node.js and npm are required (they build the labextension)"
    if not (LABEXTENSION / "node_modules").is_dir():
        subprocess.run([NPM, "ci"], cwd=LABEXTENSION, check=True, capture_output=True)
    return subprocess.run([NPM, *args], cwd=LABEXTENSION, capture_output=True, text=True)


@pytest.mark.slow
def test_jupyter_labextension_list_shows_it_enabled():
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"], capture_output=True, text=True, check=True
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "jupyter-cloudtty" in line]
    assert lines, result.stdout + result.stderr
    assert "enabled" in lines[0] and "OK" in lines[0], lines


@pytest.mark.slow
def test_typescript_unit_tests():
    result = npm("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout


@pytest.mark.slow
def test_lint_prettier_eslint_and_strict_types():
    result = npm("run", "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lockfile_matches_package_json():
    package = json.loads((LABEXTENSION / "package.json").read_text())
    lock = json.loads((LABEXTENSION / "package-lock.json").read_text())
    root = lock["packages"][""]
    assert root.get("dependencies", {}) == package["dependencies"]
    assert root.get("devDependencies", {}) == package["devDependencies"]


def test_tsconfig_is_strict():
    options = json.loads((LABEXTENSION / "tsconfig.json").read_text())["compilerOptions"]
    assert options["strict"] is True


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_the_wheel_carries_the_prebuilt_labextension(tmp_path):
    """`pip wheel .` (build isolation, the jupyter-builder hook) gives a wheel whose shared data
    is the built extension, so `pip install jupyter-cloudtty` needs no Node.js."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("jupyter_cloudtty-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prefix = next(
        n for n in names if n.endswith(".data/data/share/jupyter/labextensions/jupyter-cloudtty/package.json")
    )
    base = prefix.rsplit("package.json", 1)[0]
    assert base + "install.json" in names
    assert base + "schemas/jupyter-cloudtty/plugin.json" in names
    static = [n for n in names if n.startswith(base + "static/") and n.endswith(".js")]
    assert any("/remoteEntry." in n for n in static), static
    # The player `%cloudtty replay` inlines, built (gitignored) into the package itself.
    for player in ("asciinema-player.min.js", "asciinema-player.css", "asciinema-theme.css"):
        assert f"jupyter_cloudtty/kernel/static/{player}" in names
    size = sum(zipfile.ZipFile(wheel).getinfo(n).file_size for n in static)
    print(f"\nlabextension static JS: {size} bytes in {len(static)} files")
