"""The docs as a reader meets them: a short front door, and nothing named in them that does not exist.

README.md and docs/*.md (and binder/README.md) are checked for what a reader would trip over: a link
or an #anchor that leads nowhere, a module, file, ``c.CloudTTY`` option or ``jupyter cloudtty``
command that is not (or no longer) there, a test command that is not the one CI runs, and a map of
the package that misses a module. Each checker returns the problems it found, worded for the person
who must fix the page, and is itself tested on a planted error.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from jupyter_cloudtty.server.app import CloudTTY

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md")), ROOT / "binder" / "README.md"]
PACKAGE = ROOT / "jupyter_cloudtty"
README_MAX_LINES = 250
MAP_HEADING = "## The map of the package"
# Top-level folders of the repository: a path starting with one of them is a file a reader may open.
REPO_DIRS = ("jupyter_cloudtty", "tests", "bench", "deploy", "labextension", "binder", "docs", "jupyter-config", ".ci")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (where a link or a heading means one)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (``-`` and ``_`` kept), spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every #anchor the page's headings make, with GitHub's ``-1``, ``-2``... for repeated ones."""
    found, counts = set(), {}
    for line in prose_lines(text):
        match = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = counts.get(base, 0)
            found.add(f"{base}-{count}" if count else base)
            counts[base] = count + 1
    return found


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def link_problems(page: Path, text: str) -> list[str]:
    """Relative links of ``page`` whose file, or whose #anchor in that file, does not exist."""
    problems = []
    for line in prose_lines(text):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto: ...
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve()
            if path and not file.exists():
                problems.append(f"{page.name}: link to {target}: no file {path}")
            elif anchor and not path and anchor not in anchors(text):
                problems.append(f"{page.name}: link to {target}: {page.name} has no heading #{anchor}")
            elif anchor and path.endswith(".md") and anchor not in anchors(file.read_text()):
                problems.append(f"{page.name}: link to {target}: {file.name} has no heading #{anchor}")
    return problems


def module_problems(text: str) -> list[str]:
    """Dotted names ``jupyter_cloudtty.x.y`` that are neither a module nor something a module holds."""
    problems = []
    for dotted in sorted(set(re.findall(r"\bjupyter_cloudtty(?:\.[A-Za-z_]\w*)+", text))):
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join(parts[:end]))
            except ModuleNotFoundError:
                continue
            break
        for name in parts[end:]:
            found = getattr(found, name, None)
            if found is None:
                problems.append(f"{dotted}: no such module or name")
                break
    return problems


def path_problems(text: str, root: Path = ROOT) -> list[str]:
    """Repository paths (``jupyter_cloudtty/…``, ``tests/…``, ``python -m tests.x``...) that do not exist."""
    problems = []
    prefix = "|".join(re.escape(d) for d in REPO_DIRS)
    for path in sorted(set(re.findall(rf"(?<![\w.~/-])((?:{prefix})/[\w./<>-]*)", text))):
        if "<" in path:  # a placeholder: tests/test_<module>.py
            continue
        path = path.rstrip(".")
        if not (root / path).exists():
            problems.append(f"{path}: no such file or folder")
    for module in sorted(set(re.findall(r"python -m ([\w.]+)", text))):
        base = root.joinpath(*module.split("."))
        if module.split(".")[0] in REPO_DIRS and not (base.with_suffix(".py").exists() or base.is_dir()):
            problems.append(f"python -m {module}: no such module in the repository")
    return problems


def config_traits() -> set[str]:
    return set(CloudTTY.class_own_traits(config=True))


def trait_problems(text: str) -> list[str]:
    """``c.CloudTTY.x`` and ``--CloudTTY.x`` that are not options of the server extension."""
    named = set(re.findall(r"(?:\bc\.|--)CloudTTY\.(\w+)", text))
    return [f"CloudTTY.{name}: no such option" for name in sorted(named - config_traits())]


def command_problems(text: str) -> list[str]:
    """``jupyter cloudtty <subcommand>`` that the command does not have."""
    named = set(re.findall(r"\bjupyter cloudtty ([a-z][\w-]*)", text))
    return [f"jupyter cloudtty {name}: no such subcommand" for name in sorted(named - set(CloudTTY.subcommands))]


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def package_modules(package: Path = PACKAGE) -> set[str]:
    return {p.relative_to(package).as_posix() for p in package.rglob("*.py") if "__pycache__" not in p.parts}


def map_problems(development: str, modules: set[str]) -> list[str]:
    """Modules the map leaves out, and rows of the map that name no module."""
    if MAP_HEADING not in development.splitlines():
        return [f"docs/development.md has no '{MAP_HEADING}'"]
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", section(development, MAP_HEADING), re.M))
    return [f"{m}: a module the map does not list" for m in sorted(modules - listed)] + [
        f"{m}: in the map, but no such module" for m in sorted(listed - modules)
    ]


def options_problems(reference: str) -> list[str]:
    """Options of the server extension that reference.md's Configuration does not name."""
    named = set(re.findall(r"`(\w+)`", section(reference, "## Configuration")))
    return [f"c.CloudTTY.{name}: not in reference.md's Configuration" for name in sorted(config_traits() - named)]


def readme_test_command(readme: str) -> str:
    """README's test command: the bash line that runs pytest."""
    return next(line for line in readme.splitlines() if "pytest" in line and "pip install" in line)


def ci_problems(readme: str, ci_script: str) -> list[str]:
    """README's test command must be what CI runs: the same extras installed, the same pytest line."""
    problems = []
    command = readme_test_command(readme)
    extras = re.search(r'pip install -e "(\.\[[\w,-]+\])"', command)
    ci_extras = re.search(r'pip install (?:--\S+ )*-e "(\.\[[\w,-]+\])"', ci_script)
    if not extras or not ci_extras or extras.group(1) != ci_extras.group(1):
        problems.append(f"README installs {extras and extras.group(1)}, CI {ci_extras and ci_extras.group(1)}")
    pytest_run = command.rsplit("&&", 1)[-1].strip()
    if pytest_run not in [line.strip() for line in ci_script.splitlines()]:
        problems.append(f"CI does not run README's '{pytest_run}'")
    return problems


# The pages as they are.


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README has {len(lines)} lines; move detail into docs/"
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in LINK.findall(README.read_text())}
    assert not [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked], "README links every page of docs/"


def test_readme_gives_the_test_command_ci_runs():
    assert ci_problems(README.read_text(), (ROOT / ".ci" / "run").read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_what_the_page_names_exists(page):
    text = page.read_text()
    assert link_problems(page, text) == []
    assert path_problems(text) == []
    assert module_problems(text) == []
    assert trait_problems(text) == []
    assert command_problems(text) == []


def test_the_map_lists_every_module():
    assert map_problems((DOCS / "development.md").read_text(), package_modules()) == []


def test_the_reference_names_every_option():
    assert options_problems((DOCS / "reference.md").read_text()) == []


# The checkers, each on a planted error.


def test_links_and_anchors_are_checked(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Use with a `cluster`: now\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "page.md"
    good = "[o](other.md) [c](other.md#use-with-a-cluster-now) [t](other.md#twice-1) [s](#top) [w](https://x.org/a)"
    good += "\n\n# Top\n\n```\n[not a link](nowhere.md)\n```\n`[code](nowhere.md)`\n"
    assert link_problems(page, good) == []
    assert link_problems(page, "see [x](missing.md)") == ["page.md: link to missing.md: no file missing.md"]
    assert link_problems(page, "![x](other.md#nope)") == [
        "page.md: link to other.md#nope: other.md has no heading #nope"
    ]
    assert link_problems(page, "[x](#elsewhere)\n# Here") == [
        "page.md: link to #elsewhere: page.md has no heading #elsewhere"
    ]


def test_modules_are_checked():
    text = "`jupyter_cloudtty.ttyd.TtydClient`, jupyter_cloudtty.kernel.widget. and `jupyter_cloudtty.<module>`"
    assert module_problems(text) == []
    assert module_problems("jupyter_cloudtty.restclient") == ["jupyter_cloudtty.restclient: no such module or name"]
    assert module_problems("`jupyter_cloudtty.ttyd.Nope`") == ["jupyter_cloudtty.ttyd.Nope: no such module or name"]


def test_paths_are_checked(tmp_path):
    (tmp_path / "tests" / "harness").mkdir(parents=True)
    (tmp_path / "tests" / "harness" / "rootfs.py").write_text("")
    good = "`tests/harness/rootfs.py`, tests/harness/. `tests/test_<module>.py` python -m tests.harness.rootfs"
    good += " python -m pytest https://example.org/tests/nope.py ~/.cache/jupyter-cloudtty/x"
    assert path_problems(good, tmp_path) == []
    assert path_problems("see `jupyter_cloudtty/terminaltext.py`", tmp_path) == [
        "jupyter_cloudtty/terminaltext.py: no such file or folder"
    ]
    assert path_problems("python -m tests.rootfs", tmp_path) == [
        "python -m tests.rootfs: no such module in the repository"
    ]


def test_options_and_commands_are_checked():
    good = "`c.CloudTTY.max_shells = 8`, `jupyter lab --CloudTTY.backend=local`, `c.CloudTTY.*`"
    assert trait_problems(good) == []
    assert trait_problems("c.CloudTTY.max_shell = 8") == ["CloudTTY.max_shell: no such option"]
    assert trait_problems("--CloudTTY.kube_ctx=dev") == ["CloudTTY.kube_ctx: no such option"]
    assert command_problems("`jupyter cloudtty crd | kubectl apply -f -`, `jupyter cloudtty --help-all`") == []
    assert command_problems("jupyter cloudtty install") == ["jupyter cloudtty install: no such subcommand"]
    assert options_problems("## Configuration\n\n`max_shells`\n") != []
    everything = " ".join(f"`{name}`" for name in config_traits())
    assert options_problems(f"## Configuration\n\n{everything}\n\n## Next\n") == []
    assert options_problems(f"## Configuration\n\n## Next\n\n{everything}\n") != []


def test_the_map_is_checked():
    modules = {"app.py", "server/app.py"}
    page = f"# Dev\n\n{MAP_HEADING}\n\n| module | holds |\n|---|---|\n| `app.py` | the shim |\n"
    assert map_problems(page + "| `server/app.py` | the extension |\n", modules) == []
    assert map_problems(page, modules) == ["server/app.py: a module the map does not list"]
    assert map_problems(page + "| `server/app.py` | x |\n| `old.py` | gone |\n", modules) == [
        "old.py: in the map, but no such module"
    ]
    assert map_problems(page + "\n## Tests\n\n| `server/app.py` | not the map |\n", modules) == [
        "server/app.py: a module the map does not list"
    ]


def test_the_test_command_is_checked():
    readme = 'x\n```bash\npython3 -m venv .venv && pip install -e ".[test,bench]" && python -m pytest\n```\n'
    ci = 'python -m pip install --quiet -e ".[test,bench]"\nset +e\npython -m pytest\n'
    assert ci_problems(readme, ci) == []
    assert ci_problems(readme.replace("test,bench", "test"), ci) == ["README installs .[test], CI .[test,bench]"]
    assert ci_problems(readme, ci.replace("python -m pytest", "pytest -x")) == [
        "CI does not run README's 'python -m pytest'"
    ]
